"""train: training_table → time split → a model family → calibration → test metrics → MLflow run + version.

Inputs: the source tables (``pipeline.io.read_sources``) and, when the sources folder holds one,
``truth.parquet`` (the demo world's true propensities, for the oracle AUC); or, with ``source.kind: flat``,
one CRM export (``pipeline.io.read_flat_source``): one row per lead, its columns typed by
``features.flat``, split by created date or row order. The feature builder is chosen by the source kind
and recorded in the run and the model version (tag ``source_kind``; the flat column plan as the artifact
``source/flat_plan.json``, which scoring applies unchanged). Outputs: one MLflow run in
the experiment named in params.yaml with params, metrics (ROC AUC with a bootstrap interval, PR AUC, log
loss, Brier, ECE, lift and capture at 5/10/20 %, conversion by grade), plots, lineage tags and the pyfunc
model, registered as a new version of ``register.model_name``. Steps downstream exchange only the version.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features import flat
from features.catalog import build_catalog
from features.labels import label_column
from features.specs import FeatureSpec
from features.training_table import build_training_table, feature_columns
from models import plots
from models.calibration import ProbabilityCalibrator
from models.definition import build_definition, render_markdown
from models.families import LgbmModel, fit_family
from models.grades import grade_promises, shares_from_capacity, weekly_volume
from models.metrics import classification_metrics, ranking_auc, reliability_table
from models.scorer import LeadScorer, build_scorer, to_model_input
from models.split import TimeSplit, split_by_order, split_by_time
from pipeline import io, tracking
from pipeline.config import Config

FLAT_PLAN_ARTIFACT = "source/flat_plan.json"
MILESTONE_WORDS = {"won": "a won deal", "opportunity_created": "a sales opportunity"}


class InsufficientData(ValueError):
    """Too few conversions to train or evaluate honestly."""


@dataclass(frozen=True)
class Prepared:
    tables: dict[str, pd.DataFrame]
    split: TimeSplit
    features: list[str]
    target: str
    truth: pd.DataFrame | None
    catalog: dict[str, FeatureSpec] = field(default_factory=dict)  # feature name → its description
    source_kind: str = "contract"
    flat_plan: flat.FlatPlan | None = None
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


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: int | None
    family: str
    metrics: dict[str, float]
    periods: dict[str, str]
    grades: pd.DataFrame
    definition_version: str
    warnings: tuple[str, ...] = ()


def prepare(config: Config, sources: Path | None = None) -> Prepared:
    """The split training table of the configured source kind, with its features and their descriptions."""
    if config.source.kind == "flat":
        return prepare_flat(config, sources)
    tables = io.read_sources(sources)
    table = build_training_table(tables, config)
    target = label_column(config.labels.window_days)
    split = split_by_time(table, test_days=config.split.test_days, valid_days=config.split.valid_days,
                          gap_days=config.split.gap_days)
    check_sufficiency(split, target, min_conversions=config.train.min_conversions)
    features = feature_columns(table, config.features)
    catalog = {spec.name: spec for spec in build_catalog(config.features) if spec.name in features}
    return Prepared(tables=tables, split=split, features=features, target=target, truth=io.read_truth(sources),
                    catalog=catalog)


def prepare_flat(config: Config, sources: Path | None = None) -> Prepared:
    """One row per lead from a CRM export: validated, typed, split by created date or else by row order."""
    frame = io.read_flat_source(sources)
    flat.validate_flat_source(frame, config.source, min_conversions=config.train.min_conversions)
    plan = flat.plan_columns(frame, config.source)
    table = flat.build_flat_table(frame, plan, extract_ts=flat.extract_time(frame, plan))
    order = [flat.CREATED, flat.ROW_NUMBER] if plan.created_column else [flat.ROW_NUMBER]
    split = split_by_order(table, order=order, valid_share=config.source.valid_share,
                           test_share=config.source.test_share)
    warnings = [f"column {c.column!r} {c.reason}" for c in plan.columns if c.type is None]
    if plan.created_column is None:
        periods = split.periods()
        warnings.insert(0, f"no created-date column (source.created_column): the split follows row order — train "
                           f"{periods['train']}, valid {periods['valid']}, test {periods['test']} — a time split "
                           "only if the export is sorted by date; no gap is needed, each label is the lead's own "
                           "outcome")
    check_sufficiency(split, flat.LABEL, min_conversions=config.train.min_conversions)
    catalog = {spec.name: spec for spec in flat.flat_catalog(plan)}
    return Prepared(tables={"crm_export": frame}, split=split, features=plan.features, target=flat.LABEL,
                    truth=None, catalog=catalog, source_kind="flat", flat_plan=plan, warnings=tuple(warnings))


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


def fit_and_evaluate(prepared: Prepared, config: Config, family: str, *, lgbm_overrides: dict | None = None
                     ) -> Evaluation:
    s, f, y = prepared.split, prepared.features, prepared.target
    train_params = config.train
    if lgbm_overrides:
        train_params = train_params.model_copy(
            update={"lgbm": train_params.lgbm.model_copy(update=lgbm_overrides)})
    model = fit_family(family, s.train[f], s.train[y], s.valid[f], s.valid[y], params=train_params)
    calibrator = ProbabilityCalibrator(method=config.train.calibration,
                                       raw_is_probability=model.raw_is_probability)
    raw_valid = model.predict_raw(s.valid[f])
    calibrator.fit(raw_valid, s.valid[y])
    warnings = []
    both_classes = s.valid[y].nunique() > 1
    raw_valid_auc = float(roc_auc_score(s.valid[y], raw_valid)) if both_classes else float("nan")  # before calibration
    if calibrator.reverses_order():
        warnings.append(f"{family} ranks the validation slice worse than chance (uncalibrated ROC AUC "
                        f"{raw_valid_auc:.3f}): its probabilities are flat at the slice's rate, because a "
                        "calibration that reversed the model would sort the queue against it and its reasons")
    weekly_open = weekly_volume(s.valid["as_of_ts"])
    shares = (shares_from_capacity(config.score.grade_capacity_per_week, weekly_open)
              if config.score.grade_capacity_per_week else config.score.grade_shares)
    scorer = build_scorer(model, calibrator, s.valid[f], grade_shares=shares, catalog=prepared.catalog)

    p_test = scorer.probability(s.test[f])
    n_boot, seed = config.evaluate.bootstrap_samples, config.train.seed
    metrics = {f"test_{k}": v for k, v in
               classification_metrics(s.test[y], p_test, n_boot=n_boot, seed=seed).items()}
    metrics.update({f"valid_{k}": v for k, v in
                    classification_metrics(s.valid[y], scorer.probability(s.valid[f])).items()})
    if "lead__age_days" in s.test.columns:  # a flat export has no snapshots, so no lead age at scoring time
        metrics["test_roc_auc_lead_age_only"] = ranking_auc(s.test[y], s.test["lead__age_days"])
    if prepared.truth is not None:
        propensity = prepared.truth.set_index("lead_id")["propensity"].reindex(s.test["lead_id"]).to_numpy()
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
    label, population = _label_and_population(prepared, config)
    catalog = prepared.catalog
    definition = build_definition(
        model_name=config.registry.model_name, family=family, label=label, population=population,
        features=[{"name": n, "source": catalog[n].source, "description": catalog[n].description}
                  for n in f if n in catalog],
        grades=grades, metrics={k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")},
        calibration=reliability_table(s.test[y], p_test), periods=s.periods(),
    )
    scorer.definition_version = definition["definition_version"]
    return Evaluation(scorer=scorer, metrics=metrics, test_probability=p_test, grades=grades,
                      importance=importance, definition=definition, warnings=tuple(warnings))


def _label_and_population(prepared: Prepared, config: Config) -> tuple[dict, dict]:
    """What the definition says is predicted, and for whom, in the source kind's terms."""
    if prepared.flat_plan is not None:
        plan = prepared.flat_plan
        column = plan.converted_column or plan.converted_date_column
        label = {"milestone": "converted", "window_days": None, "column": prepared.target,
                 "milestone_words": f"a conversion (`{column}` in the CRM export)"}
        population = {"description": "Every lead of the CRM export that has not converted yet (one row per lead). "
                                     "Trained on all rows of the export, converted or not, split by "
                                     + ("created date." if plan.created_column else "row order.")}
        return label, population
    label = {"milestone": config.labels.milestone, "window_days": config.labels.window_days,
             "column": prepared.target, "milestone_words": MILESTONE_WORDS[config.labels.milestone]}
    population = {"cadence_days": config.spine.cadence_days, "max_lead_age_days": config.spine.max_lead_age_days,
                  "description": (f"Every lead that is open on the scoring day: created before it, no "
                                  f"opportunity yet, not disqualified, at most {config.spine.max_lead_age_days} "
                                  f"days old. Trained on the same population, snapshotted every "
                                  f"{config.spine.cadence_days} days.")}
    return label, population


