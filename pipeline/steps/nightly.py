"""nightly: validate sources → features for the leads open tonight → champion → publish → drift → run log.

Inputs: the source tables, ``models:/<model_name>@<model_alias>`` (and each declared segment's champion,
``pipeline.champions``). Outputs: the published scores (see
``score``), the run in the run log (``leadscore_runs``: as_of, started, finished, status, leads scored, rejects,
model and definition version, warnings, error; logged when it starts and when it ends, in the local fallback run log
when the database cannot take it), each published night's rows per source table (``leadscore_source_volumes``),
and drift metrics in the MLflow monitoring experiment.

Bad rows in the sources are quarantined, not dropped: each goes to the ``leadscore_rejects`` table with its table,
row number, key, column, reason and this run's id. A night whose rejects exceed
``nightly.max_reject_share`` of any table fails (the rejects are still recorded, to be fixed at the source).
A night whose tables do not look like a night's extract fails before anything is scored
(``features.volumes``): a table it needs missing, a table empty, or rows changed beyond
``nightly.max_volume_change`` against the last published night.

Publishing (``io.write_scores`` returning) is the commit point. Exit codes (``leadscore nightly``): 0
published; 3 published with warnings (drift above ``nightly.psi_warn``, rows quarantined below the threshold,
or a step after the commit that failed: drift, MLflow); 1 failed, nothing new published (the previous night's
scores stay as they were); 2 invalid params.yaml; 4 another run holds the publish lock.

``engine="spark"`` (``pipeline.spark_engine``): the same checks, builders and champions run in Spark partitions;
the rows come back through a staging folder and are published by the same ``io.write_scores``; quarantine, the
volume check, the run log and drift (from per-partition bin counts) are the default engine's.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd

from features.schema import CONTRACT, quarantine_warnings, reject_counts, reject_warnings
from features.timeutil import as_utc
from features.volumes import table_rows, volume_problems
from models.drift import drift_warnings, population_stability
from pipeline import champions as lead_champions
from pipeline import io, publish_lock, signoff, tracking
from pipeline import sources as lead_sources
from pipeline.config import Config

PUBLISHED, WARNINGS, FAILED, LOCKED = 0, 3, 1, 4


@dataclass
class NightlyResult:
    run_id: str
    as_of: pd.Timestamp | None
    status: str
    exit_code: int
    leads_scored: int = 0
    rejects: int = 0
    model_version: int | None = None
    definition_version: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    drift: pd.DataFrame | None = None
    logged_to: str = ""  # "database", or the fallback run log's path when the database could not be written
    nights_dropped: int = 0  # old nights the retention (score.retention_days) removed
    fallbacks: dict[str, str] = field(default_factory=dict)  # segment → why the global model scored its leads
    segments: dict[str, dict[str, int]] = field(default_factory=dict)  # segment → its champion's version and rows


def _drift(scorer, features: pd.DataFrame, probability) -> pd.DataFrame:
    """Tonight's population against the champion's frozen validation population."""
    return population_stability(scorer.drift_reference, features[scorer.feature_names], probability)


class VolumeError(ValueError):
    """A source table is missing, empty, or changed in size beyond ``nightly.max_volume_change``."""


class ChampionMoved(RuntimeError):
    """The champion alias moved (a rollback or a promotion) while the night was being scored."""


# MLflow answered (no such model or alias): the message of the exception raised from it says what to do. Any other
# error code is MLflow itself failing (unreachable, a broken store), which a "no champion" message would hide.
MLFLOW_ANSWERS = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})
MANDATORY = frozenset(name for name, contract in CONTRACT.items() if contract.mandatory)


def run(config: Config, *, as_of=None, sources: Path | None = None, allow_unapproved: bool = False,
        engine: str = "default") -> NightlyResult:
    """One night, start to end; never raises. Publishing (``io.write_scores`` returning) is the commit point:
    what fails before it fails the night (exit 1, nothing new published), what fails after it is a warning of a
    published night (exit 3). The run is logged when it starts and when it ends (``io.record_run``: the database,
    else the local fallback run log), so a run killed in between is found by the next one."""
    run_id = uuid.uuid4().hex[:12]
    started = pd.Timestamp.now(tz="UTC")
    result = NightlyResult(run_id=run_id, as_of=as_utc(as_of) if as_of is not None else None, status="failed",
                           exit_code=FAILED)
    published, volumes, spark = False, None, None
    try:
        with publish_lock.hold():
            io.recover_interrupted_runs()  # what a killed run left behind: no other run is alive while we hold the lock
            _record(result, started, status=io.RUNNING)
            if engine == "spark":
                from pipeline import spark_engine

                spark = spark_engine.SparkNight(config, io.source_location(sources))
            else:
                raw = lead_sources.load_contract_tables(config, sources)
            tracking.configure()
            champions = lead_champions.load(config, lead_sources.open_source(config, sources))
            champion = champions.main
            result.model_version, result.definition_version = champion.number, champion.definition_version
            for cfg, each in champions.configs(config):  # a rollback since loading says so, not "moved outside"
                _check_still_champion(cfg, each)
            champions = lead_champions.checked(champions, config, lambda cfg, each: _check_signoff(
                cfg, each, result, allow_unapproved=allow_unapproved))
            champion = champions.main
            result.fallbacks = dict(champions.fallbacks)
            rows = spark.rows if spark else table_rows(raw)
            _check_volumes(config, rows, champion, location=io.shown_location(sources))
            event_types = config.features.engagement.event_types
            if spark:
                if result.as_of is None:
                    result.as_of = spark.default_as_of(started, event_types)
                    _record(result, started, status=io.RUNNING)  # the night it is publishing, should it be killed
                night = spark.score(champions, as_of=result.as_of, now=started, event_types=event_types,
                                    staging=io.scores_dir() / ".staging")
                result.rejects = len(night.rejects)
                io.write_rejects(night.rejects, run_id=run_id, as_of=result.as_of)
                result.warnings += quarantine_warnings(night.rejects, reject_counts(night.rejects, rows),
                                                       config.nightly.max_reject_share)
                scores = night.scores

                def drift() -> pd.DataFrame:
                    return night.drift(champion.scorer.drift_reference)
            else:
                source, checked = lead_sources.open_quarantined_source(config, sources, now=started, tables=raw)
                if result.as_of is None:
                    result.as_of = source.default_as_of(None)
                    _record(result, started, status=io.RUNNING)  # the night it is publishing, should it be killed
                result.rejects = len(checked.rejects)
                io.write_rejects(checked.rejects, run_id=run_id, as_of=result.as_of)
                result.warnings += reject_warnings(checked, config.nightly.max_reject_share)
                queue, features = source.open_leads(result.as_of, champion.state)
                scores = lead_champions.score(champions, config, queue, features, source.tables)

                def drift() -> pd.DataFrame:
                    return _drift(champion.scorer, features, scores["probability"].to_numpy())
            for cfg, each in champions.configs(config):
                _check_still_champion(cfg, each)
            result.nights_dropped = io.write_scores(scores, result.as_of,
                                                    retention_days=config.score.retention_days).nights_dropped
            published, volumes = True, rows  # the commit point: from here on, a failure is a warning
            result.leads_scored = len(scores)
            result.segments = lead_champions.scored_by_segment(champions, scores)
            _after_publish(config, result, drift)
    except publish_lock.LockHeld as exc:
        result.status, result.exit_code, result.error = "locked", LOCKED, str(exc)
        return result  # the holder logs its own run
    except Exception as exc:  # noqa: BLE001 — every failure is logged, then reported
        if published:
            result.warnings.append(f"published, but then {_one_line(exc)}")
        else:
            result.status, result.exit_code, result.error = "failed", FAILED, _one_line(exc)
    finally:
        if spark is not None:
            spark.stop()
    if published:
        result.status = "published with warnings" if result.warnings else "published"
        result.exit_code = WARNINGS if result.warnings else PUBLISHED
    result.logged_to = _record(result, started, volumes=volumes)
    return result


def _record(result: NightlyResult, started: pd.Timestamp, *, status: str | None = None,
            volumes: dict[str, int] | None = None) -> str:
    running = status == io.RUNNING
    return io.record_run({
        "run_id": result.run_id, "as_of": f"{result.as_of:%Y-%m-%d}" if result.as_of is not None else None,
        "started": started.isoformat(timespec="microseconds"),
        "finished": None if running else pd.Timestamp.now(tz="UTC").isoformat(timespec="microseconds"),
        "status": status or result.status, "leads_scored": result.leads_scored, "rejects": result.rejects,
        "model_version": result.model_version, "definition_version": result.definition_version,
        "warnings": json.dumps(result.warnings), "error": result.error,
    }, volumes=volumes)


def _one_line(exc: BaseException) -> str:
    """What went wrong, on one line an operator can act on (a database named with its password masked)."""
    if isinstance(exc, io.DATABASE_ERRORS):
        return io.database_problem(exc)
    cause = exc if isinstance(exc, mlflow.exceptions.MlflowException) else exc.__cause__
    if isinstance(cause, mlflow.exceptions.MlflowException) and cause.error_code not in MLFLOW_ANSWERS:
        first = next((line for line in str(cause).splitlines() if line.strip()), "")
        return f"MLflow ({tracking_uri_shown()}) failed: {first.strip()}"
    if isinstance(exc, VolumeError | ChampionMoved | signoff.SignoffError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def tracking_uri_shown() -> str:
    """The MLflow tracking URI, any password masked."""
    uri = mlflow.get_tracking_uri()
    try:
        return io.shown_url(uri) if "://" in uri and "@" in uri else uri
    except Exception:  # noqa: BLE001 — not a URL SQLAlchemy parses: show it without its credentials part
        return uri.split("@")[-1]


def _check_signoff(config: Config, champion, result: NightlyResult, *, allow_unapproved: bool):
    """Before anything is scored: the alias names the version of the last leadscore promotion, with both teams'
    approvals of its current definition on record (``pipeline.signoff``). Under ``allow_unapproved`` a failed check
    is a warning and the rows are stamped; otherwise the night fails, nothing published."""
    check = signoff.check_champion(config.registry.model_name, champion.number,
                                   required=config.promote.required_approvals,
                                   tagged_definition=champion.definition_version)
    if check.passed:
        return champion
    if not allow_unapproved:
        raise signoff.SignoffError(signoff.refusal(check))
    result.warnings.append(signoff.unapproved_warning(check))
    if champion.segment is None:  # the run log names the global champion's definition
        result.definition_version = champion.definition_version + signoff.UNAPPROVED_STAMP
    return dataclasses.replace(champion, unapproved=True)


def _check_volumes(config: Config, rows: dict[str, int], champion, *, location: str) -> None:
    """Fail the night, before anything is scored, when a table it needs is missing, or one is empty or changed in
    size beyond ``nightly.max_volume_change`` against the last published night. Needed: the contract's mandatory
    tables, those the last published night had and those the champion was trained on."""
    previous = io.last_published_volumes()
    required = MANDATORY | set(previous or {}) | _trained_on(champion)
    problems = volume_problems(rows, previous, required=required, max_change=config.nightly.max_volume_change,
                               location=location)
    if problems:
        raise VolumeError("the sources do not look like a night's extract, nothing published: " + " | ".join(problems))


def _trained_on(champion) -> set[str]:
    """The source tables the champion learned from (its training run's lineage tags ``data.<table>``)."""
    tags = mlflow.MlflowClient().get_run(champion.version.run_id).data.tags
    return {key.removeprefix("data.") for key in tags if key.startswith("data.")} & set(CONTRACT)


def _check_still_champion(config: Config, champion) -> None:
    """A rollback or promotion while the night was scored: publishing the version just replaced would undo it."""
    name, alias = config.registry.model_name, config.score.model_alias
    now = int(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
    if now != champion.number:
        raise ChampionMoved(f"{name}@{alias} moved from version {champion.number} to {now} while this night was "
                            f"scored (a rollback or a promotion): nothing published; run it again to score with "
                            f"version {now}")


def _after_publish(config: Config, result: NightlyResult, drift) -> None:
    """Drift (``drift()``) and its MLflow run, once the night is published: each failure is a warning, never a
    failed night."""
    try:
        result.drift = drift()
        result.warnings += drift_warnings(result.drift, warn=config.nightly.psi_warn, alert=config.nightly.psi_alert)
    except Exception as exc:  # noqa: BLE001 — published already: say it, don't fail the night
        result.warnings.append(f"published, but the drift check failed: {_one_line(exc)}")
    result.status = "published with warnings" if result.warnings else "published"
    try:
        _log_drift(config, result)
    except Exception as exc:  # noqa: BLE001 — published already: say it, don't fail the night
        result.warnings.append(f"published, but logging the night to MLflow failed: {_one_line(exc)}")


def _log_drift(config: Config, result: NightlyResult) -> None:
    tracking.use_experiment(config.nightly.experiment_name)
    with mlflow.start_run(run_name=f"nightly {result.as_of:%Y-%m-%d}"):
        mlflow.set_tags({"as_of": f"{result.as_of:%Y-%m-%d}", "model_version": str(result.model_version),
                         "definition_version": result.definition_version, "status": result.status})
        mlflow.log_metrics({"leads_scored": result.leads_scored, "rejects": result.rejects})
        for row in (result.drift.itertuples() if result.drift is not None else ()):
            mlflow.log_metric(f"psi.{row.column}", row.psi)
