"""For whoever installs or operates leadscore: is this machine ready, and if not, what to fix."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pipeline.cli.common import ParamsOpt, add_row, console, handle_errors, text

group = typer.Typer()

STYLES = {"ok": "green", "warning": "yellow", "failed": "red", "skipped": "dim"}


@group.command()
@handle_errors()
def doctor(params: ParamsOpt = Path("params.yaml")):
    """Check the environment: project home and .env, params.yaml, the scores database and folder, the sources,
    the MLflow store and the champion. Exit 0 when nothing failed (warnings allowed), 1 otherwise."""
    from pipeline.steps import doctor as step

    checks = step.run(params)
    table = Table(title="leadscore doctor")
    for col in ("check", "status", "found", "what to do"):
        table.add_column(col, overflow="fold")
    for c in checks:
        add_row(table, c.name, text(c.status, STYLES[c.status]), c.found, c.fix)
    console.print(table)
    code = step.exit_code(checks)
    failed = [c.name for c in checks if c.status == "failed"]
    console.print("[green]ready[/green]" if not code else f"[red]not ready:[/red] {len(failed)} check(s) failed")
    raise typer.Exit(code)
