"""The training core: a split training set → fit → calibrate → grades from capacity → test metrics.

Pure: frames and typed params in, an ``Evaluation`` out. What a source is (the data-contract tables or a
flat CRM export) is already decided in the ``TrainingSet`` it hands over: its split, its feature list, its
label and population in words. Logging and registering the result is the pipeline's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.calibration import ProbabilityCalibrator
from models.definition import build_definition
from models.families import LgbmModel, fit_family
from models.grades import grade_promises, shares_from_capacity, weekly_volume
from models.metrics import classification_metrics, ranking_auc, reliability_table
from models.params import EvaluateParams, ScoreParams, TrainParams
from models.scorer import LeadScorer, build_scorer
from models.split import TimeSplit


class InsufficientData(ValueError):
    """Too few conversions to train or evaluate honestly."""


@dataclass(frozen=True)
class TrainingSet:
    """What a source hands the training core: the split snapshots and how to read them."""

    split: TimeSplit
    features: list[str]
    target: str
    label: dict                 # the definition's label: milestone, window, words
    population: dict            # the definition's scored population, in words
    catalog: dict = field(default_factory=dict)  # feature name → its FeatureSpec
    truth: pd.DataFrame | None = None            # lead_id → true propensity (the demo world only)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    scorer: LeadScorer
    metrics: dict[str, float]
    test_probability: np.ndarray
    grades: pd.DataFrame
    importance: pd.DataFrame | None
    definition: dict
    warnings: tuple[str, ...] = ()


def check_sufficiency(split: TimeSplit, target: str, *, min_conversions: int) -> None:
    """Refuse to train on too few conversions, or to report test metrics on none."""
    train_conv = int(split.train[target].sum())
    if train_conv < min_conversions:
        raise InsufficientData(
            f"the training slice ({split.periods()['train']}) holds {train_conv} converted snapshots; "
            f"train.min_conversions is {min_conversions}. Add history, widen the label window or lower the "
            "minimum knowingly."
        )
    for name in ("valid", "test"):
        part = getattr(split, name)
        if part[target].sum() == 0:
            raise InsufficientData(f"the {name} slice ({split.periods()[name]}) holds no conversions: "
                                   "nothing to calibrate or evaluate against")


def with_lgbm_overrides(train: TrainParams, overrides: dict | None) -> TrainParams:
    """The ``train`` params with some LightGBM hyperparameters replaced (a tuning trial, the tuned best)."""
    if not overrides:
        return train
    return train.model_copy(update={"lgbm": train.lgbm.model_copy(update=overrides)})


def grade_shares(score: ScoreParams, as_of: pd.Series) -> dict[str, float]:
    """Each grade's share of the open population: from sales capacity per week, or as given."""
    if score.grade_capacity_per_week:
        return shares_from_capacity(score.grade_capacity_per_week, weekly_volume(as_of))
    return score.grade_shares


def fit_and_evaluate(data: TrainingSet, family: str, *, train: TrainParams, evaluate: EvaluateParams,
                     score: ScoreParams, model_name: str) -> Evaluation:
    """Fit ``family`` on the train slice (early-stopped on valid), calibrate on valid, size grades from
    capacity on valid, and measure everything on test: the one path every training step takes."""
    s, f, y = data.split, data.features, data.target
    model = fit_family(family, s.train[f], s.train[y], s.valid[f], s.valid[y], params=train)
    calibrator = ProbabilityCalibrator(method=train.calibration, raw_is_probability=model.raw_is_probability)
    raw_valid = model.predict_raw(s.valid[f])
    calibrator.fit(raw_valid, s.valid[y])
    warnings = []
    both_classes = s.valid[y].nunique() > 1
    raw_valid_auc = float(roc_auc_score(s.valid[y], raw_valid)) if both_classes else float("nan")  # before calibration
    if calibrator.reverses_order():
        warnings.append(f"{family} ranks the validation slice worse than chance (uncalibrated ROC AUC "
                        f"{raw_valid_auc:.3f}): its probabilities are flat at the slice's rate, because a "
                        "calibration that reversed the model would sort the queue against it and its reasons")
    scorer = build_scorer(model, calibrator, s.valid[f], grade_shares=grade_shares(score, s.valid["as_of_ts"]),
                          catalog=data.catalog)

    p_test = scorer.probability(s.test[f])
    metrics = {f"test_{k}": v for k, v in classification_metrics(
        s.test[y], p_test, n_boot=evaluate.bootstrap_samples, seed=train.seed).items()}
    metrics.update({f"valid_{k}": v for k, v in
                    classification_metrics(s.valid[y], scorer.probability(s.valid[f])).items()})
    if "lead__age_days" in s.test.columns:  # a flat export has no snapshots, so no lead age at scoring time
        metrics["test_roc_auc_lead_age_only"] = ranking_auc(s.test[y], s.test["lead__age_days"])
    if data.truth is not None:
        propensity = data.truth.set_index("lead_id")["propensity"].reindex(s.test["lead_id"]).to_numpy()
        if not np.isnan(propensity).any():
            metrics["test_roc_auc_oracle"] = ranking_auc(s.test[y], propensity)
    metrics["valid_roc_auc_uncalibrated"] = raw_valid_auc
    metrics["train_rows"] = float(len(s.train))
    metrics["train_positives"] = float(s.train[y].sum())
    grades = grade_promises(scorer.grade_thresholds, p_test, s.test[y].to_numpy(), s.test["as_of_ts"],
                            scorer.grade)
    for row in grades.itertuples():
        metrics[f"test_conversion_grade_{row.grade}"] = float(row.promised_rate)
    importance = None
    if isinstance(model, LgbmModel):
        metrics["best_iteration"] = float(model.booster.best_iteration or model.booster.num_trees())
        importance = feature_importance(model, scorer.prepare(s.test[f].head(20_000)))
    catalog = data.catalog
    definition = build_definition(
        model_name=model_name, family=family, label=data.label, population=data.population,
        features=[{"name": n, "source": catalog[n].source, "description": catalog[n].description}
                  for n in f if n in catalog],
        grades=grades, metrics={k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")},
        calibration=reliability_table(s.test[y], p_test), periods=s.periods(),
    )
    scorer.definition_version = definition["definition_version"]
    return Evaluation(scorer=scorer, metrics=metrics, test_probability=p_test, grades=grades,
                      importance=importance, definition=definition, warnings=tuple(warnings))


def validation_metric(data: TrainingSet, family: str, *, train: TrainParams, metric: str) -> tuple[float, object]:
    """(``metric`` on the calibrated validation slice, the fitted model): a tuning trial's objective, which
    never looks at the test slice."""
    s, f, y = data.split, data.features, data.target
    model = fit_family(family, s.train[f], s.train[y], s.valid[f], s.valid[y], params=train)
    raw = model.predict_raw(s.valid[f])
    p = ProbabilityCalibrator(method=train.calibration).fit(raw, s.valid[y]).transform(raw)
    return classification_metrics(s.valid[y], p)[metric], model


def feature_importance(model: LgbmModel, X: pd.DataFrame) -> pd.DataFrame:
    """Gain, split counts and mean |SHAP| (LightGBM's exact TreeSHAP via ``pred_contrib``) per feature."""
    contributions = model.contributions(X)[:, :-1]
    return pd.DataFrame({
        "feature": list(X.columns),
        "gain": model.booster.feature_importance(importance_type="gain"),
        "splits": model.booster.feature_importance(importance_type="split"),
        "mean_abs_shap": np.abs(contributions).mean(axis=0),
    }).sort_values("gain", ascending=False, ignore_index=True)
