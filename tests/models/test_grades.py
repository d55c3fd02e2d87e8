"""Grades sized from sales capacity, and the promises they make."""

import numpy as np
import pandas as pd
import pytest

from models.grades import (
    between_period_variance,
    grade_outcomes,
    grade_promises,
    period_spreads,
    shares_from_capacity,
    weekly_volume,
    widen_interval,
    wilson_interval,
)
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


def test_periods_that_agree_within_sampling_have_no_between_period_variance():
    assert between_period_variance([(20, 1000), (22, 1000), (19, 1000)]) == 0.0
    assert between_period_variance([(20, 1000)]) == 0.0  # one period says nothing about movement


def test_periods_that_disagree_beyond_sampling_have_a_between_period_variance_on_the_log_odds_scale():
    # 1.5 %, 0.7 % and 0.1 % on 10,000 rows each: log-odds -4.2, -4.95, -6.9, far apart for their sizes
    spread = between_period_variance([(150, 10_000), (70, 10_000), (10, 10_000)])
    assert 0.5 < spread < 3
    assert between_period_variance([(150, 10_000), (150, 10_000), (0, 10_000)]) > 0  # an empty period counts


def test_widening_keeps_wilson_without_spread_and_widens_both_sides_with_it():
    low, high = wilson_interval(6, 15_000)
    assert widen_interval(low, high, 15_000, 6, 0.0) == (low, high)
    wide_low, wide_high = widen_interval(low, high, 15_000, 6, 0.9)
    assert wide_low < low < 6 / 15_000 < high < wide_high
    assert widen_interval(0.0, 0.01, 300, 0, 0.9)[0] == 0.0  # a bound at zero stays at zero


def test_a_promise_carries_its_grades_spread_and_the_grades_without_one_stay_as_measured():
    as_of = pd.Series(pd.to_datetime(["2025-01-06"] * 500 + ["2025-01-13"] * 500, utc=True))
    p = np.r_[np.full(100, 0.5), np.full(900, 0.01)]
    y = np.r_[np.ones(30), np.zeros(70), np.ones(9), np.zeros(891)]
    thresholds = {"A": 0.3, "B": 0.0}

    def grade_of(q):
        return np.where(q >= 0.3, "A", "B")

    plain = grade_promises(thresholds, p, y, as_of, grade_of).set_index("grade")
    spread = grade_promises(thresholds, p, y, as_of, grade_of, spreads={"B": 1.0}).set_index("grade")
    assert spread.loc["A", ["promised_low", "promised_high"]].tolist() == plain.loc["A", ["promised_low",
                                                                                        "promised_high"]].tolist()
    assert spread.loc["B", "promised_rate"] == plain.loc["B", "promised_rate"] == 0.01
    assert spread.loc["B", "promised_high"] > plain.loc["B", "promised_high"]
    assert spread.loc["B", "period_spread"] == 1.0


def test_grade_outcomes_per_period_feed_the_spread_per_grade():
    first = grade_outcomes(["A"] * 100 + ["B"] * 10_000, np.r_[np.ones(20), np.zeros(80), np.ones(150),
                                                               np.zeros(9_850)])
    second = grade_outcomes(["A"] * 100 + ["B"] * 10_000, np.r_[np.ones(22), np.zeros(78), np.ones(10),
                                                                np.zeros(9_990)])
    assert first.set_index("grade").loc["B", "conversions"] == 150 and first.set_index("grade").loc["A", "rate"] == 0.2
    spreads = period_spreads(pd.concat([first.assign(period=1), second.assign(period=2)]))
    assert spreads["A"] == 0.0 and spreads["B"] > 0.5
