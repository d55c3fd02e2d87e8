"""Promise checks on hand-made outcomes: inside, just outside (either side), no leads, no matured nights."""

import math

import numpy as np
import pandas as pd
import pytest

from models.monitoring import (
    NOT_SCORED,
    binomial_interval,
    buyer_coverage,
    check_promises,
    clopper_pearson_interval,
    cohort_metrics,
    matured_nights,
    scored_share,
)

NIGHT_1 = pd.Timestamp("2026-01-05", tz="UTC")
NIGHT_2 = pd.Timestamp("2026-01-12", tz="UTC")


def _outcomes(grade: str, conversions: int, leads: int, night=NIGHT_1, version: int = 1) -> pd.DataFrame:
    converted = np.r_[np.ones(conversions, dtype=int), np.zeros(leads - conversions, dtype=int)]
    return pd.DataFrame({"model_version": version, "as_of_ts": night, "grade": grade, "converted": converted})


def _promises(rates: dict[str, float], version: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"model_version": version, "grade": list(rates), "promised_rate": list(rates.values())})


def test_wilson_interval_of_10_in_100_by_hand():
    # p = 0.1, z = 1.96: centre (0.1 + z²/200) / (1 + z²/100), half-width z·√(p(1−p)/100 + z²/40000) / (1 + z²/100)
    low, high = binomial_interval(10, 100)
    assert low == pytest.approx(0.055229, abs=1e-5)
    assert high == pytest.approx(0.174365, abs=1e-5)


def test_clopper_pearson_with_no_conversions_is_the_exact_bound():
    low, high = clopper_pearson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 10))
    assert binomial_interval(0, 10, method="clopper_pearson") == (low, high)
    low_all, high_all = clopper_pearson_interval(10, 10)
    assert high_all == 1.0 and low_all == pytest.approx(0.025 ** (1 / 10))


def test_a_rate_inside_the_interval_keeps_its_promise():
    table = check_promises(_outcomes("A", 10, 100), _promises({"A": 0.12}))
    row = table.iloc[0]
    assert (row.leads, row.conversions, row.realized_rate) == (100, 10, 0.10)
    assert row.verdict == "kept" and not row.breach


@pytest.mark.parametrize(("promised", "verdict"), [
    (0.174, "kept"),                     # just inside the upper bound 0.17437
    (0.175, "converts below promise"),   # just outside it: the grade converts worse than promised
    (0.056, "kept"),                     # just inside the lower bound 0.05523
    (0.055, "converts above promise"),   # just outside it: better than promised is a broken promise too
])
def test_just_outside_the_interval_is_a_breach(promised, verdict):
    row = check_promises(_outcomes("A", 10, 100), _promises({"A": promised})).iloc[0]
    assert row.verdict == verdict
    assert row.breach == (verdict != "kept")


def test_nights_are_pooled_and_also_reported_one_by_one():
    outcomes = pd.concat([_outcomes("A", 2, 50, NIGHT_1), _outcomes("A", 18, 50, NIGHT_2)])
    pooled = check_promises(outcomes, _promises({"A": 0.2}))
    assert pooled.iloc[0].leads == 100 and pooled.iloc[0].realized_rate == 0.2 and not pooled.iloc[0].breach
    nightly = check_promises(outcomes, _promises({"A": 0.2}), by=["as_of_ts"]).set_index("as_of_ts")
    assert nightly.loc[NIGHT_1, "verdict"] == "converts below promise"
    assert nightly.loc[NIGHT_2, "verdict"] == "converts above promise"


def test_a_promised_grade_without_leads_gets_a_row_and_no_verdict():
    table = check_promises(_outcomes("A", 5, 50), _promises({"A": 0.1, "B": 0.05})).set_index("grade")
    assert table.loc["B", "leads"] == 0 and math.isnan(table.loc["B", "realized_rate"])
    assert table.loc["B", "verdict"] == "no leads" and not table.loc["B", "breach"]


def test_each_model_version_is_held_to_its_own_promise():
    outcomes = pd.concat([_outcomes("A", 10, 100, version=1), _outcomes("A", 10, 100, version=2)])
    promises = pd.concat([_promises({"A": 0.1}, version=1), _promises({"A": 0.3}, version=2)])
    table = check_promises(outcomes, promises).set_index("model_version")
    assert not table.loc[1, "breach"] and table.loc[2, "breach"]


def test_matured_nights_need_the_whole_window_inside_the_data():
    nights = pd.Series([NIGHT_1, NIGHT_1, NIGHT_2])
    observed = NIGHT_1 + pd.Timedelta(days=90)
    assert list(matured_nights(nights, window_days=90, observed_until=observed)) == [NIGHT_1]
    assert matured_nights(nights, window_days=90, observed_until=observed - pd.Timedelta(seconds=1)).empty
    assert matured_nights(pd.Series([], dtype="datetime64[ns, UTC]"), window_days=90,
                          observed_until=observed).empty


def test_cohort_metrics_per_night():
    outcomes = pd.DataFrame({
        "as_of_ts": [NIGHT_1] * 4 + [NIGHT_2] * 2,
        "probability": [0.1, 0.2, 0.3, 0.4, 0.5, 0.5],
        "converted": [0, 1, 0, 1, 0, 0],
    })
    table = cohort_metrics(outcomes).set_index("as_of_ts")
    assert table.loc[NIGHT_1, "roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (converted, not) pairs ranked right
    assert table.loc[NIGHT_1, "conversion_rate"] == 0.5 and table.loc[NIGHT_1, "leads"] == 4
    assert math.isnan(table.loc[NIGHT_2, "roc_auc"])  # one outcome only: no AUC
    assert table.loc[NIGHT_2, "ece"] == pytest.approx(0.5)  # promised 50 %, none converted


def test_buyer_coverage_by_grade_and_not_scored():
    """Buyers matched to the night's published grade by (lead, night): a lead scored on another night only
    does not count; a grade unknown to the order is kept, after the known ones."""
    scores = pd.DataFrame({"lead_id": [1, 2, 3, 4, 4], "as_of_ts": [NIGHT_1, NIGHT_1, NIGHT_2, NIGHT_1, NIGHT_1],
                           "grade": pd.Categorical(["A", "B", "A", "Z", "C"])})  # lead 4 re-published: last row wins
    buyers = pd.DataFrame({"lead_id": [1, 2, 3, 4, 5, 3], "as_of_ts": [NIGHT_1, NIGHT_1, NIGHT_1, NIGHT_1, NIGHT_1,
                                                                       NIGHT_2]})
    got = buyer_coverage(scores, buyers, grade_order=["A", "B", "C", "D"])
    assert got["grade"].tolist() == ["A", "B", "C", "D", NOT_SCORED]
    assert got["buyers"].tolist() == [2, 1, 1, 0, 2]
    assert got["share"].tolist() == pytest.approx([2 / 6, 1 / 6, 1 / 6, 0, 2 / 6])
    assert scored_share(got) == pytest.approx(4 / 6)


def test_buyer_coverage_without_buyers_is_nan():
    scores = pd.DataFrame({"lead_id": [1], "as_of_ts": [NIGHT_1], "grade": ["A"]})
    got = buyer_coverage(scores, scores.iloc[:0][["lead_id", "as_of_ts"]], grade_order=["A"])
    assert got["buyers"].tolist() == [0, 0]
    assert math.isnan(scored_share(got))
