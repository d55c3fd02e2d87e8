"""The workspace in a browser (``leadscore serve``) and who may open it (``leadscore user add|token|list``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline import io
from pipeline.cli.common import ParamsOpt, add_row, console, escape, fail, handle_errors

group = typer.Typer()
user_group = typer.Typer(no_args_is_help=True, help="Workspace users: add one, give one an API token, list them.")


@group.command()
@handle_errors()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 exposes it to the network: "
                                                     "put it behind the team's HTTPS reverse proxy).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    params: ParamsOpt = Path("params.yaml"),
):
    """The workspace sales and marketing open in a browser: queue, leads, runs, the definition to sign, and the
    JSON API under /api."""
    import uvicorn

    from pipeline import users
    from pipeline.web import create_app

    io.require_scores_store()
    if not users.list_users():
        console.print("[yellow]no workspace users yet: add one with `leadscore user add NAME --team sales`[/yellow]")
    app = create_app(params=params)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print("[yellow]listening beyond this machine: serve it behind an HTTPS reverse proxy and set "
                      "LEADSCORE_SECURE_COOKIES=1 (passwords and session cookies must not cross a network in "
                      "clear)[/yellow]")
    console.print(f"workspace on http://{escape(host)}:{port}  (scores: {escape(io.shown_url())}; Ctrl+C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


@user_group.command("add")
@handle_errors()
def user_add(
    name: Annotated[str, typer.Argument(help="Sign-in name (matched case-insensitively).")],
    team: Annotated[str, typer.Option("--team", help="marketing | sales | data-science")],
    role: Annotated[str, typer.Option("--role", help="member | manager | admin")] = "member",
    owner_id: Annotated[str | None, typer.Option(
        "--owner-id", help="The CRM owner id whose leads this user works (default: the name itself).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input instead of "
                                 "generating one.")] = False,
):
    """Add a workspace user; prints a one-time password unless one is read from stdin."""
    from pipeline import users

    password = _read_password() if password_stdin else None
    user, password = users.add_user(name, team=team, role=role, password=password, owner_id=owner_id)
    console.print(f"added {escape(user.name)} ({escape(user.team)}, {escape(user.role)}; owner id "
                  f"{escape(user.owner_key)}) to {escape(io.shown_url())}")
    if not password_stdin:
        console.print(f"one-time password: {escape(password)}")
        console.print("[yellow]shown once: hand it over privately[/yellow]")


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise fail("--password-stdin: standard input held no password")
    return password


@user_group.command("password")
@handle_errors()
def user_password(
    name: Annotated[str, typer.Argument(help="The user whose password changes.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the new password from the first line of standard input instead of "
                                 "generating one.")] = False,
):
    """Set a new password for NAME (printed once unless read from stdin); signs out every session of NAME."""
    from pipeline import users

    user, password = users.set_password(name, _read_password() if password_stdin else None)
    console.print(f"new password set for {escape(user.name)}; their open sessions are signed out")
    if not password_stdin:
        console.print(f"one-time password: {escape(password)}")
        console.print("[yellow]shown once: hand it over privately[/yellow]")


@user_group.command("revoke-tokens")
@handle_errors()
def user_revoke_tokens(name: Annotated[str, typer.Argument(help="The user whose API tokens stop working.")]):
    """Revoke every API token of NAME (a leaked token, a script retired)."""
    from pipeline import users

    count = users.revoke_tokens(name)
    console.print(f"revoked {count} API token(s) of {escape(name)}")


@user_group.command("remove")
@handle_errors()
def user_remove(name: Annotated[str, typer.Argument(help="The user to remove.")]):
    """Remove NAME and their API tokens (someone who left); their approvals stay on record under their name."""
    from pipeline import users

    user = users.remove_user(name)
    console.print(f"removed {escape(user.name)} ({escape(user.team)}, {escape(user.role)}) and their API tokens "
                  f"from {escape(io.shown_url())}")


@user_group.command("token")
@handle_errors()
def user_token(name: Annotated[str, typer.Argument(help="The user the token acts as.")]):
    """A new API token for NAME (printed once; only its hash is kept)."""
    from pipeline import users

    token = users.issue_token(name)
    print(token)  # alone on stdout, no log prefix: `TOKEN=$(leadscore user token NAME)` works


@user_group.command("list")
@handle_errors()
def user_list():
    """Every workspace user with team, role and owner id (never a password or token)."""
    from pipeline import users

    found = users.list_users()
    if not found:
        console.print("no workspace users yet: add one with `leadscore user add NAME --team sales`")
        return
    table = Table(title=f"Workspace users ({escape(io.shown_url())})")
    for col in ("name", "team", "role", "owner id", "added"):
        table.add_column(col)
    for user in found:
        add_row(table, user.name, user.team, user.role, user.owner_key, user.created_at)
    console.print(table)
