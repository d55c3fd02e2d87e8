"""tune: trials are child runs of one parent, the test slice is not searched, the best is registered."""

import mlflow

from pipeline import sources
from pipeline.steps import tune


def test_two_trials_are_logged_and_the_best_is_registered_from_the_named_table(store, monkeypatch):
    def rebuild(self):
        raise AssertionError("the training table was rebuilt")

    monkeypatch.setattr(sources.ContractSource, "build_training_table", rebuild)
    monkeypatch.setattr(sources.ContractSource, "training_table_blocks", rebuild)
    result = tune.run(store.config(), trials=2, sources=store.sources)
    runs = mlflow.search_runs(experiment_names=["lead-scoring"], output_format="pandas")
    parent = runs[runs["run_id"] == result.parent_run_id].iloc[0]
    trials = runs[runs["tags.mlflow.parentRunId"] == result.parent_run_id]
    assert len(trials) == 2 and parent["tags.training_table"] == store.trained.dataset
    assert result.best_value == max(trials["metrics.valid_roc_auc"])  # the search reads valid, never test
    tuned = runs[runs["run_id"] == result.trained.run_id].iloc[0]
    assert result.trained.model_version == 2 and tuned["tags.mlflow.runName"] == "lgbm (tuned)"
    for name, value in result.best_params.items():
        assert tuned[f"params.train.lgbm.{name}"] == str(value)
    assert result.trained.periods == store.trained.periods
