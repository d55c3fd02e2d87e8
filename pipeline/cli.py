"""``leadscore``: the command line for data scientists and for the nightly scheduler."""

from __future__ import annotations

import datetime as dt
import json
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


@app.command()
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
    try:
        result = step.run(from_csv, out, defaults=defaults, force=force)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(exc) from None
    p = result.proposal
    table = Table(title=f"{result.export} ({result.rows:,} rows): the proposed column map")
    for col in ("column", "role / type", "why"):
        table.add_column(col, overflow="fold")
    roles = {p.id_column: "id", p.created_column: "created date", p.converted_column: "converted flag",
             p.converted_date_column: "converted date"}
    for column, role in roles.items():
        if column is not None:
            table.add_row(column, role, "")
    for column in p.leaky:
        table.add_row(column, "[yellow]excluded[/yellow]", "leaky? named like a value filled in after contact")
    for column, (kind, why) in p.types.items():
        table.add_row(column, kind or "[yellow]dropped[/yellow]", why)
    console.print(table)
    for note in p.notes:
        console.print(f"[yellow]![/yellow] {note}")
    for problem in result.problems:
        console.print(f"[red]✗[/red] {problem}")
    if not result.written:
        console.print(f"[red]error:[/red] {result.path} exists, not written: pass --force to replace it, or --out "
                      "another path")
        raise typer.Exit(1)
    console.print(f"wrote {result.path}; train with: LEADSCORE_SOURCES={result.export} leadscore train "
                  f"--params {result.path}")


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
    if "test_roc_auc_lead_age_only" in m:
        table.add_row("roc_auc, lead age alone", f"{m['test_roc_auc_lead_age_only']:.4f}", "")
    if "test_roc_auc_oracle" in m:
        table.add_row("roc_auc, true propensity (oracle)", f"{m['test_roc_auc_oracle']:.4f}", "")
    console.print(table)
    grades = Table(title="Grades: thresholds frozen from sales capacity, promises measured on the test period")
    for col in ("grade", "probability from", "leads/week", "promised conversion [95% CI]"):
        grades.add_column(col, justify="right")
    for r in result.grades.itertuples():
        grades.add_row(r.grade, f"{r.min_probability:.2%}", f"{r.weekly_volume:,.0f}",
                       f"{r.promised_rate:.1%} [{r.promised_low:.1%}, {r.promised_high:.1%}]")
    console.print(grades)
    console.print(f"definition version {result.definition_version}: `leadscore definition --version "
                  f"{result.model_version}` shows it")
    for warning in result.warnings:
        console.print(f"[yellow]![/yellow] {warning}")
    console.print(f"periods: {result.periods}; {int(m['train_rows']):,} training rows, "
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


VersionOpt = Annotated[int | None, typer.Option("--version", help="Model version.")]
LatestOpt = Annotated[bool, typer.Option("--latest", help="The newest registered version.")]


def _pick_version(config, version: int | None, latest: bool) -> int:
    from pipeline import tracking

    if (version is None) == (not latest):
        console.print("[red]error:[/red] give exactly one of --version N or --latest")
        raise typer.Exit(2)
    if latest:
        tracking.configure()
        return tracking.latest_version(config.registry.model_name)
    return version


@app.command()
def approve(
    team: Annotated[str, typer.Option("--team", help="marketing or sales.")],
    by: Annotated[str, typer.Option("--by", help="Who signs (name or e-mail).")],
    version: VersionOpt = None,
    latest: LatestOpt = False,
    comment: Annotated[str, typer.Option("--comment", help="Why, or on what condition.")] = "",
    params: ParamsOpt = Path("params.yaml"),
):
    """Sign a model version's quality-lead definition for a team (stored on the MLflow model version)."""
    from pipeline.steps import promote as step

    config = _config(params)
    version = _pick_version(config, version, latest)
    try:
        record = step.approve(config, version=version, team=team, by=by, comment=comment)
    except (ValueError, LookupError) as exc:
        raise _fail(exc) from None
    console.print(f"{team} approved version {version} (definition {record['definition_version']}) "
                  f"by {by} at {record['at']}")


@app.command()
def promote(
    version: VersionOpt = None,
    latest: LatestOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Promote although checks fail (needs --reason).")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why the override (recorded).")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who promotes (default: the OS user).")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """Make a version champion: only with both teams' approval and the promotion gates passed."""
    from pipeline.steps import promote as step

    config = _config(params)
    version = _pick_version(config, version, latest)
    try:
        outcome = step.promote(config, version=version, by=by, force=force, reason=reason, sources=sources)
    except step.PromotionRefused as exc:
        console.print(f"[red]refused:[/red] version {exc.version} cannot become champion:")
        for r in exc.reasons:
            console.print(f"  [red]✗[/red] {r}")
        raise typer.Exit(1) from None
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    for check in outcome.checks:
        mark = "[yellow]![/yellow]" if check.startswith("OVERRIDDEN") else "[green]✓[/green]"
        console.print(f"  {mark} {check}")
    was = f" (was version {outcome.previous})" if outcome.previous is not None else ""
    forced = " [yellow]FORCED[/yellow]" if outcome.forced else ""
    console.print(f"{config.registry.model_name}@champion → version {outcome.version}{was}{forced}")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who rolls back (default: the OS user).")] = None,
    params: ParamsOpt = Path("params.yaml"),
):
    """Return `champion` to the version the current champion replaced."""
    from pipeline.steps import promote as step

    config = _config(params)
    try:
        old, new = step.rollback(config, by=by, reason=reason)
    except LookupError as exc:
        raise _fail(exc) from None
    console.print(f"{config.registry.model_name}@champion → version {new} (rolled back from version {old})")


