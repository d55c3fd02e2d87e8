import os
from pathlib import Path

import pytest

# What `leadscore`'s entry point sets (pipeline.cli.common.setup), set here before any test imports lightgbm or
# matplotlib: OpenMP threads wait passively (LightGBM reads it once, when its library loads; spinning threads on a
# shared 2-core machine turn a 10-second fit into minutes), and plots render off-screen.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def config():
    from pipeline.config import load_config

    return load_config(REPO_ROOT / "params.yaml")


FIGURE = "reported_figure"


@pytest.fixture
def report_figure(request):
    """``report_figure(line)``: a figure the test measured (the bank AUCs, the forward promises), printed at the end
    of the run. Kept on the test's report, so it reaches the summary from pytest-xdist's worker processes too."""
    return lambda line: request.node.user_properties.append((FIGURE, line))


def pytest_terminal_summary(terminalreporter):
    """Print the figures tests measured (model against baseline), so every `make test` reports them."""
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, line in getattr(report, "user_properties", []):
                if name == FIGURE and getattr(report, "when", "call") == "call":
                    terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The test server `make test` starts (scripts/ensure-postgres.sh). Without it the PostgreSQL tests
    are skipped with the command to run; `make test` (and so CI) always provides it."""
    import os

    url = os.environ.get("LEADSCORE_TEST_PG_URL")
    if not url:
        pytest.skip("no PostgreSQL test server: run `make test`, or set "
                    "LEADSCORE_TEST_PG_URL=$(scripts/ensure-postgres.sh)")
    return url


@pytest.fixture
def postgres_url(postgres_server_url):
    """A fresh, empty database on the test server for one test, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = f"leadscore_t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield str(sa.make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()
