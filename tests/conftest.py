from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def config():
    from pipeline.config import load_config

    return load_config(REPO_ROOT / "params.yaml")


def pytest_configure(config):
    import pipeline  # noqa: F401  (sets OMP_WAIT_POLICY before lightgbm is imported anywhere)
