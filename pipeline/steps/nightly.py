"""nightly: validate sources → features for the leads open tonight → champion → publish → drift → run log.

Inputs: the source tables, ``models:/<model_name>@<model_alias>``. Outputs: the published scores (see
``score``), one row in the ``runs`` table (as_of, started, finished, status, leads scored, rejects,
model and definition version, warnings), and drift metrics in the MLflow monitoring experiment.

Bad rows in the sources are quarantined, not dropped: each goes to the ``rejects`` table with its table,
row number, key, column, reason and this run's id. A night whose rejects exceed
``nightly.max_reject_share`` of any table fails (the rejects are still recorded, to be fixed at the source).

Exit codes (``leadscore nightly``): 0 published; 3 published with warnings (drift above
``nightly.psi_warn``, or rows quarantined below the threshold); 1 failed, nothing new published (the
previous night's scores stay as they were); 2 invalid params.yaml; 4 another run holds the publish lock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from features.schema import reject_warnings
from features.timeutil import as_utc
from models.drift import drift_warnings, population_stability
from pipeline import io, publish_lock, tracking
from pipeline import sources as lead_sources
from pipeline.config import Config

PUBLISHED, WARNINGS, FAILED, LOCKED = 0, 3, 1, 4


@dataclass
class NightlyResult:
    run_id: str
    as_of: pd.Timestamp | None
    status: str
    exit_code: int
    leads_scored: int = 0
    rejects: int = 0
    model_version: int | None = None
    definition_version: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    drift: pd.DataFrame | None = None
    nights_dropped: int = 0  # old nights the retention (score.retention_days) removed


def _drift(scorer, features: pd.DataFrame, probability) -> pd.DataFrame:
    """Tonight's population against the champion's frozen validation population."""
    return population_stability(scorer.drift_reference, features[scorer.feature_names], probability)


def run(config: Config, *, as_of=None, sources: Path | None = None) -> NightlyResult:
    run_id = uuid.uuid4().hex[:12]
    started = pd.Timestamp.now(tz="UTC")
    result = NightlyResult(run_id=run_id, as_of=None, status="failed", exit_code=FAILED)
    try:
        with publish_lock.hold():
            source, checked = lead_sources.open_quarantined_source(config, sources, now=started)
            result.as_of = as_utc(as_of) if as_of is not None else source.default_as_of(None)
            result.rejects = len(checked.rejects)
            io.write_rejects(checked.rejects, run_id=run_id, as_of=result.as_of)
            result.warnings += reject_warnings(checked, config.nightly.max_reject_share)
            tracking.configure()
            champion = tracking.load_champion(config.registry.model_name, config.score.model_alias, source)
            result.model_version, result.definition_version = champion.number, champion.definition_version
            queue, features = source.open_leads(result.as_of, champion.state)
            scores = champion.score(queue, features, config.score)
            result.nights_dropped = io.write_scores(scores, result.as_of,
                                                    retention_days=config.score.retention_days).nights_dropped
            result.leads_scored = len(scores)
            result.drift = _drift(champion.scorer, features, scores["probability"].to_numpy())
            result.warnings += drift_warnings(result.drift, warn=config.nightly.psi_warn,
                                              alert=config.nightly.psi_alert)
            result.status = "published with warnings" if result.warnings else "published"
            result.exit_code = WARNINGS if result.warnings else PUBLISHED
            _log_drift(config, result)
    except publish_lock.LockHeld as exc:
        result.status, result.exit_code, result.error = "locked", LOCKED, str(exc)
        return result  # the holder logs its own run
    except Exception as exc:  # noqa: BLE001 — every failure is logged as a failed night, then reported
        result.status, result.exit_code, result.error = "failed", FAILED, f"{type(exc).__name__}: {exc}"
    io.record_run({
        "run_id": run_id, "as_of": f"{result.as_of:%Y-%m-%d}" if result.as_of is not None else None,
        "started": started.isoformat(timespec="microseconds"),
        "finished": pd.Timestamp.now(tz="UTC").isoformat(timespec="microseconds"),
        "status": result.status, "leads_scored": result.leads_scored, "rejects": result.rejects,
        "model_version": result.model_version, "definition_version": result.definition_version,
        "warnings": json.dumps(result.warnings), "error": result.error,
    })
    return result


def _log_drift(config: Config, result: NightlyResult) -> None:
    tracking.use_experiment(config.nightly.experiment_name)
    with mlflow.start_run(run_name=f"nightly {result.as_of:%Y-%m-%d}"):
        mlflow.set_tags({"as_of": f"{result.as_of:%Y-%m-%d}", "model_version": str(result.model_version),
                         "definition_version": result.definition_version, "status": result.status})
        mlflow.log_metrics({"leads_scored": result.leads_scored, "rejects": result.rejects})
        for row in result.drift.itertuples():
            mlflow.log_metric(f"psi.{row.column}", row.psi)
