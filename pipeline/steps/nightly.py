"""nightly: validate sources → features for the leads open tonight → champion → publish → drift → run log.

Inputs: the source tables, ``models:/<model_name>@<model_alias>``. Outputs: the published scores (see
``score``), one row in the ``runs`` table (as_of, started, finished, status, leads scored, rejects,
model and definition version, warnings), and drift metrics in the MLflow monitoring experiment.

Exit codes (``leadscore nightly``): 0 published; 3 published with warnings (drift above
``nightly.psi_warn``); 1 failed, nothing new published (the previous night's scores stay as they were);
2 invalid params.yaml; 4 another run holds the publish lock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from features.spine import build_spine
from features.timeutil import as_utc
from features.training_table import build_feature_table
from models.drift import population_stability
from models.scorer import to_model_input
from pipeline import io, tracking
from pipeline.config import Config
from pipeline.steps.score import build_scores, default_as_of

PUBLISHED, WARNINGS, FAILED, LOCKED = 0, 3, 1, 4


@dataclass
class NightlyResult:
    run_id: str
    as_of: pd.Timestamp | None
    status: str
    exit_code: int
    leads_scored: int = 0
    model_version: int | None = None
    definition_version: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    drift: pd.DataFrame | None = None


def _drift(config: Config, model, tables, as_of) -> pd.DataFrame:
    spine = build_spine(tables["leads"], tables["opportunities"], pd.DatetimeIndex([as_of]),
                        max_lead_age_days=config.spine.max_lead_age_days)
    features = build_feature_table(tables, spine, config.features)
    scorer = model.unwrap_python_model().scorer
    names = model.metadata.get_input_schema().input_names()
    probability = scorer.probability(to_model_input(features, names)) if len(features) else []
    return population_stability(scorer.drift_reference, features[names], probability)


def run(config: Config, *, as_of=None, sources: Path | None = None) -> NightlyResult:
    run_id = uuid.uuid4().hex[:12]
    started = pd.Timestamp.now(tz="UTC")
    result = NightlyResult(run_id=run_id, as_of=None, status="failed", exit_code=FAILED)
    try:
        with io.publish_lock():
            if config.source.kind == "flat":
                raise ValueError("leadscore nightly runs on the data-contract tables (drift needs their snapshots); "
                                 "score a flat CRM export with `leadscore score`")
            tables = io.read_sources(sources)
            result.as_of = as_utc(as_of) if as_of is not None else default_as_of(tables)
            tracking.configure()
            model, mv = tracking.load_by_alias(config.registry.model_name, config.score.model_alias)
            result.model_version = int(mv.version)
            result.definition_version = (mv.tags or {}).get("definition_version", "")
            scores = build_scores(tables, config, model, result.model_version, result.as_of,
                                  definition_version=result.definition_version)
            io.write_scores(scores, result.as_of)
            result.leads_scored = len(scores)
            drift = _drift(config, model, tables, result.as_of)
            result.drift = drift
            gates = config.nightly
            for row in drift.itertuples():
                if row.psi > gates.psi_alert:
                    result.warnings.append(f"ALERT drift in {row.column}: PSI {row.psi:.3f} > {gates.psi_alert}")
                elif row.psi > gates.psi_warn:
                    result.warnings.append(f"drift in {row.column}: PSI {row.psi:.3f} > {gates.psi_warn}")
            result.status = "published with warnings" if result.warnings else "published"
            result.exit_code = WARNINGS if result.warnings else PUBLISHED
            _log_drift(config, result)
    except io.LockHeld as exc:
        result.status, result.exit_code, result.error = "locked", LOCKED, str(exc)
        return result  # the holder logs its own run
    except Exception as exc:  # noqa: BLE001 — every failure is logged as a failed night, then reported
        result.status, result.exit_code, result.error = "failed", FAILED, f"{type(exc).__name__}: {exc}"
    io.record_run({
        "run_id": run_id, "as_of": f"{result.as_of:%Y-%m-%d}" if result.as_of is not None else None,
        "started": started.isoformat(timespec="seconds"),
        "finished": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "status": result.status, "leads_scored": result.leads_scored, "rejects": 0,
        "model_version": result.model_version, "definition_version": result.definition_version,
        "warnings": json.dumps(result.warnings), "error": result.error,
    })
    return result


def _log_drift(config: Config, result: NightlyResult) -> None:
    mlflow.set_experiment(config.nightly.experiment_name)
    with mlflow.start_run(run_name=f"nightly {result.as_of:%Y-%m-%d}"):
        mlflow.set_tags({"as_of": f"{result.as_of:%Y-%m-%d}", "model_version": str(result.model_version),
                         "definition_version": result.definition_version, "status": result.status})
        mlflow.log_metric("leads_scored", result.leads_scored)
        for row in result.drift.itertuples():
            mlflow.log_metric(f"psi.{row.column}", row.psi)
