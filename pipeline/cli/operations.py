"""Commands of the scheduler and whoever runs it: score, the nightly job, its run log and rejects, the monitor."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline import io
from pipeline.cli.common import (
    EXIT_FAILED,
    Engine,
    EngineOpt,
    ParamsOpt,
    SourcesOpt,
    _config,
    add_row,
    console,
    err_console,
    escape,
    fail,
    handle_errors,
    text,
)

group = typer.Typer()




AllowUnapprovedOpt = Annotated[bool, typer.Option(
    "--allow-unapproved", help="Development only: publish although the champion fails the sign-off check (not "
                               "promoted through leadscore, or approvals missing); warns on every night and stamps "
                               "the rows' definition_version with +unapproved.")]


@group.command()
@handle_errors()
def score(
    as_of: Annotated[list[dt.datetime] | None, typer.Option(
        "--as-of", help="Score as of this date (UTC midnight); repeat it to backfill several nights in one run. "
                        "Default: midnight after the latest data.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
    allow_unapproved: AllowUnapprovedOpt = False,
    lead: Annotated[str | None, typer.Option(
        "--lead", help="Score this one lead only, as of now (or --as-of), and print it: nothing is published, the "
                       "score is logged (table leadscore_one_lead_scores). Fast with a source database.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --lead: print the score as JSON.")] = False,
    engine: EngineOpt = Engine.default,
):
    """Score every lead open at AS_OF with the champion and publish the scores (or, with --lead, one lead)."""
    from pipeline.steps import score as step

    config = _config(params)
    if lead is not None:
        if engine is not Engine.default:
            raise typer.BadParameter("--lead reads one lead's rows on this machine: --engine spark does not apply")
        _score_one_lead(config, lead, as_of or [], sources, as_json=as_json, allow_unapproved=allow_unapproved)
        return
    try:
        results = step.run_nights(config, nights=as_of or [], sources=sources, allow_unapproved=allow_unapproved,
                                  engine=engine.value)
    except step.ScoreFailed as exc:
        _print_scored(exc.published, config)
        err_console.print(f"[red]error:[/red] {escape(str(exc))}{_logged(exc.logged_to)}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    _print_scored(results, config)


def _score_one_lead(config, lead: str, as_of: list, sources, *, as_json: bool, allow_unapproved: bool) -> None:
    from pipeline import one_lead

    if len(as_of) > 1:
        raise typer.BadParameter("--lead scores one moment: give --as-of once (or not at all, for now)")
    if allow_unapproved:
        raise typer.BadParameter("--lead returns a score only from a champion that passes the sign-off check: "
                                 "--allow-unapproved does not apply")
    scorer = one_lead.OneLeadScorer(config, sources=sources)
    try:
        result = scorer.score(lead, as_of=as_of[0] if as_of else None, requested_by=os.environ.get("USER"),
                              via="cli")
    finally:
        scorer.close()
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    console.print(f"lead {escape(result.lead_id)} as of {result.as_of_ts:%Y-%m-%d %H:%M} UTC: grade {result.grade}, "
                  f"score {result.score}, probability {result.probability:.4f} (model version {result.model_version}, "
                  f"definition {escape(result.definition_version)}; {result.took_ms:.0f} ms, not published)")
    for label, reasons in (("for", result.reasons_positive), ("against", result.reasons_negative)):
        for reason in filter(None, reasons.split(" · ")):
            console.print(f"  {label}: {escape(reason)}")


def _print_scored(results, config) -> None:
    for result in results:
        grades = ", ".join(f"{g}: {n:,}" for g, n in result.grade_counts.items())
        unapproved = ""
        if result.warning:  # --allow-unapproved: said on every night it affects
            console.print(f"[yellow]{escape(result.warning)}[/yellow]", soft_wrap=True)
            unapproved = " [yellow]UNAPPROVED (rows stamped +unapproved)[/yellow]"
        console.print(f"scored {result.rows:,} open leads as of {result.as_of:%Y-%m-%d} with model version "
                      f"{result.model_version}{unapproved} ({escape(grades)})")
        _say_segments(result.segments, result.fallbacks, config)
        console.print(f"published to {escape(io.shown_url())} (table scores) and {escape(str(result.parquet_path))}")
        _say_dropped(result.nights_dropped, config)


def _say_segments(segments: dict, fallbacks: dict, config) -> None:
    """Which leads each segment's champion scored, and why the global model scored a segment's leads."""
    for name, scored in segments.items():
        console.print(f"  segment {escape(name)}: {scored['rows']:,} leads scored with "
                      f"{escape(config.for_segment(name).registry.model_name)} version {scored['version']}")
    for why in fallbacks.values():
        console.print(f"  [yellow]![/yellow] {escape(why)}", soft_wrap=True)  # it names the segment


def _say_dropped(nights: int, config) -> None:
    if nights:
        console.print(f"dropped {nights:,} night{'s' if nights != 1 else ''} older than score.retention_days "
                      f"({config.score.retention_days} days) from the database and the parquet folder")


def _logged(logged_to: str) -> str:
    """Where a failed run was logged, when the database could not take it (markup-safe)."""
    return "" if logged_to in ("", "database") else f" (run logged in the fallback run log {escape(logged_to)})"


@group.command()
@handle_errors()
def nightly(
    as_of: Annotated[dt.datetime | None, typer.Option(
        "--as-of", help="Night to score (UTC midnight); default: midnight after the latest data.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
    allow_unapproved: AllowUnapprovedOpt = False,
    engine: EngineOpt = Engine.default,
):
    """The nightly job: validate, score the open leads with the champion, publish, check drift, log the run.

    Exit codes: 0 published, 3 published with warnings, 1 failed (previous scores untouched),
    2 invalid params.yaml, 4 another run holds the publish lock.
    """
    from pipeline.steps import nightly as step

    config = _config(params)
    result = step.run(config, as_of=as_of, sources=sources, allow_unapproved=allow_unapproved, engine=engine.value)
    if result.exit_code in (step.FAILED, step.LOCKED):
        err_console.print(f"[red]{escape(str(result.status))}:[/red] {escape(str(result.error))}"
                          f"{_logged(result.logged_to)}", soft_wrap=True)
        raise typer.Exit(result.exit_code)
    unapproved = " UNAPPROVED" if str(result.definition_version).endswith("+unapproved") else ""
    console.print(f"{'[yellow]' if unapproved else ''}night {result.as_of:%Y-%m-%d}: {escape(str(result.status))}; "
                  f"{result.leads_scored:,} open leads scored with model version {result.model_version}{unapproved} "
                  f"(definition "
                  f"{escape(str(result.definition_version))}); {result.rejects:,} source rows quarantined; "
                  f"run {escape(str(result.run_id))}")
    _say_segments(result.segments, result.fallbacks, config)
    _say_dropped(result.nights_dropped, config)
    if result.drift is not None and len(result.drift):
        top = ", ".join(f"{r.column} {r.psi:.3f}" for r in result.drift.head(3).itertuples())
        console.print(f"largest population shifts (PSI): {escape(top)}")
    for warning in result.warnings:
        console.print(f"[yellow]![/yellow] {escape(str(warning))}")
    if _logged(result.logged_to):
        console.print(f"[yellow]![/yellow]{_logged(result.logged_to)}")
    raise typer.Exit(result.exit_code)


@group.command()
@handle_errors()
def runs(top: Annotated[int, typer.Option("--top", help="How many runs to show.")] = 20):
    """The run log of nightly and score runs, newest first: the database's, merged with the local fallback run
    log (runs the database could not take); the column `log` says which held each."""
    frame, problem = io.read_run_log(limit=top)
    if problem:
        err_console.print(f"[yellow]{escape(problem)}: showing the fallback run log "
                          f"{escape(str(io.fallback_run_log()))} only[/yellow]", soft_wrap=True)
    if frame.empty:
        console.print("[yellow]no nightly runs logged yet (run `leadscore nightly`)[/yellow]")
        return
    import pandas as pd

    table = Table(title="Runs (times UTC); `leadscore rejects --run-id RUN` lists a run's quarantined rows")
    for col in ("run", "night", "started", "took", "status", "leads", "rejects", "model", "definition", "log"):
        table.add_column(col, no_wrap=col not in ("status", "definition"), overflow="fold")
    table.add_column("warnings / error", overflow="fold")
    for r in frame.to_dict("records"):
        started = pd.Timestamp(r["started"])
        took = (f"{(pd.Timestamp(r['finished']) - started).total_seconds():.1f} s" if r.get("finished")
                else "")
        warnings = len(json.loads(r["warnings"] or "[]"))
        add_row(table, r["run_id"], r["as_of"] or "", f"{started:%Y-%m-%d %H:%M:%S}", took,
                r["status"], f"{int(r['leads_scored'] or 0):,}", f"{int(r['rejects'] or 0):,}",
                int(r["model_version"]) if r["model_version"] is not None else "",
                r["definition_version"] or "", "database" if r["logged_to"] == "database" else "fallback",
                f"{warnings} warning{'s' if warnings != 1 else ''}" if warnings else (r.get("error") or ""))
    console.print(table)


@group.command()
@handle_errors()
def rejects(
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run to show (default: latest).")] = None,
    top: Annotated[int, typer.Option("--top", help="How many rows to list.")] = 30,
):
    """Source rows the nightly job quarantined: table, row, key, column, reason and the offending value."""
    io.require_scores_store()
    frame = io.read_rejects(run_id=run_id)
    if frame.empty:
        console.print("[green]no quarantined rows[/green]" + (f" for run {escape(run_id)}" if run_id else ""))
        return
    summary = frame.groupby(["table_name", "column_name", "reason"], sort=False).size()
    console.print(f"run {escape(str(frame['run_id'].iloc[0]))} (night {escape(str(frame['as_of'].iloc[0]))}): "
                  f"{len(frame):,} rows quarantined")
    for (table_name, column, reason), n in summary.items():
        console.print(f"  {escape(f'{table_name}.{column}')}: {n:,} rows {escape(str(reason))}")
    table = Table(title=f"First {min(top, len(frame))} quarantined rows")
    for col in ("table_name", "row_number", "row_key", "column_name", "reason", "value"):
        table.add_column(col.replace("_name", ""), overflow="fold")
    for r in frame.head(top).itertuples(index=False):
        add_row(table, r.table_name, r.row_number, r.row_key or "", r.column_name, r.reason, r.value or "")
    console.print(table)


def _print_monitor(result, whose: str = "") -> None:
    """One model's promises, nights and coverage (``whose``: "segment NAME: " for a segment model's), then each
    segment model's."""
    _print_promises(result, whose)
    for name, segment in result.segments.items():
        console.print(f"[bold]segment {escape(name)}[/bold]: {escape(str(segment.message))}", soft_wrap=True)
        _print_promises(segment, f"segment {name}: ")


