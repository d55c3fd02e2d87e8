"""Time helpers shared by the builders: everything becomes int64 seconds since the epoch (UTC)."""

from __future__ import annotations

import numpy as np
import pandas as pd

EPOCH = pd.Timestamp(0, tz="UTC")
SECONDS_PER_DAY = 86_400


def to_seconds(values: pd.Series | pd.DatetimeIndex | pd.Timestamp, *, round_up: bool = False) -> np.ndarray:
    """UTC timestamps → int64 seconds since the epoch; NaT becomes the int64 minimum.

    Fractions of a second are floored by default, which keeps ``ts < cutoff`` and ``ts >= cutoff - w``
    exact for whole-second cutoffs. Times on the label side (``cutoff < ts <= cutoff + w``) need
    ``round_up=True`` for the same guarantee.
    """
    second = pd.Timedelta(seconds=1)
    if isinstance(values, pd.Timestamp):
        delta = values - EPOCH
        return np.int64(-(-delta // second) if round_up else delta // second)
    series = pd.Series(values)
    out = np.full(len(series), np.iinfo(np.int64).min, dtype=np.int64)
    mask = series.notna().to_numpy()
    delta = series[mask] - EPOCH
    out[mask] = (-(-delta // second) if round_up else delta // second).to_numpy(dtype=np.int64)
    return out


def as_utc(ts) -> pd.Timestamp:
    """A date, string or timestamp → a tz-aware UTC Timestamp (naive values are taken as UTC)."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
