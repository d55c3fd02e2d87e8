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


def test_a_flat_export_is_cut_by_row_order_without_dates():
    from models.split import RecentRule, order_folds

    table = pd.DataFrame({"row_number": range(1, 101), "as_of_ts": pd.NaT}).sample(frac=1, random_state=0)
    folds = order_folds(table, order=["row_number"], folds=2, test_share=0.2)
    assert [f.test["row_number"].tolist() for f in folds] == [list(range(81, 91)), list(range(91, 101))]
    assert [f.history["row_number"].tolist() for f in folds] == [list(range(1, 81)), list(range(1, 91))]
    assert [f.periods() for f in folds] == [{"history": "rows 1..80", "test": "rows 81..90"},
                                            {"history": "rows 1..90", "test": "rows 91..100"}]
    early, recent = RecentRule(order=("row_number",), share=0.2).cut(table)
    assert early["row_number"].tolist() == list(range(1, 81)) and recent["row_number"].tolist() == list(range(81, 101))


def test_a_flat_export_with_created_dates_is_cut_by_them():
    from models.split import RecentRule, order_folds

    created = pd.date_range("2025-01-01", periods=10, freq="D", tz="UTC")[::-1]  # file in reverse date order
    table = pd.DataFrame({"row_number": range(1, 11), "created_ts": created, "as_of_ts": created})
    [fold] = order_folds(table, order=["created_ts", "row_number"], folds=1, test_share=0.2)
    assert fold.test["row_number"].tolist() == [2, 1]  # the latest leads, wherever they sit in the file
    assert fold.history["created_ts"].max() < fold.test["created_ts"].min()
    early, recent = RecentRule(order=("created_ts", "row_number"), share=0.2).cut(table)
    assert recent["row_number"].tolist() == [2, 1] and early["created_ts"].max() < recent["created_ts"].min()


def test_rolling_origin_folds_step_back_one_test_period_each_after_a_gap():
    from models.split import RecentRule, rolling_origin_folds

    nights = pd.date_range("2024-01-01", periods=120, freq="7D", tz="UTC")
    table = pd.DataFrame({"as_of_ts": nights, "lead_id": range(120)})
    folds = rolling_origin_folds(table, folds=3, test_days=56, gap_days=91)
    starts = [f.test["as_of_ts"].min() for f in folds]
    assert starts == sorted(starts)
    assert {b - a for a, b in zip(starts, starts[1:], strict=False)} == {pd.Timedelta(days=56)}
    assert folds[-1].test["as_of_ts"].max() == nights[-1] and all(len(f.test) == 8 for f in folds)
    for fold in folds:
        assert fold.history["as_of_ts"].max() <= fold.test["as_of_ts"].min() - pd.Timedelta(days=91)
        assert fold.history["as_of_ts"].max() >= fold.test["as_of_ts"].min() - pd.Timedelta(days=91 + 14)  # all of it
    early, recent = RecentRule(days=28, gap_days=91).cut(table)
    assert len(recent) == 4 and early["as_of_ts"].max() <= recent["as_of_ts"].min() - pd.Timedelta(days=91)
    with pytest.raises(ValueError, match="backtest fold 1 of 30"):
        rolling_origin_folds(table, folds=30, test_days=56, gap_days=91)
