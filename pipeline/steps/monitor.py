"""monitor: published scores + the outcomes that arrived since → each grade's promise checked → MLflow.

Inputs: the ``leadscore_scores`` table (every published night), the source tables (``opportunities`` say who
converted, the latest timestamp in the extract says which nights have matured), and the definition of
each model version that scored a matured night (its promised rate per grade). Outcomes use
``features.labels.build_labels``, so "converted" means here exactly what it meant in training.
Outputs: one MLflow run in ``monitor.experiment_name`` (realized and promised rate, interval, breach
flag per version and grade; ROC AUC, calibration error and conversion per matured night as metric
history; ``coverage``: the share of the matured nights' buyers that were scored on the night; the tables
as CSV artifacts). With segments in params.yaml, each segment model's the same, named ``<segment>.…`` (metrics) and
``monitor/<segment>/`` (artifacts); the exit code says breach when any model is in breach.

Exit codes (``leadscore monitor``): 0 every grade kept its promise, or no night has matured yet (nothing
can be checked, and that is said plainly); 3 at least one grade is outside its promise; 1 failed (no
sources, or a model version without a definition); 2 invalid params.yaml.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np

from models.monitoring import BREACH, KEPT, MonitorResult, assess, with_segments
from pipeline import tracking
from pipeline.config import Config

FAILED = 1
__all__ = ["BREACH", "FAILED", "KEPT", "MonitorResult", "run"]  # the exit codes the CLI maps


def run(config: Config, *, sources: Path | None = None) -> MonitorResult:
    """The global model's promises, and each segment model's (``result.segments``) when params.yaml declares any."""
    window = config.labels.window_days
    result = assess(tracking.read_evidence(config, sources), config.monitor, window_days=window)
    if config.segments:
        result = with_segments(result, {
            s.name: assess(tracking.read_evidence(config.for_segment(s.name), sources), config.monitor,
                           window_days=window) for s in config.segments})
    result.run_id = _log(config, result)
    return result


def _log(config: Config, result: MonitorResult) -> str:
    ev = result.evidence
    tracking.use_experiment(config.monitor.experiment_name)
    with mlflow.start_run(run_name=f"monitor {ev.observed_until:%Y-%m-%d}") as run:
        mlflow.set_tags({"kind": "monitor", "observed_until": f"{ev.observed_until:%Y-%m-%d}",
                         "matured_nights": str(len(ev.matured)), "scored_nights": str(len(ev.nights)),
                         "verdict": "breach" if result.exit_code == BREACH else "kept",
                         "message": result.message[:500]})
        mlflow.log_params({"interval": config.monitor.interval, "confidence": config.monitor.confidence,
                           "window_days": config.labels.window_days})
        mlflow.log_metric("breaches", len(result.breaches) if len(result.promises) else 0)
        _log_result(result)
        for name, segment in result.segments.items():  # each segment model's under its name: <segment>.v1.A…
            mlflow.log_metric(f"{name}.breaches", len(segment.breaches) if len(segment.promises) else 0)
            _log_result(segment, f"{name}.")
        return run.info.run_id


def _log_result(result: MonitorResult, prefix: str = "") -> None:
    """One model's promises, coverage and cohorts, as metrics and CSV artifacts (``prefix``: a segment's name)."""
    if np.isfinite(result.coverage):  # share of the matured nights' buyers scored on the night
        mlflow.log_metrics({f"{prefix}coverage": result.coverage,
                            f"{prefix}coverage.buyers": float(result.buyers["buyers"].sum())})
    for r in result.promises.itertuples():
        key = f"{prefix}v{r.model_version}.{r.grade}"
        values = {f"{key}.realized_rate": r.realized_rate, f"{key}.low": r.low, f"{key}.high": r.high,
                  f"{key}.promised_rate": r.promised_rate, f"{key}.promised_low": r.promised_low,
                  f"{key}.promised_high": r.promised_high, f"{key}.leads": r.leads,
                  f"{key}.breach": float(r.breach)}
        mlflow.log_metrics({k: float(v) for k, v in values.items() if np.isfinite(v)})  # no rate without leads
    for step, r in enumerate(result.cohorts.itertuples()):
        stamp = int(r.as_of_ts.timestamp() * 1000)
        for key in ("roc_auc", "ece", "conversion_rate", "mean_probability"):
            value = getattr(r, key)
            if np.isfinite(value):
                mlflow.log_metric(f"{prefix}cohort.{key}", value, step=step, timestamp=stamp)
    folder = f"monitor/{prefix.rstrip('.')}" if prefix else "monitor"
    for name, frame in (("promises", result.promises), ("promises_by_night", result.by_night),
                        ("cohorts", result.cohorts), ("coverage", result.buyers)):
        if len(frame):
            mlflow.log_text(frame.to_csv(index=False), f"{folder}/{name}.csv")
