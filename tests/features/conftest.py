"""Shared helpers for the features tests: tiny frames with explicit UTC timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

UTC_NS = "datetime64[ns, UTC]"


def _utc(*stamps) -> pd.Series:
    """A datetime64[ns, UTC] column; None becomes NaT."""
    return pd.Series([pd.NaT if s is None else pd.Timestamp(s, tz="UTC") for s in stamps], dtype=UTC_NS)


def _ids(*values) -> np.ndarray:
    return np.array(values, dtype="int64")


@pytest.fixture
def utc():
    """Factory: ``utc("2025-01-10", "2025-01-11 06:00")`` → a datetime64[ns, UTC] Series."""
    return _utc


@pytest.fixture
def ids():
    """Factory: ``ids(1, 2, 3)`` → an int64 array."""
    return _ids
