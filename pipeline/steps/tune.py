"""tune: search LightGBM hyperparameters with Optuna on the validation slice, then train the best.

Inputs: the source and its named training table (read back, not rebuilt). Each trial is a child run of one
MLflow parent run (its parameters and validation metrics), so the search can be read in the MLflow UI. The
test slice is never looked at during the search; the best parameters are then trained, evaluated on test
and registered as a normal run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import optuna

from models.metrics import HIGHER_IS_BETTER
from models.training import fit_and_evaluate, validation_metric, with_lgbm_overrides
from pipeline import sources as lead_sources
from pipeline import tracking
from pipeline.config import Config


@dataclass(frozen=True)
class TuneResult:
    parent_run_id: str
    best_params: dict
    best_value: float
    metric: str
    trained: tracking.TrainedVersion


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
    source = lead_sources.open_source(config, sources)
    table, dataset = lead_sources.load_training_table(source)
    data = source.training_set(table)
    tracking.configure(create=True)
    tracking.use_experiment(config.registry.experiment_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with mlflow.start_run(run_name=f"tune lgbm ({trials} trials)") as parent:
        mlflow.set_tags({"model_family": "lgbm-tuning", "params_hash": config.hash(), "git_sha": tracking.git_sha(),
                         "training_table": dataset})

        def objective(trial: optuna.Trial) -> float:
            overrides = suggest(trial, config)
            value, model = validation_metric(data, "lgbm", train=with_lgbm_overrides(config.train, overrides),
                                             metric=metric)
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

    tuned = with_lgbm_overrides(config.train, study.best_params)
    evaluation = fit_and_evaluate(data, "lgbm", train=tuned, evaluate=config.evaluate, score=config.score,
                                  model_name=config.registry.model_name)
    trained = tracking.log_training_run(
        config, source, data, evaluation, "lgbm", dataset=dataset, params_path=params_path, run_name="lgbm (tuned)",
        extra_params={f"train.lgbm.{k}": v for k, v in study.best_params.items()}, recipe=tuned)
    return TuneResult(parent_run_id=parent_id, best_params=study.best_params, best_value=study.best_value,
                      metric=metric, trained=trained)
