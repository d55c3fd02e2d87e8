"""compare: the latest run of each model family and the current champion, on their backtests.

Inputs: the source and its named training table (read back, not rebuilt: it says which periods today's
backtest folds test), the MLflow experiment and registry. A registered model has been refitted on every
matured snapshot, so scoring it on any of them would be scoring it on what it learned: each candidate is
judged by the backtest logged with its run (each fold fitted on its past, tested on its own period).
Candidates backtested on other periods than today's (trained on an older extract) are listed with a note
and not ranked. Output: a table of metrics (pooled backtest ROC AUC with its bootstrap interval, the folds'
spread) and the best candidate on ``evaluate.primary_metric``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from models.metrics import HIGHER_IS_BETTER
from pipeline import sources as lead_sources
from pipeline import tracking
from pipeline.config import Config

COLUMNS = ["roc_auc", "roc_auc_low", "roc_auc_high", "pr_auc", "log_loss", "brier", "ece", "lift_at_10pct",
           "capture_at_10pct"]  # pooled over the backtest folds


@dataclass(frozen=True)
class Comparison:
    table: pd.DataFrame  # one row per candidate
    primary_metric: str
    best: str
    test_window: str
    dataset: str = ""
    ui_link: str = ""  # the MLflow UI's comparison of the same runs


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
    champion = tracking.champion_version(name)
    if champion is not None:
        row = next((c for c in out if c["version"] == champion), None)
        if row is not None:
            row["candidate"] += " (champion)"
        else:
            family = (tracking.get_version(name, champion).tags or {}).get("model_family", "?")
            out.append({"candidate": "champion", "family": family, "version": champion})
    return out


def best_candidate(table: pd.DataFrame, metric: str) -> pd.Series:
    """The row that scores best on ``metric`` (direction from the metric), among those that could be scored."""
    scored = table.dropna(subset=[metric]) if metric in table else table.iloc[:0]
    if scored.empty:
        raise LookupError("no registered model could be scored on the current test slice")
    values = scored[metric].to_numpy(dtype=float)
    return scored.iloc[int(np.argmax(values) if HIGHER_IS_BETTER[metric] else np.argmin(values))]


def run(config: Config, *, sources: Path | None = None) -> Comparison:
    tracking.configure()
    source = lead_sources.open_source(config, sources)
    table, dataset = lead_sources.load_training_table(source)
    data = source.training_set(table)
    today = ", ".join(fold.periods()["test"] for fold in data.folds)
    rows = []
    for c in candidates(config):
        metrics, windows = tracking.backtest_of(config.registry.model_name, c["version"])
        windows = windows.replace(";", ", ")
        if windows != today:
            rows.append({**c, "note": f"backtested on {windows or 'no folds (trained before backtests)'}, not "
                                      "today's folds: retrain to compare"})
            continue
        rows.append({**c, **{k: metrics.get(k, np.nan) for k in COLUMNS}, "note": ""})
    result = pd.DataFrame(rows)
    best = best_candidate(result, config.evaluate.primary_metric)
    run_ids = [tracking.get_version(config.registry.model_name, c["version"]).run_id for c in rows]
    return Comparison(table=result, primary_metric=config.evaluate.primary_metric,
                      best=f"{best['candidate']} (version {best['version']})", test_window=today, dataset=dataset,
                      ui_link=tracking.compare_runs_link(run_ids))
