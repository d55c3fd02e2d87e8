"""The data contract of the source tables, and the check that holds every load to it.

Timestamps are UTC. Extra columns are allowed and ignored unless params.yaml names them as features.
Only ``leads`` and ``opportunities`` are mandatory; a builder whose table is absent contributes nothing.
Checks name the table, the column and how many rows are affected, so whoever owns the extract can fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ID, TIMESTAMP, BOOL, NUMBER, TEXT = "id", "timestamp", "bool", "number", "text"
# A name that is an identifier (an owner): CRMs export it as text or as integers; either way it is read as text,
# because it is matched and shown, never counted.
NAME_ID = "name id"


@dataclass(frozen=True)
class TableContract:
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)
    unique_key: str | None = None
    mandatory: bool = False
    # Timestamps that may be empty (an open opportunity has no close date yet).
    nullable: frozenset[str] = frozenset()


CONTRACT: dict[str, TableContract] = {
    "leads": TableContract(
        required={"lead_id": ID, "created_ts": TIMESTAMP, "source": TEXT},
        optional={
            "account_id": ID, "first_campaign_id": ID, "country": TEXT, "job_title": TEXT,
            "owner_id": NAME_ID, "email_domain": TEXT, "status": TEXT, "disqualified_ts": TIMESTAMP,
        },
        unique_key="lead_id",
        mandatory=True,
        nullable=frozenset({"disqualified_ts"}),
    ),
    "accounts": TableContract(
        required={"account_id": ID},
        optional={"name": TEXT, "industry": TEXT, "employees": NUMBER, "annual_revenue": NUMBER,
                  "country": TEXT, "is_customer": BOOL, "customer_since_ts": TIMESTAMP},
        unique_key="account_id",
        nullable=frozenset({"customer_since_ts"}),
    ),
    "campaigns": TableContract(
        required={"campaign_id": ID, "channel": TEXT},
        optional={"name": TEXT, "start_ts": TIMESTAMP, "cost": NUMBER},
        unique_key="campaign_id",
    ),
    "engagement_events": TableContract(
        required={"lead_id": ID, "event_ts": TIMESTAMP, "event_type": TEXT},
        optional={"campaign_id": ID, "detail": TEXT},
    ),
    "sales_activities": TableContract(
        required={"lead_id": ID, "activity_ts": TIMESTAMP, "activity_type": TEXT},
        optional={"outcome": TEXT, "owner_id": NAME_ID},
    ),
    "opportunities": TableContract(
        required={"lead_id": ID, "created_ts": TIMESTAMP, "closed_ts": TIMESTAMP, "is_won": BOOL},
        optional={"amount": NUMBER, "stage": TEXT},
        mandatory=True,
        nullable=frozenset({"closed_ts"}),
    ),
}

TABLES = tuple(CONTRACT)


class SourceError(ValueError):
    """A source table breaks the data contract."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("source data breaks the contract:\n" + "\n".join(f"  - {p}" for p in problems))

    @classmethod
    def of_rejects(cls, rejects: pd.DataFrame) -> SourceError:
        """The strict reading's error for rows a check quarantined (an engine that checks in pieces)."""
        return cls(_summaries(rejects))


REJECT_COLUMNS = ["table_name", "row_number", "row_key", "column_name", "reason", "value"]

# Consequences of another row's quarantine: reported in the rejects table, but not as a root problem.
QUARANTINED_LEAD = "reference a quarantined lead"
QUARANTINED_ACCOUNT = "reference a quarantined account"
QUARANTINED_OPPORTUNITY = "have a quarantined opportunity, so whether they are still open is unknown"
UNKNOWN_LEAD_WITH_NULL_IDS = "reference no lead in leads (where some rows have no lead_id: it may be theirs)"
CASCADES = frozenset({QUARANTINED_LEAD, QUARANTINED_ACCOUNT, QUARANTINED_OPPORTUNITY, UNKNOWN_LEAD_WITH_NULL_IDS})

# Counts and money cannot be below zero; a negative value is an extraction error, not a signal.
NON_NEGATIVE = {("opportunities", "amount"), ("campaigns", "cost"), ("accounts", "employees"),
                ("accounts", "annual_revenue")}
_KEYS = {"engagement_events": "lead_id", "sales_activities": "lead_id", "opportunities": "lead_id"}


