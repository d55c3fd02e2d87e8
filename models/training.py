"""The training core: backtest the recipe, then refit it on everything that has matured.

Pure: frames and typed params in, an ``Evaluation`` out. The source (the data-contract tables or a flat
CRM export) has already decided its backtest folds and its most recent matured period in the
``TrainingSet`` it hands over, and says its label and population in words.

1. **Backtest**: each fold fits on what had matured before it, early-stops and calibrates on the latest
   slice before it and is tested on its own period after a gap of at least the label window. These
   metrics, per fold and pooled, are the honest ones: they decide ``compare`` and the gates.
2. **Refit**: the registered model learns from every matured snapshot, with the number of trees the folds
   chose (their median best iteration), so sales is scored by a model that has seen the latest data.
3. **Calibration, grades and promises** come from the most recent matured period, in probabilities that
   model never saw: the leads are split in ``calibration_folds`` parts and each part is predicted by a
   model refitted without those leads (cross-fitting), so a lead's own outcome never tunes its score.
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

FOLD_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10pct", "positive_rate",
                "mean_probability")


class InsufficientData(ValueError):
    """Too few conversions to train or evaluate honestly."""


@dataclass(frozen=True)
class TrainingSet:
    """What a source hands the training core: its matured snapshots, the backtest folds and the most recent
    matured period cut from them, and how to read them."""

    table: pd.DataFrame         # every matured (labelled) snapshot: what the refit learns from
    folds: list[TimeSplit]      # backtest folds, oldest first
    recent: pd.DataFrame        # the most recent matured period: calibration, thresholds, promises
    features: list[str]
    target: str
    label: dict                 # the definition's label: milestone, window, words
    population: dict            # the definition's scored population, in words
    catalog: dict = field(default_factory=dict)  # feature name → its FeatureSpec
    truth: pd.DataFrame | None = None            # lead_id → true propensity (the demo world only)
    warnings: tuple[str, ...] = ()
    time_column: str = "as_of_ts"                # what "learned from … until" is read from

    @property
    def split(self) -> TimeSplit:
        """The latest backtest fold (what one time split used to be)."""
        return self.folds[-1]

    def periods(self) -> dict[str, str]:
        """Each backtest fold's test period, the refit's learning period and the recent period, in words."""
        out = {f"backtest_{k + 1}": fold.periods()["test"] for k, fold in enumerate(self.folds)}
        out["learned"] = _span(self.table, self.time_column)
        out["recent"] = _span(self.recent, self.time_column)
        return out


def _span(frame: pd.DataFrame, column: str) -> str:
    if column in frame and frame[column].notna().any():
        return f"{frame[column].min():%Y-%m-%d}..{frame[column].max():%Y-%m-%d}"
    return f"rows {frame['row_number'].min()}..{frame['row_number'].max()}"  # a flat export without dates


@dataclass(frozen=True)
class Evaluation:
    scorer: LeadScorer
    metrics: dict[str, float]
    backtest_y: np.ndarray            # every fold's test rows, pooled …
    backtest_probability: np.ndarray  # … and their out-of-sample probabilities
    grades: pd.DataFrame
    importance: pd.DataFrame | None
    definition: dict
    folds: pd.DataFrame               # one row per backtest fold: its period and metrics
    warnings: tuple[str, ...] = ()


def check_sufficiency(data: TrainingSet, *, min_conversions: int) -> None:
    """Refuse to train on too few conversions, or to report metrics or calibrate on none."""
    y = data.target
    for k, fold in enumerate(data.folds, start=1):
        periods = fold.periods()
        train_conv = int(fold.train[y].sum())
        if train_conv < min_conversions:
            raise InsufficientData(
                f"backtest fold {k} trains on {periods['train']}, which holds {train_conv} converted snapshots; "
                f"train.min_conversions is {min_conversions}. Add history, widen the label window, use fewer "
                "split.backtest_folds or lower the minimum knowingly."
            )
        for name in ("valid", "test"):
            if getattr(fold, name)[y].sum() == 0:
                raise InsufficientData(f"the {name} slice of backtest fold {k} ({periods[name]}) holds no "
                                       "conversions: nothing to calibrate or evaluate against")
    if data.recent[y].sum() == 0:
        raise InsufficientData("the most recent matured period holds no conversions: nothing to calibrate on")


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


def backtest(data: TrainingSet, family: str, *, train: TrainParams) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(one row per fold, pooled test labels, pooled out-of-sample probabilities): each fold fitted on its
    past, early-stopped and calibrated on its validation slice, scored on its test period."""
    f, y = data.features, data.target
    rows, ys, ps = [], [], []
    for k, fold in enumerate(data.folds, start=1):
        model = fit_family(family, fold.train[f], fold.train[y], fold.valid[f], fold.valid[y], params=train)
        calibrator = ProbabilityCalibrator(method=train.calibration, raw_is_probability=model.raw_is_probability)
        calibrator.fit(model.predict_raw(fold.valid[f]), fold.valid[y])
        p = calibrator.transform(model.predict_raw(fold.test[f]))
        m = classification_metrics(fold.test[y], p)
        periods = fold.periods()
        best = model.booster.best_iteration or model.booster.num_trees() if isinstance(model, LgbmModel) else 0
        rows.append({"fold": k, "train_period": periods["train"], "test_period": periods["test"],
                     "test_rows": len(fold.test), "test_conversions": int(fold.test[y].sum()),
                     "best_iteration": int(best), **{name: m[name] for name in FOLD_METRICS}})
        ys.append(fold.test[y].to_numpy())
        ps.append(p)
    return pd.DataFrame(rows), np.concatenate(ys), np.concatenate(ps)


