"""Sales feedback: a rep's disposition of a lead, kept in the leadscore database next to the score it was about.

Table (SQLAlchemy Core, created on first use, self-contained like ``pipeline.users``'s):

- ``leadscore_feedback``: one row per disposition recorded: lead_id (text), as_of_ts (the night of the score the rep
  saw: the lead's latest published night unless one is named), that night's grade, probability, model_version and
  definition_version (copied from the published score row, never taken from the client), the disposition (one of
  :data:`DISPOSITIONS`), an optional comment, the signed-in user's name and team, created_at. A rep may record
  several over time: every row is kept, the latest is the lead's current disposition.

Feedback is written beside the scores, never into them: recording one changes no published row. Who may record:
sales users, a member only on their own leads (the lead page's rule); marketing and data science read it.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from pipeline import io, store, users

DISPOSITIONS = {
    "working": "Working it",
    "not_a_fit": "Not a fit",
    "wrong_contact": "Wrong contact",
    "already_customer": "Already a customer",
    "no_budget_or_timing": "No budget or timing",
    "bad_data": "Bad data",
    "duplicate": "Duplicate",
}
MAX_COMMENT_CHARS = 2000
RECORDING_TEAM = "sales"
COLUMNS = ("id", "lead_id", "as_of_ts", "grade", "probability", "model_version", "definition_version",
           "disposition", "comment", "user_name", "team", "created_at")
EXPORT_COLUMNS = ("id", "created_at", "lead_id", "as_of_ts", "grade", "probability", "model_version",
                  "definition_version", "disposition", "disposition_label", "current", "comment", "user_name", "team")

metadata = sa.MetaData()
feedback_table = sa.Table(
    "leadscore_feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lead_id", sa.String(100), nullable=False, index=True),
    sa.Column("as_of_ts", store.UtcTimestamp(), nullable=False),
    sa.Column("grade", sa.String(20), nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("definition_version", sa.String(100), nullable=True),
    sa.Column("disposition", sa.String(40), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("user_name", sa.String(200), nullable=False),
    sa.Column("team", sa.String(20), nullable=False),
    sa.Column("created_at", store.UtcTimestamp(), nullable=False),
)


class FeedbackError(ValueError):
    """The feedback itself is invalid (unknown disposition, comment too long, a night the lead was not scored)."""


class NotAllowed(PermissionError):
    """The user may read feedback but not record it (marketing, data science)."""


def may_record(user: users.User) -> bool:
    """Sales records dispositions: it is the team that worked the lead."""
    return user.team == RECORDING_TEAM


def require_recorder(user: users.User) -> None:
    if not may_record(user):
        raise NotAllowed(f"{user.name} is in team {user.team}: only {RECORDING_TEAM} users record feedback")


def label(disposition: str) -> str:
    return DISPOSITIONS.get(disposition, disposition)


def _engine(url: str | None) -> sa.Engine:
    return io.migrated_engine(url)


def _scored_night(history: pd.DataFrame, night: str | None) -> pd.Series:
    """The published score row the feedback is about: the latest night, or the night named (YYYY-MM-DD)."""
    if not night:
        return history.iloc[-1]
    try:
        wanted = dt.date.fromisoformat(night.strip())
    except ValueError:
        raise FeedbackError(f"night must be a date YYYY-MM-DD, not {night!r}") from None
    match = history[history["as_of_ts"].dt.date == wanted]
    if match.empty:
        raise FeedbackError(f"lead {history['lead_id'].iloc[0]} has no published score for the night of {wanted}")
    return match.iloc[-1]


def _owns(user: users.User, history: pd.DataFrame) -> bool:
    return user.sees_every_owner or (history["owner_id"].astype(str).str.lower() == user.owner_key).any()


def record(lead_id: str | int, *, disposition: str, user: users.User, comment: str = "", night: str | None = None,
           url: str | None = None) -> dict:
    """Record ``user``'s disposition of a lead, with the grade, probability and versions of the score they saw.

    Raises ``FeedbackError`` for invalid input, ``NotAllowed`` for a user outside sales, ``LookupError`` for a lead
    never scored or (for a member) not theirs: as on the lead page, they learn nothing of other owners' leads.
    """
    require_recorder(user)
    if disposition not in DISPOSITIONS:
        raise FeedbackError(f"disposition must be one of {', '.join(DISPOSITIONS)}, not {disposition!r}")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise FeedbackError(f"a comment holds at most {MAX_COMMENT_CHARS} characters, not {len(comment)}")
    history = io.read_lead_scores(lead_id, url=url)
    if history.empty or not _owns(user, history):
        raise LookupError(f"no scored lead {lead_id} that you may see")
    scored = _scored_night(history, night)
    row = {"lead_id": str(lead_id), "as_of_ts": scored["as_of_ts"], "grade": str(scored["grade"]),
           "probability": float(scored["probability"]),
           "model_version": None if pd.isna(scored["model_version"]) else int(scored["model_version"]),
           "definition_version": None if pd.isna(scored["definition_version"]) else str(scored["definition_version"]),
           "disposition": disposition, "comment": comment, "user_name": user.name, "team": user.team,
           "created_at": pd.Timestamp.now(tz="UTC").floor("s")}
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            row["id"] = conn.execute(feedback_table.insert().values(**row)).inserted_primary_key[0]
    finally:
        eng.dispose()
    return row


def _read(query: sa.Select, url: str | None) -> pd.DataFrame:
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(query).mappings().all()
    finally:
        eng.dispose()
    frame = pd.DataFrame([dict(r) for r in rows], columns=list(COLUMNS)).astype({"model_version": "Int64"})
    for col in ("as_of_ts", "created_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame["disposition_label"] = frame["disposition"].map(label)
    return frame


def lead_feedback(lead_id: str | int, *, url: str | None = None) -> pd.DataFrame:
    """Every disposition recorded for one lead, newest (the current one) first."""
    return _read(sa.select(feedback_table).where(feedback_table.c.lead_id == str(lead_id))
                 .order_by(feedback_table.c.id.desc()), url)


def read_feedback(*, since: dt.date | None = None, url: str | None = None) -> pd.DataFrame:
    """Every disposition recorded (on or after ``since``, a UTC date, when given), oldest first; ``current`` marks
    each lead's latest, the one that stands."""
    query = sa.select(feedback_table).order_by(feedback_table.c.id)
    if since is not None:
        query = query.where(feedback_table.c.created_at >= pd.Timestamp(since, tz="UTC"))
    frame = _read(query, url)
    frame["current"] = ~frame["lead_id"].duplicated(keep="last")  # ids grow with time: a lead's last row is its latest
    return frame


def _export_cell(value) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return f"{value:.6f}"
    return io.spreadsheet_cell(value)


def write_export(frame: pd.DataFrame, path: Path) -> Path:
    """``read_feedback``'s rows as a CSV for data science (UTF-8, one row per disposition recorded); a text cell that
    starts like a spreadsheet formula is written with a leading apostrophe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in frame[list(EXPORT_COLUMNS)].astype(object).itertuples(index=False):
            writer.writerow([_export_cell(None if pd.isna(v) else v) for v in row])
    return path