@dataclass(frozen=True)
class CheckedSources:
    """Tables holding only the rows that passed, and one reject row (with its reason) per row that did not."""

    tables: dict[str, pd.DataFrame]
    rejects: pd.DataFrame

    def reject_counts(self) -> pd.DataFrame:
        """Rows and rejects per table, with the share rejected: what a threshold is checked against."""
        rejected = self.rejects.groupby("table_name").size()
        return reject_counts(self.rejects, {name: len(frame) + int(rejected.get(name, 0))
                                            for name, frame in self.tables.items()})


def reject_counts(rejects: pd.DataFrame, rows_read: dict[str, int]) -> pd.DataFrame:
    """Per table: rows read, rows kept, rejects and the share rejected (``rows_read``: each table's rows before the
    check; an engine that checks in pieces counts them whole)."""
    rows = pd.Series(rows_read, dtype="int64")
    rejected = rejects.groupby("table_name").size().astype("int64")
    out = pd.DataFrame({"rows": rows, "rejects": rejected}).fillna(0).astype("int64")
    out["kept"] = out["rows"] - out["rejects"]
    out["share"] = out["rejects"] / out["rows"].clip(lower=1)
    return out[["kept", "rejects", "rows", "share"]]


class _Quarantine:
    """Collects the first reason each row fails for; later checks skip rows already rejected."""

    def __init__(self, name: str, frame: pd.DataFrame):
        self.name = name
        self.raw = frame
        self.bad = np.zeros(len(frame), dtype=bool)
        self.records: list[pd.DataFrame] = []

    def reject(self, mask, column: str, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask.any():
            return
        self.bad |= mask
        where = np.flatnonzero(mask)
        key = CONTRACT[self.name].unique_key or _KEYS.get(self.name)
        key_values = self.raw[key].iloc[where] if key in self.raw.columns else pd.Series([None] * len(where))
        values = self.raw[column].iloc[where] if column in self.raw.columns else key_values
        self.records.append(pd.DataFrame({
            "table_name": self.name, "row_number": where.astype("int64") + 1,  # the first data row is 1
            "row_key": [_text(v) for v in key_values], "column_name": column, "reason": reason,
            "value": [_text(v) for v in values],
        }))

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.records, ignore_index=True) if self.records else _empty_rejects()


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)[:200]


UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_EMPTY_REJECTS = pd.DataFrame({c: pd.Series(dtype="int64" if c == "row_number" else object) for c in REJECT_COLUMNS})


def _empty_rejects() -> pd.DataFrame:
    return _EMPTY_REJECTS.copy()  # a copy of one built frame: a lead scored on demand asks for several


def _coerce(q: _Quarantine, col: str, s: pd.Series, kind: str) -> tuple[pd.Series, str | None]:
    """The column in its canonical dtype; rows that cannot be read are quarantined, a wrong column is a problem."""
    table = q.name
    if kind == TIMESTAMP:
        if s.dtype == UTC_NS:
            return s, None
        if pd.api.types.is_datetime64_any_dtype(s):
            out = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
            return out.astype("datetime64[ns, UTC]"), None
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
            q.reject(parsed.isna() & s.notna(), col, "are not parseable timestamps (expected ISO 8601, UTC)")
            return parsed.astype("datetime64[ns, UTC]"), None
        return s, f"{table}.{col}: expected timestamps, got dtype {s.dtype} ({len(s)} rows)"
    if kind == ID:
        if pd.api.types.is_integer_dtype(s) or pd.api.types.is_string_dtype(s) or s.dtype == object:
            return s, None
        if pd.api.types.is_float_dtype(s):
            fractional = (s.notna() & (s != np.floor(s))).to_numpy()
            q.reject(fractional, col, "are fractional ids (expected integer or text ids)")
            whole = s.where(~fractional)
            return (whole.astype("Int64") if whole.isna().any() else whole.astype("int64")), None
        return s, f"{table}.{col}: expected integer or text ids, got dtype {s.dtype} ({len(s)} rows)"
    if kind == BOOL:
        if pd.api.types.is_bool_dtype(s):
            return s, None
        if pd.api.types.is_integer_dtype(s) and s.dropna().isin([0, 1]).all():
            return s.astype("boolean" if s.isna().any() else bool), None
        return s, f"{table}.{col}: expected booleans (true/false or 0/1), got dtype {s.dtype} ({len(s)} rows)"
    if kind == NUMBER:
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return s, None
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            parsed = pd.to_numeric(s, errors="coerce")
            unreadable = (parsed.isna() & s.notna()).to_numpy()
            if unreadable.any() and unreadable.sum() < s.notna().sum():  # some rows read: a row problem
                q.reject(unreadable, col, "are not parseable numbers")
                return parsed.astype(float), None
            if not unreadable.any():
                return parsed.astype(float), None
        return s, f"{table}.{col}: expected numbers, got dtype {s.dtype} ({len(s)} rows)"
    if kind == NAME_ID:
        if pd.api.types.is_float_dtype(s):
            fractional = (s.notna() & (s != np.floor(s))).to_numpy()
            q.reject(fractional, col, "are fractional ids (expected integer or text ids)")
            s = s.where(~fractional).astype("Int64")
        if pd.api.types.is_integer_dtype(s) or s.dtype == object:
            return s.astype("str"), None
        if pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            return s, None
        return s, f"{table}.{col}: expected text or integer ids, got dtype {s.dtype} ({len(s)} rows)"
    if kind == TEXT:
        if pd.api.types.is_string_dtype(s) or s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype):
            return s, None
        return s, f"{table}.{col}: expected text, got dtype {s.dtype} ({len(s)} rows)"
    raise AssertionError(kind)


