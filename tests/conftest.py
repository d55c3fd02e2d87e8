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

    pytest.reported_figures = []  # lines tests measure and want shown (e.g. the bank AUCs), printed at the end


def pytest_terminal_summary(terminalreporter):
    """Print the figures tests measured (model against baseline), so every `make test` reports them."""
    for line in getattr(pytest, "reported_figures", []):
        terminalreporter.write_line(line)
