"""monitor: published scores + the outcomes that arrived since → each grade's promise checked → MLflow.

Inputs: the ``scores`` table (every published night), the source tables (``opportunities`` say who
converted, the latest timestamp in the extract says which nights have matured), and the definition of
each model version that scored a matured night (its promised rate per grade). Outcomes use
``features.labels.build_labels``, so "converted" means here exactly what it meant in training.
Outputs: one MLflow run in ``monitor.experiment_name`` (realized and promised rate, interval, breach
flag per version and grade; ROC AUC, calibration error and conversion per matured night as metric
history; the tables as CSV artifacts).

Exit codes (``leadscore monitor``): 0 every grade kept its promise, or no night has matured yet (nothing
can be checked, and that is said plainly); 3 at least one grade is outside its promise; 1 failed (no
sources, or a model version without a definition); 2 invalid params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from features.labels import build_labels, label_column
from features.spine import data_end
from models.monitoring import check_promises, cohort_metrics, matured_nights
from pipeline import io, tracking
from pipeline.config import Config
from pipeline.steps.promote import champion_version, load_definition

KEPT, BREACH, FAILED = 0, 3, 1


@dataclass(frozen=True)
class Evidence:
    """Everything the monitor and the report read, gathered once."""

    tables: dict[str, pd.DataFrame]
    scores: pd.DataFrame            # every published row; ``converted`` is NaN where the night has not matured
    observed_until: pd.Timestamp    # the latest timestamp in the sources
    nights: pd.DatetimeIndex        # every scored night
    matured: pd.DatetimeIndex       # the nights whose label window has elapsed
    definitions: dict[int, dict]    # model version → its quality-lead definition
    grade_order: list[str]          # best grade first

    @property
    def outcomes(self) -> pd.DataFrame:
        return self.scores[self.scores["as_of_ts"].isin(self.matured)].astype({"converted": "int64"})

    def promises(self) -> pd.DataFrame:
        return pd.DataFrame([{"model_version": v, "grade": g["grade"], "promised_rate": g["promised_rate"],
                              "promised_low": g["promised_low"], "promised_high": g["promised_high"]}
                             for v, d in self.definitions.items() for g in d["grades"]])


def gather(config: Config, sources: Path | None = None) -> Evidence:
    tables = io.read_sources(sources)
    observed_until = data_end(tables)
    scores = io.read_score_history()
    window = config.labels.window_days
    matured = matured_nights(scores["as_of_ts"], window_days=window, observed_until=observed_until)
    scores["converted"] = np.nan
    if len(matured):
        rows = scores[scores["as_of_ts"].isin(matured)][["lead_id", "as_of_ts"]]
        labelled = build_labels(rows, tables["opportunities"], window_days=window,
                                milestone=config.labels.milestone, observed_until=observed_until)
        scores = scores.drop(columns="converted").merge(
            labelled.rename(columns={label_column(window): "converted"}), on=["lead_id", "as_of_ts"], how="left")
    tracking.configure()
    versions = sorted({int(v) for v in scores["model_version"].dropna().unique()})
    definitions = {v: load_definition(config, v)[1] for v in versions}
    return Evidence(tables=tables, scores=scores, observed_until=observed_until,
                    nights=pd.DatetimeIndex(scores["as_of_ts"].drop_duplicates().sort_values()),
                    matured=matured, definitions=definitions, grade_order=_grade_order(config, definitions))


def _grade_order(config: Config, definitions: dict[int, dict]) -> list[str]:
    """The champion's grades, best first (else the newest scoring version's, else the capacity keys)."""
    from mlflow import MlflowClient

    current = champion_version(MlflowClient(), config.registry.model_name)
    chosen = definitions.get(current) or (definitions[max(definitions)] if definitions else None)
    if chosen is None and current is not None:
        chosen = load_definition(config, current)[1]
    if chosen is not None:
        return [g["grade"] for g in chosen["grades"]]
    capacity = config.score.grade_capacity_per_week or config.score.grade_shares or {}
    return sorted(capacity)


@dataclass
class MonitorResult:
    evidence: Evidence
    promises: pd.DataFrame   # pooled over matured nights, per model version and grade
    by_night: pd.DataFrame   # the same per matured night
    cohorts: pd.DataFrame    # ROC AUC, calibration error, conversion per matured night
    exit_code: int
    message: str
    run_id: str | None = None

    @property
    def breaches(self) -> pd.DataFrame:
        return self.promises[self.promises["breach"]]


def assess(config: Config, evidence: Evidence) -> MonitorResult:
    params = config.monitor
    outcomes = evidence.outcomes
    promises = evidence.promises()
    if outcomes.empty:
        pooled = by_night = cohorts = pd.DataFrame()
        if evidence.nights.empty:
            message = "no scores published yet: nothing to check (run `leadscore nightly`)"
        else:
            first = evidence.nights.min() + pd.Timedelta(days=config.labels.window_days)
            message = (f"no scored night has matured yet: the {config.labels.window_days}-day window of the "
                       f"earliest night ({evidence.nights.min():%Y-%m-%d}) ends {first:%Y-%m-%d}, and the data "
                       f"reach {evidence.observed_until:%Y-%m-%d}; nothing to check")
        return MonitorResult(evidence, pooled, by_night, cohorts, KEPT, message)
    kwargs = {"method": params.interval, "confidence": params.confidence}
    pooled = check_promises(outcomes, promises, **kwargs)
    by_night = check_promises(outcomes, promises, by=["as_of_ts"], **kwargs)
    cohorts = cohort_metrics(outcomes)
    broken = pooled[pooled["breach"]]
    if len(broken):
        message = "; ".join(f"grade {r.grade} (version {r.model_version}) {r.verdict}: realized "
                            f"{r.realized_rate:.1%} [{r.low:.1%}, {r.high:.1%}] vs promised {r.promised_rate:.1%}"
                            for r in broken.itertuples())
        return MonitorResult(evidence, pooled, by_night, cohorts, BREACH, message)
    message = (f"every grade kept its promise over {len(evidence.matured)} matured nights "
               f"({evidence.matured.min():%Y-%m-%d} … {evidence.matured.max():%Y-%m-%d})")
    return MonitorResult(evidence, pooled, by_night, cohorts, KEPT, message)


def run(config: Config, *, sources: Path | None = None) -> MonitorResult:
    result = assess(config, gather(config, sources))
    result.run_id = _log(config, result)
    return result


def _log(config: Config, result: MonitorResult) -> str:
    ev = result.evidence
    mlflow.set_experiment(config.monitor.experiment_name)
    with mlflow.start_run(run_name=f"monitor {ev.observed_until:%Y-%m-%d}") as run:
        mlflow.set_tags({"kind": "monitor", "observed_until": f"{ev.observed_until:%Y-%m-%d}",
                         "matured_nights": str(len(ev.matured)), "scored_nights": str(len(ev.nights)),
                         "verdict": "breach" if result.exit_code == BREACH else "kept",
                         "message": result.message[:500]})
        mlflow.log_params({"interval": config.monitor.interval, "confidence": config.monitor.confidence,
                           "window_days": config.labels.window_days})
        mlflow.log_metric("breaches", len(result.breaches) if len(result.promises) else 0)
        for r in result.promises.itertuples():
            prefix = f"v{r.model_version}.{r.grade}"
            values = {f"{prefix}.realized_rate": r.realized_rate, f"{prefix}.low": r.low, f"{prefix}.high": r.high,
                      f"{prefix}.promised_rate": r.promised_rate, f"{prefix}.leads": r.leads,
                      f"{prefix}.breach": float(r.breach)}
            mlflow.log_metrics({k: float(v) for k, v in values.items() if np.isfinite(v)})  # no rate without leads
        for step, r in enumerate(result.cohorts.itertuples()):
            stamp = int(r.as_of_ts.timestamp() * 1000)
            for key in ("roc_auc", "ece", "conversion_rate", "mean_probability"):
                value = getattr(r, key)
                if np.isfinite(value):
                    mlflow.log_metric(f"cohort.{key}", value, step=step, timestamp=stamp)
        for name, frame in (("promises", result.promises), ("promises_by_night", result.by_night),
                            ("cohorts", result.cohorts)):
            if len(frame):
                mlflow.log_text(frame.to_csv(index=False), f"monitor/{name}.csv")
        return run.info.run_id

