"""Labels: did the lead reach the sales milestone in ``(as_of_ts, as_of_ts + window]``?

Only data after the cutoff is used, and only snapshots whose whole window lies before the end of the
data are labelled: a window that has not elapsed is unknown, not negative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.point_in_time import EventIndex, encode_entities, time_offset
from features.timeutil import SECONDS_PER_DAY, to_seconds

MILESTONES = ("won", "opportunity_created")


def label_column(window_days: int) -> str:
    return f"converted_within_{window_days}d"


def milestone_times(opportunities: pd.DataFrame, milestone: str) -> pd.DataFrame:
    """``(lead_id, ts)`` of every moment a lead reached the milestone."""
    if milestone == "won":
        won = opportunities[opportunities["is_won"].fillna(False).astype(bool) & opportunities["closed_ts"].notna()]
        return pd.DataFrame({"lead_id": won["lead_id"], "ts": won["closed_ts"]})
    if milestone == "opportunity_created":
        return pd.DataFrame({"lead_id": opportunities["lead_id"], "ts": opportunities["created_ts"]})
    raise ValueError(f"unknown milestone {milestone!r}; expected one of {MILESTONES}")


def build_labels(spine: pd.DataFrame, opportunities: pd.DataFrame, *, window_days: int, milestone: str,
                 observed_until: pd.Timestamp) -> pd.DataFrame:
    """The spine with ``converted_within_<window>d`` (0/1), restricted to snapshots whose window elapsed."""
    horizon = pd.Timedelta(days=window_days)
    spine = spine[spine["as_of_ts"] + horizon <= observed_until]
    events = milestone_times(opportunities, milestone)
    leads = pd.Index(spine["lead_id"].unique())
    offset = time_offset(spine["as_of_ts"], events["ts"])
    index = EventIndex(encode_entities(leads, events["lead_id"]), to_seconds(events["ts"], round_up=True), offset)
    codes = encode_entities(leads, spine["lead_id"])
    cutoff = to_seconds(spine["as_of_ts"])
    hits = index.count_between(codes, cutoff, cutoff + window_days * SECONDS_PER_DAY, closed="right")
    out = spine.copy()
    out[label_column(window_days)] = (hits > 0).astype(np.int8)
    return out


def label_scored_rows(scores: pd.DataFrame, opportunities: pd.DataFrame, *, window_days: int, milestone: str,
                      observed_until: pd.Timestamp) -> pd.DataFrame:
    """Published score rows with ``converted`` (0/1) where the night's window has elapsed, NaN elsewhere:
    the monitor's outcomes, decided exactly as training labels are."""
    out = scores.assign(converted=np.nan)
    matured = out["as_of_ts"] + pd.Timedelta(days=window_days) <= observed_until
    if not matured.any():
        return out
    labelled = build_labels(out.loc[matured, ["lead_id", "as_of_ts"]], opportunities, window_days=window_days,
                            milestone=milestone, observed_until=observed_until)
    return out.drop(columns="converted").merge(
        labelled.rename(columns={label_column(window_days): "converted"}), on=["lead_id", "as_of_ts"], how="left")