def feature_importance(model: LgbmModel, X: pd.DataFrame) -> pd.DataFrame:
    """Gain, split counts and mean |SHAP| (LightGBM's exact TreeSHAP via ``pred_contrib``) per feature."""
    contributions = model.contributions(X)[:, :-1]
    return pd.DataFrame({
        "feature": list(X.columns),
        "gain": model.booster.feature_importance(importance_type="gain"),
        "splits": model.booster.feature_importance(importance_type="split"),
        "mean_abs_shap": np.abs(contributions).mean(axis=0),
    }).sort_values("gain", ascending=False, ignore_index=True)


def _log_plots(y, evaluation: Evaluation, family: str) -> None:
    figures = {
        "plots/roc.png": plots.roc_figure(y, evaluation.test_probability, label=family),
        "plots/precision_recall.png": plots.precision_recall_figure(y, evaluation.test_probability),
        "plots/reliability.png": plots.reliability_figure(y, evaluation.test_probability),
        "plots/gains.png": plots.gains_figure(y, evaluation.test_probability),
    }
    if evaluation.importance is not None:
        figures["plots/importance_gain.png"] = plots.importance_figure(
            evaluation.importance, "gain", title="Feature importance: total gain")
        figures["plots/importance_shap.png"] = plots.importance_figure(
            evaluation.importance, "mean_abs_shap", title="Feature importance: mean |SHAP| (log-odds)")
    for path, fig in figures.items():
        mlflow.log_figure(fig, path)
        plots.close(fig)


