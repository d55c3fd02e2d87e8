"""The training core: backtest the recipe, then refit it on everything that has matured.

Pure: frames and typed params in, an ``Evaluation`` out. The source (the data-contract tables or a flat
CRM export) has already decided its backtest folds and its most recent matured period in the
``TrainingSet`` it hands over, and says its label and population in words.

One recipe, ``fit_deployable``, makes a model from a history of matured snapshots:

- the number of trees is early-stopped on the history's most recent period (a model fitted on what came
  at least a label window before it);
- the model then learns from the **whole** history, that period included, so it has seen the latest data;
- its calibration, grade thresholds and promises come from that most recent period, in probabilities
  scored as the nightly job will score: the leads are split in ``calibration_folds`` parts and each part
  is predicted by a model fitted on the history without those leads' snapshots from the recent period
  and the label window before it (cross-fitting). Like the deployed model on a night, it has seen each
  lead's matured past, never the outcome being predicted.

The **backtest** runs that recipe once per fold, on everything that had matured before the fold's period,
and tests it on the period (after a gap of at least the label window): these metrics, per fold and
pooled, are the honest ones and decide ``compare`` and the gates. The registered model is the same recipe
on every matured snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.calibration import ProbabilityCalibrator
from models.definition import build_definition
from models.families import LgbmModel, LgbmRows, fit_family, fit_lgbm
from models.grades import grade_outcomes, grade_promises, period_spreads, shares_from_capacity, weekly_volume
from models.metrics import as_weights, classification_metrics, ranking_auc, reliability_table
from models.params import EvaluateParams, ScoreParams, TrainParams
from models.scorer import LeadScorer, build_scorer, grade_by_thresholds, grade_thresholds
from models.split import Fold, RecentRule, span_words

WEIGHT = "sample_weight"  # a sampled table's weights (features.sampling): 1 / rate for kept negatives, 1 else

FOLD_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10pct", "positive_rate",
                "mean_probability")


class InsufficientData(ValueError):
    """Too few conversions to train or evaluate honestly."""


@dataclass(frozen=True)
class TrainingSet:
    """What a source hands the training core: its matured snapshots, the backtest folds cut from them, how
    to cut a history's most recent period, and how to read them."""

    table: pd.DataFrame         # every matured (labelled) snapshot: what the registered model learns from
    folds: list[Fold]           # backtest folds, oldest first
    recent_rule: RecentRule     # a history's most recent period: early stopping, calibration, promises
    features: list[str]
    target: str
    label: dict                 # the definition's label: milestone, window, words
    population: dict            # the definition's scored population, in words
    catalog: dict = field(default_factory=dict)  # feature name → its FeatureSpec
    truth: pd.DataFrame | None = None            # lead_id → true propensity (the demo world only)
    warnings: tuple[str, ...] = ()
    sampling: dict | None = None  # how the table was sampled (features.sampling.sampling_summary); None: not

    @property
    def recent(self) -> pd.DataFrame:
        return self.recent_rule.cut(self.table)[1]

    def periods(self) -> dict[str, str]:
        """Each backtest fold's test period, the registered model's learning period and its recent period."""
        out = {f"backtest_{k + 1}": fold.periods()["test"] for k, fold in enumerate(self.folds)}
        out["learned"] = span_words(self.table)
        out["recent"] = span_words(self.recent)
        return out


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
    backtest_weight: np.ndarray | None = None  # their sampling weights (None: a table kept whole)


def weights_of(frame: pd.DataFrame) -> np.ndarray | None:
    """The rows' sampling weights, or None when the table was not sampled (no column, or every weight 1):
    then every fit, calibration and metric runs exactly as on an unsampled table."""
    if WEIGHT not in frame.columns:
        return None
    return as_weights(frame[WEIGHT].to_numpy())