def lead_parts(leads: pd.Series, parts: int) -> np.ndarray:
    """A stable part number per lead (same lead, same part, every run): the cross-fitting split."""
    return (pd.util.hash_array(leads.astype(str).to_numpy()) % parts).astype(int)


def refit(data: TrainingSet, family: str, *, train: TrainParams, trees: int | None) -> tuple[object, np.ndarray]:
    """(the model fitted on every matured snapshot, out-of-sample raw scores of the recent period): each part
    of the recent period's leads is scored by a refit that never saw those leads."""
    f, y, table, recent = data.features, data.target, data.table, data.recent
    params = with_lgbm_overrides(train, {"n_estimators": trees}) if trees else train
    model = fit_family(family, table[f], table[y], params=params)
    if family == "points":  # rules learn nothing: nothing to cross-fit
        return model, model.predict_raw(recent[f])
    raw = np.empty(len(recent))
    part_of_recent = lead_parts(recent["lead_id"], train.calibration_folds)
    part_of_table = lead_parts(table["lead_id"], train.calibration_folds)
    for part in range(train.calibration_folds):
        held = part_of_recent == part
        if held.any():
            fitted = fit_family(family, table.loc[part_of_table != part, f], table.loc[part_of_table != part, y],
                                params=params)
            raw[held] = fitted.predict_raw(recent.loc[held, f])
    return model, raw


