"""Metrics agree with a hand-made example and refuse a one-class test slice."""

import numpy as np
import pytest

from models.metrics import classification_metrics, ranking_auc


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
