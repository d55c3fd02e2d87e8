"""The workspace tests' store (``workspace_store``), published once per module."""

import pytest
from workspace_store import publish


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return publish(tmp_path_factory.mktemp("workspace"))