@app.command()
def promotions(params: ParamsOpt = Path("params.yaml")):
    """The promotion history: every promotion, override and rollback."""
    from pipeline.steps import promote as step

    config = _config(params)
    table = Table(title=f"Promotion history of {config.registry.model_name}")
    for col in ("at", "action", "version", "previous", "definition", "by", "forced", "reason"):
        table.add_column(col)
    for e in step.history(config):
        table.add_row(e["at"], e["action"], str(e["version"]), str(e.get("previous") or ""),
                      e.get("definition_version", ""), e.get("by", ""), "yes" if e.get("forced") else "",
                      e.get("reason", ""))
    console.print(table)


@app.command()
def definition(
    version: VersionOpt = None,
    diff: Annotated[tuple[int, int] | None, typer.Option("--diff", help="Compare two versions: --diff A B.")] = None,
    params: ParamsOpt = Path("params.yaml"),
):
    """Print a version's quality-lead definition (default: the champion's), or what changed between two."""
    from rich.markdown import Markdown

    from models.definition import diff_definitions, render_markdown
    from pipeline.steps import promote as step

    config = _config(params)
    try:
        if diff:
            (a, da), (b, db) = step.load_definition(config, diff[0]), step.load_definition(config, diff[1])
            changes = diff_definitions(da, db)
            console.print(f"definition {da['definition_version']} (version {a}) → {db['definition_version']} "
                          f"(version {b}): {len(changes)} changes")
            table = Table()
            for col in ("what", f"version {a}", f"version {b}"):
                table.add_column(col)
            for what, x, y in changes:
                table.add_row(what, x, y)
            console.print(table)
            return
        v, d = step.load_definition(config, version)
    except LookupError as exc:
        raise _fail(exc) from None
    console.print(Markdown(render_markdown(d)))
    console.print(f"(model version {v})")


