"""The whole chain on a small demo world, through the CLI, with MLflow and the scores in a temp folder:
generate → train → promote → score → queue."""

import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.spine import build_spine
from pipeline import io
from pipeline.cli import app
from pipeline.config import load_config

pytestmark = pytest.mark.integration
runner = CliRunner()
AS_OF = "2026-06-01"


def _invoke(*args):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    mp.setenv("LEADSCORE_SOURCES", str(root / "sources"))
    mp.setenv("LEADSCORE_DB_URL", f"sqlite:///{root}/scores.db")
    mp.setenv("LEADSCORE_SCORES_DIR", str(root / "scores"))
    shutil.copy(repo_root / "params.yaml", root / "params.yaml")
    _invoke("generate", "--leads", "3000", "--seed", "1", "--out", str(root / "sources"))
    _invoke("train")
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def train_run(workdir):
    runs = mlflow.search_runs(experiment_names=["lead-scoring"], output_format="pandas")
    assert len(runs) == 1
    return runs.iloc[0]


def test_model_beats_chance_and_the_lead_age_baseline(train_run):
    auc = train_run["metrics.test_roc_auc"]
    assert auc > 0.70
    assert auc > train_run["metrics.test_roc_auc_lead_age_only"]


def test_run_carries_params_lineage_and_a_registered_model(train_run, workdir):
    assert train_run["params.labels.window_days"] == "90"
    assert train_run["tags.params_hash"] == load_config(workdir / "params.yaml").hash()
    assert train_run["tags.git_sha"]
    assert train_run["tags.seed"] == "42"
    assert train_run["tags.model_family"] == "lgbm"
    assert train_run["tags.data.leads"].startswith("3000 rows sha256:")
    assert train_run["tags.version.lightgbm"]
    assert 0.5 < train_run["metrics.test_roc_auc_oracle"] <= 1.0
    assert train_run["metrics.test_roc_auc_low"] < train_run["metrics.test_roc_auc"] < train_run[
        "metrics.test_roc_auc_high"]
    client = mlflow.MlflowClient()
    version = client.get_model_version("lead-scoring", "1")
    assert version.run_id == train_run["run_id"] and version.tags["model_family"] == "lgbm"
    artifacts = {a.path for a in client.list_artifacts(train_run["run_id"])}
    assert {"params.yaml", "feature_importance.csv", "conversion_by_grade.csv", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(train_run["run_id"], "plots")}
    assert {"plots/roc.png", "plots/precision_recall.png", "plots/reliability.png", "plots/gains.png",
            "plots/importance_gain.png", "plots/importance_shap.png"} <= plots


def test_scoring_without_a_champion_says_what_to_do(workdir):
    result = runner.invoke(app, ["score", "--as-of", AS_OF])
    assert result.exit_code == 1
    assert "promote" in result.output


def test_promote_score_and_queue(workdir):
    _invoke("promote", "--version", "1")
    out = _invoke("score", "--as-of", AS_OF)
    assert "with model version 1" in out

    config = load_config(workdir / "params.yaml")
    tables = io.read_sources()
    open_leads = build_spine(tables["leads"], tables["opportunities"],
                             pd.DatetimeIndex([pd.Timestamp(AS_OF, tz="UTC")]),
                             max_lead_age_days=config.spine.max_lead_age_days)
    scores = io.read_scores()
    assert len(scores) == len(open_leads) > 100
    assert scores["lead_id"].is_unique
    assert set(scores["lead_id"]) == set(open_leads["lead_id"])
    assert scores["probability"].between(0, 1).all()
    assert scores["score"].between(1, 99).all()
    assert set(scores["grade"]) <= {"A", "B", "C", "D"}
    assert (scores["model_version"] == 1).all()
    assert scores["probability"].is_monotonic_decreasing

    parquet = pd.read_parquet(workdir / "scores" / f"as_of={AS_OF}" / "scores.parquet")
    assert len(parquet) == len(scores)

    queue = _invoke("queue", "--top", "5")
    top = scores.iloc[0]
    assert str(top["lead_id"]) in queue and "Sales queue" in queue


