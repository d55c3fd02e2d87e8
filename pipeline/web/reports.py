"""The Report page's data: ``leadscore report``'s own :func:`pipeline.steps.report.build`, kept between requests.

Building reads every published night and the source tables (seconds on the demo, more on a large CRM), so the
workspace keeps the last build and builds again only when something it reads has changed: the run log's latest
run (a night published or failed), the champion, the source files, or ``params.yaml``; and at most every
``MAX_AGE_SECONDS`` regardless, for what no stamp sees (an approval, a nightly's drift). One build at a time:
matplotlib's pyplot, which draws the figures, is not made for threads drawing at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import sqlalchemy as sa
from mlflow.exceptions import MlflowException

from pipeline import io, tracking
from pipeline.config import Config
from pipeline.steps import report as report_step

matplotlib.use("Agg")  # a server draws to memory, never to a screen

MAX_AGE_SECONDS = 15 * 60


class ReportUnavailable(Exception):
    """The stores cannot give a report yet (no model, no published night, unreadable sources): the message says
    which and what to run."""


@dataclass(frozen=True)
class Built:
    report: report_step.Report
    stamp: tuple
    built_at: float  # time.monotonic()
    at: datetime     # the same instant, UTC, to show
    seconds: float   # how long the build took


class ReportCache:
    """The last report built, rebuilt when its stamp changes or it is older than ``max_age`` seconds."""

    def __init__(self, config: Callable[[], Config], *, sources: Path | None, url: str | None,
                 sources_stamp: Callable[[], tuple], params: Path, max_age: float = MAX_AGE_SECONDS):
        self._config = config
        self._sources = sources
        self._url = url
        self._sources_stamp = sources_stamp
        self._params = params
        self._max_age = max_age
        self._lock = threading.Lock()
        self._built: Built | None = None

    def _stamp(self, config: Config) -> tuple:
        runs, _ = io.read_run_log(url=self._url, limit=1)
        latest = tuple(runs.iloc[0][["run_id", "status", "finished"]].astype(str)) if not runs.empty else ()
        tracking.configure()
        champion = tuple(tracking.champion_version(c.registry.model_name)  # a segment's promotion rebuilds it too
                         for c in [config, *(config.for_segment(s.name) for s in config.segments)])
        params = self._params.stat().st_mtime_ns if self._params.exists() else None
        return latest, champion, self._sources_stamp(), params

    def get(self) -> Built:
        """The report, built now if the stores changed since the last build. Raises :class:`ReportUnavailable`."""
        with self._lock:
            try:
                config = self._config()
                stamp = self._stamp(config)
                built = self._built
                if built is not None and built.stamp == stamp and time.monotonic() - built.built_at < self._max_age:
                    return built
                started = time.monotonic()
                report = report_step.build(config, self._sources, url=self._url)
            except sa.exc.SQLAlchemyError as exc:
                raise ReportUnavailable(io.database_problem(exc, self._url)) from exc
            except (FileNotFoundError, LookupError, ValueError, io.DatabaseUnavailable, MlflowException) as exc:
                raise ReportUnavailable(str(exc)) from exc
            self._built = Built(report, stamp, time.monotonic(), datetime.now(UTC), time.monotonic() - started)
            return self._built

    def warm(self) -> None:
        """Build in the background as the server starts, so the first person to open the page does not wait."""
        with contextlib.suppress(ReportUnavailable):  # the page says why when someone opens it
            self.get()
