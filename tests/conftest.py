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
