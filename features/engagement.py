"""Campaign engagement as of each snapshot: what the lead did, how much, how recently.

Columns: ``eng__<event_type>_<w>d`` (events of that type in the ``w`` days before the cutoff),
``eng__events_<w>d`` (all types, including ones not listed in params) and
``eng__days_since_last_event``. Windows are ``[as_of_ts - w days, as_of_ts)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.point_in_time import EventIndex, encode_entities, time_offset
from features.timeutil import SECONDS_PER_DAY, to_seconds


def engagement_columns(event_types: list[str], windows_days: list[int]) -> list[str]:
    cols = [f"eng__{t}_{w}d" for t in event_types for w in windows_days]
    cols += [f"eng__events_{w}d" for w in windows_days]
    return cols + ["eng__days_since_last_event"]


def build_engagement_features(events: pd.DataFrame | None, spine: pd.DataFrame, *, event_types: list[str],
                              windows_days: list[int]) -> pd.DataFrame:
    """Engagement features for every spine row, aligned on the spine's index."""
    columns = engagement_columns(event_types, windows_days)
    if events is None:
        return pd.DataFrame(index=spine.index, columns=[])
    leads = pd.Index(spine["lead_id"].unique())
    offset = time_offset(spine["as_of_ts"], events["event_ts"])
    codes = encode_entities(leads, spine["lead_id"])
    cutoff = to_seconds(spine["as_of_ts"])
    event_codes = encode_entities(leads, events["lead_id"])
    event_seconds = to_seconds(events["event_ts"])
    types = events["event_type"].to_numpy()

    out: dict[str, np.ndarray] = {}
    for event_type in event_types:
        mask = types == event_type
        index = EventIndex(event_codes[mask], event_seconds[mask], offset)
        for w in windows_days:
            out[f"eng__{event_type}_{w}d"] = _count(index, codes, cutoff, w)
    everything = EventIndex(event_codes, event_seconds, offset)
    for w in windows_days:
        out[f"eng__events_{w}d"] = _count(everything, codes, cutoff, w)
    last = everything.last_before(codes, cutoff)
    out["eng__days_since_last_event"] = (cutoff - last) / SECONDS_PER_DAY
    return pd.DataFrame(out, index=spine.index)[columns]


def _count(index: EventIndex, codes: np.ndarray, cutoff: np.ndarray, window_days: int) -> np.ndarray:
    return index.count_between(codes, cutoff - window_days * SECONDS_PER_DAY, cutoff).astype(np.int32)
