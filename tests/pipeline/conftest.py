"""A small trained store the step tests share: a demo world, its named training table and one registered
LightGBM version (no champion), built once per session; each test gets its own copy of the registry and
of the score database, so tests that sign, promote or publish never see each other's state."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
import yaml


def _relaxed_params(repo_root: Path) -> dict:
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["score"]["grade_capacity_per_week"] = {"A": 30, "B": 90, "C": 210}  # a small world's small sales team
    raw["evaluate"]["bootstrap_samples"] = 20
    return raw


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory, repo_root):
    from features.demo_world import generate_world
    from pipeline import io
    from pipeline.config import parse_config
    from pipeline.steps import train

    root = tmp_path_factory.mktemp("store")
    raw = _relaxed_params(repo_root)
    config = parse_config(raw)
    world = generate_world(3000, 1, config.generate)
    io.write_sources({**world.tables, "truth": world.truth}, root / "sources")
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        mp.setenv("LEADSCORE_DATASETS_DIR", str(root / "datasets"))
        mp.chdir(root)  # MLflow's artifacts (./mlruns) stay in the template
        trained = train.run(config, sources=root / "sources")
    return SimpleNamespace(root=root, raw=raw, trained=trained)


@pytest.fixture
def store(trained_template, tmp_path, monkeypatch):
    """The template's registry copied for this test; sources, datasets and artifacts read from the template."""
    from pipeline import tracking
    from pipeline.config import parse_config

    template = trained_template.root
    shutil.copy(template / "mlflow.db", tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("LEADSCORE_DATASETS_DIR", str(template / "datasets"))
    monkeypatch.setenv("LEADSCORE_SOURCES", str(template / "sources"))
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{tmp_path}/scores.db")
    monkeypatch.setenv("LEADSCORE_SCORES_DIR", str(tmp_path / "scores"))
    monkeypatch.chdir(tmp_path)
    tracking.configure()
    mlflow.set_experiment("Default")  # the active experiment is process-wide: another test's id means nothing here

    def config(**sections):
        raw = {**trained_template.raw, **{k: {**trained_template.raw.get(k, {}), **v} if isinstance(v, dict) else v
                                          for k, v in sections.items()}}
        return parse_config(raw)

    return SimpleNamespace(root=tmp_path, sources=template / "sources", config=config,
                           trained=trained_template.trained)
