"""tune: search LightGBM hyperparameters with Optuna on the validation slice, then train the best.

Each trial is a child run of one MLflow parent run (its parameters and validation metrics), so the
search can be read in the MLflow UI. The test slice is never looked at during the search; the best
parameters are then trained, evaluated on test and registered as a normal run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import optuna

from models.calibration import ProbabilityCalibrator
from models.families import fit_family
from models.metrics import HIGHER_IS_BETTER, classification_metrics
from pipeline import tracking
from pipeline.config import Config
from pipeline.steps import train


@dataclass(frozen=True)
class TuneResult:
    parent_run_id: str
    best_params: dict
    best_value: float
    metric: str
    trained: train.TrainResult


def suggest(trial: optuna.Trial, config: Config) -> dict:
    t = config.tune
    return {
        "learning_rate": trial.suggest_float("learning_rate", *t.learning_rate, log=True),
        "num_leaves": trial.suggest_int("num_leaves", *t.num_leaves, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", *t.min_child_samples, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", *t.colsample_bytree),
        "reg_lambda": trial.suggest_float("reg_lambda", *t.reg_lambda),
    }


def run(config: Config, *, trials: int | None = None, params_path: Path | None = None,
        sources: Path | None = None) -> TuneResult:
    trials = trials or config.tune.trials
    metric = config.evaluate.primary_metric
    prepared = train.prepare(config, sources)
    s, f, y = prepared.split, prepared.features, prepared.target
    tracking.configure()
    mlflow.set_experiment(config.registry.experiment_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with mlflow.start_run(run_name=f"tune lgbm ({trials} trials)") as parent:
        mlflow.set_tags({"model_family": "lgbm-tuning", "params_hash": config.hash(), "git_sha": tracking.git_sha()})

        def objective(trial: optuna.Trial) -> float:
            overrides = suggest(trial, config)
            params = config.train.model_copy(update={"lgbm": config.train.lgbm.model_copy(update=overrides)})
            model = fit_family("lgbm", s.train[f], s.train[y], s.valid[f], s.valid[y], params=params)
            raw = model.predict_raw(s.valid[f])
            p = ProbabilityCalibrator(method=config.train.calibration).fit(raw, s.valid[y]).transform(raw)
            value = classification_metrics(s.valid[y], p)[metric]
            with mlflow.start_run(run_name=f"trial {trial.number}", nested=True):
                mlflow.log_params(overrides)
                mlflow.log_metrics({f"valid_{metric}": value,
                                    "best_iteration": float(model.booster.best_iteration or 0)})
            return value

        direction = "maximize" if HIGHER_IS_BETTER[metric] else "minimize"
        study = optuna.create_study(direction=direction,
                                    sampler=optuna.samplers.TPESampler(seed=config.train.seed))
        study.optimize(objective, n_trials=trials)
        mlflow.log_params({f"best.{k}": v for k, v in study.best_params.items()})
        mlflow.log_metric(f"best_valid_{metric}", study.best_value)
        parent_id = parent.info.run_id

    trained = train.run(config, family="lgbm", params_path=params_path, prepared=prepared,
                        lgbm_overrides=study.best_params, run_name="lgbm (tuned)")
    return TuneResult(parent_run_id=parent_id, best_params=study.best_params, best_value=study.best_value,
                      metric=metric, trained=trained)
