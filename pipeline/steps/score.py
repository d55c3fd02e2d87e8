"""score: the open leads of one or more nights → the same features as training → champion → published scores.

Inputs: the source params.yaml describes (``pipeline.sources``), ``models:/<model_name>@<model_alias>`` and
what that version froze of its source (a flat export's column plan). Output: the ``scores`` table
(database) and ``<scores dir>/as_of=<date>/scores.parquet``, one row per open lead in the layout of
``models.scoring.SCORE_TABLE_COLUMNS``. With segments in params.yaml, each lead is scored by its segment's
champion, else the global one (``pipeline.champions``), and the row names the segment. Scoring the same as-of date
again replaces that date's rows. It holds the nightly job's publish lock while it publishes (``leadscore score``
exits 4 while another run holds it), and logs each night in the run log (``leadscore runs``) as the nightly job
does. It checks no drift and no volumes: it is the command for replays and backfills, whose extract need not
be tonight's.

``engine="spark"`` (``pipeline.spark_engine``): the tables read by Spark once, each night scored in Spark
partitions by the same builders and champions, read back from a staging folder and published by the same
``io.write_scores``. A bad row fails the run as the default engine's strict reading does.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.schema import SourceError
from features.timeutil import as_utc
from pipeline import champions as lead_champions
from pipeline import io, publish_lock, signoff, tracking
from pipeline import sources as lead_sources
from pipeline.config import Config


@dataclass(frozen=True)
class ScoreResult:
    as_of: pd.Timestamp
    rows: int
    model_version: int
    parquet_path: Path
    grade_counts: dict[str, int]
    nights_dropped: int = 0  # old nights the retention (score.retention_days) removed
    warning: str = ""  # under --allow-unapproved: why the champion fails the sign-off check (rows stamped)
    segments: dict[str, dict[str, int]] = field(default_factory=dict)  # segment → its champion's version and rows
    fallbacks: dict[str, str] = field(default_factory=dict)  # segment → why the global model scored its leads


def run(config: Config, *, as_of=None, sources: Path | None = None, allow_unapproved: bool = False,
        engine: str = "default") -> ScoreResult:
    return run_nights(config, nights=[as_of] if as_of is not None else [], sources=sources,
                      allow_unapproved=allow_unapproved, engine=engine)[0]


class ScoreFailed(RuntimeError):
    """A night could not be published; logged in the run log first. ``published``: the nights of the same
    backfill published before it (each night is its own commit), ``logged_to``: where the failure was logged."""

    def __init__(self, message: str, *, published: list[ScoreResult], logged_to: str):
        super().__init__(message)
        self.published, self.logged_to = published, logged_to


def run_nights(config: Config, *, nights: list, sources: Path | None = None,
               allow_unapproved: bool = False, engine: str = "default") -> list[ScoreResult]:
    """Score and publish each night in turn (default: tonight only), reading the sources and loading the
    champion once: a backfill of past nights costs the features and predictions, not a start-up per night.

    Each night is logged in the run log as the nightly job logs its nights (run ids ``score-…``): when it starts
    and when it ends, in the database or else the local fallback run log. A failure is logged, then raised as
    ScoreFailed with one line (a database named with its password masked); LockHeld is raised as it is.

    Before publishing, the champion must match the sign-off record (``pipeline.signoff.check_champion``); a failed
    check fails the run, logged, nothing published, unless ``allow_unapproved`` (development): then every result
    carries the warning and the rows are stamped ``definition_version …+unapproved``."""
    results: list[ScoreResult] = []
    run, spark = _Run(), None
    try:
        if engine == "spark":
            from pipeline import spark_engine

            spark = spark_engine.SparkNight(config, io.source_location(sources))
        tracking.configure()
        source = lead_sources.open_source(config, sources)
        warnings: list[str] = []

        def check(cfg: Config, champion: tracking.Champion) -> tracking.Champion:
            signed = signoff.check_champion(cfg.registry.model_name, champion.number,
                                            required=cfg.promote.required_approvals,
                                            tagged_definition=champion.definition_version)
            if signed.passed:
                return champion
            if not allow_unapproved:
                raise signoff.SignoffError(signoff.refusal(signed))
            warnings.append(signoff.unapproved_warning(signed))
            return dataclasses.replace(champion, unapproved=True)

        champions = lead_champions.load(config, source)
        run = _Run(model_version=champions.main.number, definition_version=champions.main.definition_version)
        champions = lead_champions.checked(champions, config, check)
        champion = champions.main
        warning = " | ".join(warnings)
        with publish_lock.hold():  # the same lock as the nightly job: one publisher at a time, whoever it is
            io.recover_interrupted_runs()  # what a killed run left behind: no other run is alive while we hold it
            default = (lambda: spark.default_as_of(None, None)) if spark else (
                lambda: source.default_as_of(champion.state))
            for as_of in [as_utc(n) for n in nights] or [default()]:
                run = _Run(as_of=as_of, model_version=champion.number,
                           definition_version=champion.definition_version
                           + (signoff.UNAPPROVED_STAMP if champion.unapproved else ""))
                run.record(io.RUNNING)
                if spark:  # the strict reading's check: no clock, no event-type list
                    night = spark.score(champions, as_of=as_of, now=None, event_types=None,
                                        staging=io.scores_dir() / ".staging")
                    if len(night.rejects):
                        raise SourceError.of_rejects(night.rejects)
                    scores = night.scores
                else:
                    queue, features = source.open_leads(as_of, champion.state)
                    scores = lead_champions.score(champions, config, queue, features, source.tables)
                published = io.write_scores(scores, as_of, retention_days=config.score.retention_days)
                run.leads_scored = len(scores)
                run.record("published")
                results.append(ScoreResult(as_of=as_of, rows=len(scores), model_version=champion.number,
                                           parquet_path=published.path, nights_dropped=published.nights_dropped,
                                           warning=warning, fallbacks=dict(champions.fallbacks),
                                           segments=lead_champions.scored_by_segment(champions, scores),
                                           grade_counts=scores["grade"].value_counts().sort_index().to_dict()))
                run = _Run()
    except publish_lock.LockHeld:
        raise
    except Exception as exc:  # noqa: BLE001 — logged, then raised with one line
        message = (io.database_problem(exc) if isinstance(exc, io.DATABASE_ERRORS)
                   else str(exc) if isinstance(exc, ValueError | LookupError | OSError | signoff.SignoffError)
                   else f"{type(exc).__name__}: {exc}")
        run.error = message
        raise ScoreFailed(message, published=results, logged_to=run.record("failed")) from exc
    finally:
        if spark is not None:
            spark.stop()
    return results


@dataclass
class _Run:
    """One night of ``leadscore score`` in the run log."""

    as_of: pd.Timestamp | None = None
    model_version: int | None = None
    definition_version: str = ""
    leads_scored: int = 0
    error: str = ""
    run_id: str = field(default_factory=lambda: f"score-{uuid.uuid4().hex[:12]}")
    started: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))

    def record(self, status: str) -> str:
        return io.record_run({
            "run_id": self.run_id, "as_of": f"{self.as_of:%Y-%m-%d}" if self.as_of is not None else None,
            "started": self.started.isoformat(timespec="microseconds"),
            "finished": None if status == io.RUNNING else pd.Timestamp.now(tz="UTC").isoformat(timespec="microseconds"),
            "status": status, "leads_scored": self.leads_scored, "rejects": 0, "model_version": self.model_version,
            "definition_version": self.definition_version, "warnings": "[]", "error": self.error})
