"""The model version as data: its artifacts hold JSON and LightGBM's model text and no pickle; the nightly
path rebuilds the scorer from them without unpickling anything; a version logged the old way (a pickled
pyfunc) is refused with the fix and never loaded; the pyfunc logged from code still predicts the same."""

import pickle
from pathlib import Path

import cloudpickle
import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from models.scorer import to_model_input
from pipeline import model_artifacts, tracking
from pipeline import sources as lead_sources
from pipeline.cli import app
from pipeline.steps import score

NAME = "lead-scoring"


def _version_files(version: int) -> Path:
    uri = MlflowClient().get_model_version_download_uri(NAME, str(version))
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))


class _Unpickled(Exception):
    pass


def _forbid_unpickling(monkeypatch) -> None:
    """Every way this process could unpickle, or load a pyfunc (which unpickles or runs stored code), raises."""
    def refuse(*args, **kwargs):
        raise _Unpickled("something was unpickled")

    for module, attr in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (pickle, "_Unpickler"),
                         (cloudpickle, "load"), (cloudpickle, "loads"), (joblib, "load"),
                         (mlflow.pyfunc, "load_model")]:
        monkeypatch.setattr(module, attr, refuse)


def _tonight(store):
    config = store.config()
    source = lead_sources.open_source(config, store.sources)
    _, features = source.open_leads(source.default_as_of(None), None)
    return config, source, features


def test_a_logged_version_holds_data_and_a_script_and_no_pickle(store):
    files = _version_files(1)
    names = {p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file()}
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib", ".cloudpickle"))], names
    assert {"artifacts/scorer/scorer.json", "artifacts/scorer/reference.json", "artifacts/scorer/catalog.json",
            "artifacts/scorer/lgbm_model.txt", "pyfunc_from_code.py"} <= names
    for name in names:
        assert not (files / name).read_bytes().startswith(b"\x80"), f"{name} is a pickle"  # protocol 2+ header
    flavour = yaml.safe_load((files / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavour["loader_module"] == "mlflow.pyfunc.loaders.code_model"  # models-from-code
    assert "python_model" not in flavour  # no pickled python model
    assert (files / "artifacts/scorer/lgbm_model.txt").read_text().startswith("tree\n")  # LightGBM's own text


def test_loading_the_champion_unpickles_nothing_and_scores_like_the_pyfunc(store, monkeypatch):
    tracking.set_alias(NAME, tracking.CHAMPION, 1)
    config, source, features = _tonight(store)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}/1")  # before forbidding: the data scientists' way in
    with monkeypatch.context() as patched:
        _forbid_unpickling(patched)
        champion = tracking.load_champion(NAME, tracking.CHAMPION, source)
        X = to_model_input(features, champion.scorer.feature_names)
        direct = champion.scorer.predict(X, reasons=True)
        with pytest.raises(_Unpickled):
            pickle.loads(pickle.dumps(1))  # the guard was really in place while the champion loaded
    assert champion.number == 1 and len(direct) == len(features) > 0
    via_pyfunc = pyfunc.predict(X, params={"reasons": True})
    pd.testing.assert_frame_equal(via_pyfunc.reset_index(drop=True), direct.reset_index(drop=True),
                                  check_exact=True, check_dtype=False)
    assert direct["probability"].nunique() > 10 and (direct["reasons_positive"] != "").any()


def test_the_pyfunc_rebuilds_the_scorer_the_nightly_job_reads(store):
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    scorer = tracking.load_scorer(tracking.get_version(NAME, 1), NAME)
    assert pyfunc.metadata.get_input_schema().input_names() == scorer.feature_names
    assert pyfunc.unwrap_python_model().scorer.to_artifacts() == scorer.to_artifacts()


class _OldStylePyfunc(mlflow.pyfunc.PythonModel):
    """What older leadscore logged: a cloudpickled python model whose load_context unpickled the scorer."""

    def load_context(self, context):
        with open(context.artifacts["scorer"], "rb") as f:
            self.scorer = pickle.load(f)

    def predict(self, context, model_input, params=None):
        return model_input


class _Payload:
    """A pickle that runs code when loaded: what anyone who can write to the artifact store could plant."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.mkdir, (self.marker,))


def _log_old_style_version(tmp_path: Path, marker: Path) -> int:
    planted = tmp_path / "scorer.joblib"
    planted.write_bytes(pickle.dumps(_Payload(marker)))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=_OldStylePyfunc(),
                                       artifacts={"scorer": str(planted)}, registered_model_name=NAME,
                                       pip_requirements=["mlflow"])
    return int(info.registered_model_version)


def test_a_version_logged_as_a_pickle_is_refused_with_the_fix_and_never_loaded(store, monkeypatch, tmp_path):
    marker = tmp_path / "payload-ran"
    old = _log_old_style_version(tmp_path, marker)
    tracking.set_alias(NAME, tracking.CHAMPION, old)
    config, source, _ = _tonight(store)
    with monkeypatch.context() as patched:
        _forbid_unpickling(patched)
        with pytest.raises(tracking.PickledModelRefused) as refused:
            tracking.load_champion(NAME, tracking.CHAMPION, source)
    message = str(refused.value)
    assert "\n" not in message and f"{NAME} version {old}" in message and "leadscore train" in message
    with pytest.raises(tracking.PickledModelRefused):
        score.run(config, sources=store.sources, as_of="2026-06-01")  # the operator's path refuses it too
    assert not marker.exists()  # nothing planted ran
    # The old way of loading would have run it: the refusal is what stands between the store and the job.
    mlflow.pyfunc.load_model(f"models:/{NAME}/{old}")
    assert marker.exists()


def test_the_cli_says_in_one_line_to_retrain(store, monkeypatch, tmp_path, repo_root):
    old = _log_old_style_version(tmp_path, tmp_path / "payload-ran")
    tracking.set_alias(NAME, tracking.CHAMPION, old)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(yaml.safe_load((repo_root / "params.yaml").read_text())))
    result = CliRunner().invoke(app, ["score", "--params", str(params), "--sources", str(store.sources),
                                      "--as-of", "2026-06-01"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "leadscore train" in lines[0] and f"version {old}" in lines[0], result.output
    assert not (tmp_path / "payload-ran").exists()


def test_the_scorer_folder_round_trips_through_files(store, tmp_path):
    scorer = tracking.load_scorer(tracking.get_version(NAME, 1), NAME)
    folder = model_artifacts.write_scorer(scorer, tmp_path / "scorer")
    assert sorted(p.name for p in folder.iterdir()) == sorted(scorer.to_artifacts())
    again = model_artifacts.read_scorer(folder)
    X = to_model_input(pd.DataFrame({c: [np.nan] for c in scorer.feature_names}), scorer.feature_names)
    pd.testing.assert_frame_equal(again.predict(X, reasons=True), scorer.predict(X, reasons=True), check_exact=True)


def test_an_artifact_store_that_cannot_be_read_is_not_called_an_old_model(store, monkeypatch):
    def unreachable(*args, **kwargs):
        raise mlflow.exceptions.MlflowException("connection refused")

    monkeypatch.setattr(mlflow.artifacts, "list_artifacts", unreachable)
    with pytest.raises(mlflow.exceptions.MlflowException, match="connection refused") as raised:
        tracking.load_scorer(tracking.get_version(NAME, 1), NAME)
    assert not isinstance(raised.value, tracking.PickledModelRefused)
