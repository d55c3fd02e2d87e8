"""Three model families that answer the same question on the same snapshots.

- ``lgbm``: LightGBM through its scikit-learn API, pandas categoricals, early stopping on the later slice;
- ``points``: the rules score marketing automation tools use (points per engagement type, decayed by how
  long ago it happened, plus points per fit attribute), written in params.yaml and then calibrated;
- ``logreg``: a scikit-learn pipeline (impute, log-scale counts, one-hot categories, scale, L2 logistic).

Each fitted family exposes ``predict_raw(X)``: a number that ranks leads. The calibrator turns it into a
probability; ``raw_is_probability`` says whether it is already on the probability scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from models.classifier import fit_classifier, make_classifier
from models.params import TrainParams

FAMILIES = ("lgbm", "points", "logreg")


@dataclass
class LgbmModel:
    booster: lgb.Booster
    raw_is_probability: bool = True

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(X)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Per-feature log-odds contributions (TreeSHAP), last column the bias."""
        return self.booster.predict(X, pred_contrib=True)


@dataclass
class LogRegModel:
    pipeline: Pipeline
    raw_is_probability: bool = True

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(_as_objects(X))[:, 1]


@dataclass
class PointsModel:
    """Marketing's points: no learning, the rules are the model (only calibration is fitted)."""

    engagement_points: dict[str, float]
    decay: list[float]
    windows_days: list[int]
    fit_points: dict[str, dict[str, float]] = field(default_factory=dict)
    raw_is_probability: bool = False

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return points_score(X, self.engagement_points, self.decay, self.windows_days, self.fit_points)


def points_score(X: pd.DataFrame, engagement_points: dict[str, float], decay: list[float],
                 windows_days: list[int], fit_points: dict[str, dict[str, float]]) -> np.ndarray:
    """Points per event in each age band (``windows_days``), weighted by ``decay``, plus fit points."""
    score = np.zeros(len(X))
    for event_type, points in engagement_points.items():
        previous = np.zeros(len(X))
        for weight, w in zip(decay, windows_days, strict=True):
            column = f"eng__{event_type}_{w}d"
            if column not in X.columns:
                raise ValueError(f"points rules need feature {column}, which the feature set does not build")
            cumulative = X[column].to_numpy(dtype=float)
            score += points * weight * (cumulative - previous)
            previous = cumulative
    for column, table in fit_points.items():
        if column not in X.columns:
            raise ValueError(f"points rules need feature {column}, which the feature set does not build")
        values = X[column].astype("object").astype(str).to_numpy()
        score += np.array([table.get(v, 0.0) for v in values])
    return score


def _as_objects(X: pd.DataFrame) -> pd.DataFrame:
    """Categories as plain strings (missing as a level of its own) for scikit-learn's encoders."""
    X = X.copy()
    for col in X.columns:
        if isinstance(X[col].dtype, pd.CategoricalDtype) or X[col].dtype == object:
            X[col] = X[col].astype("object").where(X[col].notna(), "(missing)").astype(str)
    return X


def _signed_log1p(a: np.ndarray) -> np.ndarray:
    return np.sign(a) * np.log1p(np.abs(a))


def make_logreg(categorical: list[str], numeric: list[str], *, C: float, seed: int) -> Pipeline:
    """Impute, log-scale the heavy-tailed counts, one-hot the categories, standardise, L2 logistic regression."""
    numeric_steps = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"),
        StandardScaler(),
    )
    columns = ColumnTransformer([
        ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=20), categorical),
        ("numeric", numeric_steps, numeric),
    ])
    return Pipeline([("columns", columns),
                     ("model", LogisticRegression(C=C, max_iter=2000, random_state=seed))])


def fit_family(family: str, X_train: pd.DataFrame, y_train, X_valid: pd.DataFrame | None = None, y_valid=None, *,
               params: TrainParams) -> object:
    """Fit one family; ``params`` is the ``train`` section of params.yaml. LightGBM early-stops on the
    validation slice when one is given, else grows ``params.lgbm.n_estimators`` trees (a refit with the
    number of trees a backtest chose)."""
    if family == "lgbm":
        classifier = make_classifier(params.lgbm.model_dump(), seed=params.seed)
        if X_valid is None:
            return LgbmModel(booster=classifier.fit(X_train, y_train).booster_)
        classifier = fit_classifier(classifier, X_train, y_train, X_valid, y_valid,
                                    early_stopping_rounds=params.early_stopping_rounds)
        return LgbmModel(booster=classifier.booster_)
    if family == "logreg":
        categorical = [c for c in X_train.columns if isinstance(X_train[c].dtype, pd.CategoricalDtype)]
        numeric = [c for c in X_train.columns if c not in categorical]
        pipeline = make_logreg(categorical, numeric, C=params.logreg.C, seed=params.seed)
        return LogRegModel(pipeline=pipeline.fit(_as_objects(X_train), np.asarray(y_train)))
    if family == "points":
        rules = params.points
        model = PointsModel(engagement_points=dict(rules.engagement), decay=list(rules.decay),
                            windows_days=list(rules.windows_days),
                            fit_points={k: dict(v) for k, v in rules.fit.items()})
        model.predict_raw(X_train.head(1))  # fail now, not at scoring time, if a rule names a missing feature
        return model
    raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}")
