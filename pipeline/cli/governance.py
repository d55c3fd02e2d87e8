"""Commands of sign-off and release: what a version promises (definition), the teams' approval, the champion alias.

A group of its own because its users are not only data scientists: marketing and sales leads read and sign
the definition, and whoever releases (a person or CI) promotes and rolls back; every action is recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import (
    LatestOpt,
    ParamsOpt,
    SourcesOpt,
    VersionOpt,
    _config,
    _pick_version,
    add_row,
    console,
    escape,
    handle_errors,
)

group = typer.Typer()


@group.command()
@handle_errors()
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
    record = step.approve(config, version=version, team=team, by=by, comment=comment)
    console.print(f"{escape(team)} approved version {version} (definition {escape(str(record['definition_version']))})"
                  f" by {escape(by)} at {escape(str(record['at']))}")


@group.command()
@handle_errors()
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
    outcome = step.promote(config, version=version, by=by, force=force, reason=reason, sources=sources)
    for check in outcome.checks:  # a refusal (step.PromotionRefused) is listed by handle_errors, exit 1
        mark = "[yellow]![/yellow]" if check.startswith("OVERRIDDEN") else "[green]✓[/green]"
        console.print(f"  {mark} {escape(check)}")
    was = f" (was version {outcome.previous})" if outcome.previous is not None else ""
    forced = " [yellow]FORCED[/yellow]" if outcome.forced else ""
    console.print(f"{escape(config.registry.model_name)}@champion → version {outcome.version}{was}{forced}")


@group.command()
@handle_errors()
def rollback(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    by: Annotated[str | None, typer.Option("--by", help="Who rolls back (default: the OS user).")] = None,
    params: ParamsOpt = Path("params.yaml"),
):
    """Return `champion` to the version the current champion replaced."""
    from pipeline.steps import promote as step

    config = _config(params)
    old, new = step.rollback(config, by=by, reason=reason)
    console.print(f"{escape(config.registry.model_name)}@champion → version {new} (rolled back from version {old})")


@group.command()
@handle_errors()
def promotions(params: ParamsOpt = Path("params.yaml")):
    """The promotion history: every promotion, override and rollback."""
    from pipeline.steps import promote as step

    config = _config(params)
    table = Table(title=f"Promotion history of {escape(config.registry.model_name)}")
    for col in ("at", "action", "version", "previous", "definition", "by", "forced", "reason"):
        table.add_column(col)
    for e in step.history(config):
        add_row(table, e["at"], e["action"], e["version"], e.get("previous") or "", e.get("definition_version", ""),
                e.get("by", ""), "yes" if e.get("forced") else "", e.get("reason", ""))
    console.print(table)


@group.command()
@handle_errors()
def definition(
    version: VersionOpt = None,
    diff: Annotated[tuple[int, int] | None, typer.Option("--diff", help="Compare two versions: --diff A B.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON, for other programs.")] = False,
    params: ParamsOpt = Path("params.yaml"),
):
    """Print a version's quality-lead definition (default: the champion's), or what changed between two."""
    import json

    from rich.markdown import Markdown

    from models.definition import diff_definitions, render_markdown, summarize
    from pipeline.steps import promote as step

    config = _config(params)
    if diff:
        (a, da), (b, db) = step.load_definition(config, diff[0]), step.load_definition(config, diff[1])
        changes = diff_definitions(da, db)
        console.print(f"definition {escape(str(da['definition_version']))} (version {a}) → "
                      f"{escape(str(db['definition_version']))} (version {b}): {len(changes)} changes")
        table = Table()
        for col in ("what", f"version {a}", f"version {b}"):
            table.add_column(col)
        for what, x, y in changes:
            add_row(table, what, x, y)
        console.print(table)
        return
    v, d = step.load_definition(config, version)
    if as_json:  # plain stdout, no Rich: a pipe gets exactly the JSON
        typer.echo(json.dumps(summarize(d, v), indent=2))
        return
    # Markdown is not Rich markup, but a link in it would become a terminal hyperlink: show links as text.
    console.print(Markdown(render_markdown(d), hyperlinks=False))
    console.print(f"(model version {v})")