@app.command()
def score(
    as_of: Annotated[list[dt.datetime] | None, typer.Option(
        "--as-of", help="Score as of this date (UTC midnight); repeat it to backfill several nights in one run. "
                        "Default: midnight after the latest data.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """Score every lead open at AS_OF with the champion and publish the scores."""
    from pipeline.steps import score as step

    config = _config(params)
    try:
        results = step.run_nights(config, nights=as_of or [], sources=sources)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    for result in results:
        grades = ", ".join(f"{g}: {n:,}" for g, n in result.grade_counts.items())
        console.print(f"scored {result.rows:,} open leads as of {result.as_of:%Y-%m-%d} with model version "
                      f"{result.model_version} ({grades})")
        console.print(f"published to {io.db_url()} (table scores) and {result.parquet_path}")


@app.command()
def nightly(
    as_of: Annotated[dt.datetime | None, typer.Option(
        "--as-of", help="Night to score (UTC midnight); default: midnight after the latest data.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """The nightly job: validate, score the open leads with the champion, publish, check drift, log the run.

    Exit codes: 0 published, 3 published with warnings, 1 failed (previous scores untouched),
    2 invalid params.yaml, 4 another run holds the publish lock.
    """
    from pipeline.steps import nightly as step

    config = _config(params)
    result = step.run(config, as_of=as_of, sources=sources)
    if result.exit_code in (step.FAILED, step.LOCKED):
        console.print(f"[red]{result.status}:[/red] {result.error}")
        raise typer.Exit(result.exit_code)
    console.print(f"night {result.as_of:%Y-%m-%d}: {result.status}; {result.leads_scored:,} open leads scored "
                  f"with model version {result.model_version} (definition {result.definition_version}); "
                  f"{result.rejects:,} source rows quarantined; run {result.run_id}")
    if result.drift is not None and len(result.drift):
        top = ", ".join(f"{r.column} {r.psi:.3f}" for r in result.drift.head(3).itertuples())
        console.print(f"largest population shifts (PSI): {top}")
    for warning in result.warnings:
        console.print(f"[yellow]![/yellow] {warning}")
    raise typer.Exit(result.exit_code)


def _print_monitor(result) -> None:
    if result.promises.empty:
        return
    table = Table(title=f"Promise against reality: {len(result.evidence.matured)} matured nights, pooled")
    for col in ("version", "grade", "leads", "conversions", "realized [interval]", "promised", "verdict"):
        table.add_column(col, justify="left" if col == "verdict" else "right")
    for r in result.promises.itertuples():
        realized = "–" if r.leads == 0 else f"{r.realized_rate:.1%} [{r.low:.1%}, {r.high:.1%}]"
        verdict = f"[red]{r.verdict}[/red]" if r.breach else r.verdict
        table.add_row(str(r.model_version), r.grade, f"{r.leads:,}", f"{r.conversions:,}", realized,
                      f"{r.promised_rate:.1%}", verdict)
    console.print(table)
    nights = result.by_night[result.by_night["breach"]]
    if len(nights):
        console.print("nights outside the promise: " + ", ".join(
            f"{r.as_of_ts:%Y-%m-%d} {r.grade} {r.realized_rate:.1%} vs {r.promised_rate:.1%}"
            for r in nights.itertuples()))
    cohorts = Table(title="Per matured night")
    for col in ("night", "leads", "converted", "mean probability", "ROC AUC", "calibration error"):
        cohorts.add_column(col, justify="right")
    for r in result.cohorts.itertuples():
        cohorts.add_row(f"{r.as_of_ts:%Y-%m-%d}", f"{r.leads:,}", f"{r.conversion_rate:.2%}",
                        f"{r.mean_probability:.2%}", f"{r.roc_auc:.3f}", f"{r.ece:.4f}")
    console.print(cohorts)


@app.command()
def monitor(params: ParamsOpt = Path("params.yaml"), sources: SourcesOpt = None):
    """Check every grade's promise on the scored nights whose window has elapsed; log it to MLflow.

    Exit codes: 0 every grade kept its promise, or no night has matured yet (said plainly); 3 at least one
    grade converts outside its promise; 1 failed; 2 invalid params.yaml.
    """
    from pipeline.steps import monitor as step

    config = _config(params)
    try:
        result = step.run(config, sources=sources)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    _print_monitor(result)
    colour = "red" if result.exit_code == step.BREACH else "green"
    console.print(f"[{colour}]{result.message}[/{colour}] (MLflow run {result.run_id[:8]} in "
                  f"{config.monitor.experiment_name})")
    raise typer.Exit(result.exit_code)


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML page.")] = Path("report.html"),
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """One self-contained HTML page: the definition, promise vs reality, marketing and sales views, drift."""
    from pipeline.steps import report as step

    config = _config(params)
    try:
        result = step.run(config, out=out, sources=sources)
    except (ValueError, FileNotFoundError, LookupError) as exc:
        raise _fail(exc) from None
    console.print(result.monitor.message)
    console.print(f"report written to {result.path.resolve()} (also logged to MLflow run {result.run_id[:8]})")


@app.command()
def runs(top: Annotated[int, typer.Option("--top", help="How many runs to show.")] = 20):
    """The run log of the nightly job, newest first."""
    frame = io.read_runs(limit=top)
    if frame.empty:
        console.print("[yellow]no nightly runs logged yet (run `leadscore nightly`)[/yellow]")
        return
    import pandas as pd

    table = Table(title="Nightly runs (times UTC)")
    for col in ("night", "started", "took", "status", "leads", "rejects", "model", "definition"):
        table.add_column(col, no_wrap=True)
    table.add_column("warnings / error", overflow="fold")
    for r in frame.to_dict("records"):
        started, finished = pd.Timestamp(r["started"]), pd.Timestamp(r["finished"])
        warnings = len(json.loads(r["warnings"] or "[]"))
        took = (finished - started).total_seconds()
        table.add_row(str(r["as_of"] or ""), f"{started:%Y-%m-%d %H:%M:%S}", f"{took:.1f} s",
                      r["status"], f"{r['leads_scored'] or 0:,}", str(r["rejects"] or 0),
                      str(r["model_version"]) if r["model_version"] is not None else "",
                      r["definition_version"] or "", str(warnings) if warnings else (r.get("error") or ""))
    console.print(table)


@app.command()
def rejects(
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run to show (default: latest).")] = None,
    top: Annotated[int, typer.Option("--top", help="How many rows to list.")] = 30,
):
    """Source rows the nightly job quarantined: table, row, key, column, reason and the offending value."""
    frame = io.read_rejects(run_id=run_id)
    if frame.empty:
        console.print("[green]no quarantined rows[/green]" + (f" for run {run_id}" if run_id else ""))
        return
    summary = frame.groupby(["table_name", "column_name", "reason"], sort=False).size()
    console.print(f"run {frame['run_id'].iloc[0]} (night {frame['as_of'].iloc[0]}): {len(frame):,} rows quarantined")
    for (table_name, column, reason), n in summary.items():
        console.print(f"  {table_name}.{column}: {n:,} rows {reason}")
    table = Table(title=f"First {min(top, len(frame))} quarantined rows")
    for col in ("table_name", "row_number", "row_key", "column_name", "reason", "value"):
        table.add_column(col.replace("_name", ""), overflow="fold")
    for r in frame.head(top).itertuples(index=False):
        table.add_row(r.table_name, str(r.row_number), r.row_key or "", r.column_name, r.reason, r.value or "")
    console.print(table)


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
    for col, justify in (("#", "right"), ("lead", "right"), ("company", "left"), ("owner", "left"),
                         ("grade", "center"), ("score", "right"), ("prob.", "right"), ("why", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    has_reasons = "reasons_positive" in frame.columns
    for rank, row in enumerate(frame.head(top).itertuples(index=False), start=1):
        why = ""
        if has_reasons and row.reasons_positive:
            why = "+ " + row.reasons_positive.replace(" · ", "\n+ ")
            if row.reasons_negative:
                why += "\n- " + row.reasons_negative.replace(" · ", "\n- ")
        company = "\n".join(str(v) for v in (row.company, row.source) if v)  # a flat export has neither
        table.add_row(str(rank), str(row.lead_id), company, str(row.owner_id or ""),
                      row.grade, str(row.score), f"{row.probability:.1%}", why)
    console.print(table)
    definition = frame["definition_version"].iloc[0] if "definition_version" in frame.columns else "?"
    console.print(f"model version {frame['model_version'].iloc[0]}, definition {definition}; probability = "
                  "chance of a won deal within the label window")


@app.command()
def features(params: ParamsOpt = Path("params.yaml"), sources: SourcesOpt = None):
    """The feature catalogue: every feature, its source, type, whether the model uses it, and its meaning."""
    from features import flat
    from features.catalog import build_catalog

    config = _config(params)
    if config.source.kind == "flat":  # the export's own columns, typed as training would type them
        try:
            catalog = flat.flat_catalog(flat.plan_columns(io.read_flat_source(sources), config.source))
        except (ValueError, FileNotFoundError) as exc:
            raise _fail(exc) from None
    else:
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
