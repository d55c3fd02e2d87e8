"""The lead spine: which ``(lead_id, as_of_ts)`` rows exist.

Train as you score: a snapshot exists for every lead that was *open* on an as-of date, exactly as the
nightly job would have seen it. Open at ``as_of_ts`` means, using only what was known before it:
created before ``as_of_ts``; not converted (no won opportunity closed before it); not disqualified before
it; and no opportunity open at it (created before ``as_of_ts`` and not closed before it: the lead is in
the sales pipeline, not the lead queue). Old leads and *recycled* leads stay in: a lead whose opportunity
closed lost is open again from that moment until its next opportunity opens, because such leads buy too
(leaving them out hid a third of later buyers from the queue). ``max_lead_age_days`` optionally caps the
age (``None``: no cap); the definition reports the cap with its coverage (``features.coverage``).

Point in time: ``is_won`` is read only for an opportunity closed before the night; one still open at the
night (``closed_ts`` at or after it, or missing) blocks the lead whatever its final outcome, so a later
win or loss cannot change an earlier night. Lead status and opportunity stage (snapshot fields) are
never read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.timeutil import SECONDS_PER_DAY, as_utc, to_seconds

SPINE_COLUMNS = ["lead_id", "as_of_ts"]
_NEVER = np.iinfo(np.int64).max


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


def _opportunity_blocks(leads: pd.DataFrame, opportunities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray]:
    """(lead row, from, until) in seconds: the lead is out of the queue on dates in ``(from, until]``.

    A lost opportunity blocks from its creation to its close; an open or won one blocks for good (a won
    deal makes a customer, and an opportunity not closed before the night is open at it)."""
    rows = pd.Index(leads["lead_id"]).get_indexer(opportunities["lead_id"].to_numpy())
    created = to_seconds(opportunities["created_ts"])
    closed = to_seconds(opportunities["closed_ts"])
    has_close = opportunities["closed_ts"].notna().to_numpy()
    won = opportunities["is_won"].fillna(False).astype(bool).to_numpy() & has_close
    until = np.where(has_close & ~won, closed, _NEVER)
    keep = (rows >= 0) & opportunities["created_ts"].notna().to_numpy()
    return rows[keep], created[keep], until[keep]


def build_spine(leads: pd.DataFrame, opportunities: pd.DataFrame, as_of_dates: pd.DatetimeIndex,
                *, max_lead_age_days: int | None = None) -> pd.DataFrame:
    """One row per lead open on each as-of date, sorted by (as_of_ts, lead_id).

    Closing moments are inclusive and reopening is not: a lead whose opportunity opens exactly at
    ``as_of_ts`` was still open at the cutoff (as was one exactly ``max_lead_age_days`` old, or disqualified
    exactly then), and one whose lost opportunity closes exactly at ``as_of_ts`` is not open again yet.

    Vectorised: the candidate rows (created, age cap or disqualification] are laid out per lead, and each
    opportunity's blocked dates are removed with a difference array over those rows.
    """
    dates = to_seconds(pd.Series(as_of_dates))
    if len(dates) == 0 or len(leads) == 0:
        return pd.DataFrame({"lead_id": leads["lead_id"].iloc[:0],
                             "as_of_ts": pd.Series(dtype="datetime64[ns, UTC]")})
    created = to_seconds(leads["created_ts"])
    closes = np.full(len(leads), _NEVER)
    if max_lead_age_days is not None:
        closes = created + max_lead_age_days * SECONDS_PER_DAY
    if "disqualified_ts" in leads.columns:
        disq = leads["disqualified_ts"].notna().to_numpy()
        closes = np.where(disq, np.minimum(closes, to_seconds(leads["disqualified_ts"])), closes)
    lo = np.searchsorted(dates, created, side="right")   # first date > created
    hi = np.searchsorted(dates, closes, side="right")    # dates <= close stay open
    n = np.maximum(hi - lo, 0)
    first = np.cumsum(n) - n                              # each lead's first candidate row
    total = int(n.sum())
    # Opportunities: +1 where a block starts, -1 where it ends, over the lead's candidate rows.
    opp_row, opp_from, opp_until = _opportunity_blocks(leads, opportunities)
    b_lo = np.clip(np.searchsorted(dates, opp_from, side="right"), lo[opp_row], hi[opp_row])
    b_hi = np.clip(np.searchsorted(dates, opp_until, side="right"), lo[opp_row], hi[opp_row])
    live = b_hi > b_lo
    base = first[opp_row] - lo[opp_row]
    delta = (np.bincount((base + b_lo)[live], minlength=total + 1)
             - np.bincount((base + b_hi)[live], minlength=total + 1))
    open_row = np.cumsum(delta[:total]) == 0
    rows = np.repeat(np.arange(len(leads)), n)
    date_idx = np.repeat(lo, n) + np.arange(total) - np.repeat(first, n)
    spine = pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy()[rows[open_row]],
        "as_of_ts": pd.DatetimeIndex(as_of_dates)[date_idx[open_row]],
    })
    return spine.sort_values(["as_of_ts", "lead_id"], kind="stable", ignore_index=True)
