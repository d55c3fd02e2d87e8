"""Time helpers shared by the builders: everything becomes int64 seconds since the epoch (UTC)."""

from __future__ import annotations

import numpy as np
import pandas as pd

EPOCH = pd.Timestamp(0, tz="UTC")
SECONDS_PER_DAY = 86_400


def to_seconds(values: pd.Series | pd.DatetimeIndex | pd.Timestamp) -> np.ndarray:
    """UTC timestamps → int64 seconds since the epoch; NaT becomes the int64 minimum."""
    if isinstance(values, pd.Timestamp):
        return np.int64((values - EPOCH) // pd.Timedelta(seconds=1))
    series = pd.Series(values)
    out = np.full(len(series), np.iinfo(np.int64).min, dtype=np.int64)
    mask = series.notna().to_numpy()
    out[mask] = ((series[mask] - EPOCH) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    return out


def as_utc(ts) -> pd.Timestamp:
    """A date, string or timestamp → a tz-aware UTC Timestamp (naive values are taken as UTC)."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
