"""Coverage of the scored population: of the leads that went on to buy, how many did it contain?

A population rule (features.spine) is a choice, and a narrow one hides buyers from the queue. Coverage
makes the choice checkable: for nights whose label window has elapsed, the *buyers of a night* are the
leads that existed then (created before it) and reached the milestone in ``(night, night + window]`` —
the same rule as ``features.labels`` — and coverage is the share of those (lead, night) pairs that were
in the night's population, pooled over nights. A lead created after the night is not counted: no
population could have held it. Buyers outside the population are mostly leads already in the sales
pipeline (an opportunity open at the night), which the lead queue leaves out on purpose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import milestone_times
from features.timeutil import SECONDS_PER_DAY, to_seconds

PAIR = ["lead_id", "as_of_ts"]


def buyers_of_nights(leads: pd.DataFrame, opportunities: pd.DataFrame, nights: pd.DatetimeIndex, *,
                     window_days: int, milestone: str) -> pd.DataFrame:
    """``(lead_id, as_of_ts)`` of every lead created before a night that reached the milestone in its window.

    Vectorised over milestone events: each event at ``ts`` belongs to the nights in ``[ts - window, ts)``.
    The caller passes only nights whose window has elapsed (otherwise later buyers are simply missing)."""
    nights = pd.DatetimeIndex(nights).sort_values().unique()
    events = milestone_times(opportunities, milestone)
    empty = pd.DataFrame({"lead_id": leads["lead_id"].iloc[:0], "as_of_ts": pd.Series(dtype="datetime64[ns, UTC]")})
    if len(nights) == 0 or len(events) == 0:
        return empty
    night_s = to_seconds(pd.Series(nights))
    ts = to_seconds(events["ts"], round_up=True)  # cutoff < ts <= cutoff + window, as in features.labels
    lo = np.searchsorted(night_s, ts - window_days * SECONDS_PER_DAY, side="left")
    hi = np.searchsorted(night_s, ts, side="left")
    n = np.maximum(hi - lo, 0)
    which = np.repeat(np.arange(len(events)), n)
    night_idx = np.repeat(lo, n) + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    pairs = pd.DataFrame({"lead_id": events["lead_id"].to_numpy()[which], "as_of_ts": nights[night_idx]})
    created = leads.set_index("lead_id")["created_ts"].reindex(pairs["lead_id"]).to_numpy()
    pairs = pairs[created < pairs["as_of_ts"].to_numpy()]  # unknown leads (NaT) drop out too
    if pairs.empty:
        return empty
    return pairs.drop_duplicates(PAIR).sort_values(["as_of_ts", "lead_id"], ignore_index=True)


def population_coverage(buyers: pd.DataFrame, population: pd.DataFrame) -> dict:
    """``coverage`` (share of buyer pairs in the population; None without buyers), ``coverage_buyers`` and
    ``coverage_in_population`` (counts of (lead, night) pairs), for the definition and the monitor."""
    inside = buyers[PAIR].merge(population[PAIR].drop_duplicates(), on=PAIR, how="inner")
    n, k = len(buyers), len(inside)
    return {"coverage": (k / n) if n else None, "coverage_buyers": int(n), "coverage_in_population": int(k)}


def in_sales_pipeline(pairs: pd.DataFrame, opportunities: pd.DataFrame) -> np.ndarray:
    """Per ``(lead_id, as_of_ts)`` pair: did the lead have an opportunity open at the night (created before
    it, not closed before it)? Such a lead is sales' to work, not the lead queue's."""
    if pairs.empty:
        return np.zeros(0, dtype=bool)
    keyed = pairs[PAIR].reset_index(drop=True).rename_axis("pair").reset_index()
    joined = keyed.merge(opportunities[["lead_id", "created_ts", "closed_ts"]], on="lead_id")
    open_then = (joined["created_ts"] < joined["as_of_ts"]) & ~(joined["closed_ts"] < joined["as_of_ts"])
    hit = np.zeros(len(keyed), dtype=bool)
    hit[joined.loc[open_then, "pair"].to_numpy()] = True
    return hit


def spine_coverage(spine: pd.DataFrame, leads: pd.DataFrame, opportunities: pd.DataFrame, *, window_days: int,
                   milestone: str) -> dict:
    """``population_coverage`` over the spine's own nights (a training spine: every night matured), plus
    ``coverage_in_sales_pipeline``: buyers outside the population that had an opportunity open that night,
    so the definition can say whether the rule or the sales pipeline holds the rest."""
    nights = pd.DatetimeIndex(spine["as_of_ts"].unique())
    buyers = buyers_of_nights(leads, opportunities, nights, window_days=window_days, milestone=milestone)
    out = population_coverage(buyers, spine)
    outside = buyers.merge(spine[PAIR].drop_duplicates(), on=PAIR, how="left", indicator=True)
    outside = outside[outside["_merge"] == "left_only"]
    out["coverage_in_sales_pipeline"] = int(in_sales_pipeline(outside, opportunities).sum())
    return out


def population_words(max_lead_age_days: int | None, cadence_days: int, window_days: int, cover: dict) -> str:
    """The scored population and its coverage in the definition's words (``cover``: ``spine_coverage``)."""
    age = ("at any age" if max_lead_age_days is None else f"at most {max_lead_age_days} days old")
    words = (f"Every lead that is open on the scoring day: created before it, not converted, not disqualified, "
             f"no opportunity open with sales, {age}; a lead whose deal was lost is back in the queue from the "
             f"day it was lost. Trained on the same population, snapshotted every {cadence_days} days.")
    if cover["coverage"] is None:
        return words + " Coverage: no lead of the training nights went on to buy, so none could be counted."
    return words + (f" Coverage: of the leads that bought within {window_days} days of a training night, "
                    f"{cover['coverage']:.1%} were in that night's population ({cover['coverage_in_population']:,}"
                    f" of {cover['coverage_buyers']:,} lead-nights); "
                    f"{cover.get('coverage_in_sales_pipeline', 0):,} of the rest had a deal open with sales "
                    "that night.")
