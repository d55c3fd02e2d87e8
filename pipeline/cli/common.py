"""What every command group shares: the process set-up, the consoles, option types, escaping, the one error
handler, loading ``--params`` and picking a model version.

Data is never markup. Everything printed that comes from data (company names, owners, reasons, column names of
a CRM export, paths, error messages) is escaped with :func:`escape` inside a markup string, or given to a table as
a :class:`rich.text.Text` cell through :func:`add_row`; only the styling the code writes itself (``[red]error:``)
is markup.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pipeline.config import ConfigError, load_config
from pipeline.publish_lock import LockHeld

EXIT_FAILED = 1  # README: failed; nothing new published
EXIT_INVALID_PARAMS = 2  # README: invalid params.yaml (and a wrong combination of options)
EXIT_LOCKED = 4  # README: another run holds the publish lock
# What a step raises for bad input (or a source database it cannot read): "error: …", exit 1
FAILURES = (ValueError, FileNotFoundError, LookupError, ConnectionError)

LOG_FORMATS = ("auto", "plain", "json")
_output = {"format": os.environ.get("LEADSCORE_LOG_FORMAT", "auto")}
_COMMAND = {"name": ""}


class LogConsole(Console):
    """A Rich console that writes for whoever reads it.

    On a terminal (``--log-format auto``, the default), Rich as usual: colours, tables fitted to the window.
    Anywhere else (cron, systemd, a pipe), or with ``--log-format plain``, what a log file wants: every line
    starts with a UTC timestamp and the level, nothing is wrapped, no colour codes. ``--log-format json``: one
    JSON object per message (time, level, command, message) for log shippers. Errors go to stderr in every
    format (``err_console``), so a cron line ``>> log 2>&1`` keeps both in order.
    """

    def __init__(self, *, stderr: bool = False, level: str = "INFO"):
        super().__init__(stderr=stderr, emoji=False)
        self.level = level

    def _log_format(self) -> str:
        fmt = _output["format"]
        if fmt == "auto":
            return "terminal" if self.file.isatty() else "plain"
        return fmt

    def print(self, *objects, **kwargs) -> None:  # noqa: A003 — Rich's name
        fmt = self._log_format()
        if fmt == "terminal":
            return super().print(*objects, **kwargs)
        level = self.level
        if objects and isinstance(objects[0], str) and objects[0].startswith("[yellow]"):
            level = "WARNING"
        plain = Console(file=StringIO(), width=1000, no_color=True, emoji=False, highlight=False,
                        soft_wrap=True, color_system=None)
        plain.print(*objects, **kwargs)
        lines = [line.rstrip() for line in plain.file.getvalue().rstrip("\n").split("\n")]
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if fmt == "json":
            record = {"time": now, "level": level, "command": _COMMAND["name"], "message": "\n".join(lines)}
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            self.file.write("".join(f"{now} {level:<7} {line}\n" for line in lines))
        self.file.flush()


# Output for people on stdout, errors on stderr. Emoji codes stay text: a company called ":fire: Ltd" is
# printed as written.
console = LogConsole()
err_console = LogConsole(stderr=True, level="ERROR")


def set_log_format(fmt: str, command: str = "") -> None:
    if fmt not in LOG_FORMATS:
        raise typer.BadParameter(f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    _output["format"] = fmt
    _COMMAND["name"] = command

ParamsOpt = Annotated[Path, typer.Option("--params", envvar="LEADSCORE_PARAMS", show_envvar=True,
                                         help="Path to params.yaml (or an override file that extends it).")]
def parse_sources(value: str) -> Path | str:
    """``--sources``: a folder (or export file) as a path, a database URL (``dialect[+driver]://…``) as text."""
    return value if "://" in value else Path(value)


SourcesOpt = Annotated[Path | None, typer.Option(
    "--sources", parser=parse_sources, metavar="FOLDER|URL",
    help="Folder of source tables, or a database URL holding them (postgresql+psycopg://…, sqlite:///…) "
         "(default: $LEADSCORE_SOURCES or data/demo).")]
SegmentOpt = Annotated[str | None, typer.Option(
    "--segment", help="A segment declared in params.yaml (segments:): act on its model (<model_name>--<segment>) "
                      "instead of the global one.")]
VersionOpt = Annotated[int | None, typer.Option("--version", help="Model version.")]
LatestOpt = Annotated[bool, typer.Option("--latest", help="The newest registered version.")]


def setup() -> None:
    """The process-wide set-up of ``leadscore``, done once when the command line starts, never at import.

    ``main()`` calls it before anything else, and the app's callback calls it again (idempotent) so that
    commands run through ``typer.testing.CliRunner`` get the same set-up.

    - ``OMP_WAIT_POLICY=PASSIVE`` comes first: LightGBM's OpenMP threads spin while waiting by default, and
      on a shared 2-core machine (a scheduler, a second job, CI) spinning threads starve each other and a
      10-second fit takes minutes; passive waiting costs nothing measurable on an idle machine. OpenMP reads
      the variable once, when lightgbm loads its library, so it must be set before any command imports
      lightgbm (importing ``pipeline.cli`` does not; the steps are imported inside the commands).
    - ``MPLBACKEND=Agg``: the plots are written to files and MLflow, never shown; matplotlib reads the
      variable when it is first imported (again inside a command), so no display is ever looked for.
    - MLflow narrates every registry call at INFO and warns about choices made on purpose here (a custom
      pyfunc without type hints, an integer score column): keep the terminal for what the
      user asked for.

    - ``.env``: the environment file of the project home (``$LEADSCORE_HOME``, else the current folder) is
      read, as ``.env.example`` documents; a variable already set wins over the file.

    Every setting is a default: a variable already set by the user wins.
    """
    load_env_file()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for chatty in ("mlflow", "alembic"):  # MLflow narrates registry calls and store migrations at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for message in (".*type hint.*", ".*Integer columns in Python cannot represent missing values.*"):
        warnings.filterwarnings("ignore", message=message)  # an identical filter is replaced, not stacked


def load_env_file() -> Path | None:
    """Read ``<home>/.env`` into the environment (never overriding a set variable); the file read, if any. A
    ``LEADSCORE_HOME`` set in the current folder's ``.env`` moves the home, and that home's ``.env`` is read too."""
    from dotenv import load_dotenv

    read = None
    for _ in range(2):
        path = Path(os.environ.get("LEADSCORE_HOME") or ".").expanduser() / ".env"
        if path == read or not path.is_file():
            break
        load_dotenv(path, override=False)
        read = path
    return read


def text(value: object, style: str = "") -> Text:
    """A table cell that shows ``value`` as written (no markup, no emoji); None is an empty cell."""
    return value if isinstance(value, Text) else Text("" if value is None else str(value), style=style)


def add_row(table: Table, *cells: object) -> None:
    """``table.add_row`` with every cell taken literally; style a cell with ``text(value, style)``."""
    table.add_row(*(text(cell) for cell in cells))


class InvalidParams(ConfigError):
    """The ``--params`` file does not load: exit 2. (A ConfigError raised inside a step, e.g. ``init`` checking
    the file it is about to write, is a failure like any ValueError: exit 1, as it always was.)"""


def _promotion_refused() -> type[Exception] | None:
    # Only `promote` raises it, after importing its step; no other command pays for importing MLflow here.
    step = sys.modules.get("pipeline.steps.promote")
    return getattr(step, "PromotionRefused", None)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """The one mapping from exceptions to the documented exit codes, printed on stderr.

    ``InvalidParams`` → the problems, exit 2; ``PromotionRefused`` → every reason, exit 1; ``LockHeld`` → exit 4;
    ValueError, FileNotFoundError, LookupError, an unreachable database → ``error: …``, exit 1. Anything else is
    a bug and keeps its traceback. Use it as a decorator under ``@group.command()``.
    """
    try:
        yield
    except InvalidParams as exc:
        err_console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(EXIT_INVALID_PARAMS) from None
    except FAILURES as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    except LockHeld as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_LOCKED) from None
    except Exception as exc:
        unreachable = _database_unreachable(exc)
        if unreachable:
            err_console.print(f"[red]error:[/red] {escape(unreachable)}")
            raise typer.Exit(EXIT_FAILED) from None
        refused = _promotion_refused()
        if refused is None or not isinstance(exc, refused):
            raise
        err_console.print(f"[red]refused:[/red] version {escape(str(exc.version))} cannot become champion:")
        for reason in exc.reasons:
            err_console.print(f"  [red]✗[/red] {escape(str(reason))}")
        raise typer.Exit(EXIT_FAILED) from None