def log_run(prepared: Prepared, config: Config, family: str, evaluation: Evaluation, *,
            params_path: Path | None, register: bool, extra_params: dict | None = None) -> int | None:
    """Log one evaluated model into the active MLflow run; register it when asked. Returns the version."""
    periods = prepared.split.periods()
    mlflow.set_tags({
        "model_family": family,
        "git_sha": tracking.git_sha(),
        "params_hash": config.hash(),
        "seed": str(config.train.seed),
        "train_window": periods["train"],
        "valid_window": periods["valid"],
        "test_window": periods["test"],
        "feature_set": ",".join(prepared.features),
        "label": prepared.target,
        "source_kind": prepared.source_kind,
        **{f"data.{name}": f"{fp['rows']} rows sha256:{fp['sha256'][:16]}"
           for name, fp in io.fingerprint(prepared.tables).items()},
        **{f"version.{pkg}": v for pkg, v in tracking.package_versions().items()},
    })
    logged = {**config.flat(), "train.model": family, **(extra_params or {})}
    mlflow.log_params({k: (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in logged.items()})
    mlflow.log_metrics(evaluation.metrics)
    y_test = prepared.split.test[prepared.target]
    _log_plots(y_test, evaluation, family)
    with tempfile.TemporaryDirectory() as tmp:
        if params_path is not None and params_path.exists():
            mlflow.log_artifact(str(params_path))
        evaluation.grades.to_csv(Path(tmp) / "grades.csv", index=False)
        mlflow.log_artifact(str(Path(tmp) / "grades.csv"))
        mlflow.log_dict(evaluation.definition, "definition/definition.json")
        mlflow.log_text(render_markdown(evaluation.definition), "definition/definition.md")
        if prepared.flat_plan is not None:
            mlflow.log_dict(prepared.flat_plan.to_dict(), FLAT_PLAN_ARTIFACT)
        if evaluation.importance is not None:
            evaluation.importance.to_csv(Path(tmp) / "feature_importance.csv", index=False)
            mlflow.log_artifact(str(Path(tmp) / "feature_importance.csv"))
    if not register:
        return None
    example = to_model_input(prepared.split.test[prepared.features].head(50), prepared.features)
    version = tracking.log_scorer(evaluation.scorer, example, model_name=config.registry.model_name)
    client = mlflow.MlflowClient()
    mlflow.set_tag("definition_version", evaluation.definition["definition_version"])
    for key, value in {"model_family": family, "params_hash": config.hash(), "test_window": periods["test"],
                       "test_roc_auc": f"{evaluation.metrics['test_roc_auc']:.4f}",
                       "definition_version": evaluation.definition["definition_version"],
                       "source_kind": prepared.source_kind}.items():
        client.set_model_version_tag(config.registry.model_name, version.version, key, value)
    return int(version.version)


def run(config: Config, *, family: str | None = None, params_path: Path | None = None,
        sources: Path | None = None, prepared: Prepared | None = None,
        lgbm_overrides: dict | None = None, run_name: str | None = None) -> TrainResult:
    family = family or config.train.model
    prepared = prepared or prepare(config, sources)
    evaluation = fit_and_evaluate(prepared, config, family, lgbm_overrides=lgbm_overrides)
    tracking.configure()
    mlflow.set_experiment(config.registry.experiment_name)
    extra = {f"train.lgbm.{k}": v for k, v in (lgbm_overrides or {}).items()}
    with mlflow.start_run(run_name=run_name or family) as active:
        version = log_run(prepared, config, family, evaluation, params_path=params_path, register=True,
                          extra_params=extra)
        run_id = active.info.run_id
    return TrainResult(run_id=run_id, model_version=version, family=family, metrics=evaluation.metrics,
                       periods=prepared.split.periods(), grades=evaluation.grades,
                       definition_version=evaluation.definition["definition_version"],
                       warnings=prepared.warnings + evaluation.warnings)