def _print_promises(result, whose: str = "") -> None:
    if result.promises.empty:
        return
    table = Table(title=f"{escape(whose)}Promise against reality: {len(result.evidence.matured)} matured nights, "
                        "pooled")
    for col in ("version", "grade", "leads", "conversions", "realized [interval]", "promised [interval]",
                "verdict"):
        table.add_column(col, justify="left" if col == "verdict" else "right")
    for r in result.promises.itertuples():
        realized = "–" if r.leads == 0 else f"{r.realized_rate:.1%} [{r.low:.1%}, {r.high:.1%}]"
        add_row(table, r.model_version, r.grade, f"{r.leads:,}", f"{r.conversions:,}", realized,
                f"{r.promised_rate:.1%} [{r.promised_low:.1%}, {r.promised_high:.1%}]",
                text(r.verdict, "red" if r.breach else ""))
    console.print(table)
    nights = result.by_night[result.by_night["breach"]]
    if len(nights):
        console.print("nights outside the promise: " + escape(", ".join(
            f"{r.as_of_ts:%Y-%m-%d} {r.grade} {r.realized_rate:.1%} vs {r.promised_rate:.1%}"
            for r in nights.itertuples())))
    cohorts = Table(title=f"{escape(whose)}Per matured night")
    for col in ("night", "leads", "converted", "mean probability", "ROC AUC", "calibration error"):
        cohorts.add_column(col, justify="right")
    for r in result.cohorts.itertuples():
        add_row(cohorts, f"{r.as_of_ts:%Y-%m-%d}", f"{r.leads:,}", f"{r.conversion_rate:.2%}",
                f"{r.mean_probability:.2%}", f"{r.roc_auc:.3f}", f"{r.ece:.4f}")
    console.print(cohorts)
    if len(result.buyers) and result.buyers["buyers"].sum():
        total = int(result.buyers["buyers"].sum())
        console.print(f"{escape(whose)}coverage: {result.coverage:.1%} of the {total:,} leads that bought within the "
                      "window after a matured night were scored that night (" + escape(", ".join(
                          f"{r.grade} {r.share:.1%}" for r in result.buyers.itertuples())) + ")")


