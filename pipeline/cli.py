"""``leadscore``: the command line for data scientists and for the nightly scheduler."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline import io
from pipeline.config import ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="leadscore: calibrated lead-to-sale probabilities, trained, tracked and scored nightly.")
console = Console(width=None if sys.stdout.isatty() else 120)

# MLflow narrates every registry call at INFO and warns about choices made on purpose here (a custom
# pyfunc without type hints, an integer score column). Keep the terminal for what the user asked for.
logging.getLogger("mlflow").setLevel(logging.WARNING)


class _KnownNoise(logging.Filter):
    """MLflow's warning about pickled python models: the scorer is our own code, logged on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


logging.getLogger("mlflow.pyfunc").addFilter(_KnownNoise())
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
warnings.filterwarnings("ignore", message=".*type hint.*")
warnings.filterwarnings("ignore", message=".*Integer columns in Python cannot represent missing values.*")
warnings.filterwarnings("ignore", message=".*serialized using CloudPickle.*")

ParamsOpt = Annotated[Path, typer.Option("--params", help="Path to params.yaml.")]
SourcesOpt = Annotated[Path | None, typer.Option(
    "--sources", help="Folder of source tables (default: $LEADSCORE_SOURCES or data/demo).")]


def _config(params: Path):
    try:
        return load_config(params)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


@app.command()
def generate(
    leads: Annotated[int, typer.Option("--leads", help="Number of leads in the world.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same tables.")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the parquet tables to.")] = Path("data/demo"),
    params: ParamsOpt = Path("params.yaml"),
):
    """Generate the demo world: six source tables of a simulated B2B company, plus truth.parquet."""
    from pipeline.steps import generate as step

    config = _config(params)
    started = time.perf_counter()
    world = step.run(out, leads, seed, config.generate)
    table = Table(title=f"Demo world in {out} ({time.perf_counter() - started:.1f} s)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, frame in {**world.tables, "truth": world.truth}.items():
        table.add_row(name, f"{len(frame):,}")
    console.print(table)
    won = world.tables["opportunities"]["is_won"].sum()
    console.print(f"lead-to-sale rate: {won / len(world.tables['leads']):.1%} ({won:,} won opportunities)")


ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="Model family: lgbm, points or logreg (default: train.model in params.yaml).")]


def _print_training(result, config) -> None:
    m = result.metrics
    table = Table(title=f"{result.family}: model version {result.model_version} (run {result.run_id[:8]})")
    table.add_column("metric")
    table.add_column("test", justify="right")
    table.add_column("valid", justify="right")
    auc = f"{m['test_roc_auc']:.4f}"
    if "test_roc_auc_low" in m:
        auc += f" [{m['test_roc_auc_low']:.3f}, {m['test_roc_auc_high']:.3f}]"
    table.add_row("roc_auc [95% CI]", auc, f"{m['valid_roc_auc']:.4f}")
    for key in ("pr_auc", "log_loss", "brier", "ece", "lift_at_10pct", "capture_at_10pct", "positive_rate",
                "mean_probability"):
        table.add_row(key, f"{m['test_' + key]:.4f}", f"{m['valid_' + key]:.4f}")
    table.add_row("roc_auc, lead age alone", f"{m['test_roc_auc_lead_age_only']:.4f}", "")
    if "test_roc_auc_oracle" in m:
        table.add_row("roc_auc, true propensity (oracle)", f"{m['test_roc_auc_oracle']:.4f}", "")
    console.print(table)
    grades = ", ".join(f"{r.grade}: {r.rate:.1%} of {int(r.rows):,}" for r in result.grades.itertuples())
    console.print(f"test conversion by grade: {grades}")
    console.print(f"periods: {result.periods}; {int(m['train_rows']):,} training snapshots, "
                  f"{int(m['train_positives']):,} converted")
    console.print(f"registered [bold]{config.registry.model_name}[/bold] version {result.model_version}; "
                  f"promote it with `leadscore promote --version {result.model_version}`")


@app.command()
def train(model: ModelOpt = None, params: ParamsOpt = Path("params.yaml"), sources: SourcesOpt = None):
    """Train a model family on the labelled snapshots, log the run to MLflow, register a model version."""
    from pipeline.steps import train as step

    config = _config(params)
    try:
        result = step.run(config, family=model, params_path=params, sources=sources)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    _print_training(result, config)


