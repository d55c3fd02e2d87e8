"""The source tables as they were known just before a moment: what an honest replay trains on.

``tables_known_before(tables, ts)`` returns copies of the data-contract tables holding only what had
happened strictly before ``ts``:

- a row exists from its row time (``ROW_TIME``: a lead from ``created_ts``, an event from ``event_ts``, a
  sales activity from ``activity_ts``, an opportunity from ``created_ts``); rows whose row time is at or
  after ``ts``, or unknown, are dropped;
- every other timestamp column of every table (contract or extra) at or after ``ts`` is blanked (NaT): a
  lead disqualified later was not disqualified yet, an account that became a customer later was not one;
- an opportunity whose close was blanked is still open: its ``is_won`` is blanked too;
- snapshot fields (``SNAPSHOT_COLUMNS``: lead status, opportunity stage, the account's ``is_customer``)
  describe the end of the extract, not ``ts``, so they are blanked in every row: nothing tells what they
  were at ``ts``. Tables without a row time (accounts, campaigns) keep every row;
- a row of a lead's table (events, activities, opportunities) whose lead is not known yet is dropped, so
  the copy still passes the contract's reference checks even where the extract stamps a child before
  its lead.

The boundary is strict (``< ts``), as the features' windows are: a row stamped exactly at ``ts`` is not
known yet. Pure: the input tables are not modified. Expects the canonical dtypes ``validate_sources``
returns (UTC timestamps); a contract timestamp column of another dtype is an error, never a silent leak.
"""

from __future__ import annotations

import pandas as pd

from features.schema import CONTRACT, TIMESTAMP
from features.timeutil import as_utc

#: the column from which a row exists; tables not listed (accounts, campaigns) keep every row
ROW_TIME = {"leads": "created_ts", "engagement_events": "event_ts", "sales_activities": "activity_ts",
            "opportunities": "created_ts"}
#: current-state columns that say nothing about a past moment
SNAPSHOT_COLUMNS = {"leads": ("status",), "opportunities": ("stage",), "accounts": ("is_customer",)}


def _timestamp_columns(name: str, frame: pd.DataFrame) -> list[str]:
    contract = CONTRACT.get(name)
    declared = [c for c, kind in ({**contract.required, **contract.optional}.items() if contract else ())
                if kind == TIMESTAMP and c in frame.columns]
    for col in declared:
        if not pd.api.types.is_datetime64_any_dtype(frame[col]):
            raise TypeError(f"{name}.{col}: expected timestamps, got dtype {frame[col].dtype} "
                            "(validate the sources first: features.schema.validate_sources)")
    extra = [c for c in frame.columns if c not in declared and pd.api.types.is_datetime64_any_dtype(frame[c])]
    return declared + extra


def _utc(series: pd.Series) -> pd.Series:
    return series.dt.tz_localize("UTC") if series.dt.tz is None else series


def tables_known_before(tables: dict[str, pd.DataFrame], ts) -> dict[str, pd.DataFrame]:
    """Copies of ``tables`` holding only what was known strictly before ``ts`` (see the module docstring)."""
    cutoff = as_utc(ts)
    out: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        columns = _timestamp_columns(name, frame)
        row_time = ROW_TIME.get(name)
        if row_time is not None and row_time in frame.columns:
            known = (_utc(frame[row_time]) < cutoff).fillna(False).to_numpy(dtype=bool)
            frame = frame[known]
        frame = frame.reset_index(drop=True).copy()
        for col in columns:
            if col == row_time:
                continue
            later = (_utc(frame[col]) >= cutoff).fillna(False)
            if later.any():
                frame[col] = frame[col].mask(later)
            if name == "opportunities" and col == "closed_ts" and "is_won" in frame.columns:
                frame["is_won"] = frame["is_won"].astype("boolean").mask(later)
        for col in SNAPSHOT_COLUMNS.get(name, ()):
            if col in frame.columns:
                blank = pd.Series(pd.NA, index=frame.index,
                                  dtype="boolean" if pd.api.types.is_bool_dtype(frame[col]) else object)
                frame[col] = blank
        out[name] = frame
    if "leads" in out and "lead_id" in out["leads"].columns:
        known_leads = out["leads"]["lead_id"]
        for name in ("engagement_events", "sales_activities", "opportunities"):
            if name in out and "lead_id" in out[name].columns:
                frame = out[name]
                out[name] = frame[frame["lead_id"].isin(known_leads).to_numpy()].reset_index(drop=True)
    return out