def _inspect(tables: dict[str, pd.DataFrame], now: pd.Timestamp | None,
             event_types: list[str] | None) -> tuple[dict[str, pd.DataFrame], list[str], dict[str, _Quarantine]]:
    """Canonical dtypes, whole-table problems, and the per-row quarantine of every table."""
    problems: list[str] = []
    out: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, _Quarantine] = {}
    for name, contract in CONTRACT.items():
        if name not in tables:
            if contract.mandatory:
                problems.append(f"{name}: table is missing (it is mandatory)")
            continue
        df = tables[name].reset_index(drop=True)
        q = quarantine[name] = _Quarantine(name, df)
        for col in contract.required:
            if col not in df.columns:
                problems.append(f"{name}.{col}: required column is missing ({len(df)} rows)")
        df = df.copy()
        for col, kind in {**contract.required, **contract.optional}.items():
            if col not in df.columns:
                continue
            given = df[col]
            coerced, problem = _coerce(q, col, given, kind)
            if problem:
                problems.append(problem)
                continue
            if coerced is not given:
                df[col] = coerced
            if col in contract.required and col not in contract.nullable and kind in (ID, TIMESTAMP):
                q.reject(coerced.isna().to_numpy(), col, "are null")  # unparseable rows were rejected first
            if (name, col) in NON_NEGATIVE:
                q.reject((coerced < 0).fillna(False).to_numpy(), col, "are negative")
            if kind == TIMESTAMP and now is not None:
                q.reject((coerced > now).fillna(False).to_numpy(), col,
                         f"are in the future (after {now:%Y-%m-%d %H:%M} UTC)")
        key = contract.unique_key
        if key and key in df.columns:
            dupes = df[key].notna() & df[key].duplicated(keep=False)
            q.reject(dupes.to_numpy(), key, f"share a duplicated {key}")
        if name == "engagement_events" and event_types is not None and "event_type" in df.columns:
            unknown = ~df["event_type"].astype(object).isin(event_types)
            q.reject(unknown.to_numpy(), "event_type",
                     "have an event_type that features.engagement.event_types does not list")
        out[name] = df
    for name in set(tables) - set(CONTRACT):
        problems.append(f"{name}: unknown table (expected one of {', '.join(TABLES)})")
    _check_references(out, quarantine)
    return out, problems, quarantine


def _check_references(tables: dict[str, pd.DataFrame], quarantine: dict[str, _Quarantine]) -> None:
    """Rows pointing at a lead (or account) the extract lacks, or one that was quarantined, cannot be used."""
    if "leads" not in tables or "lead_id" not in tables["leads"].columns:
        return
    leads, lead_q = tables["leads"], quarantine["leads"]
    if "accounts" in tables and "account_id" in leads.columns and "account_id" in tables["accounts"].columns:
        accounts = tables["accounts"]["account_id"]
        has_account = leads["account_id"].notna().to_numpy()
        lead_q.reject(has_account & ~leads["account_id"].isin(accounts).to_numpy(), "account_id",
                      "reference an account that is not in accounts")
        lead_q.reject(has_account & leads["account_id"].isin(accounts[quarantine["accounts"].bad]).to_numpy(),
                      "account_id", QUARANTINED_ACCOUNT)
    opportunities = tables.get("opportunities")
    if opportunities is not None and "lead_id" in opportunities.columns:
        bad_opportunity = opportunities["lead_id"][quarantine["opportunities"].bad]
        lead_q.reject(leads["lead_id"].isin(bad_opportunity).to_numpy(), "lead_id", QUARANTINED_OPPORTUNITY)
    quarantined = leads["lead_id"][lead_q.bad]
    unknown = UNKNOWN_LEAD_WITH_NULL_IDS if leads["lead_id"].isna().any() else "reference a lead that is not in leads"
    for name in ("engagement_events", "sales_activities", "opportunities"):
        if name in tables and "lead_id" in tables[name].columns:
            ids = tables[name]["lead_id"]
            quarantine[name].reject(ids.notna().to_numpy() & ~ids.isin(leads["lead_id"]).to_numpy(), "lead_id", unknown)
            quarantine[name].reject(ids.isin(quarantined).to_numpy(), "lead_id", QUARANTINED_LEAD)