@app.command()
def compare(params: ParamsOpt = Path("params.yaml"), sources: SourcesOpt = None):
    """The latest run of each model family and the champion, scored on the same (current) test period."""
    from pipeline.steps import compare as step

    config = _config(params)
    try:
        result = step.run(config, sources=sources)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    table = Table(title=f"Model comparison on the test period {result.test_window}")
    for col in ("candidate", "version", "roc_auc [95% CI]", "pr_auc", "log_loss", "brier", "ece", "lift@10%",
                "capture@10%"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for r in result.table.to_dict("records"):
        if r.get("note"):
            table.add_row(r["candidate"], str(r["version"]), r["note"], "", "", "", "", "", "")
            continue
        table.add_row(r["candidate"], str(r["version"]),
                      f"{r['roc_auc']:.4f} [{r['roc_auc_low']:.3f}, {r['roc_auc_high']:.3f}]",
                      f"{r['pr_auc']:.4f}", f"{r['log_loss']:.4f}", f"{r['brier']:.4f}", f"{r['ece']:.4f}",
                      f"{r['lift_at_10pct']:.2f}", f"{r['capture_at_10pct']:.1%}")
    console.print(table)
    console.print(f"best on {result.primary_metric} (evaluate.primary_metric): [bold]{result.best}[/bold]")


@app.command()
def tune(
    trials: Annotated[int | None, typer.Option("--trials", help="Optuna trials (default: tune.trials).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """Search LightGBM hyperparameters on the validation slice (Optuna), then train and register the best."""
    from pipeline.steps import tune as step

    config = _config(params)
    try:
        result = step.run(config, trials=trials, params_path=params, sources=sources)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    best = ", ".join(f"{k}={v:.4g}" for k, v in result.best_params.items())
    console.print(f"best of {trials or config.tune.trials} trials: valid {result.metric} "
                  f"{result.best_value:.4f} with {best} (parent run {result.parent_run_id[:8]})")
    _print_training(result.trained, config)


@app.command()
def promote(
    version: Annotated[int | None, typer.Option("--version", help="Model version to make champion.")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Promote the newest registered version.")] = False,
    params: ParamsOpt = Path("params.yaml"),
):
    """Point the `champion` alias at a model version; nightly scoring uses the champion."""
    from pipeline.steps import promote as step

    if (version is None) == (not latest):
        console.print("[red]error:[/red] give exactly one of --version N or --latest")
        raise typer.Exit(2)
    config = _config(params)
    try:
        new, previous = step.run(config, version=version)
    except LookupError as exc:
        raise _fail(exc) from None
    was = f" (was version {previous})" if previous is not None else ""
    console.print(f"{config.registry.model_name}@champion → version {new}{was}")


@app.command()
def score(
    as_of: Annotated[dt.datetime | None, typer.Option(
        "--as-of", help="Score as of this date (UTC midnight); default: midnight after the latest data.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """Score every lead open at AS_OF with the champion and publish the scores."""
    from pipeline.steps import score as step

    config = _config(params)
    try:
        result = step.run(config, as_of=as_of, sources=sources)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    grades = ", ".join(f"{g}: {n:,}" for g, n in result.grade_counts.items())
    console.print(f"scored {result.rows:,} open leads as of {result.as_of:%Y-%m-%d} with model version "
                  f"{result.model_version} ({grades})")
    console.print(f"published to {io.db_url()} (table scores) and {result.parquet_path}")


@app.command()
def queue(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's leads.")] = None,
    top: Annotated[int, typer.Option("--top", help="How many leads to show.")] = 20,
    as_of: Annotated[dt.datetime | None, typer.Option("--as-of", help="Scores of this date (default latest).")] = None,
):
    """The sales queue: open leads sorted by score, best first."""
    import pandas as pd

    frame = io.read_scores(as_of=pd.Timestamp(as_of, tz="UTC") if as_of else None, owner=owner)
    if frame.empty:
        console.print("[yellow]no scores published yet (run `leadscore score`)[/yellow]")
        raise typer.Exit(1)
    when = frame["as_of_ts"].iloc[0]
    title = f"Sales queue as of {when:%Y-%m-%d}" + (f" for {owner}" if owner else "")
    table = Table(title=title + f": {len(frame):,} open leads, top {min(top, len(frame))}")
    for col, justify in (("#", "right"), ("lead", "right"), ("company", "left"), ("source", "left"),
                         ("owner", "left"), ("grade", "center"), ("score", "right"), ("probability", "right")):
        table.add_column(col, justify=justify)
    for rank, row in enumerate(frame.head(top).itertuples(index=False), start=1):
        table.add_row(str(rank), str(row.lead_id), str(row.company or ""), str(row.source), str(row.owner_id),
                      row.grade, str(row.score), f"{row.probability:.1%}")
    console.print(table)
    console.print(f"model version {frame['model_version'].iloc[0]}; probability = chance of a won deal "
                  "within the label window")


@app.command()
def features(params: ParamsOpt = Path("params.yaml")):
    """The feature catalogue: every feature, its source, type, whether the model uses it, and its meaning."""
    from features.catalog import build_catalog

    config = _config(params)
    catalog = build_catalog(config.features)
    table = Table(title=f"Feature catalogue: {len(catalog)} features, "
                        f"{sum(s.in_model for s in catalog)} used by the model")
    for col in ("feature", "source", "dtype", "model", "description"):
        table.add_column(col, overflow="fold")
    for spec in catalog:
        table.add_row(spec.name, spec.source, spec.dtype, "yes" if spec.in_model else "no",
                      spec.description.replace("{value}", "N"))
    console.print(table)


def main() -> None:  # pragma: no cover
    sys.exit(app())