def test_scoring_the_same_night_twice_replaces_rather_than_duplicates(workdir):
    _invoke("promote", "--version", "1")
    _invoke("score", "--as-of", AS_OF)
    first = io.read_scores().drop(columns="scored_at")
    _invoke("score", "--as-of", AS_OF)
    second = io.read_scores().drop(columns="scored_at")
    pd.testing.assert_frame_equal(first, second)
    _invoke("score", "--as-of", "2026-06-08")
    both = pd.read_sql("SELECT as_of_ts, COUNT(*) AS n FROM scores GROUP BY as_of_ts", io.engine())
    assert len(both) == 2
    assert both.loc[both["as_of_ts"].str.startswith(AS_OF), "n"].item() == len(first)


def test_registry_model_reproduces_the_scorer_it_wraps(workdir):
    import joblib

    from features.training_table import build_training_table, feature_columns
    from models.scorer import to_model_input

    model = mlflow.pyfunc.load_model("models:/lead-scoring@champion")
    config = load_config(workdir / "params.yaml")
    table = build_training_table(io.read_sources(), config).tail(500)
    names = model.metadata.get_input_schema().input_names()
    assert names == feature_columns(table, config.features)
    assert not any(n.startswith("sales__") for n in names)  # effort, not quality: out of the model
    via_pyfunc = model.predict(to_model_input(table, names))
    local = mlflow.artifacts.download_artifacts("models:/lead-scoring/1")
    scorer = joblib.load(next(__import__("pathlib").Path(local).rglob("scorer.joblib")))
    direct = scorer.predict(table)
    np.testing.assert_allclose(via_pyfunc["probability"], direct["probability"].to_numpy(), rtol=1e-12)


def test_every_family_trains_and_compare_ranks_them_on_one_test_period(workdir):
    _invoke("promote", "--version", "1")
    _invoke("train", "--model", "points")
    _invoke("train", "--model", "logreg")
    out = _invoke("compare")
    for candidate in ("latest lgbm (champion)", "latest points", "latest logreg"):
        assert candidate in out
    assert "best on roc_auc" in out

    from pipeline.steps import compare

    result = compare.run(load_config(workdir / "params.yaml"))
    assert set(result.table["family"]) == {"lgbm", "points", "logreg"}
    best = result.table.loc[result.table["roc_auc"].idxmax()]
    assert result.best.startswith(best["candidate"])
    assert (result.table["roc_auc_low"] < result.table["roc_auc_high"]).all()


@pytest.mark.parametrize("name", ["01-explore-training-table.ipynb", "02-compare-models.ipynb"])
def test_notebooks_run_on_the_small_world(workdir, repo_root, name, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("LEADSCORE_PARAMS", str(workdir / "params.yaml"))
    notebook = nbformat.read(repo_root / "notebooks" / name, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(repo_root / "notebooks")}})
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_training_twice_on_the_same_inputs_gives_identical_predictions(workdir):
    from pipeline.steps import train

    config = load_config(workdir / "params.yaml")
    prepared = train.prepare(config)
    first = train.fit_and_evaluate(prepared, config, "lgbm")
    second = train.fit_and_evaluate(train.prepare(config), config, "lgbm")
    np.testing.assert_array_equal(first.test_probability, second.test_probability)


def test_tune_logs_trials_as_child_runs_and_registers_the_best(workdir):
    out = _invoke("tune", "--trials", "2")
    assert "best of 2 trials" in out
    runs = mlflow.search_runs(experiment_names=["lead-scoring"], output_format="pandas")
    parent = runs[runs["tags.model_family"] == "lgbm-tuning"]
    assert len(parent) == 1
    children = runs[runs["tags.mlflow.parentRunId"] == parent["run_id"].iloc[0]]
    assert len(children) == 2 and children["metrics.valid_roc_auc"].notna().all()
    tuned = runs[runs["tags.mlflow.runName"] == "lgbm (tuned)"]
    assert len(tuned) == 1 and tuned["metrics.test_roc_auc"].iloc[0] > 0.6


def test_training_refuses_too_few_conversions(workdir, tmp_path):
    import yaml

    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["train"]["min_conversions"] = 1_000_000
    strict = tmp_path / "params.yaml"
    strict.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["train", "--params", str(strict)])
    assert result.exit_code == 1
    assert "min_conversions is 1000000" in result.output


def test_help_lists_the_commands():
    out = runner.invoke(app, ["--help"]).output
    for command in ("generate", "train", "promote", "score", "queue", "compare", "tune", "features"):
        assert command in out
