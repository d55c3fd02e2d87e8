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
    SegmentOpt,
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


TokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="LEADSCORE_TOKEN", show_envvar=True,
    help="Your API token (`leadscore user token NAME`): it says who you are and which team you sign for.")]


def _token_user(token: str | None, what: str):
    """The user a token belongs to; no token or an unknown one is refused (exit 1)."""
    from pipeline import users

    if not token:
        raise ValueError(f"{what} needs your API token: --token TOKEN or LEADSCORE_TOKEN "
                         "(an admin makes one with `leadscore user token NAME`)")
    user = users.user_for_token(token.strip())
    if user is None:
        raise ValueError("that token belongs to no leadscore user (make one with `leadscore user token NAME`)")
    return user


@group.command()
@handle_errors()
def approve(
    token: TokenOpt = None,
    team: Annotated[str | None, typer.Option("--team", help="marketing or sales: must be the token's team "
                                                            "(default: the token's team).")] = None,
    version: VersionOpt = None,
    latest: LatestOpt = False,
    comment: Annotated[str, typer.Option("--comment", help="Why, or on what condition.")] = "",
    reject: Annotated[bool, typer.Option("--reject", help="Record a rejection instead of an approval.")] = False,
    segment: SegmentOpt = None,
    params: ParamsOpt = Path("params.yaml"),
):
    """Sign (or --reject) a model version's quality-lead definition for your team, as the token's user; recorded in
    the leadscore database with the definition hash signed."""
    from pipeline.steps import promote as step

    config = _config(params, segment)
    version = _pick_version(config, version, latest)
    user = _token_user(token, "approve")
    record = step.approve(config, version=version, user=user, team=team, comment=comment,
                          decision="reject" if reject else "approve")
    verb = "rejected" if reject else "approved"
    console.print(f"{escape(record['team'])} {verb} version {version} (definition "
                  f"{escape(str(record['definition_version']))}) by {escape(user.name)} at {escape(str(record['at']))}")


@group.command()
@handle_errors()
def promote(
    token: TokenOpt = None,
    version: VersionOpt = None,
    latest: LatestOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Promote although checks fail (an admin; needs --reason). "
                                                        "Score and nightly still refuse a champion without both "
                                                        "approvals.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    segment: SegmentOpt = None,
    params: ParamsOpt = Path("params.yaml"),
    sources: SourcesOpt = None,
):
    """Make a version champion: only with both teams' approval and the promotion gates passed; recorded in the
    leadscore database, as the token's user (an admin or a data-science manager)."""
    from pipeline.steps import promote as step

    config = _config(params, segment)
    version = _pick_version(config, version, latest)
    user = _token_user(token, "promote")
    outcome = step.promote(config, version=version, by=user, force=force, reason=reason, sources=sources)
    for check in outcome.checks:  # a refusal (step.PromotionRefused) is listed by handle_errors, exit 1
        mark = "[yellow]![/yellow]" if check.startswith("OVERRIDDEN") else "[green]✓[/green]"
        console.print(f"  {mark} {escape(check)}")
    was = f" (was version {outcome.previous})" if outcome.previous is not None else ""
    forced = " [yellow]FORCED[/yellow]" if outcome.forced else ""
    console.print(f"{escape(config.registry.model_name)}@champion → version {outcome.version}{was}{forced}")


@group.command()
@handle_errors()
def rollback(
    token: TokenOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    segment: SegmentOpt = None,
    params: ParamsOpt = Path("params.yaml"),
):
    """Return `champion` to the version the current champion replaced (an admin or a data-science manager)."""
    from pipeline.steps import promote as step

    config = _config(params, segment)
    old, new = step.rollback(config, by=_token_user(token, "rollback"), reason=reason)
    console.print(f"{escape(config.registry.model_name)}@champion → version {new} (rolled back from version {old})")


@group.command()
@handle_errors()
def promotions(segment: SegmentOpt = None, params: ParamsOpt = Path("params.yaml")):
    """The promotion history from the leadscore database: every promotion, override and rollback, and whether the
    champion alias is where the last record put it."""
    from pipeline.steps import promote as step

    config = _config(params, segment)
    table = Table(title=f"Promotion history of {escape(config.registry.model_name)}")
    for col in ("at", "action", "version", "previous", "definition", "by", "team", "forced", "reason"):
        table.add_column(col)
    for e in step.history(config):
        add_row(table, e["at"], e["action"], e["version"], e.get("previous") or "", e.get("definition_version", ""),
                e["by"], e["team"], "yes" if e.get("forced") else "", e.get("reason", ""))
    console.print(table)
    unexplained = step.unexplained_alias(config)
    if unexplained:
        console.print(f"[red]![/red] {escape(unexplained)}")


@group.command()
@handle_errors()
def definition(
    version: VersionOpt = None,
    diff: Annotated[tuple[int, int] | None, typer.Option("--diff", help="Compare two versions: --diff A B.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON, for other programs.")] = False,
    segment: SegmentOpt = None,
    params: ParamsOpt = Path("params.yaml"),
):
    """Print a version's quality-lead definition (default: the champion's), or what changed between two."""
    import json

    from rich.markdown import Markdown

    from models.definition import diff_definitions, render_markdown, summarize
    from pipeline.steps import promote as step

    config = _config(params, segment)
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
