"""Metrics agree with a hand-made example and refuse a one-class test slice."""

import numpy as np
import pytest

from models.metrics import (
    classification_metrics,
    conversion_by_grade,
    expected_calibration_error,
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