def check_sufficiency(data: TrainingSet, *, min_conversions: int) -> None:
    """Refuse to train on too few conversions, or to stop early, calibrate or report metrics on none."""
    y = data.target
    for k, fold in enumerate(data.folds, start=1):
        periods = fold.periods()
        learned = int(fold.history[y].sum())
        if learned < min_conversions:
            raise InsufficientData(
                f"backtest fold {k} learns from {periods['history']}, which holds {learned} converted snapshots; "
                f"train.min_conversions is {min_conversions}. Add history, widen the label window, use fewer "
                "split.backtest_folds or lower the minimum knowingly."
            )
        if fold.test[y].sum() == 0:
            raise InsufficientData(f"backtest fold {k} tests {periods['test']}, which holds no conversions: "
                                   "nothing to evaluate against")
        if data.recent_rule.cut(fold.history)[1][y].sum() == 0:
            raise InsufficientData(f"the most recent period of backtest fold {k}'s history holds no conversions: "
                                   "nothing to calibrate on")
    if data.recent[y].sum() == 0:
        raise InsufficientData("the most recent matured period holds no conversions: nothing to calibrate on")


def with_lgbm_overrides(train: TrainParams, overrides: dict | None) -> TrainParams:
    """The ``train`` params with some LightGBM hyperparameters replaced (a tuning trial, the tuned best)."""
    if not overrides:
        return train
    return train.model_copy(update={"lgbm": train.lgbm.model_copy(update=overrides)})


def grade_shares(score: ScoreParams, as_of: pd.Series, sample_weight=None) -> dict[str, float]:
    """Each grade's share of the open population: from sales capacity per week (open leads per week counted
    by weight on a sampled table), or as given."""
    if score.grade_capacity_per_week:
        return shares_from_capacity(score.grade_capacity_per_week, weekly_volume(as_of, sample_weight))
    return score.grade_shares


@dataclass(frozen=True)
class Fitted:
    """A model made by ``fit_deployable``: fitted on a whole history, calibrated out of sample."""

    model: object
    calibrator: ProbabilityCalibrator
    recent: pd.DataFrame        # the history's most recent period
    raw_recent: np.ndarray      # its raw scores from models that never saw those leads
    trees: int | None           # LightGBM's early-stopped number of trees

    @property
    def recent_weight(self) -> np.ndarray | None:
        return weights_of(self.recent)

    @property
    def p_recent(self) -> np.ndarray:
        return self.calibrator.transform(self.raw_recent)

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator.transform(self.model.predict_raw(X))


def lead_parts(leads: pd.Series, parts: int) -> np.ndarray:
    """A stable part number per lead (same lead, same part, every run): the cross-fitting split."""
    return (pd.util.hash_array(leads.astype(str).to_numpy()) % parts).astype(int)


def fit_deployable(history: pd.DataFrame, rule: RecentRule, family: str, *, features: list[str], target: str,
                   train: TrainParams) -> Fitted:
    """The recipe (module docstring): trees early-stopped on the recent period, the model fitted on the whole
    history, calibrated on the recent period's cross-fitted scores (each part's leads without their snapshots
    whose labels overlap the period, as a lead stands before the deployed model on a night)."""
    f, y = features, target
    early, recent = rule.cut(history)
    w_history = weights_of(history)

    def weight(frame):
        return None if w_history is None else frame[WEIGHT].to_numpy(dtype=float)

    def weighted(**frames):  # the weight keywords of a fit: none at all on an unsampled table
        return {} if w_history is None else {key: weight(frame) for key, frame in frames.items()}
    if family == "lgbm":
        return _fit_deployable_lgbm(history, early, recent, features=f, target=y, train=train)
    logged = None
    if family == "logreg":  # the numeric transform, chosen on the early rows and judged on the recent period
        logged = fit_family(family, early[f], early[y], recent[f], recent[y], params=train,
                            **weighted(sample_weight=early)).logged
    chosen = {"log_columns": logged} if family == "logreg" else {}
    model = fit_family(family, history[f], history[y], params=train, **weighted(sample_weight=history), **chosen)
    if family == "points":  # rules learn nothing: nothing to cross-fit
        raw = model.predict_raw(recent[f])
    else:
        raw = np.empty(len(recent))
        for held, kept in cross_fit_parts(history, early, recent, train.calibration_folds):
            fitted = fit_family(family, history.loc[kept, f], history.loc[kept, y], params=train,
                                **weighted(sample_weight=history.loc[kept]), **chosen)
            raw[held] = fitted.predict_raw(recent.loc[held, f])
    return _calibrated(model, raw, recent, target=y, train=train, trees=None)


