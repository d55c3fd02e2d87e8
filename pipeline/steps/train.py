"""train: training_table → time split → LightGBM → calibration → test metrics → MLflow run + model version.

Inputs: the source tables (``pipeline.io.read_sources``). Outputs: one MLflow run in the experiment
named in params.yaml, with params, metrics, ``params.yaml``, feature importance and the pyfunc model,
registered as a new version of ``register.model_name``. Steps downstream exchange only the version.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from features.labels import label_column
from features.training_table import build_training_table, feature_columns
from models.calibration import ProbabilityCalibrator
from models.classifier import fit_classifier, make_classifier
from models.metrics import classification_metrics, ranking_auc
from models.scorer import build_scorer, to_model_input
from models.split import split_by_time
from pipeline import io, tracking
from pipeline.config import Config


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: int
    metrics: dict[str, float]
    periods: dict[str, str]
    best_iteration: int


def run(config: Config, *, params_path: Path | None = None, sources: Path | None = None) -> TrainResult:
    tables = io.read_sources(sources)
    table = build_training_table(tables, config)
    target = label_column(config.labels.window_days)
    split = split_by_time(table, test_days=config.split.test_days, valid_days=config.split.valid_days,
                          gap_days=config.split.gap_days)
    features = feature_columns(table, config.features)
    for name in ("train", "valid", "test"):
        part = getattr(split, name)
        if part[target].nunique() < 2:
            raise ValueError(f"the {name} slice has {int(part[target].sum())} conversions in {len(part)} "
                             "snapshots: both outcomes are needed to train and evaluate")

    classifier = make_classifier(config.train.lgbm.model_dump(), seed=config.train.seed)
    fit_classifier(classifier, split.train[features], split.train[target], split.valid[features],
                   split.valid[target], early_stopping_rounds=config.train.early_stopping_rounds)
    raw_valid = classifier.predict_proba(split.valid[features])[:, 1]
    calibrator = ProbabilityCalibrator(method=config.train.calibration).fit(raw_valid, split.valid[target])
    scorer = build_scorer(classifier, calibrator, split.valid[features],
                          grade_shares=config.score.grade_shares)

    p_test = scorer.probability(split.test[features])
    metrics = {f"test_{k}": v for k, v in classification_metrics(split.test[target], p_test).items()}
    metrics.update({f"valid_{k}": v for k, v in
                    classification_metrics(split.valid[target], scorer.probability(split.valid[features])).items()})
    metrics["test_roc_auc_lead_age_only"] = ranking_auc(split.test[target], split.test["lead__age_days"])
    metrics["best_iteration"] = float(classifier.best_iteration_)
    metrics["train_rows"] = float(len(split.train))
    metrics["train_positives"] = float(split.train[target].sum())

    tracking.configure()
    mlflow.set_experiment(config.registry.experiment_name)
    periods = split.periods()
    with mlflow.start_run() as active:
        mlflow.set_tags({
            "git_sha": tracking.git_sha(),
            "params_hash": config.hash(),
            "model_family": "lgbm",
            "train_window": periods["train"],
            "valid_window": periods["valid"],
            "test_window": periods["test"],
            "feature_set": ",".join(features),
            "label": target,
        })
        mlflow.log_params({k: (json.dumps(v) if isinstance(v, list | dict) else v)
                           for k, v in config.flat().items()})
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            if params_path is not None and params_path.exists():
                mlflow.log_artifact(str(params_path))
            importance = pd.DataFrame({
                "feature": features,
                "gain": classifier.booster_.feature_importance(importance_type="gain"),
                "splits": classifier.booster_.feature_importance(importance_type="split"),
            }).sort_values("gain", ascending=False)
            imp_path = Path(tmp) / "feature_importance.csv"
            importance.to_csv(imp_path, index=False)
            mlflow.log_artifact(str(imp_path))
        example = to_model_input(split.test[features].head(50), features)
        version = tracking.log_scorer(scorer, example, model_name=config.registry.model_name)
        client = mlflow.MlflowClient()
        for key in ("params_hash", "test_window"):
            value = config.hash() if key == "params_hash" else periods["test"]
            client.set_model_version_tag(config.registry.model_name, version.version, key, value)
        client.set_model_version_tag(config.registry.model_name, version.version, "test_roc_auc",
                                     f"{metrics['test_roc_auc']:.4f}")
        run_id = active.info.run_id
    return TrainResult(run_id=run_id, model_version=int(version.version), metrics=metrics, periods=periods,
                       best_iteration=int(classifier.best_iteration_))

