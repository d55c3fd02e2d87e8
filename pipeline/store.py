"""The scores store: the ``leadscore_scores`` table as declared here, the ``leadscore_latest_scores`` view,
retention, and the versioned migrations (Alembic, ``pipeline/migrations``) that bring an existing store to this
layout and create every other table of leadscore's (users, sign-off, feedback, run log …).

Every table and view leadscore owns carries the ``leadscore_`` prefix (revision 0002), so the leadscore
database may be MLflow's own (which has ``runs``, ``experiments``, ``metrics`` …) on PostgreSQL and SQLite alike.

``pipeline.io`` calls it; nothing else does. The layout, one row per lead and night:

- primary key ``(lead_id, as_of_ts)``: a night holds each lead once, and a CRM sync can upsert on it;
- ``as_of_ts`` and ``scored_at`` are ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL; SQLite has no timestamp
  type, so there they are UTC text ``YYYY-MM-DDTHH:MM:SSZ`` (sortable, and what the store has always held).
  Both are kept to the second, so the two databases give back the same tz-aware UTC timestamps;
- ``lead_id`` is typed like the sources' ids (integer or text), fixed when the table is created by the first
  publish (or kept from the store being migrated); ``owner_id`` is text (an identifier);
- the queue index ``ix_scores_queue (as_of_ts, owner_id, probability)``: one night's leads of an owner.

leadscore's Alembic version table is ``leadscore_alembic_version``, never MLflow's ``alembic_version``, so
both can share one PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

SCORES_TABLE = "leadscore_scores"
LATEST_VIEW = "leadscore_latest_scores"
QUEUE_INDEX = "ix_scores_queue"
VERSION_TABLE = "leadscore_alembic_version"  # MLflow's is alembic_version: the two must never be one table
HEAD = "0003"  # the newest migration (tests hold it to the migrations folder's head)
MIGRATIONS = Path(__file__).with_name("migrations")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # SQLite's stored form: UTC, to the second, sortable as text

log = logging.getLogger(__name__)


class UtcTimestamp(sa.types.TypeDecorator):
    """A UTC instant: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, ``YYYY-MM-DDTHH:MM:SSZ`` text on SQLite;
    tz-aware UTC datetimes in and out on both, to the second."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        stamp = pd.Timestamp(value)
        stamp = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).floor("s")
        return stamp.strftime(TIME_FORMAT) if dialect.name == "sqlite" else stamp.to_pydatetime()

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            return dt.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def scores_table(lead_id_type: sa.types.TypeEngine | None = None, metadata: sa.MetaData | None = None) -> sa.Table:
    """The ``leadscore_scores`` table (columns in ``models.scoring.SCORE_TABLE_COLUMNS`` order)."""
    table = sa.Table(
        SCORES_TABLE, metadata if metadata is not None else sa.MetaData(),
        sa.Column("lead_id", lead_id_type if lead_id_type is not None else sa.BigInteger(), nullable=False),
        sa.Column("as_of_ts", UtcTimestamp(), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("definition_version", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Text()),
        sa.Column("company", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("reasons_positive", sa.Text()),
        sa.Column("reasons_negative", sa.Text()),
        sa.Column("scored_at", UtcTimestamp(), nullable=False),
        sa.Column("segment", sa.Text()),  # the segment whose model scored the row; null: the global model
        sa.PrimaryKeyConstraint("lead_id", "as_of_ts", name="pk_scores"),
    )
    sa.Index(QUEUE_INDEX, table.c.as_of_ts, table.c.owner_id, table.c.probability)
    return table


TIMESTAMP_COLUMNS = ("as_of_ts", "scored_at")


def read_expression(column: str, dialect: str) -> str:
    """How ``io`` selects a column for a DataFrame: PostgreSQL's timestamps as epoch seconds (the driver would
    build a Python datetime per value, most of a large read), turned back into timestamps by ``timestamps``."""
    if column in TIMESTAMP_COLUMNS and dialect == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT) AS {column}"
    return column


def timestamps(values: pd.Series) -> pd.Series:
    """A timestamp column as read (epoch seconds, or SQLite's UTC text): tz-aware UTC, the same on both."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.to_datetime(values, unit="s", utc=True).astype("datetime64[us, UTC]")
    return pd.to_datetime(values, utc=True)


def lead_id_type(ids: pd.Series) -> sa.types.TypeEngine:
    """Integer ids stay integers (they sort and read back as numbers); any other id is text."""
    return sa.BigInteger() if pd.api.types.is_integer_dtype(ids) else sa.Text()


def latest_view_sql(columns: list[str]) -> str:
    """One row per lead: its row of the latest night it was published (a lead no longer open keeps the row
    of its last night; compare its ``as_of_ts`` with the newest night to tell). The correlated MAX reads the
    primary key's index, on both databases."""
    listed = ", ".join(f"s.{c}" for c in columns)
    return (f"CREATE VIEW {LATEST_VIEW} AS SELECT {listed} FROM {SCORES_TABLE} s WHERE s.as_of_ts = "
            f"(SELECT MAX(t.as_of_ts) FROM {SCORES_TABLE} t WHERE t.lead_id = s.lead_id)")


def create_scores_table(conn: sa.Connection, ids: pd.Series) -> sa.Table:
    """The first publish of a fresh store: the table (``lead_id`` typed like ``ids``) and the view. Its index
    comes after the first night's rows (``create_indexes``): built once, it costs less than kept up row by row."""
    table = scores_table(lead_id_type(ids))
    conn.execute(sa.schema.CreateTable(table))
    conn.exec_driver_sql(latest_view_sql([c.name for c in table.columns]))
    return table


def create_indexes(conn: sa.Connection, table: sa.Table) -> None:
    for index in table.indexes:
        index.create(conn)


def stored_lead_ids(conn: sa.Connection, ids: pd.Series) -> pd.Series:
    """``ids`` as the table holds them: text ids for a text column; integer ids into an integer column only."""
    column = next(c for c in sa.inspect(conn).get_columns(SCORES_TABLE) if c["name"] == "lead_id")
    if isinstance(column["type"], sa.Integer):
        if not pd.api.types.is_integer_dtype(ids):
            raise ValueError(f"the scores table holds integer lead ids, these are {ids.dtype}: publish to a new "
                             "store (LEADSCORE_DB_URL) or convert the ids at the source")
        return ids
    return ids if pd.api.types.is_string_dtype(ids) else ids.astype(str)


# --- migrations ---------------------------------------------------------------------------------------------

def current_version(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def needs_upgrade(conn: sa.Connection) -> bool:
    return current_version(conn) != HEAD


# Tables that make a database a leadscore store (older names included): a reader migrates such a store, and
# creates nothing in any other database. A bare ``runs`` counts only with leadscore's columns (MLflow has one).
_STORE_MARKS = ("scores", "rejects", "source_volumes", "leadscore_users", "leadscore_approvals",
                "leadscore_feedback", "leadscore_one_lead_scores", SCORES_TABLE)


def is_store(conn: sa.Connection) -> bool:
    """Whether the database holds any of leadscore's tables, in this layout or an older one."""
    inspector = sa.inspect(conn)
    if inspector.has_table(VERSION_TABLE) or any(inspector.has_table(t) for t in _STORE_MARKS):
        return True
    return inspector.has_table("runs") and "leads_scored" in {c["name"] for c in inspector.get_columns("runs")}


def upgrade(url: str) -> None:
    """Bring the store at ``url`` to the newest layout, in one transaction (a failure leaves it as it was);
    nothing to do when it is already there. Two processes upgrading at once are serialised: PostgreSQL by an
    advisory lock, SQLite by taking the write lock when the transaction begins."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    eng = _migration_engine(url)
    try:
        with eng.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('leadscore migrations'))"))
            if not needs_upgrade(conn):  # another process upgraded it while this one waited
                return
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        eng.dispose()


def _migration_engine(url: str) -> sa.Engine:
    """pysqlite runs DDL outside any transaction unless told otherwise: the engine SQLAlchemy documents for
    transactional DDL on SQLite (the driver's own transaction handling off, ``BEGIN IMMEDIATE`` emitted)."""
    if sa.make_url(url).get_backend_name() != "sqlite":
        return sa.create_engine(url)
    eng = sa.create_engine(url, connect_args={"timeout": 60})  # waits for a publish in progress to commit

    @sa.event.listens_for(eng, "connect")
    def _no_driver_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(eng, "begin")
    def _begin_immediate(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return eng


# --- retention ----------------------------------------------------------------------------------------------

def drop_old_nights(conn: sa.Connection, as_of: pd.Timestamp, retention_days: int) -> tuple[pd.Timestamp, list]:
    """Inside the publish's transaction: delete the nights older than ``retention_days`` before the newest
    night (the one being published, or a newer one already in the store). Returns the cutoff and the nights
    deleted. A night that is itself older than the cutoff is refused: it would be deleted at once."""
    stamp = UtcTimestamp()
    newest = conn.execute(sa.text(f"SELECT MAX(as_of_ts) FROM {SCORES_TABLE}")).scalar()
    newest = max(as_of, pd.Timestamp(stamp.process_result_value(newest, conn.dialect))) if newest else as_of
    cutoff = newest - pd.Timedelta(days=retention_days)
    if as_of < cutoff:
        raise ValueError(f"night {as_of:%Y-%m-%d} is more than score.retention_days ({retention_days}) before the "
                         f"newest published night {newest:%Y-%m-%d}: it would be deleted as soon as it is "
                         "published; raise score.retention_days (null keeps every night) to backfill it")
    old = sa.text(f"SELECT DISTINCT as_of_ts FROM {SCORES_TABLE} WHERE as_of_ts < :cutoff").bindparams(
        sa.bindparam("cutoff", type_=stamp)).columns(as_of_ts=stamp)
    nights = [pd.Timestamp(n) for n in conn.execute(old, {"cutoff": cutoff}).scalars()]
    if nights:
        conn.execute(sa.text(f"DELETE FROM {SCORES_TABLE} WHERE as_of_ts < :cutoff").bindparams(
            sa.bindparam("cutoff", type_=stamp)), {"cutoff": cutoff})
    return cutoff, nights
