"""MLflow: where runs go, how a model version is logged, registered, promoted and loaded.

Tracking defaults to ``sqlite:///mlflow.db`` in the working directory (artifacts in ``./mlruns``);
``MLFLOW_TRACKING_URI`` overrides it (PostgreSQL for a team).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import warnings
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import infer_signature

import features
import models
from models.pyfunc import LeadScoringModel
from models.scorer import LeadScorer

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
CHAMPION = "champion"


def configure() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI", uri))
    return uri


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_MODEL_PACKAGES = ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn", "joblib", "pyarrow")


def package_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("leadscore", *_MODEL_PACKAGES)}


def _requirements() -> list[str]:
    versions = package_versions()
    return [f"{pkg}=={versions[pkg]}" for pkg in _MODEL_PACKAGES]


def log_scorer(scorer: LeadScorer, input_example: pd.DataFrame, *, model_name: str) -> ModelVersion:
    """Log the scorer as a pyfunc model in the active run and register a new version of ``model_name``."""
    output = scorer.predict(input_example, reasons=True)
    with warnings.catch_warnings():
        # The integer `score` column is never missing; MLflow's generic hint about that does not apply.
        warnings.filterwarnings("ignore", message=".*Integer columns.*")
        signature = infer_signature(input_example, output, params={"reasons": False})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scorer.joblib"
        joblib.dump(scorer, path)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadScoringModel(),
            artifacts={"scorer": str(path)},
            code_paths=[str(Path(models.__file__).parent), str(Path(features.__file__).parent)],
            signature=signature,
            input_example=input_example.head(5),
            pip_requirements=_requirements(),
            registered_model_name=model_name,
        )
    client = MlflowClient()
    return client.get_model_version(model_name, str(info.registered_model_version))


def set_alias(model_name: str, alias: str, version: int | str) -> None:
    MlflowClient().set_registered_model_alias(model_name, alias, str(version))


def latest_version(model_name: str) -> int:
    versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise LookupError(f"no versions of model {model_name!r} are registered yet (run `leadscore train`)")
    return max(int(v.version) for v in versions)


def load_by_alias(model_name: str, alias: str):
    """(pyfunc model, model version) for ``models:/<name>@<alias>``."""
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(
            f"model {model_name!r} has no version with alias {alias!r} (run `leadscore promote`)"
        ) from exc
    return mlflow.pyfunc.load_model(f"models:/{model_name}@{alias}"), mv
