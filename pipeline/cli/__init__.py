"""``leadscore``: the command line for data scientists, the teams who sign off, the nightly scheduler, and sales.

The commands live in modules by who uses them (``data_science``, ``governance``, ``operations``, ``views``,
``environment``, ``workspace``); ``common`` holds what they share. Importing this package sets nothing process-wide:
:func:`main` (the console script) and the app's callback run :func:`pipeline.cli.common.setup` first.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli import data_science, environment, governance, operations, views, workspace
from pipeline.cli.common import set_log_format, setup

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="leadscore: calibrated lead-to-sale probabilities, trained, tracked and scored nightly.")

GROUPS = (data_science, governance, operations, views, environment, workspace)
# The order `leadscore --help` has always listed them in (the groups interleave); a command not named here is
# listed after these, in its group's order.
HELP_ORDER = ("generate", "init", "train", "compare", "tune", "approve", "promote", "rollback", "promotions",
              "definition", "score", "nightly", "monitor", "report", "runs", "rejects", "queue", "features", "feedback",
              "doctor", "backup", "restore", "serve")


def _name(command: typer.models.CommandInfo) -> str:
    return command.name or command.callback.__name__.replace("_", "-")


def _help_rank(command: typer.models.CommandInfo) -> int:
    name = _name(command)
    return HELP_ORDER.index(name) if name in HELP_ORDER else len(HELP_ORDER)


app.registered_commands.extend(sorted((c for g in GROUPS for c in g.group.registered_commands), key=_help_rank))
app.add_typer(workspace.user_group, name="user")
app.add_typer(data_science.sources_group, name="sources")


@app.callback()
def _set_up(ctx: typer.Context, log_format: Annotated[str, typer.Option(
        "--log-format", envvar="LEADSCORE_LOG_FORMAT",
        help="auto: Rich on a terminal, timestamped lines elsewhere | plain: timestamped lines | json: one "
             "object per message.")] = "auto") -> None:
    # No docstring: it would replace the app's help text. Runs before every command (CliRunner included).
    setup()
    set_log_format(log_format, ctx.invoked_subcommand or "")


def main() -> None:  # pragma: no cover (the console script; tests drive `app` through CliRunner)
    """The ``leadscore`` console script: set up the process (before anything loads lightgbm), then run."""
    setup()
    app()


__all__ = ["app", "main", "setup"]
