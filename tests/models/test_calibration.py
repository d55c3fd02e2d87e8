"""Calibration: fit returns self, the mapping is monotone, and calibrated rates match observed ones."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from models.calibration import ProbabilityCalibrator


@pytest.fixture
def overconfident():
    rng = np.random.default_rng(0)
    true_p = rng.uniform(0.0, 0.3, 20_000)
    y = (rng.random(true_p.size) < true_p).astype(int)
    raw = np.clip(true_p * 2.5, 0, 0.999)  # a model that says 2.5x the real rate
    return raw, y, true_p


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_mean_matches_the_observed_rate(overconfident, method):
    raw, y, _ = overconfident
    cal = ProbabilityCalibrator(method=method)
    assert cal.fit(raw, y) is cal
    p = cal.transform(raw)
    assert abs(p.mean() - y.mean()) < 0.005
    assert abs(raw.mean() - y.mean()) > 0.1  # the raw scores really were off


def test_sigmoid_is_strictly_monotone_so_the_queue_order_is_kept(overconfident):
    raw, y, _ = overconfident
    cal = ProbabilityCalibrator(method="sigmoid").fit(raw, y)
    grid = np.linspace(0.001, 0.99, 500)
    assert np.all(np.diff(cal.transform(grid)) > 0)


def test_unfitted_calibrator_refuses_to_transform():
    with pytest.raises(NotFittedError):
        ProbabilityCalibrator().transform(np.array([0.1]))


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown calibration method"):
        ProbabilityCalibrator(method="magic").fit(np.array([0.1, 0.2]), np.array([0, 1]))


def test_extreme_raw_probabilities_keep_their_order():
    raw = np.array([1e-14, 1e-12, 1e-10, 1e-8, 0.2, 0.4] * 50)
    y = np.array([0, 0, 0, 1, 0, 1] * 50)
    p = ProbabilityCalibrator(method="sigmoid").fit(raw, y).transform(raw[:6])
    assert np.all(np.diff(p) > 0)


def test_a_backwards_model_is_reported_and_never_reversed():
    """Flipping a model that ranks the calibration slice backwards would sort the queue against the model
    and its reasons: its probabilities are flat at the slice's rate instead."""
    rng = np.random.default_rng(1)
    raw = rng.uniform(0.01, 0.99, 5_000)
    y = (rng.random(raw.size) < 1 - raw).astype(int)  # the higher the raw score, the less likely
    backwards = ProbabilityCalibrator(method="sigmoid").fit(raw, y)
    assert backwards.reverses_order()
    assert np.allclose(backwards.transform(raw[:10]), y.mean())
    assert not ProbabilityCalibrator(method="sigmoid").fit(1 - raw, y).reverses_order()
    assert not ProbabilityCalibrator(method="isotonic").fit(raw, y).reverses_order()


@pytest.mark.parametrize(("method", "raw_is_probability", "backwards"), [
    ("sigmoid", True, False), ("sigmoid", False, False), ("sigmoid", True, True), ("isotonic", True, False)])
def test_a_calibrator_rebuilt_from_its_numbers_gives_identical_probabilities(method, raw_is_probability, backwards):
    import json

    raw = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9] * 5)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1] * 5)
    fitted = ProbabilityCalibrator(method=method, raw_is_probability=raw_is_probability)
    fitted.fit(raw, 1 - y if backwards else y)
    state = json.loads(json.dumps(fitted.to_dict()))  # plain JSON numbers, nothing else
    again = ProbabilityCalibrator.from_dict(state)
    probe = np.array([0.0, 1e-12, 0.01, 0.04, 0.25, 0.5, 0.66, 0.95, 1.0])
    np.testing.assert_array_equal(again.transform(probe), fitted.transform(probe))
    assert again.reverses_order() is backwards and again.get_params() == fitted.get_params()
    distinct = len(set(fitted.transform(probe)))
    assert distinct == 1 if backwards else distinct >= 3  # not vacuous: the probe spans the mapping


@pytest.mark.parametrize("raw_is_probability", [True, False])
def test_sigmoid_probabilities_are_logistic_regressions_own(overconfident, raw_is_probability):
    """``transform`` computes what ``LogisticRegression.predict_proba`` would, bit for bit, without its checks."""
    raw, y, _ = overconfident
    raw = np.clip(raw, 1e-6, None)
    raw = raw if raw_is_probability else np.log(raw / (1 - raw))
    calibrator = ProbabilityCalibrator(method="sigmoid", raw_is_probability=raw_is_probability).fit(raw, y)
    for rows in (raw, raw[:1], raw[:0]):
        expected = calibrator.model_.predict_proba(calibrator._scale(rows))[:, 1] if len(rows) else np.zeros(0)
        np.testing.assert_array_equal(calibrator.transform(rows), expected)
