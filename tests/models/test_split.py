"""The time split keeps a gap of at least the label window between train, valid and test."""

import pandas as pd
import pytest

from models.split import split_by_time


def _weekly(weeks: int) -> pd.DataFrame:
    dates = pd.date_range("2025-01-06", periods=weeks, freq="7D", tz="UTC")
    return pd.DataFrame({"lead_id": range(weeks), "as_of_ts": dates})


def test_slices_are_ordered_and_separated_by_the_gap():
    split = split_by_time(_weekly(80), test_days=56, valid_days=56, gap_days=90)
    assert split.train["as_of_ts"].max() + pd.Timedelta(days=90) <= split.valid["as_of_ts"].min()
    assert split.valid["as_of_ts"].max() + pd.Timedelta(days=90) <= split.test["as_of_ts"].min()
    assert len(split.test) == 8 and len(split.valid) == 8
    assert split.test["as_of_ts"].max() == _weekly(80)["as_of_ts"].max()


def test_no_row_is_in_two_slices():
    table = _weekly(80)
    split = split_by_time(table, test_days=56, valid_days=56, gap_days=90)
    ids = [set(s["lead_id"]) for s in (split.train, split.valid, split.test)]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2]) and not (ids[0] & ids[2])


def test_too_short_history_is_refused_with_the_span():
    with pytest.raises(ValueError, match="train slice empty"):
        split_by_time(_weekly(30), test_days=56, valid_days=56, gap_days=90)
