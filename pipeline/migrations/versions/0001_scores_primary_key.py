"""scores: primary key (lead_id, as_of_ts), real timestamps on PostgreSQL, the latest_scores view

A store written before this revision holds the table pandas' ``to_sql`` created: no primary key, ``as_of_ts``
and ``scored_at`` as ISO text (``2026-06-01T00:00:00Z``) on PostgreSQL too. The table is rebuilt in the new
layout with every row; where a lead appears twice in one night (nothing stopped it before), the row with
the latest ``scored_at`` is kept and the number of rows dropped is logged. A store with no scores table yet
gets its table from its first publish, already in this layout.

The layout is written out here as it is at this revision (not imported from ``pipeline.store``), so that a
later revision changing the table does not change what this one does.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("pipeline.store")

COLUMNS = ["lead_id", "as_of_ts", "probability", "score", "grade", "model_version", "definition_version",
           "owner_id", "company", "source", "reasons_positive", "reasons_negative", "scored_at"]
TIMESTAMPS = ("as_of_ts", "scored_at")


def _layout(name: str, lead_id: sa.types.TypeEngine, timestamp: sa.types.TypeEngine) -> sa.Table:
    return sa.Table(
        name, sa.MetaData(),
        sa.Column("lead_id", lead_id, nullable=False),
        sa.Column("as_of_ts", timestamp, nullable=False),
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
        sa.Column("scored_at", timestamp, nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "as_of_ts", name="pk_scores"),
    )


def _utc_seconds(column: str, dialect: str) -> str:
    """An old text timestamp as the new column holds it (UTC, to the second)."""
    if dialect == "sqlite":
        return f"strftime('%Y-%m-%dT%H:%M:%SZ', {column})"
    return f"date_trunc('second', CAST({column} AS TIMESTAMP WITH TIME ZONE))"


def _latest_view() -> str:
    listed = ", ".join(f"s.{c}" for c in COLUMNS)
    return (f"CREATE VIEW latest_scores AS SELECT {listed} FROM scores s WHERE s.as_of_ts = "
            "(SELECT MAX(t.as_of_ts) FROM scores t WHERE t.lead_id = s.lead_id)")


def upgrade() -> None:
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    if not inspector.has_table("scores"):
        return  # a fresh store: the first publish creates the table in this layout
    if inspector.get_pk_constraint("scores")["constrained_columns"] == ["lead_id", "as_of_ts"]:
        return  # already in this layout (created by a publish before the store was stamped)
    dialect = conn.dialect.name
    old = {c["name"]: c["type"] for c in inspector.get_columns("scores")}
    if not {"lead_id", "as_of_ts"} <= old.keys():
        raise RuntimeError(f"the scores table has no lead_id or as_of_ts column (it has {sorted(old)}): "
                           "not a leadscore store")
    lead_id = sa.BigInteger() if isinstance(old["lead_id"], sa.Integer) else sa.Text()
    timestamp = sa.Text() if dialect == "sqlite" else sa.TIMESTAMP(timezone=True)
    _layout("scores_new", lead_id, timestamp).create(conn)

    def value(column: str) -> str:
        if column not in old:
            return f"NULL AS {column}"
        return f"{_utc_seconds(column, dialect)} AS {column}" if column in TIMESTAMPS else column

    listed = ", ".join(COLUMNS)
    latest_first = f"{_utc_seconds('scored_at', dialect)} DESC" if "scored_at" in old else "1"
    conn.exec_driver_sql(
        f"INSERT INTO scores_new ({listed}) SELECT {listed} FROM ("
        f"SELECT {', '.join(value(c) for c in COLUMNS)}, ROW_NUMBER() OVER ("
        f"PARTITION BY lead_id, {_utc_seconds('as_of_ts', dialect)} ORDER BY {latest_first}) AS copy "
        "FROM scores) ranked WHERE copy = 1")
    before = conn.exec_driver_sql("SELECT COUNT(*) FROM scores").scalar()
    after = conn.exec_driver_sql("SELECT COUNT(*) FROM scores_new").scalar()
    if before != after:
        log.warning("scores migration: %d duplicate rows of a lead in one night dropped (the one scored last "
                    "was kept); %d rows kept", before - after, after)
    op.drop_table("scores")  # its index goes with it
    op.rename_table("scores_new", "scores")
    op.create_index("ix_scores_queue", "scores", ["as_of_ts", "owner_id", "probability"])
    conn.exec_driver_sql(_latest_view())


def downgrade() -> None:
    raise NotImplementedError("the text-timestamp layout without a primary key is not restored")
