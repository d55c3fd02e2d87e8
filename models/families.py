"""Three model families that answer the same question on the same snapshots.

- ``lgbm``: LightGBM (``lgb.train`` on rows binned once, ``LgbmRows``), pandas categoricals, early stopping on the
  later slice;
- ``points``: the rules score marketing automation tools use (points per engagement type, decayed by how
  long ago it happened, plus points per fit attribute), written in params.yaml and then calibrated;
- ``logreg``: a scikit-learn pipeline (one-hot categories, impute, scale, L2 logistic; log1p of skewed
  columns only where it helps on validation),
  fitted by scikit-learn and kept as its numbers (categories, medians, means, scales, coefficients).

Each fitted family exposes ``predict_raw(X)``: a number that ranks leads. The calibrator turns it into a
probability; ``raw_is_probability`` says whether it is already on the probability scale.

Each also explains itself: ``contributions(X)`` gives one column per feature of ``X`` plus a last bias column
(LightGBM's ``pred_contrib`` layout) whose row sums are the model's margin: log-odds for ``lgbm`` (TreeSHAP)
and ``logreg`` (coefficient × transformed value relative to the training mean, a category's one-hot columns
summed back to it), points for ``points`` (the points each rule gave relative to the training average). The
bias is the average lead's margin; ``margin_to_raw`` turns a margin into ``predict_raw``'s scale.

Each fitted family is also data: ``family_to_artifacts(model)`` gives its files as text (LightGBM's own model
text, JSON for the others) and ``family_from_artifacts(family, files)`` rebuilds it with this code, predicting
exactly what it predicted before. Nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.classifier import booster_params
from models.params import TrainParams
from models.treeshap import TreeTables, lightgbm_matrix

FAMILIES = ("lgbm", "points", "logreg")


_NOT_BUILT = object()


@dataclass
class LgbmModel:
    booster: lgb.Booster
    raw_is_probability: bool = True
    # the trees as SHAP tables (models.treeshap), built from the booster on first use; never stored
    _tables: object = field(default=_NOT_BUILT, init=False, repr=False, compare=False)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(X)

    @property
    def category_levels(self) -> list[list]:
        """The training categories of the category columns, in column order (codes are positions in these)."""
        return list(self.booster.pandas_categorical or [])

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """``predict_raw`` of rows already as LightGBM reads a prepared frame (``LeadScorer.model_matrix``): the
        same bits, from the tables' compiled walk of small trees when they cover the model."""
        tables = self._shap_tables()
        if tables is None:
            return self.booster.predict(matrix)
        return margin_to_raw(self, tables.margin(matrix))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Per-feature log-odds contributions (exact path-dependent TreeSHAP), last column the bias:
        LightGBM's ``pred_contrib``, computed by table look-up for small trees (``models.treeshap``), by
        ``pred_contrib`` itself for a model the tables do not cover."""
        tables = self._shap_tables()
        if tables is None:
            return self.booster.predict(X, pred_contrib=True)
        return tables.contributions(lightgbm_matrix(X, self.booster.pandas_categorical))

    def raw_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(``predict_raw(X)``, ``contributions(X)``): with the tables, from one walk of the trees (the
        margin has LightGBM's own bits, and so has its logistic), which halves a night that explains all."""
        tables = self._shap_tables()
        if tables is None:
            return self.predict_raw(X), self.booster.predict(X, pred_contrib=True)
        margin, contrib = tables.margin_and_contributions(lightgbm_matrix(X, self.booster.pandas_categorical))
        return margin_to_raw(self, margin), contrib

    def raw_and_contributions_of_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``raw_and_contributions`` of rows already as LightGBM reads a prepared frame (``model_matrix``)."""
        tables = self._shap_tables()
        if tables is None:
            return self.predict_matrix(matrix), self.booster.predict(matrix, pred_contrib=True)
        margin, contrib = tables.margin_and_contributions(matrix)
        return margin_to_raw(self, margin), contrib

    def _shap_tables(self) -> TreeTables | None:
        if self._tables is _NOT_BUILT:
            self._tables = TreeTables.from_booster(self.booster)
        return self._tables


def margin_to_raw(model, margin: np.ndarray) -> np.ndarray:
    """A contributions row sum on ``predict_raw``'s scale: the logistic function of log-odds, or points as they are."""
    margin = np.asarray(margin, dtype=float)
    return expit(margin) if model.raw_is_probability else margin