def cross_fit_parts(history: pd.DataFrame, early: pd.DataFrame, recent: pd.DataFrame, parts: int):
    """(the recent rows a part holds out, the history rows its model learns from), per part with recent rows:
    everything but the part's leads' snapshots whose labels were not decided before the recent period."""
    part_of_recent = lead_parts(recent["lead_id"], parts)
    part_of_history = lead_parts(history["lead_id"], parts)
    matured_before = history.index.isin(early.index)
    for part in range(parts):
        held = part_of_recent == part
        if held.any():
            yield held, (part_of_history != part) | matured_before


def _fit_deployable_lgbm(history: pd.DataFrame, early: pd.DataFrame, recent: pd.DataFrame, *, features: list[str],
                         target: str, train: TrainParams) -> Fitted:
    """``fit_deployable`` for LightGBM. The early-stopped fit bins its own rows (the recent period in their bins,
    as an unseen period is): bins drawn from the recent period would decide how the model extrapolates to values
    it never learned from, and on a drifting export (the bank's rates) that cost 0.01 of backtest ROC AUC. The
    whole history is then binned once (its own rows only, never a later fold's) and the refit and every
    cross-fit are subsets of those bins; the binnings are dropped when the recipe returns."""
    early_rows = bin_history(early[features], early[target], weights_of(early), train=train)
    valid = LgbmRows.from_frame(recent[features], recent[target], weights_of(recent), params=train,
                                reference=early_rows)
    stopped = fit_lgbm(early_rows, valid, params=train)
    del early_rows, valid
    trees = int(stopped.booster.best_iteration or stopped.booster.num_trees())
    params = with_lgbm_overrides(train, {"n_estimators": trees})
    binned = bin_history(history[features], history[target], weights_of(history), train=train)
    model = fit_lgbm(binned, params=params)
    raw = np.empty(len(recent))
    for held, kept in cross_fit_parts(history, early, recent, train.calibration_folds):
        raw[held] = fit_lgbm(binned.take(kept), params=params).predict_raw(recent.loc[held, features])
    return _calibrated(model, raw, recent, target=target, train=train, trees=trees)


def bin_history(X: pd.DataFrame, y, sample_weight, *, train: TrainParams) -> LgbmRows:
    """A recipe's history binned for LightGBM (``LgbmRows``)."""
    return LgbmRows.from_frame(X, y, sample_weight, params=train)


def _calibrated(model, raw: np.ndarray, recent: pd.DataFrame, *, target: str, train: TrainParams,
                trees: int | None) -> Fitted:
    weight = weights_of(recent)
    calibrator = ProbabilityCalibrator(method=train.calibration, raw_is_probability=model.raw_is_probability)
    return Fitted(model=model, calibrator=calibrator.fit(raw, recent[target], sample_weight=weight), recent=recent,
                  raw_recent=raw, trees=trees)


@dataclass(frozen=True)
class Backtest:
    """The recipe run on each fold's history and scored on its period."""

    folds: pd.DataFrame         # one row per fold: its periods and metrics
    y: np.ndarray               # pooled test labels
    probability: np.ndarray     # pooled out-of-sample probabilities
    grades: pd.DataFrame        # per fold and grade, graded as that fold's recipe would have: rows, conversions
    weight: np.ndarray | None = None  # pooled sampling weights (None: the table was not sampled)


