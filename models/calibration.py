"""Calibration of raw model probabilities on the validation slice, so ``probability`` is an honest rate.

A fitted calibrator is a handful of numbers: ``to_dict`` gives them (JSON-ready) and ``from_dict`` rebuilds
the same scikit-learn estimator around them, so its probabilities are identical, without pickling anything.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

_EPS = 1e-15  # small enough that raw probabilities of 1e-12 and 1e-9 stay apart: sigmoid keeps the ranking


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class ProbabilityCalibrator(BaseEstimator):
    """Maps raw probabilities to calibrated ones.

    ``raw`` is a probability (calibrated on its log-odds) or, for a points score, any ranking number
    (``raw_is_probability=False``). ``sigmoid`` (Platt scaling) is strictly monotone, so it never ties two
    leads the model told apart: the queue order is the model's order. ``isotonic`` is more flexible but makes steps.
    """

    def __init__(self, *, method: str = "sigmoid", raw_is_probability: bool = True):
        self.method = method
        self.raw_is_probability = raw_is_probability

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        return (_logit(raw) if self.raw_is_probability else raw).reshape(-1, 1)

    def fit(self, raw: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> ProbabilityCalibrator:
        """``sample_weight``: each row counts that many times (a sampled table's 1 / rate), so the fitted map
        is calibrated to the full population (weighted Platt or weighted isotonic regression)."""
        y = np.asarray(y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if w is not None and np.all(w == 1.0):
            w = None  # exactly the unweighted fit
        self.reversed_ = False
        if self.method == "sigmoid":
            self.model_ = LogisticRegression(C=1e6).fit(self._scale(raw), y, sample_weight=w)
            if float(self.model_.coef_[0, 0]) < 0:
                # A downward slope would sort the queue against the model (and against its reasons).
                # Calibration keeps the order or, for a model that ranks this slice backwards, says nothing.
                self.reversed_ = True
                self.rate_ = float(np.mean(y) if w is None else np.average(y, weights=w))
        elif self.method == "isotonic":
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y, sample_weight=w)
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        return self

    def reverses_order(self) -> bool:
        """True when the model ranked the calibration slice backwards (the fitted sigmoid slopes downwards).
        Its probabilities are then flat at the slice's rate rather than reversed; isotonic only rises."""
        check_is_fitted(self)
        return self.reversed_

    def transform(self, raw: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        if self.reversed_:
            return np.full(len(np.asarray(raw)), self.rate_)
        if self.method == "sigmoid":  # predict_proba's arithmetic without its input checks (one lead: most of it)
            return expit(self._scale(raw) @ self.model_.coef_.T + self.model_.intercept_).reshape(-1)
        return self.model_.predict(np.asarray(raw, dtype=float))

    def to_dict(self) -> dict:
        """The fitted state as plain numbers (what ``from_dict`` needs)."""
        check_is_fitted(self)
        state = {"method": self.method, "raw_is_probability": bool(self.raw_is_probability),
                 "reversed": bool(self.reversed_)}
        if self.reversed_:
            state["rate"] = float(self.rate_)
        if self.method == "sigmoid":
            state.update(coef=float(self.model_.coef_[0, 0]), intercept=float(self.model_.intercept_[0]),
                         classes=self.model_.classes_.tolist())
        else:
            iso = self.model_
            state.update(x_thresholds=iso.X_thresholds_.tolist(), y_thresholds=iso.y_thresholds_.tolist(),
                         x_min=float(iso.X_min_), x_max=float(iso.X_max_), increasing=bool(iso.increasing_))
        return state

    @classmethod
    def from_dict(cls, state: dict) -> ProbabilityCalibrator:
        """The calibrator ``to_dict`` described, its estimator rebuilt from the numbers."""
        calibrator = cls(method=state["method"], raw_is_probability=bool(state["raw_is_probability"]))
        calibrator.reversed_ = bool(state["reversed"])
        if calibrator.reversed_:
            calibrator.rate_ = float(state["rate"])
        if calibrator.method == "sigmoid":
            model = LogisticRegression(C=1e6)
            model.coef_ = np.array([[float(state["coef"])]])
            model.intercept_ = np.array([float(state["intercept"])])
            model.classes_ = np.array(state["classes"])
            model.n_features_in_ = 1
        elif calibrator.method == "isotonic":
            model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            # The estimator's own restore hook (what unpickling calls): sets the thresholds and rebuilds the
            # interpolation from them.
            model.__setstate__({**model.__getstate__(), "X_thresholds_": np.array(state["x_thresholds"], dtype=float),
                                "y_thresholds_": np.array(state["y_thresholds"], dtype=float),
                                "X_min_": float(state["x_min"]), "X_max_": float(state["x_max"]),
                                "increasing_": bool(state["increasing"])})
        else:
            raise ValueError(f"unknown calibration method {calibrator.method!r}")
        calibrator.model_ = model
        return calibrator
