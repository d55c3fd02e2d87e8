"""Metrics agree with a hand-made example and refuse a one-class test slice."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.metrics import (
    classification_metrics,
    conversion_by_grade,
    expected_calibration_error,
    paired_auc_difference,
    ranking_auc,
    top_share_metrics,
)


def test_hand_made_example():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ordered right
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    expected_ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert m["log_loss"] == pytest.approx(expected_ll)
    # ranked: 0.8 (hit, precision 1), 0.4 (miss), 0.35 (hit, precision 2/3) → AP = (1 + 2/3) / 2
    assert m["pr_auc"] == pytest.approx(5 / 6)
    assert m["positives"] == 2 and m["rows"] == 4


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="both"):
        classification_metrics(np.zeros(5), np.linspace(0, 1, 5))


def test_ranking_auc_takes_the_better_direction():
    y = np.array([1, 1, 0, 0])
    age = np.array([1.0, 2.0, 30.0, 40.0])  # young leads convert
    assert ranking_auc(y, age) == pytest.approx(1.0)


def test_ece_is_zero_when_promises_match_and_measures_the_gap_otherwise():
    y = np.array([0] * 90 + [1] * 10)
    honest = np.full(100, 0.10)
    assert expected_calibration_error(y, honest, bins=1) == pytest.approx(0.0)
    boastful = np.full(100, 0.30)
    assert expected_calibration_error(y, boastful, bins=1) == pytest.approx(0.20)


def test_lift_and_capture_in_the_top_share():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1])          # base rate 30 %
    p = np.array([.9, .8, .7, .6, .5, .4, .3, .2, .1, .05])  # the last conversion ranked last
    lift, capture = top_share_metrics(y, p, 0.2)             # top 2 rows: both converted
    assert lift == pytest.approx(1.0 / 0.3)
    assert capture == pytest.approx(2 / 3)


def test_bootstrap_interval_brackets_the_auc_and_is_reproducible():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    m = classification_metrics(y, p, n_boot=100, seed=1)
    assert m["roc_auc_low"] < m["roc_auc"] < m["roc_auc_high"]
    again = classification_metrics(y, p, n_boot=100, seed=1)
    assert (again["roc_auc_low"], again["roc_auc_high"]) == (m["roc_auc_low"], m["roc_auc_high"])
    assert "lift_at_10pct" in m and "capture_at_20pct" in m and "ece" in m


def test_conversion_by_grade_counts_rows_and_rates():
    table = conversion_by_grade([1, 0, 0, 1, 0, 0], ["A", "A", "B", "B", "B", "C"])
    assert table["grade"].tolist() == ["A", "B", "C"]
    assert table["rows"].tolist() == [2, 3, 1]
    assert table["rate"].tolist() == pytest.approx([0.5, 1 / 3, 0.0])


# --- paired_auc_difference ----------------------------------------------------------------------

Y = np.array([0, 0, 1, 1])
PERFECT = np.array([0.1, 0.2, 0.8, 0.9])
HAND = np.array([0.1, 0.4, 0.35, 0.8])  # AUC 0.75


def test_paired_difference_on_a_hand_made_example():
    diff, low, high = paired_auc_difference(Y, PERFECT, HAND, n_boot=200, seed=0)
    assert diff == pytest.approx(0.25)
    # the perfect model is never worse on any resample, and one resample may hit the swapped pair
    assert 0 <= low <= high <= 1


def test_the_same_model_twice_differs_by_nothing():
    assert paired_auc_difference(Y, HAND, HAND, n_boot=100, seed=1) == (0.0, 0.0, 0.0)


def test_the_rank_auc_agrees_with_scikit_learn_including_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = rng.integers(0, 5, 300).astype(float)  # many ties
    b = np.zeros(300) + 0.5                     # all tied: AUC 0.5
    diff, _, _ = paired_auc_difference(y, a, b, n_boot=0, seed=0)
    assert diff == pytest.approx(roc_auc_score(y, a) - 0.5)


def test_groups_resample_whole_leads():
    """A lead with a row on each of k nights counts once: duplicating every row k times and resampling by
    lead gives exactly the row bootstrap of the original rows (same seed, same draws), while resampling the
    duplicated rows one by one pretends to k times the data and narrows the interval."""
    rng = np.random.default_rng(5)
    n, k = 200, 4
    y = rng.integers(0, 2, n)
    a = y + rng.normal(0, 1.0, n)
    b = y + rng.normal(0, 1.2, n)
    once = paired_auc_difference(y, a, b, n_boot=300, seed=9)
    lead = np.tile(np.arange(n), k)
    by_lead = paired_auc_difference(np.tile(y, k), np.tile(a, k), np.tile(b, k), lead, n_boot=300, seed=9)
    assert by_lead == pytest.approx(once)
    by_row = paired_auc_difference(np.tile(y, k), np.tile(a, k), np.tile(b, k), n_boot=300, seed=9)
    assert by_row[0] == pytest.approx(once[0])
    assert by_row[2] - by_row[1] < 0.75 * (once[2] - once[1])


def test_groups_need_not_be_contiguous_or_numbers():
    groups = np.array(["x", "y", "x", "y"])
    diff, low, high = paired_auc_difference(Y, PERFECT, HAND, groups, n_boot=50, seed=2)
    assert diff == pytest.approx(0.25) and 0 <= low <= high


def test_paired_difference_refuses_bad_input():
    with pytest.raises(ValueError, match="both"):
        paired_auc_difference(np.ones(4), PERFECT, HAND, n_boot=10, seed=0)
    with pytest.raises(ValueError, match="length"):
        paired_auc_difference(Y, PERFECT[:3], HAND, n_boot=10, seed=0)