def backtest(data: TrainingSet, family: str, *, train: TrainParams, score: ScoreParams | None = None) -> Backtest:
    """Every fold: the recipe fitted on its history, scored (and, with ``score``, graded) on its period."""
    f, y = data.features, data.target
    rows, ys, ps, ws, graded = [], [], [], [], []
    for k, fold in enumerate(data.folds, start=1):
        fitted = fit_deployable(fold.history, data.recent_rule, family, features=f, target=y, train=train)
        p = fitted.probability(fold.test[f])
        w = weights_of(fold.test)
        m = classification_metrics(fold.test[y], p, sample_weight=w)
        periods = fold.periods()
        rows.append({"fold": k, "learned_from": periods["history"], "test_period": periods["test"],
                     "test_rows": len(fold.test), "test_conversions": int(fold.test[y].sum()),
                     "best_iteration": fitted.trees or 0, **{name: m[name] for name in FOLD_METRICS},
                     "roc_auc_lead_age_only": (ranking_auc(fold.test[y], fold.test["lead__age_days"])
                                               if "lead__age_days" in fold.test else float("nan"))})
        ys.append(fold.test[y].to_numpy())
        ps.append(p)
        ws.append(np.ones(len(p)) if w is None else w)
        if score is not None:
            w_recent = fitted.recent_weight
            thresholds = grade_thresholds(fitted.p_recent, grade_shares(score, fitted.recent["as_of_ts"], w_recent),
                                          w_recent)
            outcome = grade_outcomes(grade_by_thresholds(p, thresholds), fold.test[y], fold.test["lead_id"],
                                     sample_weight=w)
            graded.append(outcome.assign(fold=k, test_period=periods["test"]))
    grades = pd.concat(graded, ignore_index=True) if graded else pd.DataFrame(
        columns=["grade", "rows", "conversions", "rate", "effective_conversions", "effective_rows", "fold",
                 "test_period"])
    pooled_w = as_weights(np.concatenate(ws)) if ws else None
    return Backtest(pd.DataFrame(rows), np.concatenate(ys), np.concatenate(ps), grades, weight=pooled_w)


