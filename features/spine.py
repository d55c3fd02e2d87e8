"""The lead spine: which ``(lead_id, as_of_ts)`` rows exist.

Train as you score: a snapshot exists for every lead that was *open* on an as-of date, exactly as the
nightly job would have seen it. Open at ``as_of_ts`` means, using only what was known before it:
created before ``as_of_ts``; no opportunity created before ``as_of_ts`` (it left the lead queue for the
sales pipeline); not disqualified before ``as_of_ts``; and no older than ``max_lead_age_days`` (stale
leads go back to nurture and are neither scored nor trained on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.timeutil import SECONDS_PER_DAY, as_utc, to_seconds

SPINE_COLUMNS = ["lead_id", "as_of_ts"]


def snapshot_dates(first, last, cadence_days: int) -> pd.DatetimeIndex:
    """As-of dates at midnight UTC, anchored on ``last`` and stepping back by the cadence."""
    last = as_utc(last).floor("D")
    first = as_utc(first)
    n = int((last - first) // pd.Timedelta(days=cadence_days)) + 1
    dates = [last - pd.Timedelta(days=cadence_days * k) for k in range(max(n, 0))]
    kept = sorted(d for d in dates if d >= first)
    return pd.DatetimeIndex(kept, dtype="datetime64[ns, UTC]")


def data_end(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The latest timestamp anywhere in the sources: the moment the extract was taken, as far as we know."""
    latest = []
    for frame in tables.values():
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype) and frame[col].notna().any():
                latest.append(frame[col].max())
    if not latest:
        raise ValueError("the sources hold no timestamps")
    return max(latest)


def build_spine(leads: pd.DataFrame, opportunities: pd.DataFrame, as_of_dates: pd.DatetimeIndex,
                *, max_lead_age_days: int) -> pd.DataFrame:
    """One row per lead open on each as-of date, sorted by (as_of_ts, lead_id).

    Closing moments are inclusive: a lead whose opportunity opens exactly at ``as_of_ts`` was still open
    at the cutoff, as was one exactly ``max_lead_age_days`` old.
    """
    dates = to_seconds(pd.Series(as_of_dates))
    if len(dates) == 0 or len(leads) == 0:
        return pd.DataFrame({"lead_id": leads["lead_id"].iloc[:0],
                             "as_of_ts": pd.Series(dtype="datetime64[ns, UTC]")})
    created = to_seconds(leads["created_ts"])
    # A lead is open on dates strictly after creation, up to and including its closing moment.
    closes = created + max_lead_age_days * SECONDS_PER_DAY
    first_opp = (opportunities.groupby("lead_id")["created_ts"].min()
                 .reindex(leads["lead_id"]))
    opp_s = to_seconds(first_opp)
    has_opp = first_opp.notna().to_numpy()
    closes = np.where(has_opp, np.minimum(closes, opp_s), closes)
    if "disqualified_ts" in leads.columns:
        disq = leads["disqualified_ts"].notna().to_numpy()
        closes = np.where(disq, np.minimum(closes, to_seconds(leads["disqualified_ts"])), closes)
    lo = np.searchsorted(dates, created, side="right")   # first date > created
    hi = np.searchsorted(dates, closes, side="right")    # dates <= close stay open
    n = np.maximum(hi - lo, 0)
    rows = np.repeat(np.arange(len(leads)), n)
    starts = np.repeat(lo, n)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n)
    date_idx = starts + within
    spine = pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy()[rows],
        "as_of_ts": pd.DatetimeIndex(as_of_dates)[date_idx],
    })
    return spine.sort_values(["as_of_ts", "lead_id"], kind="stable", ignore_index=True)