@dataclass
class OneHotColumn:
    """One category column as the fitted one-hot encoder saw it: a slot per frequent level, in the encoder's
    order, then one shared slot for the infrequent levels (if any); an unseen level fills no slot."""

    name: str
    levels: list[str]
    infrequent: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.levels) + (1 if self.infrequent else 0)

    def encode(self, values: np.ndarray) -> np.ndarray:
        codes = pd.Categorical(values, categories=[*self.levels, *self.infrequent]).codes  # unseen: -1
        idx = np.minimum(codes.astype(np.int64), len(self.levels))  # every infrequent level: the shared slot
        out = np.zeros((len(values), self.width))
        hit = idx >= 0
        out[np.flatnonzero(hit), idx[hit]] = 1.0
        return out


@dataclass
class LogRegModel:
    """The fitted logistic-regression pipeline as numbers, applied by numpy in the pipeline's own order:
    one-hot categories; numeric columns signed-log1p'd where training chose to (``logged``: only the skewed
    columns, and only when that helped on the validation slice), imputed by their training median (plus a
    missing-indicator for those that had missing values), standardised; then the linear model and the
    logistic function. (``legacy_log``: a model stored before the choice, which log-scaled every column.)
    ``from_pipeline`` reads them off the fitted scikit-learn pipeline; ``predict_raw`` agrees with it to
    rounding (a test checks 1e-12)."""

    categorical: list[OneHotColumn]
    numeric: list[str]
    medians: list[float]
    indicators: list[int]      # positions in ``numeric`` that get a missing-value indicator column
    means: list[float]         # the scaler's, over the numeric block (imputed values, then indicators)
    scales: list[float]
    coef: list[float]
    intercept: float
    raw_is_probability: bool = True
    logged: list[str] = field(default_factory=list)
    legacy_log: bool = False
    design_mean: list[float] = field(default_factory=list)  # the training rows' mean design row (for reasons)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, *, logged=()) -> LogRegModel:
        """``logged``: the numeric columns the pipeline's input had signed-log1p'd (``log_scaled``)."""
        columns = pipeline.named_steps["columns"]
        model = pipeline.named_steps["model"]
        fitted = dict(columns.named_transformers_)
        selected = {name: list(cols) for name, _, cols in columns.transformers_ if name != "remainder"}
        categorical = []
        if selected.get("categorical"):
            encoder = fitted["categorical"]
            for name, cats, rare in zip(selected["categorical"], encoder.categories_,
                                        encoder.infrequent_categories_ or [None] * len(encoder.categories_),
                                        strict=True):
                rare_set = set() if rare is None else {str(v) for v in rare}
                categorical.append(OneHotColumn(name=name, levels=[str(v) for v in cats if str(v) not in rare_set],
                                                infrequent=sorted(rare_set)))
            if sum(c.width for c in categorical) != len(encoder.get_feature_names_out()):
                raise ValueError("the one-hot encoder's output does not match its categories")
        numeric = selected.get("numeric", [])
        medians, indicators, means, scales = [], [], [], []
        if numeric:
            imputer, scaler = (step for _, step in fitted["numeric"].steps)
            medians = [float(v) for v in imputer.statistics_]
            indicators = [int(i) for i in imputer.indicator_.features_] if imputer.indicator_ is not None else []
            means, scales = [float(v) for v in scaler.mean_], [float(v) for v in scaler.scale_]
        if model.coef_.shape[0] != 1:
            raise ValueError("logistic regression must be binary")
        return cls(categorical=categorical, numeric=list(numeric), medians=medians, indicators=indicators,
                   means=means, scales=scales, coef=[float(v) for v in model.coef_[0]],
                   intercept=float(model.intercept_[0]), logged=list(logged))

    def design(self, X: pd.DataFrame) -> np.ndarray:
        """The rows as the linear model sees them (the pipeline's transformed matrix)."""
        blocks = []
        text = _as_objects(X[[c.name for c in self.categorical]]) if self.categorical else None
        for column in self.categorical:
            blocks.append(column.encode(text[column.name].to_numpy()))
        if self.numeric:
            values = X[self.numeric].to_numpy(dtype=float, copy=True)
            if self.logged:
                idx = [self.numeric.index(c) for c in self.logged]
                values[:, idx] = _signed_log1p(values[:, idx])
            missing = np.isnan(values)
            imputed = np.where(missing, np.asarray(self.medians), values)
            block = np.hstack([imputed, missing[:, self.indicators].astype(float)])
            if self.legacy_log:
                block = _signed_log1p(block)
            blocks.append((block - np.asarray(self.means)) / np.asarray(self.scales))
        return np.hstack(blocks) if blocks else np.zeros((len(X), 0))

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return expit(self.design(X) @ np.asarray(self.coef) + self.intercept)

    def design_owners(self) -> list[str]:
        """The input column each design column comes from (one-hot slots and missing indicators included)."""
        owners = [c.name for c in self.categorical for _ in range(c.width)]
        return owners + list(self.numeric) + [self.numeric[i] for i in self.indicators]

    def design_terms(self) -> list[str]:
        """A name per design column: ``column = level`` for a one-hot slot (``column = (infrequent)`` for the shared
        one), the column for a numeric one (``log1p(column)`` when logged), ``column is missing`` for an indicator."""
        terms = [f"{c.name} = {level}" for c in self.categorical
                 for level in [*c.levels, *(["(infrequent)"] if c.infrequent else [])]]
        terms += [f"log1p({c})" if c in self.logged else c for c in self.numeric]
        return terms + [f"{self.numeric[i]} is missing" for i in self.indicators]

    def coefficient_table(self) -> pd.DataFrame:
        """What a data scientist reads off a logistic regression: each design column's coefficient (log-odds per
        standard deviation of the standardised design column), largest effect first, the intercept last."""
        table = pd.DataFrame({"term": self.design_terms(), "feature": self.design_owners(), "coefficient": self.coef})
        table = table.reindex(table["coefficient"].abs().sort_values(ascending=False, kind="stable").index)
        intercept = pd.DataFrame({"term": ["(intercept)"], "feature": [""], "coefficient": [self.intercept]})
        return pd.concat([table, intercept], ignore_index=True)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds per column of ``X``: coefficient × (design value − training mean), summed over a column's
        design columns; last column the bias (intercept + coefficients × mean design row)."""
        design = self.design(X)
        coef = np.asarray(self.coef)
        mean = np.asarray(self.design_mean) if self.design_mean else np.zeros(len(coef))
        columns = list(X.columns)
        owner = np.array([columns.index(name) for name in self.design_owners()], dtype=np.int64)
        to_columns = np.zeros((len(coef), len(columns)))
        to_columns[np.arange(len(coef)), owner] = 1.0
        out = np.empty((len(X), len(columns) + 1))
        out[:, :-1] = ((design - mean) * coef) @ to_columns
        out[:, -1] = self.intercept + float(mean @ coef)
        return out

    def to_dict(self) -> dict:
        return {"categorical": [{"name": c.name, "levels": c.levels, "infrequent": c.infrequent}
                                for c in self.categorical],
                "numeric": self.numeric, "medians": self.medians, "indicators": self.indicators,
                "means": self.means, "scales": self.scales, "coef": self.coef, "intercept": self.intercept,
                "logged": self.logged, **({"legacy_log": True} if self.legacy_log else {}),
                **({"design_mean": self.design_mean} if self.design_mean else {})}

    @classmethod
    def from_dict(cls, state: Mapping) -> LogRegModel:
        return cls(categorical=[OneHotColumn(name=c["name"], levels=list(c["levels"]),
                                             infrequent=list(c["infrequent"])) for c in state["categorical"]],
                   numeric=list(state["numeric"]), medians=[float(v) for v in state["medians"]],
                   indicators=[int(i) for i in state["indicators"]], means=[float(v) for v in state["means"]],
                   scales=[float(v) for v in state["scales"]], coef=[float(v) for v in state["coef"]],
                   intercept=float(state["intercept"]), logged=list(state.get("logged", [])),
                   # stored before the choice existed: every numeric column was log-scaled after imputing
                   legacy_log=bool(state.get("legacy_log", "logged" not in state)),
                   design_mean=[float(v) for v in state.get("design_mean", [])])


@dataclass
class PointsModel:
    """Marketing's points: no learning, the rules are the model (only calibration is fitted)."""

    engagement_points: dict[str, float]
    decay: list[float]
    windows_days: list[int]
    fit_points: dict[str, dict[str, float]] = field(default_factory=dict)
    raw_is_probability: bool = False
    mean_points: dict[str, float] = field(default_factory=dict)  # each rule's average on the training rows

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return points_score(X, self.engagement_points, self.decay, self.windows_days, self.fit_points)

    def points_table(self) -> pd.DataFrame:
        """The rules as marketing wrote them: points per engagement event in each age band, then per fit value."""
        bands = [f"({lo}, {hi}] days" for lo, hi in zip([0, *self.windows_days[:-1]], self.windows_days, strict=True)]
        rows = [{"rule": f"{event}, {band}", "points": points * weight}
                for event, points in self.engagement_points.items()
                for band, weight in zip(bands, self.decay, strict=True)]
        rows += [{"rule": f"{column} = {value}", "points": points}
                 for column, table in self.fit_points.items() for value, points in table.items()]
        return pd.DataFrame(rows, columns=["rule", "points"])

    def rule_points(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """The points each rule gave, by the feature column that tells it (an engagement rule: its widest window)."""
        return rule_points(X, self.engagement_points, self.decay, self.windows_days, self.fit_points)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Points per column of ``X``: each rule's points relative to its training average; last column the
        bias (the average lead's points)."""
        columns = list(X.columns)
        out = np.zeros((len(X), len(columns) + 1))
        for column, points in self.rule_points(X).items():
            mean = self.mean_points.get(column, 0.0)
            out[:, columns.index(column)] += points - mean
            out[:, -1] += mean
        return out


def rule_points(X: pd.DataFrame, engagement_points: dict[str, float], decay: list[float],
                windows_days: list[int], fit_points: dict[str, dict[str, float]]) -> dict[str, np.ndarray]:
    """Points per event in each age band (``windows_days``), weighted by ``decay``, and fit points, per rule."""
    out = {}
    for event_type, points in engagement_points.items():
        previous = np.zeros(len(X))
        score = np.zeros(len(X))
        for weight, w in zip(decay, windows_days, strict=True):
            column = f"eng__{event_type}_{w}d"
            if column not in X.columns:
                raise ValueError(f"points rules need feature {column}, which the feature set does not build")
            cumulative = X[column].to_numpy(dtype=float)
            score += points * weight * (cumulative - previous)
            previous = cumulative
        out[column] = score
    for column, table in fit_points.items():
        if column not in X.columns:
            raise ValueError(f"points rules need feature {column}, which the feature set does not build")
        out[column] = out.get(column, 0.0) + _fit_rule_points(X[column], table)
    return out


def _fit_rule_points(values: pd.Series, table: dict[str, float]) -> np.ndarray:
    """A fit rule's points per row: categories by their text, numbers (a flag) by value, so that a flag's
    rule ``{"1": -15}`` applies to 1, 1.0 and "1" alike (the scorer hands the model float columns)."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        text = values.astype("object").astype(str).to_numpy()
        return np.array([table.get(v, 0.0) for v in text])
    numbers = values.to_numpy(dtype=float)
    points = np.zeros(len(values))
    for key, value in table.items():
        try:
            points[numbers == float(key)] += value
        except ValueError:  # a key that is no number matches no number
            continue
    return points


def points_score(X: pd.DataFrame, engagement_points: dict[str, float], decay: list[float],
                 windows_days: list[int], fit_points: dict[str, dict[str, float]]) -> np.ndarray:
    """The points of every rule added up."""
    score = np.zeros(len(X))
    for points in rule_points(X, engagement_points, decay, windows_days, fit_points).values():
        score = score + points
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


SKEW_TO_TRY_LOG = 1.0  # a numeric column more skewed than this on the training rows is a candidate for log1p


def log_scaled(X: pd.DataFrame, columns) -> pd.DataFrame:
    """``X`` with signed log1p applied to ``columns`` (the numeric transform the logistic family may choose)."""
    X = X.copy()
    for c in columns:
        X[c] = _signed_log1p(X[c].to_numpy(dtype=float))
    return X


def skewed_columns(X: pd.DataFrame, numeric: list[str]) -> list[str]:
    """Numeric columns with more than two values whose skew on these (training) rows exceeds SKEW_TO_TRY_LOG."""
    return [c for c in numeric if X[c].nunique() > 2 and abs(float(X[c].astype(float).skew())) > SKEW_TO_TRY_LOG]


def make_logreg(categorical: list[str], numeric: list[str], *, C: float, seed: int) -> Pipeline:
    """One-hot the categories; impute (median plus missing indicators) and standardise the numbers; L2 logistic
    regression. Any log transform is applied to the input beforehand, and only where it was chosen."""
    numeric_steps = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    )
    columns = ColumnTransformer([
        ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=20), categorical),
        ("numeric", numeric_steps, numeric),
    ])
    return Pipeline([("columns", columns),
                     ("model", LogisticRegression(C=C, max_iter=2000, random_state=seed))])


def _fit_logreg(X: pd.DataFrame, y, categorical: list[str], numeric: list[str], logged: list[str], *,
                params: TrainParams, sample_weight=None) -> LogRegModel:
    pipeline = make_logreg(categorical, numeric, C=params.logreg.C, seed=params.seed)
    fit_params = {} if sample_weight is None else {"model__sample_weight": np.asarray(sample_weight, dtype=float)}
    model = LogRegModel.from_pipeline(pipeline.fit(_as_objects(log_scaled(X, logged)), np.asarray(y), **fit_params),
                                      logged=logged)
    model.design_mean = model.design(X).mean(axis=0).tolist()
    return model


@dataclass(frozen=True)
class LgbmRows:
    """Rows as LightGBM bins them, with their labels and weights. A recipe bins its history once and fits on
    subsets of it (``take``): the early-stopped fit, the whole history and the cross-fits share one binning,
    and no fit copies the frame or converts it to a float64 matrix again."""

    dataset: lgb.Dataset
    index: pd.Index             # the rows' labels in the frame they came from
    pandas_categorical: list    # each category column's categories, in column order (codes are positions)

    @classmethod
    def from_frame(cls, X: pd.DataFrame, y, sample_weight=None, *, params: TrainParams,
                   reference: LgbmRows | None = None) -> LgbmRows:
        """Bin ``X`` (with ``reference``: in that binning's bins and categories, as a validation slice is).
        The matrix handed to LightGBM is float32: lossless for the integer counts and category codes, and a
        float64 value falls on the same side of every bin boundary as its float32 rounding (boundaries lie
        midway between float32 values), so the model scores the float64 frame as it learned it."""
        categories = reference.pandas_categorical if reference is not None else [
            list(X[c].cat.categories) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        dataset = lgb.Dataset(
            lightgbm_matrix(X, categories, dtype=np.float32), label=np.asarray(y, dtype=np.float64),
            weight=None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64),
            feature_name=[str(c) for c in X.columns],
            categorical_feature=[j for j, c in enumerate(X.columns) if isinstance(X[c].dtype, pd.CategoricalDtype)],
            reference=None if reference is None else reference.dataset,
            params=_lgbm_train_params(params), free_raw_data=True).construct()
        dataset.pandas_categorical = categories
        return cls(dataset=dataset, index=X.index, pandas_categorical=categories)

    def take(self, mask: np.ndarray) -> LgbmRows:
        """The rows where ``mask`` holds, in this binning (LightGBM's ``Dataset.subset``: labels and weights
        follow, nothing is binned again)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.all():
            return self
        return LgbmRows(dataset=self.dataset.subset(np.flatnonzero(mask).tolist()), index=self.index[mask],
                        pandas_categorical=self.pandas_categorical)


def _lgbm_train_params(params: TrainParams) -> dict:
    """``booster_params`` in ``lgb.train``'s terms: the tree count is its ``num_boost_round``."""
    out = booster_params(params.lgbm.model_dump(), seed=params.seed)
    out.pop("n_estimators")
    return {**out, "metric": "binary_logloss"}


def fit_lgbm(rows: LgbmRows, valid: LgbmRows | None = None, *, params: TrainParams) -> LgbmModel:
    """LightGBM on binned rows: early-stopped on ``valid`` (its weighted log loss) when given, else exactly
    ``params.lgbm.n_estimators`` trees."""
    callbacks = [] if valid is None else [lgb.early_stopping(params.early_stopping_rounds, verbose=False)]
    booster = lgb.train(_lgbm_train_params(params), rows.dataset, num_boost_round=params.lgbm.n_estimators,
                        valid_sets=[] if valid is None else [valid.dataset], callbacks=callbacks)
    return LgbmModel(booster=booster)


def fit_family(family: str, X_train: pd.DataFrame, y_train, X_valid: pd.DataFrame | None = None, y_valid=None, *,
               params: TrainParams, log_columns: list[str] | None = None, sample_weight=None,
               valid_weight=None) -> object:
    """Fit one family; ``params`` is the ``train`` section of params.yaml. LightGBM early-stops on the
    validation slice when one is given, else grows ``params.lgbm.n_estimators`` trees (a refit with the
    number of trees a backtest chose). The logistic family log-scales the skewed numeric columns of the
    training rows only if that beats the plain fit on the validation slice (ROC AUC); without a validation
    slice it uses ``log_columns`` (the choice an earlier fit made; none if not given). ``sample_weight`` and
    ``valid_weight``: the rows' sampling weights (``features.sampling``; None: every row counts once), in the
    loss of LightGBM and of the logistic regression and in LightGBM's early-stopping loss; points learn nothing."""
    if family == "lgbm":
        rows = LgbmRows.from_frame(X_train, y_train, sample_weight, params=params)
        valid = None if X_valid is None else LgbmRows.from_frame(X_valid, y_valid, valid_weight, params=params,
                                                                 reference=rows)
        return fit_lgbm(rows, valid, params=params)
    if family == "logreg":
        categorical = [c for c in X_train.columns if isinstance(X_train[c].dtype, pd.CategoricalDtype)]
        numeric = [c for c in X_train.columns if c not in categorical]
        if log_columns is not None or X_valid is None or len(np.unique(np.asarray(y_valid))) < 2:
            return _fit_logreg(X_train, y_train, categorical, numeric, list(log_columns or []), params=params,
                               sample_weight=sample_weight)
        plain = _fit_logreg(X_train, y_train, categorical, numeric, [], params=params, sample_weight=sample_weight)
        candidates = skewed_columns(X_train, numeric)
        if not candidates:
            return plain
        logged = _fit_logreg(X_train, y_train, categorical, numeric, candidates, params=params,
                             sample_weight=sample_weight)
        better = (roc_auc_score(y_valid, logged.predict_raw(X_valid))
                  > roc_auc_score(y_valid, plain.predict_raw(X_valid)))
        return logged if better else plain
    if family == "points":
        rules = params.points
        model = PointsModel(engagement_points=dict(rules.engagement), decay=list(rules.decay),
                            windows_days=list(rules.windows_days),
                            fit_points={k: dict(v) for k, v in rules.fit.items()})
        # fails now, not at scoring time, if a rule names a missing feature
        model.mean_points = {c: float(np.mean(v)) for c, v in model.rule_points(X_train).items()}
        return model
    raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}")


LGBM_MODEL_FILE = "lgbm_model.txt"
LOGREG_FILE = "logreg.json"
POINTS_FILE = "points.json"


def explanation_table(model: object) -> tuple[str, pd.DataFrame] | None:
    """(name, table) of what explains a family beyond feature importance: a logistic regression's coefficients,
    the points rules; None for LightGBM (its importance by gain and by SHAP is ``training.feature_importance``)."""
    if isinstance(model, LogRegModel):
        return "coefficients", model.coefficient_table()
    if isinstance(model, PointsModel):
        return "points", model.points_table()
    return None


def family_of(model: object) -> str:
    """The family name of a fitted model (what ``family_from_artifacts`` needs to rebuild it)."""
    for name, kind in (("lgbm", LgbmModel), ("logreg", LogRegModel), ("points", PointsModel)):
        if isinstance(model, kind):
            return name
    raise TypeError(f"not a model family: {type(model).__name__}")


def family_to_artifacts(model: object) -> dict[str, str]:
    """The fitted model as files of text: LightGBM's own model text (its trees and its pandas categories),
    or JSON numbers and rules."""
    family = family_of(model)
    if family == "lgbm":
        return {LGBM_MODEL_FILE: model.booster.model_to_string()}
    if family == "logreg":
        return {LOGREG_FILE: json.dumps(model.to_dict())}
    return {POINTS_FILE: json.dumps({"engagement_points": model.engagement_points, "decay": model.decay,
                                     "windows_days": model.windows_days, "fit_points": model.fit_points,
                                     **({"mean_points": model.mean_points} if model.mean_points else {})})}


def family_from_artifacts(family: str, files: Mapping[str, str]) -> object:
    """The fitted model of ``family`` rebuilt from the text ``family_to_artifacts`` gave."""
    if family == "lgbm":
        return LgbmModel(booster=lgb.Booster(model_str=files[LGBM_MODEL_FILE]))
    if family == "logreg":
        return LogRegModel.from_dict(json.loads(files[LOGREG_FILE]))
    if family == "points":
        rules = json.loads(files[POINTS_FILE])
        return PointsModel(engagement_points={k: float(v) for k, v in rules["engagement_points"].items()},
                           decay=[float(v) for v in rules["decay"]],
                           windows_days=[int(v) for v in rules["windows_days"]],
                           fit_points={col: {k: float(v) for k, v in table.items()}
                                       for col, table in rules["fit_points"].items()},
                           mean_points={col: float(v) for col, v in rules.get("mean_points", {}).items()})
    raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}")
