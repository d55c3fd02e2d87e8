"""What sales and marketing read: the sales queue in the terminal, the HTML report for everyone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline import io
from pipeline.cli.common import (
    EXIT_FAILED,
    ParamsOpt,
    SourcesOpt,
    _config,
    add_row,
    console,
    err_console,
    escape,
    handle_errors,
)

group = typer.Typer()


@group.command()
@handle_errors()
def queue(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's leads.")] = None,
    top: Annotated[int, typer.Option("--top", help="How many leads to show.")] = 20,
    as_of: Annotated[dt.datetime | None, typer.Option("--as-of", help="Scores of this date (default latest).")] = None,
):
    """The sales queue: open leads sorted by score, best first."""
    import pandas as pd

    io.require_scores_store()
    frame = io.read_scores(as_of=pd.Timestamp(as_of, tz="UTC") if as_of else None, owner=owner)
    if frame.empty:
        err_console.print("[yellow]no scores published yet (run `leadscore score`)[/yellow]")
        raise typer.Exit(EXIT_FAILED)
    when = frame["as_of_ts"].iloc[0]
    title = f"Sales queue as of {when:%Y-%m-%d}" + (f" for {escape(owner)}" if owner else "")
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
        segment = getattr(row, "segment", None)
        grade = row.grade if not segment or pd.isna(segment) else f"{row.grade}\n{segment}"  # its segment's grades
        add_row(table, rank, row.lead_id, company, row.owner_id or "", grade, row.score, f"{row.probability:.1%}", why)
    console.print(table)
    segments = frame["segment"] if "segment" in frame.columns else pd.Series(None, index=frame.index)
    if segments.isna().all():
        definition = frame["definition_version"].iloc[0] if "definition_version" in frame.columns else "?"
        console.print(f"model version {escape(str(frame['model_version'].iloc[0]))}, definition "
                      f"{escape(str(definition))}; probability = chance of a conversion as the definition states it "
                      "(`leadscore definition`)")
        return
    models = (frame.assign(segment=segments.fillna("")).groupby("segment", sort=True)
              .agg(version=("model_version", "first"), definition=("definition_version", "first"),
                   leads=("lead_id", "size")))
    console.print(escape("; ".join(
        f"{'segment ' + name if name else 'global model'}: version {m.version}, definition {m.definition}, "
        f"{m.leads:,} leads" for name, m in models.iterrows())), soft_wrap=True)
    console.print(escape("probability = chance of a conversion as each model's definition states it (`leadscore "
                         "definition [--segment NAME]`); a grade is sized by its model's capacity"))


@group.command()
@handle_errors()
def report(
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML page.")] = Path("report.html"),
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """One self-contained HTML page: the definition, promise vs reality, marketing and sales views, drift."""
    from pipeline.steps import report as step

    config = _config(params)
    result = step.run(config, out=out, sources=sources)
    console.print(escape(str(result.monitor.message)))
    console.print(f"report written to {escape(str(result.path.resolve()))} (also logged to MLflow run "
                  f"{escape(result.run_id[:8])})")
