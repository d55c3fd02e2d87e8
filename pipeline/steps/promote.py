"""promote: point the ``champion`` alias at a registered model version (sign-off gates come later)."""

from __future__ import annotations

from mlflow import MlflowClient

from pipeline import tracking
from pipeline.config import Config


def run(config: Config, *, version: int | None = None) -> tuple[int, int | None]:
    """Returns (new champion version, previous champion version or None)."""
    tracking.configure()
    name = config.registry.model_name
    client = MlflowClient()
    if version is None:
        version = tracking.latest_version(name)
    try:
        client.get_model_version(name, str(version))
    except Exception as exc:  # MlflowException: RESOURCE_DOES_NOT_EXIST
        raise LookupError(f"model {name!r} has no version {version}") from exc
    try:
        previous = int(client.get_model_version_by_alias(name, tracking.CHAMPION).version)
    except Exception:
        previous = None
    tracking.set_alias(name, tracking.CHAMPION, version)
    return version, previous
