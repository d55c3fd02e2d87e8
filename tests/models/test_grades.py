"""Grades sized from sales capacity, and the promises they make."""

import numpy as np
import pandas as pd
import pytest

from models.grades import grade_promises, shares_from_capacity, weekly_volume, wilson_interval
from models.scorer import grade_thresholds


def test_thresholds_from_capacity_reproduce_the_weekly_capacity_on_the_validation_slice():
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2025-01-06", periods=8, freq="7D", tz="UTC")
    as_of = pd.Series(np.repeat(weeks, 1000))
    p = rng.beta(1, 30, len(as_of))
    shares = shares_from_capacity({"A": 50, "B": 150, "C": 300}, weekly_volume(as_of))
    assert shares == pytest.approx({"A": 0.05, "B": 0.15, "C": 0.30})
    thresholds = grade_thresholds(p, shares)
    grade = np.where(p >= thresholds["A"], "A", np.where(p >= thresholds["B"], "B",
                                                          np.where(p >= thresholds["C"], "C", "D")))
    per_week = pd.Series(grade).groupby(as_of.to_numpy()).value_counts().unstack().mean()
    assert per_week["A"] == pytest.approx(50, abs=2)
    assert per_week["B"] == pytest.approx(150, abs=3)
    assert per_week["C"] == pytest.approx(300, abs=3)


def test_capacity_beyond_the_open_population_is_refused():
    with pytest.raises(ValueError, match="covers every open lead"):
        shares_from_capacity({"A": 600, "B": 500}, weekly_open_leads=1000)


def test_wilson_interval_brackets_the_rate_and_narrows_with_data():
    low, high = wilson_interval(10, 100)
    assert low < 0.10 < high
    low2, high2 = wilson_interval(100, 1000)
    assert high2 - low2 < high - low
    assert wilson_interval(0, 50)[0] == 0.0


def test_promises_count_rows_conversions_and_weekly_volume():
    as_of = pd.Series(pd.to_datetime(["2025-01-06"] * 4 + ["2025-01-13"] * 4, utc=True))
    p = np.array([0.9, 0.5, 0.1, 0.05, 0.8, 0.4, 0.2, 0.01])
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    thresholds = {"A": 0.7, "B": 0.3, "C": 0.0}

    def grade_of(q):
        return np.where(q >= 0.7, "A", np.where(q >= 0.3, "B", "C"))

    table = grade_promises(thresholds, p, y, as_of, grade_of).set_index("grade")
    assert table.loc["A", "test_rows"] == 2 and table.loc["A", "promised_rate"] == 1.0
    assert table.loc["B", "promised_rate"] == 0.5 and table.loc["B", "weekly_volume"] == 1.0
    assert table.loc["C", "test_conversions"] == 0
