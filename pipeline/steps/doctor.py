"""doctor: is this machine ready to run leadscore? Each check says what it found and, when wrong, what to fix.

Read-only: it opens the stores without creating them, loads the champion as the nightly job would and reads
the sources through the data contract, but publishes and registers nothing. A check that cannot run because
an earlier one failed (no registry, so no champion) says so instead of failing twice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL, SKIP = "ok", "warning", "failed", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: str     # ok | warning | failed | skipped
    found: str      # what the check saw
    fix: str = ""   # what to do about it, when status is not ok


def _guard(name: str, check: Callable[[], Check]) -> Check:
    """A check that raises reports the error as its finding: a doctor never crashes on what it diagnoses."""
    try:
        return check()
    except (ValueError, LookupError, OSError) as exc:  # the project's own failures say what is wrong in words
        return Check(name, FAIL, str(exc), "fix what the message names, then `leadscore doctor` again")
    except Exception as exc:  # noqa: BLE001 — the point is to report any failure in words
        return Check(name, FAIL, f"{type(exc).__name__}: {exc}", "fix what the message names, then `leadscore doctor` "
                     "again")


def run(params_path: Path) -> list[Check]:
    from pipeline import io

    checks: list[Check] = []
    home = io.home().resolve()
    env_file = home / ".env"
    how = "set" if os.environ.get("LEADSCORE_HOME") else "unset: the current folder"
    checks.append(Check("project home", OK if home.is_dir() else FAIL,
                        f"{home} (LEADSCORE_HOME {how}; .env {'read' if env_file.is_file() else 'absent'})",
                        "" if home.is_dir() else "set LEADSCORE_HOME to the project folder"))
    config_box: list = []
    checks.append(_guard("params.yaml", lambda: _check_params(params_path, config_box)))
    config = config_box[0] if config_box else None
    checks.append(_guard("scores database", _check_database))
    checks.append(_guard("scores folder", _check_scores_folder))
    checks.append(_guard("sources", lambda: _check_sources(config)))
    registry = _guard("MLflow store", _check_registry)
    checks.append(registry)
    if registry.status != OK or config is None:
        checks.append(Check("champion", SKIP, "needs a reachable MLflow store and a valid params.yaml"))
    else:
        checks.append(_guard("champion", lambda: _check_champion(config)))
    return checks


def _check_params(path: Path, out: list) -> Check:
    from pipeline.config import ConfigError, load_config

    try:
        out.append(load_config(path))
    except ConfigError as exc:
        return Check("params.yaml", FAIL, str(exc), f"fix {path}")
    return Check("params.yaml", OK, f"{path.resolve()} is valid")


def _check_database() -> Check:
    import sqlalchemy as sa

    from pipeline import io

    url = io.db_url()
    path = io.sqlite_file(url)
    if path is not None and not path.exists():
        return Check("scores database", WARN, f"{io.shown_url(url)}: the file does not exist yet",
                     "expected before the first `leadscore nightly`; otherwise set LEADSCORE_HOME or LEADSCORE_DB_URL")
    eng = io.engine(url)
    try:
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            published = sa.inspect(conn).has_table(io.SCORES_TABLE)
    except sa.exc.SQLAlchemyError as exc:
        return Check("scores database", FAIL, f"{io.shown_url(url)} is unreachable: {io.driver_message(exc, url)}",
                     "start the database or correct LEADSCORE_DB_URL")
    finally:
        eng.dispose()
    return Check("scores database", OK, f"{io.shown_url(url)} reachable"
                 + ("" if published else "; nothing published yet"))


def _check_scores_folder() -> Check:
    from pipeline import io

    folder = io.scores_dir().resolve()
    probe = folder if folder.exists() else next((p for p in folder.parents if p.exists()), None)
    if probe is None or not probe.is_dir():
        return Check("scores folder", FAIL, f"{folder}: no existing parent folder",
                     "create it or set LEADSCORE_SCORES_DIR")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".doctor."):
            pass
    except OSError as exc:
        return Check("scores folder", FAIL, f"{folder} is not writable: {exc.strerror}",
                     "give the nightly job's user write access, or set LEADSCORE_SCORES_DIR")
    return Check("scores folder", OK, f"{folder} writable")


def _check_sources(config) -> Check:
    import pandas as pd

    from pipeline import io
    from pipeline import sources as lead_sources

    if config is None:
        return Check("sources", SKIP, "needs a valid params.yaml")
    if config.source.kind == "flat":
        where = io.flat_source_path()  # a missing or ambiguous export raises, with what to pass instead
        return Check("sources", OK, f"CRM export {where.resolve()}: {len(io.read_flat_source(where)):,} rows")
    if io.is_database(None):
        where = io.shown_location()
        try:
            _, checked = lead_sources.open_quarantined_source(config, None, now=pd.Timestamp.now(tz="UTC"))
        except OSError as exc:
            return Check("sources", FAIL, str(exc), "check LEADSCORE_SOURCES (the source database's URL)")
        return _sources_verdict(where, checked)
    where = io.sources_dir().resolve()
    if not where.is_dir():
        return Check("sources", FAIL, f"{where} does not exist",
                     "set LEADSCORE_SOURCES to the folder of source tables (or LEADSCORE_HOME)")
    _, checked = lead_sources.open_quarantined_source(config, None, now=pd.Timestamp.now(tz="UTC"))
    return _sources_verdict(where, checked)


def _sources_verdict(where, checked) -> Check:
    rows = sum(len(t) for t in checked.tables.values()) + len(checked.rejects)
    if len(checked.rejects):
        return Check("sources", WARN, f"{where}: {len(checked.tables)} tables, {rows:,} rows; "
                     f"{len(checked.rejects):,} rows would be quarantined tonight",
                     "`leadscore nightly` then `leadscore rejects` lists them; fix them at the extract")
    return Check("sources", OK, f"{where}: {len(checked.tables)} tables, {rows:,} rows, all within the contract")


def _check_registry() -> Check:
    import mlflow

    from pipeline import tracking

    try:
        uri = tracking.configure()
    except FileNotFoundError as exc:
        return Check("MLflow store", FAIL, str(exc).split(":")[0], "run from the project folder, set LEADSCORE_HOME, "
                     "or MLFLOW_TRACKING_URI; a new project starts with `leadscore train`")
    mlflow.search_experiments(max_results=1)
    return Check("MLflow store", OK, f"{_masked(uri)} reachable")


def _check_champion(config) -> Check:
    from pipeline import signoff, tracking
    from pipeline import sources as lead_sources

    name, alias = config.registry.model_name, config.score.model_alias
    if tracking.champion_version(name) is None:
        return Check("champion", FAIL, f"{name} has no @{alias}",
                     "train, approve and promote a version (`leadscore promote --version N`)")
    source = lead_sources.open_source(config, None)
    champion = tracking.load_champion(name, alias, source)
    signed = signoff.check_champion(name, champion.number, required=config.promote.required_approvals,
                                    tagged_definition=champion.definition_version)
    if not signed.passed:  # nightly and score would refuse it
        return Check("champion", FAIL, f"{name} version {champion.number} fails the sign-off check: "
                     + " | ".join(signed.problems), "sign and promote it through leadscore (see found)")
    return Check("champion", OK, f"{name} version {champion.number} (definition {champion.definition_version}) loads")


def _masked(uri: str) -> str:
    from pipeline import io

    try:
        return io.shown_url(uri)
    except Exception:  # noqa: BLE001 — a URI SQLAlchemy cannot parse (http://…) holds no password of ours
        return uri


def exit_code(checks: list[Check]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 1 if any(c.status == FAIL for c in checks) else 0
