"""leadscore's own namespace: every table and view it owns carries the ``leadscore_`` prefix, and one upgrade
creates them all

MLflow keeps ``runs``, ``experiments``, ``metrics``, ``params``, ``tags`` … in the database it tracks to; a team
pointing ``MLFLOW_TRACKING_URI`` and ``LEADSCORE_DB_URL`` at one PostgreSQL database had leadscore's run log
written into MLflow's ``runs``. This revision renames what an older store holds under bare names:

- ``scores`` → ``leadscore_scores`` (its view ``latest_scores`` → ``leadscore_latest_scores``; the primary key
  ``pk_scores`` and the index ``ix_scores_queue`` keep their names, which MLflow does not use);
- ``runs`` → ``leadscore_runs``, ``rejects`` → ``leadscore_rejects``, ``source_volumes`` →
  ``leadscore_source_volumes`` — each only when it holds leadscore's columns: a bare ``runs`` may be MLflow's.

It then creates whatever of leadscore's tables is missing (users, tokens, approvals, promotions, feedback, the
one-lead log, the run log, quarantined rows, source volumes), which the modules used to create on first use.
The scores table alone is still created by the first publish, which types ``lead_id`` like the sources' ids.

Layouts are written out as they are at this revision (not imported), so that a later revision changing a table
does not change what this one does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCORE_COLUMNS = ["lead_id", "as_of_ts", "probability", "score", "grade", "model_version", "definition_version",
                 "owner_id", "company", "source", "reasons_positive", "reasons_negative", "scored_at"]
# old name -> (new name, columns that make it leadscore's and not another program's)
RENAMED = {
    "runs": ("leadscore_runs", {"run_id", "leads_scored", "rejects"}),
    "rejects": ("leadscore_rejects", {"run_id", "table_name", "row_number", "reason"}),
    "source_volumes": ("leadscore_source_volumes", {"run_id", "table_name", "rows"}),
}


def _timestamp(dialect: str) -> sa.types.TypeEngine:
    return sa.Text() if dialect == "sqlite" else sa.TIMESTAMP(timezone=True)


def _tables(dialect: str) -> sa.MetaData:
    """Every table of leadscore's but the scores table, as at this revision."""
    md = sa.MetaData()
    text = sa.Text
    sa.Table("leadscore_users", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("name", sa.String(200), nullable=False, unique=True),
             sa.Column("name_key", sa.String(200), nullable=False, unique=True),
             sa.Column("team", sa.String(20), nullable=False),
             sa.Column("role", sa.String(20), nullable=False),
             sa.Column("owner_id", sa.String(200), nullable=True),
             sa.Column("password_hash", sa.String(300), nullable=False),
             sa.Column("created_at", sa.String(40), nullable=False))
    sa.Table("leadscore_tokens", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("user_id", sa.Integer, sa.ForeignKey("leadscore_users.id"), nullable=False),
             sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
             sa.Column("created_at", sa.String(40), nullable=False))
    decided = [sa.Column("user_name", sa.String(200), nullable=False), sa.Column("team", sa.String(20), nullable=False),
               sa.Column("role", sa.String(20), nullable=False), sa.Column("at", sa.String(40), nullable=False)]
    sa.Table("leadscore_approvals", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("model_name", sa.String(200), nullable=False),
             sa.Column("version", sa.Integer, nullable=False),
             sa.Column("definition_version", sa.String(64), nullable=False),
             sa.Column("decision", sa.String(10), nullable=False),
             sa.Column("user_id", sa.Integer, nullable=False),
             *[c.copy() for c in decided],
             sa.Column("comment", sa.Text, nullable=False))
    sa.Table("leadscore_promotions", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("model_name", sa.String(200), nullable=False),
             sa.Column("action", sa.String(20), nullable=False),
             sa.Column("version", sa.Integer, nullable=False),
             sa.Column("previous", sa.Integer, nullable=True),
             sa.Column("definition_version", sa.String(64), nullable=False),
             *[c.copy() for c in decided],
             sa.Column("forced", sa.Boolean, nullable=False),
             sa.Column("reason", sa.Text, nullable=False),
             sa.Column("failed_checks", sa.Text, nullable=False))
    sa.Table("leadscore_feedback", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("lead_id", sa.String(100), nullable=False, index=True),
             sa.Column("as_of_ts", _timestamp(dialect), nullable=False),
             sa.Column("grade", sa.String(20), nullable=False),
             sa.Column("probability", sa.Float, nullable=False),
             sa.Column("model_version", sa.Integer, nullable=True),
             sa.Column("definition_version", sa.String(100), nullable=True),
             sa.Column("disposition", sa.String(40), nullable=False),
             sa.Column("comment", sa.Text, nullable=False),
             sa.Column("user_name", sa.String(200), nullable=False),
             sa.Column("team", sa.String(20), nullable=False),
             sa.Column("created_at", _timestamp(dialect), nullable=False))
    sa.Table("leadscore_one_lead_scores", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("scored_at", text, nullable=False),
             sa.Column("lead_id", text, nullable=False, index=True),
             sa.Column("as_of_ts", text, nullable=False),
             sa.Column("probability", sa.Float, nullable=False),
             sa.Column("score", sa.Integer, nullable=False),
             sa.Column("grade", text, nullable=False),
             sa.Column("model_version", sa.Integer, nullable=False),
             sa.Column("definition_version", text, nullable=False),
             sa.Column("requested_by", text),
             sa.Column("via", text, nullable=False),
             sa.Column("took_ms", sa.Float, nullable=False))
    sa.Table("leadscore_runs", md,
             *[sa.Column(c, text) for c in ("run_id", "as_of", "started", "finished", "status")],
             sa.Column("leads_scored", sa.Integer), sa.Column("rejects", sa.Integer),
             sa.Column("model_version", sa.Integer),
             *[sa.Column(c, text) for c in ("definition_version", "warnings", "error")])
    sa.Table("leadscore_rejects", md,
             sa.Column("table_name", text), sa.Column("row_number", sa.BigInteger),
             *[sa.Column(c, text) for c in ("row_key", "column_name", "reason", "value", "run_id", "as_of",
                                            "recorded_at")])
    sa.Table("leadscore_source_volumes", md,
             sa.Column("run_id", text), sa.Column("as_of", text), sa.Column("table_name", text),
             sa.Column("rows", sa.BigInteger))
    return md


def upgrade() -> None:
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    if inspector.has_table("scores") and not inspector.has_table("leadscore_scores"):
        if "latest_scores" in inspector.get_view_names():
            op.execute("DROP VIEW latest_scores")
        op.rename_table("scores", "leadscore_scores")
        listed = ", ".join(f"s.{c}" for c in SCORE_COLUMNS)
        op.execute(f"CREATE VIEW leadscore_latest_scores AS SELECT {listed} FROM leadscore_scores s WHERE "
                   "s.as_of_ts = (SELECT MAX(t.as_of_ts) FROM leadscore_scores t WHERE t.lead_id = s.lead_id)")
    for old, (new, marks) in RENAMED.items():
        if (inspector.has_table(old) and not inspector.has_table(new)
                and marks <= {c["name"] for c in inspector.get_columns(old)}):
            op.rename_table(old, new)
    _tables(conn.dialect.name).create_all(conn, checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("leadscore's tables are not moved back under names MLflow uses")
