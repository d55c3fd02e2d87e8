"""Commands of the data scientist: make data or adopt an export, train, compare, tune, read the features, export
sales feedback as labels."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from features.segments import describe
from pipeline.cli.common import (
    EXIT_INVALID_PARAMS,
    Engine,
    EngineOpt,
    ParamsOpt,
    SegmentOpt,
    SourcesOpt,
    _config,
    add_row,
    console,
    escape,
    fail,
    handle_errors,
    text,
)

group = typer.Typer()

ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="Model family: lgbm, points or logreg (default: train.model in params.yaml).")]


@group.command()
@handle_errors()
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
    table = Table(title=f"Demo world in {escape(str(out))} ({time.perf_counter() - started:.1f} s)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, frame in {**world.tables, "truth": world.truth}.items():
        add_row(table, name, f"{len(frame):,}")
    console.print(table)
    won = world.tables["opportunities"]["is_won"].sum()
    console.print(f"lead-to-sale rate: {won / len(world.tables['leads']):.1%} ({won:,} won opportunities)")


sources_group = typer.Typer(help="The source tables: copy a folder of them into a database.", no_args_is_help=True)


@sources_group.command("load")
@handle_errors()
def sources_load(
    to: Annotated[str, typer.Option("--to", help="SQLAlchemy URL of the database to write the tables into "
                                                  "(postgresql+psycopg://…, sqlite:///…).")],
    from_: Annotated[Path | None, typer.Option(
        "--from", help="Folder of source tables (default: $LEADSCORE_SOURCES or data/demo).")] = None,
):
    """Copy the contract tables of a folder into a database (each table replaced), with the indexes that reading
    one lead needs; then set LEADSCORE_SOURCES to the URL."""
    from pipeline import io

    started = time.perf_counter()
    written = io.copy_sources_to_database(to, folder=from_)
    table = Table(title=f"Sources loaded into {escape(io.shown_location(to))} ({time.perf_counter() - started:.1f} s)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("indexes")
    for name, rows in written.items():
        add_row(table, name, f"{rows:,}", ", ".join("(" + ", ".join(c) + ")" for c in io.source_indexes(name)))
    console.print(table)
    console.print(f"use them with: LEADSCORE_SOURCES='{escape(io.shown_location(to))}' (password as you gave it)")


@group.command()
@handle_errors()
def init(
    from_csv: Annotated[Path, typer.Option(
        "--from-csv", help="The CRM export (CSV, any common delimiter, or parquet).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Params file to write (default: <export name>.params.yaml here).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    defaults: Annotated[Path | None, typer.Option(
        "--defaults", help="Params file to copy the other sections from (default: ./params.yaml, else the shipped "
                           "one).")] = None,
):
    """Inspect a flat CRM export, propose its column map and write a params file that trains on it."""
    from pipeline.steps import init as step

    out = out or Path(f"{from_csv.stem}.params.yaml")  # never the project's own params.yaml by surprise
    result = step.run(from_csv, out, defaults=defaults, force=force)
    p = result.proposal
    table = Table(title=f"{escape(str(result.export))} ({result.rows:,} rows): the proposed column map")
    for col in ("column", "role / type", "why"):
        table.add_column(col, overflow="fold")
    roles = {p.id_column: "id", p.created_column: "created date", p.converted_column: "converted flag",
             p.converted_date_column: "converted date"}
    for column, role in roles.items():
        if column is not None:
            add_row(table, column, role, "")
    for role, why in p.reasons.items():
        column = getattr(p, role)
        shown = str(column).lower() if isinstance(column, bool) else str(column)  # as params.yaml writes it
        console.print(f"{escape(role)}: {escape(shown)} ({escape(why)})")
    for column, why in p.excluded.items():
        add_row(table, column, text("excluded", "yellow"), why)
    for column, (kind, why) in p.types.items():
        add_row(table, column, kind or text("dropped", "yellow"), why)
    console.print(table)
    for note in p.notes:
        console.print(f"[yellow]![/yellow] {escape(str(note))}")
    for column, values in p.placeholders.items():
        console.print(f"{escape(column)}: {escape(', '.join(repr(v) for v in values))} read as missing "
                      "(source.placeholders)")
    for problem in result.problems:
        console.print(f"[red]✗[/red] {escape(str(problem))}")
    if not result.written:
        raise fail(f"{escape(str(result.path))} exists, not written: pass --force to replace it, or --out "
                   "another path")
    console.print(f"wrote {escape(str(result.path))}; train with: LEADSCORE_SOURCES={escape(str(result.export))} "
                  f"leadscore train --params {escape(str(result.path))}")


def _print_training(result, config) -> None:
    m = result.metrics
    table = Table(title=f"{escape(str(result.family))}: model version {result.model_version} "
                        f"(run {escape(result.run_id[:8])})")
    table.add_column("metric")
    table.add_column("backtest (pooled)", justify="right")
    table.add_column("recent period", justify="right")
    auc = f"{m['test_roc_auc']:.4f}"
    if "test_roc_auc_low" in m:
        auc += f" [{m['test_roc_auc_low']:.3f}, {m['test_roc_auc_high']:.3f}]"
    add_row(table, "roc_auc [95% CI]", auc, f"{m['valid_roc_auc']:.4f}")
    for key in ("pr_auc", "log_loss", "brier", "ece", "lift_at_10pct", "capture_at_10pct", "positive_rate",
                "mean_probability"):
        add_row(table, key, f"{m['test_' + key]:.4f}", f"{m['valid_' + key]:.4f}")
    if "test_roc_auc_lead_age_only" in m:
        add_row(table, "roc_auc, lead age alone", f"{m['test_roc_auc_lead_age_only']:.4f}", "")
    if "test_roc_auc_oracle" in m:
        add_row(table, "roc_auc, true propensity (oracle)", f"{m['test_roc_auc_oracle']:.4f}", "")
    console.print(table)
    folds = Table(title="Backtest: each fold fitted on what had matured before its period")
    for col in ("fold", "tested on", "leads", "converted", "roc_auc", "ece", "trees"):
        folds.add_column(col, justify="right")
    for f in result.folds.itertuples():
        add_row(folds, str(f.fold), f.test_period, f"{f.test_rows:,}", f"{f.test_conversions:,}", f"{f.roc_auc:.4f}",
                f"{f.ece:.4f}", str(f.best_iteration or ""))
    add_row(folds, "mean ± sd", "", "", "", f"{m['backtest_roc_auc_mean']:.4f} ± {m['backtest_roc_auc_sd']:.4f}",
            f"{m['backtest_ece_mean']:.4f}", f"refit: {int(m['best_iteration'])}" if "best_iteration" in m else "")
    console.print(folds)
    dated = not (config.source.kind == "flat" and config.source.created_column is None)  # no dates: no weeks
    grades = Table(title=("Grades: thresholds frozen from sales capacity, promises measured on the most recent "
                          "matured period (out of sample)") if dated else
                   "Grades: thresholds frozen from shares of the open leads (score.grade_shares), promises measured "
                   "on the latest rows of the export (out of sample)")
    for col in ("grade", "probability from", "leads/week" if dated else "share of leads",
                "promised conversion [95% CI]"):
        grades.add_column(col, justify="right")
    for r in result.grades.itertuples():
        add_row(grades, r.grade, f"{r.min_probability:.2%}", f"{r.weekly_volume:,.0f}" if dated else f"{r.share:.1%}",
                f"{r.promised_rate:.1%} [{r.promised_low:.1%}, {r.promised_high:.1%}]")
    console.print(grades)
    flag = f" --segment {config.segment.name}" if config.segment is not None else ""
    console.print(f"definition version {escape(str(result.definition_version))}: `leadscore definition --version "
                  f"{result.model_version}{escape(flag)}` shows it")
    for warning in result.warnings:
        console.print(f"[yellow]![/yellow] {escape(str(warning))}")
    console.print(f"learned from {escape(result.periods.get('learned', '?'))} ({int(m['train_rows']):,} snapshots, "
                  f"{int(m['train_positives']):,} converted); calibrated and graded on "
                  f"{escape(result.periods.get('recent', '?'))}")
    console.print(f"registered [bold]{escape(config.registry.model_name)}[/bold] version {result.model_version}; "
                  f"promote it with `leadscore promote --version {result.model_version}{escape(flag)}`")


@group.command()
@handle_errors()
def train(
    model: ModelOpt = None,
    as_of: Annotated[dt.datetime | None, typer.Option(
        "--as-of", help="Train on what was known strictly before this day (a replay of what was deployed then).")
    ] = None,
    segment: SegmentOpt = None,
    all_segments: Annotated[bool, typer.Option(
        "--all-segments", help="Train every segment params.yaml declares, each its own model; a segment the "
                               "sufficiency gate refuses is listed with the reason (its leads stay with the global "
                               "model) and the others are still trained.")] = False,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
    accept_leak_risk: Annotated[bool, typer.Option(
        "--accept-leak-risk", help="Train although a column kept with source.keep is flagged by the leak or id "
                                   "screen; the run is tagged leak_risk_accepted.")] = False,
    engine: EngineOpt = Engine.default,
):
    """Backtest a model family, refit it on every matured snapshot, log the run to MLflow, register a version (of the
    global model, or of a segment's with --segment NAME or --all-segments)."""
    from models.training import InsufficientData
    from pipeline.steps import train as step

    if all_segments and segment is not None:
        raise fail("give --segment NAME or --all-segments, not both", EXIT_INVALID_PARAMS)
    config = _config(params, segment)
    if not all_segments:
        result = step.run(config, family=model, params_path=params, sources=sources, as_of=as_of,
                          accept_leak_risk=accept_leak_risk, engine=engine.value)
        _print_training(result, config)
        return
    if not config.segments:
        raise fail(f"{escape(str(params))} declares no segments (segments:)", EXIT_INVALID_PARAMS)
    refused = {}
    for declared in config.segments:
        seg = config.for_segment(declared.name)
        console.print(f"[bold]segment {escape(declared.name)}[/bold] ({escape(describe(declared))})")
        try:
            result = step.run(seg, family=model, params_path=params, sources=sources, as_of=as_of,
                              accept_leak_risk=accept_leak_risk, engine=engine.value)
        except InsufficientData as exc:  # the sufficiency gate: said, logged on the run, and the next one trains
            refused[declared.name] = str(exc)
            console.print(f"[yellow]refused:[/yellow] {escape(str(exc))}", soft_wrap=True)
            continue
        _print_training(result, seg)
    trained = len(config.segments) - len(refused)
    console.print(f"{trained} of {len(config.segments)} segments trained" + (
        f"; refused (scored by the global model): {escape(', '.join(refused))}" if refused else ""))


@group.command()
@handle_errors()
def compare(segment: SegmentOpt = None, params: ParamsOpt = Path("params.yaml"), sources: SourcesOpt = None):
    """The latest run of each model family and the champion, judged on their backtests over today's folds."""
    from pipeline.steps import compare as step

    config = _config(params, segment)
    result = step.run(config, sources=sources)
    table = Table(title=f"Model comparison on the backtest periods {escape(str(result.test_window))}")
    for col in ("candidate", "version", "roc_auc [95% CI]", "pr_auc", "log_loss", "brier", "ece", "lift@10%",
                "capture@10%"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for r in result.table.to_dict("records"):
        if r.get("note"):
            add_row(table, r["candidate"], r["version"], r["note"], "", "", "", "", "", "")
            continue
        add_row(table, r["candidate"], r["version"],
                f"{r['roc_auc']:.4f} [{r['roc_auc_low']:.3f}, {r['roc_auc_high']:.3f}]",
                f"{r['pr_auc']:.4f}", f"{r['log_loss']:.4f}", f"{r['brier']:.4f}", f"{r['ece']:.4f}",
                f"{r['lift_at_10pct']:.2f}", f"{r['capture_at_10pct']:.1%}")
    console.print(table)
    console.print(f"best on {escape(str(result.primary_metric))} (evaluate.primary_metric): "
                  f"[bold]{escape(str(result.best))}[/bold]")
    if result.ui_link:
        console.print(f"the same runs side by side in the MLflow UI: {escape(result.ui_link)}", soft_wrap=True)


@group.command()
@handle_errors()
def tune(
    trials: Annotated[int | None, typer.Option("--trials", help="Optuna trials (default: tune.trials).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """Search LightGBM hyperparameters on the validation slice (Optuna), then train and register the best."""
    from pipeline.steps import tune as step

    config = _config(params)
    result = step.run(config, trials=trials, params_path=params, sources=sources)
    best = ", ".join(f"{k}={v:.4g}" for k, v in result.best_params.items())
    console.print(f"best of {trials or config.tune.trials} trials: valid {escape(str(result.metric))} "
                  f"{result.best_value:.4f} with {escape(best)} (parent run {escape(result.parent_run_id[:8])})")
    _print_training(result.trained, config)


@group.command()
@handle_errors()
def features(params: ParamsOpt = Path("params.yaml"), sources: SourcesOpt = None):
    """The feature catalogue: every feature, its source, type, whether the model uses it, and its meaning."""
    from pipeline.sources import open_source

    config = _config(params)
    catalog = open_source(config, sources).feature_catalog()  # a flat export: its columns, typed as in training
    table = Table(title=f"Feature catalogue: {len(catalog)} features, "
                        f"{sum(s.in_model for s in catalog)} used by the model")
    for col in ("feature", "source", "dtype", "model", "description"):
        table.add_column(col, overflow="fold")
    for spec in catalog:
        add_row(table, spec.name, spec.source, spec.dtype, "yes" if spec.in_model else "no",
                spec.description.replace("{value}", "N"))
    console.print(table)


@group.command()
@handle_errors()
def feedback(
    since: Annotated[dt.datetime | None, typer.Option(
        "--since", formats=["%Y-%m-%d"], help="Only feedback recorded on or after this date (UTC).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write every row to this CSV file (default: show the newest here).")] = None,
):
    """Sales feedback as labels to study: every disposition recorded, with the score (night, grade, probability,
    model and definition version) the rep saw; ``current`` marks each lead's latest."""
    from pipeline import feedback as recorded
    from pipeline import io

    io.require_scores_store()
    rows = recorded.read_feedback(since=since.date() if since else None)
    leads = rows["lead_id"].nunique()
    summary = f"{len(rows):,} dispositions of {leads:,} leads" + (f" recorded since {since:%Y-%m-%d}" if since else "")
    if out is not None:
        recorded.write_export(rows, out)
        console.print(f"{summary} written to {escape(str(out.resolve()))}")
        return
    shown = rows.iloc[::-1].head(20)
    table = Table(title=f"Sales feedback: {summary}" + (", the newest 20 (all of them: --out FILE.csv)"
                                                          if len(rows) > len(shown) else ""))
    for col in ("recorded", "lead", "night", "grade", "prob.", "model", "disposition", "comment", "by"):
        table.add_column(col, overflow="fold")
    for row in shown.itertuples(index=False):
        add_row(table, f"{row.created_at:%Y-%m-%d %H:%M}", row.lead_id, f"{row.as_of_ts:%Y-%m-%d}", row.grade,
                f"{row.probability:.1%}", f"v{row.model_version}", row.disposition_label
                + ("" if row.current else " (since changed)"), row.comment, row.user_name)
    console.print(table)