def _summaries(rejects: pd.DataFrame) -> list[str]:
    """One line per table, column and reason, naming how many rows: what the extract owner must fix."""
    roots = rejects[~rejects["reason"].isin(CASCADES)]
    counts = roots.groupby(["table_name", "column_name", "reason"], sort=False).size()
    return [f"{table}.{col}: {n} rows {reason}" for (table, col, reason), n in counts.items()]


def check_sources(tables: dict[str, pd.DataFrame], *, now: pd.Timestamp | None = None,
                  event_types: list[str] | None = None) -> CheckedSources:
    """Hold tables to the contract row by row: bad rows are quarantined with a reason, never dropped silently.

    A missing table or column, or a column of the wrong kind altogether, still raises SourceError: no row of
    it could be trusted. ``now`` rejects timestamps after the run's clock; ``event_types`` rejects events of
    a type the features do not know (a renamed type in the extract would otherwise vanish from every count).
    """
    out, problems, quarantine = _inspect(tables, now, event_types)
    if problems:
        raise SourceError(problems)
    found = [q.frame() for q in quarantine.values() if q.records]  # no concatenation of empty frames per lead
    rejects = pd.concat(found, ignore_index=True) if found else _empty_rejects()
    clean = {name: df[~quarantine[name].bad].reset_index(drop=True) if quarantine[name].bad.any() else df
             for name, df in out.items()}
    return CheckedSources(tables=clean, rejects=rejects)


def validate_sources(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Check tables against the contract; return them with canonical dtypes (UTC ns timestamps).

    Strict: any bad row is an error, as training wants. Raises SourceError listing every problem found.
    """
    out, problems, quarantine = _inspect(tables, None, None)
    rejects = pd.concat([q.frame() for q in quarantine.values()], ignore_index=True) if quarantine else None
    if rejects is not None and len(rejects):
        problems += _summaries(rejects)
    if problems:
        raise SourceError(problems)
    return out


class TooManyRejects(RuntimeError):
    """More of a source table was quarantined than params.yaml allows: the extract itself is broken."""


def reject_warnings(checked: CheckedSources, max_share: float) -> list[str]:
    """Warnings for quarantined rows; TooManyRejects when a table's share is above the threshold."""
    if checked.rejects.empty:
        return []
    return quarantine_warnings(checked.rejects, checked.reject_counts(), max_share)


def quarantine_warnings(rejects: pd.DataFrame, counts: pd.DataFrame, max_share: float) -> list[str]:
    """:func:`reject_warnings` from the rejects and :func:`reject_counts` (an engine that checks in pieces)."""
    if rejects.empty:
        return []
    reasons = rejects.groupby(["table_name", "column_name", "reason"]).size()  # the same order on every engine

    def detail(table: str) -> str:
        return "; ".join(f"{col}: {n:,} rows {reason}" for (t, col, reason), n in reasons.items() if t == table)

    over = counts[counts["share"] > max_share]
    if len(over):
        raise TooManyRejects("too many bad rows, nothing published: " + " | ".join(
            f"{r.Index}: {r.rejects:,} of {r.rows:,} rows quarantined ({r.share:.1%} > {max_share:.1%}: "
            f"{detail(r.Index)})" for r in over.itertuples()) + " — see `leadscore rejects`")
    return [f"quarantined {r.rejects:,} of {r.rows:,} {r.Index} rows ({detail(r.Index)}) — see `leadscore rejects`"
            for r in counts[counts["rejects"] > 0].itertuples()]