def _database_unreachable(exc: Exception) -> str | None:
    """One line for a database that cannot be reached (down, wrong host, wrong password), naming it with the
    password masked; None for any other error. The driver's own message is cut to its first line: psycopg's
    second lines repeat the host, never a password, but a traceback of 400 lines helps no operator."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None or not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return None
    from pipeline import io

    return f"the scores database {io.shown_url()} cannot be reached: {io.driver_message(exc)}"


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print ``error: message`` (``message`` is markup: escape the data in it) on stderr; ``raise`` the result."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _config(params: Path, segment: str | None = None):
    """The params file, as the config of the global model or of one declared segment's (``--segment``)."""
    try:
        config = load_config(params)
    except ConfigError as exc:
        raise InvalidParams(str(exc)) from None
    try:
        return config.for_segment(segment)
    except ValueError as exc:  # --segment names no segment of this params file: say which file was read
        raise InvalidParams(f"{params}: {exc}") from None


def _pick_version(config, version: int | None, latest: bool) -> int:
    from pipeline import tracking

    if (version is None) == (not latest):
        raise fail("give exactly one of --version N or --latest", EXIT_INVALID_PARAMS)
    if latest:
        tracking.configure()
        return tracking.latest_version(config.registry.model_name)
    return version


class Engine(enum.StrEnum):
    default = "default"
    spark = "spark"


EngineOpt = Annotated[Engine, typer.Option(
    "--engine", help="default: pandas on this machine. spark: the same builders (and champions) in Spark partitions "
                     "(the spark extra and Java 17; master from LEADSCORE_SPARK_MASTER, default local[*]; sources "
                     "a parquet folder or params.yaml's spark.database).")]
