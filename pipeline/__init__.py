"""Thin steps with I/O and tracking around the pure ``features`` and ``models`` packages.

Importing it sets nothing process-wide; the ``leadscore`` entry point does (``pipeline.cli.common.setup``).
"""
