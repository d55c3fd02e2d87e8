"""What the workspace shows, read from the stores: a night's queue with the source tables' context (contact, title,
last sales touch), one lead's history, the run log. It computes nothing the pipeline does not already publish:
scores come from ``pipeline.io``'s readers, people and touches from the source tables as they are.

Contact name: the leads table's optional ``contact_name`` column, else ``first_name`` + ``last_name``; blank when
the CRM export has neither. Title: ``job_title``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pandas as pd

from pipeline import feedback, io
from pipeline.users import User

PAGE_SIZE = 50
SORTS = {"score_desc": False, "score_asc": True}
CSV_COLUMNS = ["night", "lead_id", "company", "contact", "title", "source", "campaign", "owner", "grade", "score",
               "probability",
               "last_sales_touch", "reasons_positive", "reasons_negative"]


class Forbidden(PermissionError):
    """The signed-in user may not see this (another owner's queue or lead)."""


@dataclass
class QueueFilters:
    night: str | None = None  # YYYY-MM-DD; None = the latest published night
    owner: str | None = None  # None = the user's own leads (members) or every owner (managers, admins)
    grade: list[str] = field(default_factory=list)
    source: str | None = None
    campaign: str | None = None  # the lead's first campaign (its name, else its id)
    min_age_days: int | None = None
    max_age_days: int | None = None
    untouched: bool = False  # no sales activity after the night
    q: str = ""  # company or contact name contains (case-insensitive)
    sort: str = "score_desc"
    page: int = 1


@dataclass
class Queue:
    night: pd.Timestamp | None
    nights: list[pd.Timestamp]
    owner: str | None  # the owner shown (None = every owner)
    rows: pd.DataFrame  # the filtered, sorted view, every page
    page: int
    pages: int
    facets: dict[str, list[str]]
    empty_reason: str = ""

    @property
    def page_rows(self) -> pd.DataFrame:
        return self.rows.iloc[(self.page - 1) * PAGE_SIZE: self.page * PAGE_SIZE]


class SourceContext:
    """The source tables the workspace shows next to the scores, read once and again only when a file changes; from a
    source database (``LEADSCORE_SOURCES`` a URL), read again at most every ``DATABASE_REFRESH_SECONDS`` (a database
    has no file times to watch), one lead's rows read from it when asked (bound, indexed)."""

    DATABASE_REFRESH_SECONDS = 300

    def __init__(self, folder: io.SourceLocation | None):
        self.folder = folder
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._tables: dict[str, pd.DataFrame] = {}
        self.problem = ""

    def location(self) -> io.SourceLocation:
        return self.folder if self.folder is not None else io.source_location()

    def stamp(self) -> tuple:
        folder = self.location()
        if io.is_database(folder):
            return (io.shown_location(folder), int(time.time() // self.DATABASE_REFRESH_SECONDS))
        if not folder.is_dir():
            return (str(folder),)
        return (str(folder),) + tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()
                                             if p.suffix in (".parquet", ".csv")))

    def lead_rows(self, table: str, lead_id: str) -> pd.DataFrame | None:
        """One lead's rows of a source table, read when asked (None when the table or the folder is missing)."""
        folder = self.location()
        if io.is_database(folder) or folder.is_dir():
            return io.read_source_table(table, lead_id=lead_id, folder=folder)
        return None

    def tables(self) -> dict[str, pd.DataFrame]:
        with self._lock:
            stamp = self.stamp()
            if stamp != self._stamp:
                try:
                    self._tables, self.problem = _prepare(self.location())
                except OSError as exc:  # a source database that cannot be read: the scores still show
                    self._tables, self.problem = {}, f"{exc}: contact, title and sales touches are blank"
                self._stamp = stamp
            return self._tables


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as text, the way the CRM wrote them: a numeric column with gaps (read as floats) loses its ``.0``."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == whole.round()).all():
            values = values.astype("Int64")
    return values.astype("string")


def _campaign_names(ids: pd.Series, names: pd.Series | None) -> pd.Series:
    """Each campaign id as its name where the campaigns table has one, else as its id; blank where none."""
    ids = _id_text(ids)
    named = ids.map(names) if names is not None else pd.Series(pd.NA, index=ids.index, dtype="string")
    return named.fillna(ids).fillna("").astype(str)


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce")


LEAD_COLUMNS = ["lead_id", "created_ts", "job_title", "contact_name", "first_name", "last_name", "first_campaign_id"]


def _prepare(folder: io.SourceLocation) -> tuple[dict[str, pd.DataFrame], str]:
    """What the queue shows next to each score, read with only the columns it needs (engagement is read per lead,
    on the lead page): contact, title and creation per lead, the last sales touch per lead, campaign names."""
    if not io.is_database(folder) and not folder.is_dir():
        return {}, f"no source tables at {folder}: contact, title and sales touches are blank"
    out: dict[str, pd.DataFrame] = {}
    campaigns = io.read_source_table("campaigns", columns=["campaign_id", "name"], folder=folder)
    if campaigns is not None and "name" in campaigns.columns:
        out["campaign_names"] = campaigns.assign(key=_id_text(campaigns["campaign_id"])).set_index("key")["name"]
    leads = io.read_source_table("leads", columns=LEAD_COLUMNS, folder=folder)
    if leads is not None:
        if "contact_name" in leads.columns:
            contact = leads["contact_name"].astype("string")
        elif {"first_name", "last_name"} <= set(leads.columns):
            contact = (leads["first_name"].astype("string").fillna("") + " "
                       + leads["last_name"].astype("string").fillna("")).str.strip()
        else:
            contact = pd.Series(pd.NA, index=leads.index, dtype="string")
        out["leads"] = pd.DataFrame({
            "key": leads["lead_id"].astype(str),
            "contact": contact.fillna("").to_numpy(),
            "title": leads["job_title"].astype("string").fillna("").to_numpy() if "job_title" in leads.columns else "",
            "created_ts": _utc(leads["created_ts"]),
            "campaign": (_campaign_names(leads["first_campaign_id"], out.get("campaign_names")).to_numpy()
                         if "first_campaign_id" in leads.columns else ""),
        }).drop_duplicates("key").set_index("key")
    touches = io.read_source_table("sales_activities", columns=["lead_id", "activity_ts"], folder=folder)
    if touches is not None:
        out["last_touch"] = _utc(touches["activity_ts"]).groupby(touches["lead_id"].astype(str)).max()
    return out, ""


def _with_context(scores: pd.DataFrame, tables: dict[str, pd.DataFrame], night: pd.Timestamp) -> pd.DataFrame:
    keys = scores["lead_id"].astype(str)
    leads = tables.get("leads")
    view = pd.DataFrame({
        "lead_id": scores["lead_id"].astype(str).to_numpy(),
        "company": scores["company"].astype("string").fillna("").to_numpy() if "company" in scores else "",
        "contact": leads["contact"].reindex(keys).fillna("").to_numpy() if leads is not None else "",
        "title": leads["title"].reindex(keys).fillna("").to_numpy() if leads is not None else "",
        "source": scores["source"].astype("string").fillna("").to_numpy() if "source" in scores else "",
        "campaign": leads["campaign"].reindex(keys).fillna("").to_numpy() if leads is not None else "",
        "owner": scores["owner_id"].astype("string").fillna("").to_numpy(),
        "grade": scores["grade"].astype(str).to_numpy(),
        # the segment whose model graded the lead (grades are sized per segment model); "" for the global model
        "segment": (scores["segment"].astype("string").fillna("").to_numpy() if "segment" in scores else ""),
        "score": scores["score"].astype(int).to_numpy(),
        "probability": scores["probability"].astype(float).to_numpy(),
        "reasons_positive": scores.get("reasons_positive", pd.Series("", index=scores.index)).fillna("").to_numpy(),
        "reasons_negative": scores.get("reasons_negative", pd.Series("", index=scores.index)).fillna("").to_numpy(),
    })
    created = leads["created_ts"].reindex(keys).to_numpy() if leads is not None else pd.NaT
    view["age_days"] = (night - pd.to_datetime(pd.Series(created, index=view.index), utc=True)).dt.days
    last = tables.get("last_touch")
    view["last_touch"] = (last.reindex(keys).to_numpy() if last is not None
                          else pd.Series(pd.NaT, index=view.index, dtype="datetime64[ns, UTC]"))
    view["last_touch"] = pd.to_datetime(view["last_touch"], utc=True)
    view["touched_since"] = view["last_touch"].notna() & (view["last_touch"] > night)
    return view


def _night(text: str | None, nights: list[pd.Timestamp]) -> pd.Timestamp | None:
    if not nights:
        return None
    if not text:
        return nights[0]
    for night in nights:
        if f"{night:%Y-%m-%d}" == text:
            return night
    raise LookupError(f"no scores were published for the night of {text}")


def owner_scope(user: User, requested: str | None) -> str | None:
    """The owner whose leads the user sees: members only their own; managers and admins whoever they pick."""
    if not user.sees_every_owner:
        if requested and requested.strip().lower() != user.owner_key:
            raise Forbidden(f"{user.name} sees their own leads only (owner {user.owner_key})")
        return user.owner_key
    return requested.strip() if requested and requested.strip() else None


def build_queue(user: User, filters: QueueFilters, context: SourceContext, *, url: str | None = None) -> Queue:
    nights = io.read_score_nights(url=url)
    owner = owner_scope(user, filters.owner)
    night = _night(filters.night, nights)
    empty = pd.DataFrame(columns=[*CSV_COLUMNS, "age_days", "touched_since"])
    if night is None:
        return Queue(None, [], owner, empty, 1, 1, {}, "Nothing published yet: no night's scores are in the store "
                     "(the nightly job publishes them; `leadscore nightly`).")
    facets = io.read_night_facets(night, url=url)
    scores = io.read_night_scores(night, owners=[owner] if owner else None, grades=filters.grade or None,
                                  sources=[filters.source] if filters.source else None, url=url)
    if scores.empty:
        reason = (f"No leads for owner {owner} on the night of {night:%Y-%m-%d}." if owner
                  else f"No leads on the night of {night:%Y-%m-%d}.")
        if filters.grade or filters.source:
            reason = f"No leads match these filters on the night of {night:%Y-%m-%d}" + (
                f" for owner {owner}." if owner else ".")
        return Queue(night, nights, owner, empty, 1, 1, facets, reason)
    view = _with_context(scores, context.tables(), night)
    facets = {**facets, "campaign": sorted(c for c in view["campaign"].unique() if c)}
    keep = pd.Series(True, index=view.index)
    if filters.min_age_days is not None:
        keep &= view["age_days"] >= filters.min_age_days
    if filters.max_age_days is not None:
        keep &= view["age_days"] <= filters.max_age_days
    if filters.untouched:
        keep &= ~view["touched_since"]
    if filters.campaign:
        keep &= view["campaign"] == filters.campaign
    if filters.q.strip():
        needle = filters.q.strip().lower()
        keep &= (view["company"].str.lower().str.contains(needle, regex=False)
                 | view["contact"].str.lower().str.contains(needle, regex=False))
    view = view[keep].sort_values(["probability", "lead_id"], ascending=[SORTS.get(filters.sort, False), True],
                                  ignore_index=True)
    pages = max(1, -(-len(view) // PAGE_SIZE))
    reason = "" if len(view) else f"No leads match these filters on the night of {night:%Y-%m-%d}" + (
        f" for owner {owner}." if owner else ".")
    return Queue(night, nights, owner, view, min(max(1, filters.page), pages), pages, facets, reason)


@dataclass
class LeadDetail:
    lead_id: str
    history: pd.DataFrame  # one row per night scored, oldest first
    events: pd.DataFrame  # engagement timeline, newest first
    touches: pd.DataFrame  # sales activities, newest first
    contact: str
    title: str
    created_ts: pd.Timestamp | None
    feedback: pd.DataFrame  # sales' dispositions of the lead, newest (the current one) first


def lead_detail(user: User, lead_id: str, context: SourceContext, *, url: str | None = None) -> LeadDetail | None:
    """One lead's nights, engagement, touches and sales feedback; None if it was never scored or (for a member) is not
    theirs."""
    history = io.read_lead_scores(lead_id, url=url)
    if history.empty:
        return None
    if not user.sees_every_owner and not (history["owner_id"].astype(str).str.lower() == user.owner_key).any():
        return None  # as if it did not exist: a member learns nothing about other owners' leads
    tables = context.tables()
    key = str(lead_id)
    events = context.lead_rows("engagement_events", key)
    events = (events.assign(event_ts=_utc(events["event_ts"])).sort_values("event_ts", ascending=False)
              if events is not None else pd.DataFrame(columns=["event_ts", "event_type"]))
    if "campaign_id" in events.columns:
        events = events.assign(campaign=_campaign_names(events["campaign_id"], tables.get("campaign_names")))
    touches = context.lead_rows("sales_activities", key)
    touches = (touches.assign(activity_ts=_utc(touches["activity_ts"])).sort_values("activity_ts", ascending=False)
               if touches is not None else pd.DataFrame(columns=["activity_ts", "activity_type"]))
    leads = tables.get("leads")
    info = leads.loc[key] if leads is not None and key in leads.index else None
    return LeadDetail(key, history, events, touches, str(info["contact"]) if info is not None else "",
                      str(info["title"]) if info is not None else "",
                      info["created_ts"] if info is not None and pd.notna(info["created_ts"]) else None,
                      feedback.lead_feedback(key, url=url))
