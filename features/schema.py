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
            "owner_id": TEXT, "email_domain": TEXT, "status": TEXT, "disqualified_ts": TIMESTAMP,
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
        optional={"outcome": TEXT, "owner_id": TEXT},
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


def _check_kind(table: str, col: str, s: pd.Series, kind: str) -> tuple[pd.Series, str | None]:
    """Return the column coerced to its canonical dtype, or a problem description."""
    if kind == TIMESTAMP:
        if pd.api.types.is_datetime64_any_dtype(s):
            out = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
            return out.astype("datetime64[ns, UTC]"), None
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
            bad = int((parsed.isna() & s.notna()).sum())
            if bad:
                return s, f"{table}.{col}: {bad} rows are not parseable timestamps (expected ISO 8601, UTC)"
            return parsed.astype("datetime64[ns, UTC]"), None
        return s, f"{table}.{col}: expected timestamps, got dtype {s.dtype} ({len(s)} rows)"
    if kind == ID:
        if pd.api.types.is_integer_dtype(s) or pd.api.types.is_string_dtype(s) or s.dtype == object:
            return s, None
        if pd.api.types.is_float_dtype(s):
            frac = s.notna() & (s != np.floor(s))
            if frac.any():
                return s, f"{table}.{col}: expected integer or text ids, {int(frac.sum())} rows are fractional"
            return (s.astype("Int64") if s.isna().any() else s.astype("int64")), None
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
        return s, f"{table}.{col}: expected numbers, got dtype {s.dtype} ({len(s)} rows)"
    if kind == TEXT:
        if pd.api.types.is_string_dtype(s) or s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype):
            return s, None
        return s, f"{table}.{col}: expected text, got dtype {s.dtype} ({len(s)} rows)"
    raise AssertionError(kind)


def validate_sources(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Check tables against the contract; return them with canonical dtypes (UTC ns timestamps).

    Raises SourceError listing every problem found, not just the first.
    """
    problems: list[str] = []
    out: dict[str, pd.DataFrame] = {}
    for name, contract in CONTRACT.items():
        if name not in tables:
            if contract.mandatory:
                problems.append(f"{name}: table is missing (it is mandatory)")
            continue
        df = tables[name]
        missing = [c for c in contract.required if c not in df.columns]
        for col in missing:
            problems.append(f"{name}.{col}: required column is missing ({len(df)} rows)")
        df = df.copy()
        for col, kind in {**contract.required, **contract.optional}.items():
            if col not in df.columns:
                continue
            coerced, problem = _check_kind(name, col, df[col], kind)
            if problem:
                problems.append(problem)
                continue
            df[col] = coerced
            nulls = int(coerced.isna().sum())
            if nulls and col in contract.required and col not in contract.nullable and kind in (ID, TIMESTAMP):
                problems.append(f"{name}.{col}: {nulls} rows are null")
        key = contract.unique_key
        if key and key in df.columns:
            present = df[key].dropna()
            dupes = int(present.duplicated(keep=False).sum())
            if dupes:
                problems.append(f"{name}.{key}: {dupes} rows share a duplicated {key}")
        out[name] = df
    for name in set(tables) - set(CONTRACT):
        problems.append(f"{name}: unknown table (expected one of {', '.join(TABLES)})")
    if "leads" in out and not any(p.startswith(("leads.lead_id", "leads.account_id")) for p in problems):
        # References need an intact lead key; tables with missing columns are skipped inside.
        problems.extend(_check_references(out))
    if problems:
        raise SourceError(problems)
    return out


def _check_references(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Rows that point at a lead (or account) the extract does not contain cannot be used honestly."""
    problems = []
    leads = tables["leads"]
    lead_ids = pd.Index(leads["lead_id"])
    for name in ("engagement_events", "sales_activities", "opportunities"):
        if name in tables and "lead_id" in tables[name].columns:
            orphans = int((~tables[name]["lead_id"].isin(lead_ids)).sum())
            if orphans:
                problems.append(f"{name}.lead_id: {orphans} rows reference a lead that is not in leads")
    if "accounts" in tables and "account_id" in leads.columns and "account_id" in tables["accounts"].columns:
        known = tables["accounts"]["account_id"]
        orphans = int((leads["account_id"].notna() & ~leads["account_id"].isin(known)).sum())
        if orphans:
            problems.append(f"leads.account_id: {orphans} rows reference an account that is not in accounts")
    return problems
