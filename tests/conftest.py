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


# The files that take longest (each runs whole in one pytest-xdist worker: `--dist loadfile`), started first so
# that no long file begins when the others are done (`make test` passes --no-loadscope-reorder, which keeps this
# order instead of xdist's, by number of tests). Longest first, as `--durations` showed them.
LONGEST_FILES = ("tests/test_end_to_end.py", "tests/pipeline/test_spark_engine.py", "tests/test_team.py",
                 "tests/pipeline/test_flat_bank.py",
                 "tests/test_forward.py", "tests/pipeline/test_source_db.py", "tests/pipeline/test_tune.py",
                 "tests/pipeline/test_train.py", "tests/pipeline/test_promote.py", "tests/pipeline/test_segments.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: each file's tests keep their order


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
def fresh_database(postgres_server_url):
    """``fresh_database(prefix)``: the URL of a new, empty database on the test server, named ``<prefix>_<random>``;
    every one made is dropped when the test ends (the server is shared: a test only drops its own)."""
    import uuid

    import sqlalchemy as sa

    made: list[str] = []
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        made.append(name)
        return str(sa.make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False))

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def postgres_url(fresh_database):
    """A fresh, empty database on the test server for one test, dropped afterwards."""
    return fresh_database("leadscore_t")
