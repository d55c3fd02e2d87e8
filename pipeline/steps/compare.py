"""compare: the latest run of each model family and the current champion, on the same test period.

Inputs: the source tables (today's), the MLflow experiment and registry. Every candidate's registered
model is loaded and scored on the *current* test slice, so a model trained months ago is judged on the
same snapshots as the one trained this morning. Output: a table of metrics (ROC AUC with its bootstrap
interval) and the best candidate on ``evaluate.primary_metric``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from models.metrics import HIGHER_IS_BETTER, classification_metrics
from models.scorer import to_model_input
from pipeline import tracking
from pipeline.config import Config
from pipeline.steps import train

COLUMNS = ["roc_auc", "roc_auc_low", "roc_auc_high", "pr_auc", "log_loss", "brier", "ece", "lift_at_10pct",
           "capture_at_10pct"]


@dataclass(frozen=True)
class Comparison:
    table: pd.DataFrame  # one row per candidate
    primary_metric: str
    best: str
    test_window: str


def candidates(config: Config) -> list[dict]:
    """Latest finished, registered run of each family, plus the champion (once, if it is one of them)."""
    client = MlflowClient()
    name = config.registry.model_name
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise LookupError(f"no versions of model {name!r} are registered yet (run `leadscore train`)")
    by_run = {v.run_id: v for v in versions}
    runs = mlflow.search_runs(experiment_names=[config.registry.experiment_name],
                              order_by=["attributes.start_time DESC"], output_format="list")
    chosen: dict[str, dict] = {}
    for r in runs:
        family = r.data.tags.get("model_family")
        if family and family not in chosen and r.info.run_id in by_run:
            v = by_run[r.info.run_id]
            chosen[family] = {"candidate": f"latest {family}", "family": family, "version": int(v.version)}
    out = list(chosen.values())
    try:
        champion = client.get_model_version_by_alias(name, tracking.CHAMPION)
    except mlflow.exceptions.MlflowException:
        champion = None
    if champion is not None:
        family = (champion.tags or {}).get("model_family", "?")
        row = next((c for c in out if c["version"] == int(champion.version)), None)
        if row is not None:
            row["candidate"] += " (champion)"
        else:
            out.append({"candidate": "champion", "family": family, "version": int(champion.version)})
    return out


def run(config: Config, *, sources: Path | None = None) -> Comparison:
    tracking.configure()
    prepared = train.prepare(config, sources)
    test = prepared.split.test
    y = test[prepared.target].to_numpy()
    rows = []
    for c in candidates(config):
        model = mlflow.pyfunc.load_model(f"models:/{config.registry.model_name}/{c['version']}")
        names = model.metadata.get_input_schema().input_names()
        missing = [n for n in names if n not in test.columns]
        if missing:
            rows.append({**c, "note": f"needs features the current build lacks: {', '.join(missing[:3])}"})
            continue
        p = model.predict(to_model_input(test, names))["probability"].to_numpy(dtype=float)
        m = classification_metrics(y, p, n_boot=config.evaluate.bootstrap_samples, seed=config.train.seed)
        rows.append({**c, **{k: m[k] for k in COLUMNS}, "note": ""})
    table = pd.DataFrame(rows)
    metric = config.evaluate.primary_metric
    scored = table.dropna(subset=[metric]) if metric in table else table.iloc[:0]
    if scored.empty:
        raise LookupError("no registered model could be scored on the current test slice")
    values = scored[metric].to_numpy(dtype=float)
    best_idx = int(np.argmax(values) if HIGHER_IS_BETTER[metric] else np.argmin(values))
    best = scored.iloc[best_idx]
    return Comparison(table=table, primary_metric=metric,
                      best=f"{best['candidate']} (version {best['version']})",
                      test_window=prepared.split.periods()["test"])
