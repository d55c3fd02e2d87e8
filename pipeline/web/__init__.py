"""The workspace sales and marketing open in a browser (``leadscore serve``): see :mod:`pipeline.web.app`."""

from pipeline.web.app import create_app

__all__ = ["create_app"]
