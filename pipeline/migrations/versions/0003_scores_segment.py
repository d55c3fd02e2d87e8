"""scores and the one-lead log: a ``segment`` column, the segment whose model scored the row (null: the global model)

Segment models (params.yaml ``segments:``) score their own leads; every published row names the segment whose
champion scored it, so the monitor, the report and the workspace can tell the models' promises apart. Rows
published before this revision were all scored by the global model: their segment stays null, which says so.
The latest-scores view selects its columns by name, so it is created again with the new one.

Layouts are written out as they are at this revision (not imported), so that a later revision changing the table
does not change what this one does.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCORE_COLUMNS = ["lead_id", "as_of_ts", "probability", "score", "grade", "model_version", "definition_version",
                 "owner_id", "company", "source", "reasons_positive", "reasons_negative", "scored_at", "segment"]


def upgrade() -> None:
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    one_lead = "leadscore_one_lead_scores"  # created by 0002; the one-lead log names the segment too
    if inspector.has_table(one_lead) and "segment" not in {c["name"] for c in inspector.get_columns(one_lead)}:
        op.add_column(one_lead, sa.Column("segment", sa.Text(), nullable=True))
    if not inspector.has_table("leadscore_scores"):
        return  # a fresh store: the first publish creates the table in this layout
    if "segment" in {c["name"] for c in inspector.get_columns("leadscore_scores")}:
        return  # created by a publish in this layout before the store was stamped
    if "leadscore_latest_scores" in inspector.get_view_names():
        op.execute("DROP VIEW leadscore_latest_scores")
    op.add_column("leadscore_scores", sa.Column("segment", sa.Text(), nullable=True))
    listed = ", ".join(f"s.{c}" for c in SCORE_COLUMNS)
    op.execute(f"CREATE VIEW leadscore_latest_scores AS SELECT {listed} FROM leadscore_scores s WHERE "
               "s.as_of_ts = (SELECT MAX(t.as_of_ts) FROM leadscore_scores t WHERE t.lead_id = s.lead_id)")