def fit_and_evaluate(data: TrainingSet, family: str, *, train: TrainParams, evaluate: EvaluateParams,
                     score: ScoreParams, model_name: str) -> Evaluation:
    """Backtest, refit on everything, calibrate and grade on the recent period: the one path every training
    step takes (see the module docstring)."""
    f, y, recent = data.features, data.target, data.recent
    folds, backtest_y, backtest_p = backtest(data, family, train=train)
    trees = int(folds["best_iteration"].median()) if family == "lgbm" else None
    model, raw_recent = refit(data, family, train=train, trees=trees)
    calibrator = ProbabilityCalibrator(method=train.calibration, raw_is_probability=model.raw_is_probability)
    calibrator.fit(raw_recent, recent[y])
    warnings = []
    raw_auc = float(roc_auc_score(recent[y], raw_recent)) if recent[y].nunique() > 1 else float("nan")
    if calibrator.reverses_order():
        warnings.append(f"{family} ranks the most recent period worse than chance (uncalibrated ROC AUC "
                        f"{raw_auc:.3f}): its probabilities are flat at the period's rate, because a "
                        "calibration that reversed the model would sort the queue against it and its reasons")
    p_recent = calibrator.transform(raw_recent)
    scorer = build_scorer(model, calibrator, recent[f], grade_shares=grade_shares(score, recent["as_of_ts"]),
                          catalog=data.catalog, reference_probability=p_recent)
    metrics = {f"test_{k}": v for k, v in classification_metrics(
        backtest_y, backtest_p, n_boot=evaluate.bootstrap_samples, seed=train.seed).items()}
    metrics.update({f"valid_{k}": v for k, v in classification_metrics(recent[y], p_recent).items()})
    for row in folds.itertuples():
        metrics.update({f"backtest_fold{row.fold}_{name}": float(getattr(row, name)) for name in FOLD_METRICS})
    for name in FOLD_METRICS:
        metrics[f"backtest_{name}_mean"] = float(folds[name].mean())
        metrics[f"backtest_{name}_sd"] = float(folds[name].std(ddof=0))
    tested = pd.concat([fold.test for fold in data.folds], ignore_index=True)
    if "lead__age_days" in tested.columns:  # a flat export has no snapshots, so no lead age at scoring time
        metrics["test_roc_auc_lead_age_only"] = ranking_auc(backtest_y, tested["lead__age_days"])
    if data.truth is not None:
        propensity = data.truth.set_index("lead_id")["propensity"].reindex(tested["lead_id"]).to_numpy()
        if not np.isnan(propensity).any():
            metrics["test_roc_auc_oracle"] = ranking_auc(backtest_y, propensity)
    metrics["valid_roc_auc_uncalibrated"] = raw_auc
    metrics["train_rows"] = float(len(data.table))
    metrics["train_positives"] = float(data.table[y].sum())
    grades = grade_promises(scorer.grade_thresholds, p_recent, recent[y].to_numpy(), recent["as_of_ts"],
                            scorer.grade)
    for row in grades.itertuples():
        metrics[f"test_conversion_grade_{row.grade}"] = float(row.promised_rate)
    importance = None
    if isinstance(model, LgbmModel):
        metrics["best_iteration"] = float(trees)
        importance = feature_importance(model, scorer.prepare(recent[f].head(20_000)))
    catalog = data.catalog
    periods = data.periods()
    dated = data.table.get(data.time_column, pd.Series(dtype=object)).dropna()
    definition = build_definition(
        model_name=model_name, family=family, label=data.label, population=data.population,
        features=[{"name": n, "source": catalog[n].source, "description": catalog[n].description}
                  for n in f if n in catalog],
        grades=grades, metrics={k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")},
        calibration=reliability_table(recent[y], p_recent), periods=periods,
        learned={"from": f"{dated.min():%Y-%m-%d}" if len(dated) else None,
                 "until": f"{dated.max():%Y-%m-%d}" if len(dated) else None,
                 "period": periods["learned"], "rows": len(data.table),
                 "conversions": int(data.table[y].sum()), "trees": trees},
        backtest={"folds": folds.to_dict("records"),
                  "mean": {name: float(folds[name].mean()) for name in FOLD_METRICS},
                  "pooled": {k: metrics[f"test_{k}"] for k in ("roc_auc", "roc_auc_low", "roc_auc_high", "ece",
                                                               "pr_auc") if f"test_{k}" in metrics}},
        recent={"period": periods["recent"], "rows": len(recent), "conversions": int(recent[y].sum())},
    )
    scorer.definition_version = definition["definition_version"]
    return Evaluation(scorer=scorer, metrics=metrics, backtest_y=backtest_y, backtest_probability=backtest_p,
                      grades=grades, importance=importance, definition=definition, folds=folds,
                      warnings=tuple(warnings))


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