def fit_and_evaluate(data: TrainingSet, family: str, *, train: TrainParams, evaluate: EvaluateParams,
                     score: ScoreParams, model_name: str) -> Evaluation:
    """Backtest the recipe, then run it on every matured snapshot: the one path every training step takes."""
    f, y = data.features, data.target
    tested_back = backtest(data, family, train=train, score=score)
    folds, backtest_y, backtest_p, backtest_w = (tested_back.folds, tested_back.y, tested_back.probability,
                                                 tested_back.weight)
    fitted = fit_deployable(data.table, data.recent_rule, family, features=f, target=y, train=train)
    model, calibrator, recent, raw_recent, trees = (fitted.model, fitted.calibrator, fitted.recent,
                                                    fitted.raw_recent, fitted.trees)
    warnings = []
    raw_auc = float(roc_auc_score(recent[y], raw_recent)) if recent[y].nunique() > 1 else float("nan")
    if calibrator.reverses_order():
        warnings.append(f"{family} ranks the most recent period worse than chance (uncalibrated ROC AUC "
                        f"{raw_auc:.3f}): its probabilities are flat at the period's rate, because a "
                        "calibration that reversed the model would sort the queue against it and its reasons")
    p_recent = calibrator.transform(raw_recent)
    w_recent = fitted.recent_weight
    scorer = build_scorer(model, calibrator, recent[f],
                          grade_shares=grade_shares(score, recent["as_of_ts"], w_recent),
                          catalog=data.catalog, reference_probability=p_recent, reference_weight=w_recent)
    metrics = {f"test_{k}": v for k, v in classification_metrics(
        backtest_y, backtest_p, n_boot=evaluate.bootstrap_samples, seed=train.seed, sample_weight=backtest_w).items()}
    metrics.update({f"valid_{k}": v for k, v in classification_metrics(recent[y], p_recent,
                                                                          sample_weight=w_recent).items()})
    for row in folds.itertuples():
        metrics.update({f"backtest_fold{row.fold}_{name}": float(getattr(row, name))
                        for name in (*FOLD_METRICS, "roc_auc_lead_age_only")})
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
    sampling = data.sampling or {}
    if sampling:
        metrics["train_rows_full"] = float(sampling["rows_full"])
        metrics["sampling_negative_rate"] = float(sampling["negative_rate"])
    grades = grade_promises(scorer.grade_thresholds, p_recent, recent[y].to_numpy(), recent["as_of_ts"],
                            scorer.grade, leads=recent["lead_id"], spreads=period_spreads(tested_back.grades),
                            sample_weight=w_recent)
    for row in grades.itertuples():
        metrics[f"test_conversion_grade_{row.grade}"] = float(row.promised_rate)
    importance = None
    if isinstance(model, LgbmModel):
        metrics["best_iteration"] = float(trees)
        importance = feature_importance(model, scorer.prepare(recent[f].head(20_000)))
    catalog = data.catalog
    periods = data.periods()
    dated = data.table["as_of_ts"].dropna()
    definition = build_definition(
        model_name=model_name, family=family, label=data.label, population=data.population,
        features=[{"name": n, "source": catalog[n].source, "description": catalog[n].description}
                  for n in f if n in catalog],
        grades=grades, metrics={k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")},
        calibration=reliability_table(recent[y], p_recent, sample_weight=w_recent), periods=periods,
        learned={"from": f"{dated.min():%Y-%m-%d}" if len(dated) else None,
                 "until": f"{dated.max():%Y-%m-%d}" if len(dated) else None,
                 "period": periods["learned"], "rows": len(data.table),
                 "conversions": int(data.table[y].sum()), "trees": trees},
        backtest={"folds": folds.to_dict("records"),
                  "grades": tested_back.grades[["fold", "test_period", "grade", "rows", "conversions",
                                                "rate"]].to_dict("records"),
                  "mean": {name: float(folds[name].mean()) for name in FOLD_METRICS},
                  "pooled": {k: metrics[f"test_{k}"] for k in ("roc_auc", "roc_auc_low", "roc_auc_high", "ece",
                                                               "pr_auc") if f"test_{k}" in metrics}},
        recent={"period": periods["recent"], "rows": len(recent), "conversions": int(recent[y].sum())},
        sampling=data.sampling,
    )
    scorer.definition_version = definition["definition_version"]
    return Evaluation(scorer=scorer, metrics=metrics, backtest_y=backtest_y, backtest_probability=backtest_p,
                      grades=grades, importance=importance, definition=definition, folds=folds,
                      warnings=tuple(warnings), backtest_weight=backtest_w)


def validation_metric(data: TrainingSet, family: str, *, train: TrainParams, metric: str) -> tuple[float, object]:
    """(``metric`` on the most recent period of the latest fold's history, the model): a tuning trial's
    objective. It lies before every backtest test period a tuned recipe is judged on, so the search never
    scores a trial on those."""
    f, y = data.features, data.target
    early, recent = data.recent_rule.cut(data.folds[-1].history)
    w_early, w_recent = weights_of(early), weights_of(recent)
    weighted = {} if w_early is None and w_recent is None else {
        "sample_weight": None if WEIGHT not in early else early[WEIGHT].to_numpy(dtype=float),
        "valid_weight": None if WEIGHT not in recent else recent[WEIGHT].to_numpy(dtype=float)}
    model = fit_family(family, early[f], early[y], recent[f], recent[y], params=train, **weighted)
    raw = model.predict_raw(recent[f])
    p = ProbabilityCalibrator(method=train.calibration).fit(raw, recent[y], sample_weight=w_recent).transform(raw)
    return classification_metrics(recent[y], p, sample_weight=w_recent)[metric], model


def feature_importance(model: LgbmModel, X: pd.DataFrame) -> pd.DataFrame:
    """Gain, split counts and mean |SHAP| (LightGBM's exact TreeSHAP via ``pred_contrib``) per feature."""
    contributions = model.contributions(X)[:, :-1]
    return pd.DataFrame({
        "feature": list(X.columns),
        "gain": model.booster.feature_importance(importance_type="gain"),
        "splits": model.booster.feature_importance(importance_type="split"),
        "mean_abs_shap": np.abs(contributions).mean(axis=0),
    }).sort_values("gain", ascending=False, ignore_index=True)
