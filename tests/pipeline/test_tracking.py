"""The registry side of scoring: a champion of the other source kind is refused."""

from types import SimpleNamespace

import pytest

from pipeline.tracking import check_source_kind


def test_a_version_trained_on_a_flat_export_cannot_score_the_contract_tables():
    flat_version = SimpleNamespace(version="3", tags={"source_kind": "flat"})
    with pytest.raises(ValueError, match="lead-scoring version 3 was trained on a flat source, but params.yaml says "
                                         "source.kind: contract"):
        check_source_kind(flat_version, "contract", "lead-scoring")


def test_versions_from_before_flat_exports_count_as_contract():
    assert check_source_kind(SimpleNamespace(version="1", tags={}), "contract", "lead-scoring") is None
    with pytest.raises(ValueError, match="trained on a contract source"):
        check_source_kind(SimpleNamespace(version="1", tags={}), "flat", "lead-scoring")


def _recorded_elsewhere(db, old_root: str, new_root: str) -> int:
    """Every path the local store recorded under ``old_root`` rewritten to ``new_root``: the store as it reads after
    its project folder moved from ``new_root`` to where it is now. Returns how many values changed."""
    import sqlalchemy as sa

    eng = sa.create_engine(f"sqlite:///{db}")
    changed = 0
    with eng.begin() as conn:
        inspector = sa.inspect(conn)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                if isinstance(column["type"], sa.String):
                    changed += conn.execute(sa.text(
                        f'UPDATE "{table}" SET "{column["name"]}" = REPLACE("{column["name"]}", :old, :new) '
                        f'WHERE "{column["name"]}" LIKE :like'), {"old": old_root, "new": new_root,
                                                                  "like": f"%{old_root}%"}).rowcount
    eng.dispose()
    return changed


def test_a_local_store_moved_to_another_folder_still_loads_its_scorer_and_definition(trained_template, tmp_path,
                                                                                      monkeypatch):
    """The reported bug: a project folder copied elsewhere lost its artifacts ("No such artifact: ''")."""
    import shutil

    import mlflow

    from pipeline import tracking

    project = tmp_path / "moved"
    project.mkdir()
    shutil.copy(trained_template.root / "mlflow.db", project / "mlflow.db")
    shutil.copytree(trained_template.root / "mlruns", project / "mlruns")
    old_home = str(tmp_path / "where-it-was")  # gone: nothing is there any more
    assert _recorded_elsewhere(project / "mlflow.db", str(trained_template.root.resolve()), old_home) > 0
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project}/mlflow.db")
    monkeypatch.setenv("LEADSCORE_HOME", str(project))
    tracking.configure()
    try:
        name = trained_template.raw["register"]["model_name"]
        version = tracking.latest_version(name)
        assert tracking.load_definition(name, version)[1]["grades"]
        scorer = tracking.load_scorer(tracking.get_version(name, version), name)
        assert scorer is not None
        assert tracking.moved_local_artifacts(f"file://{old_home}/elsewhere/x") == f"file://{old_home}/elsewhere/x"
    finally:
        mlflow.set_tracking_uri(None)


def test_a_training_run_is_what_a_data_scientist_opens_in_the_mlflow_ui(store):
    """Read back through MlflowClient what the UI shows: the experiment opens on runs (classic ML kind), the run
    spans the training (it started before the training table was read), one nested run per backtest fold, the
    training table and every source logged as datasets with digest and time range, the version's description
    is its definition summary, and the family's explanation is logged."""
    from mlflow import MlflowClient

    from pipeline import tracking

    client = MlflowClient()
    config = store.config()
    version = tracking.get_version(config.registry.model_name, store.trained.model_version)
    run = client.get_run(version.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[tracking.EXPERIMENT_KIND_TAG] == tracking.CLASSIC_ML
    # the link `make mlflow-ui` prints opens the runs in the model-training mode, whatever the browser chose before
    assert tracking.experiment_runs_link(experiment.name) == (
        f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning")
    assert tracking.experiment_runs_link("no-such-experiment") is None
    assert "workflowType=machine_learning" in tracking.compare_runs_link([run.info.run_id])

    folds = client.search_runs([run.info.experiment_id],
                               filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert sorted(r.data.tags["mlflow.runName"] for r in folds) == [
        f"backtest fold {k}" for k in range(1, len(store.trained.folds) + 1)]
    first = min(folds, key=lambda r: r.data.tags["mlflow.runName"])
    assert first.data.tags["test_period"] == store.trained.folds["test_period"].iloc[0]
    assert first.data.metrics["roc_auc"] == pytest.approx(float(store.trained.folds["roc_auc"].iloc[0]))
    # the run was open before the training table was built (its file was written inside the run), and spans the folds
    from pipeline import io

    table_file = io.dataset_path(*store.trained.dataset.split("/", 1))
    assert run.info.start_time / 1000 <= table_file.stat().st_mtime
    assert run.info.start_time <= min(r.info.start_time for r in folds)
    assert run.info.end_time >= max(r.info.end_time for r in folds)

    inputs = {(d.dataset.name, next(t.value for t in d.tags if t.key == "mlflow.data.context")): d
              for d in run.inputs.dataset_inputs}
    training = inputs[(store.trained.dataset, "training")]
    assert training.dataset.digest and '"as_of_ts"' in training.dataset.schema
    tags = {t.key: t.value for t in training.tags}
    assert int(tags["rows"]) == int(run.data.metrics["train_rows"]) and tags["as_of_ts from"] < tags["as_of_ts until"]
    sources = {name for name, context in inputs if context == "source"}
    assert {"leads", "engagement_events", "opportunities"} <= sources
    events = {t.key: t.value for t in inputs[("engagement_events", "source")].tags}
    assert "event_ts from" in events and run.data.tags["data.engagement_events"].endswith(
        inputs[("engagement_events", "source")].dataset.digest)

    _, definition = tracking.load_definition(config.registry.model_name, store.trained.model_version)
    assert version.description.startswith(f"**Quality-lead definition {definition['definition_version']}**")
    assert "Backtest ROC AUC" in version.description and "Signed by: nobody yet" in version.description
    assert "feature_importance.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_logistic_coefficients_and_points_tables_explain_their_families():
    from models.families import LogRegModel, OneHotColumn, PointsModel, explanation_table

    logreg = LogRegModel(categorical=[OneHotColumn("fit__source", ["email", "web"], infrequent=["fax"])],
                         numeric=["eng__web_visit_30d", "lead__age_days"], medians=[0.0, 10.0], indicators=[1],
                         means=[0.0] * 6, scales=[1.0] * 6, coef=[0.1, -0.2, 0.05, 0.9, -0.3, 0.4], intercept=-2.0,
                         logged=["eng__web_visit_30d"])
    name, table = explanation_table(logreg)
    assert name == "coefficients"
    assert table["term"].tolist() == ["log1p(eng__web_visit_30d)", "lead__age_days is missing", "lead__age_days",
                                      "fit__source = web", "fit__source = email", "fit__source = (infrequent)",
                                      "(intercept)"]
    assert table["coefficient"].tolist() == [0.9, 0.4, -0.3, -0.2, 0.1, 0.05, -2.0]

    points = PointsModel(engagement_points={"web_visit": 2.0}, decay=[1.0, 0.5], windows_days=[7, 30],
                         fit_points={"fit__source": {"email": 3.0}})
    name, table = explanation_table(points)
    assert name == "points"
    assert table.to_dict("list") == {
        "rule": ["web_visit, (0, 7] days", "web_visit, (7, 30] days", "fit__source = email"], "points": [2.0, 1.0, 3.0]}
    assert explanation_table(object()) is None