@group.command()
@handle_errors()
def monitor(params: ParamsOpt = Path("params.yaml"), sources: SourcesOpt = None):
    """Check every grade's promise on the scored nights whose window has elapsed; log it to MLflow.

    Exit codes: 0 every grade kept its promise, or no night has matured yet (said plainly); 3 at least one
    grade converts outside its promise; 1 failed; 2 invalid params.yaml.
    """
    from pipeline.steps import monitor as step

    config = _config(params)
    result = step.run(config, sources=sources)
    _print_monitor(result)
    colour = "red" if result.exit_code == step.BREACH else "green"
    console.print(f"[{colour}]{escape(str(result.message))}[/{colour}] (MLflow run {escape(result.run_id[:8])} in "
                  f"{escape(config.monitor.experiment_name)})")
    raise typer.Exit(result.exit_code)


ArtifactsOpt = Annotated[Path | None, typer.Option(
    "--artifacts", help="The MLflow server's artifacts folder (--artifacts-destination); default "
                        "$LEADSCORE_ARTIFACTS_DIR, which team.sh writes to team.env.")]


@group.command()
@handle_errors()
def backup(
    out: Annotated[Path, typer.Option("--out", help="The archive to write (.tar.gz).")],
    artifacts: ArtifactsOpt = None,
):
    """Dump leadscore's database, MLflow's database ($MLFLOW_BACKEND_STORE_URI) and MLflow's artifacts to one
    archive (run it where the services run: it needs the database URLs of team.env)."""
    from pipeline import backup as backups

    try:
        manifest = backups.backup(out, artifacts=artifacts)
    except backups.BackupError as exc:
        raise fail(str(exc)) from None
    for entry in manifest["databases"]:
        console.print(f"{escape(' + '.join(entry['roles']))}: {entry['kind']}, {entry['tables']} tables")
    console.print(f"backup written to {escape(str(out))} ({out.stat().st_size / 1e6:.1f} MB)")


@group.command()
@handle_errors()
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `leadscore backup`.")],
    artifacts: ArtifactsOpt = None,
):
    """Load a backup into an empty stack: empty databases ($LEADSCORE_DB_URL, $MLFLOW_BACKEND_STORE_URI) and an empty
    artifacts folder, before the MLflow server starts on them. A database or folder that holds anything is refused."""
    from pipeline import backup as backups

    try:
        manifest = backups.restore(archive, artifacts=artifacts)
    except backups.BackupError as exc:
        raise fail(str(exc)) from None
    console.print(f"restored the backup of {escape(manifest['created'])} into {escape(io.shown_url())}")
