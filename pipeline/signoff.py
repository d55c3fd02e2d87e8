"""The sign-off record: approvals and promotions in the leadscore database, and the check that the champion alias
still matches it.

Tables (SQLAlchemy Core, created on first use, self-contained like ``pipeline.users``'s):

- ``leadscore_approvals``: one row per decision (``approve`` or ``reject``): model name, version, the definition
  hash it was about (``definition_version``, recomputed from the version's definition artifact, not read from a
  tag), the authenticated user's id, name, team and role, when, and a comment. A team's standing decision on a
  (version, definition) is its latest row; a row for another definition hash counts for nothing, so a changed
  definition voids earlier approvals.
- ``leadscore_promotions``: one row per ``promote`` or ``rollback``: model name, version, the version it replaced,
  its definition hash, who (user, team, role), when, the reason, whether it was forced and which checks it
  overrode.

The MLflow tags (``approval.<team>`` on the version, ``promotion.<NNNN>`` on the model) are written as a mirror for
the MLflow UI only: nothing reads them to decide.

``check_champion`` is what ``score`` and ``nightly`` run before publishing: the alias must name the version of the
latest promotion record, and that version must hold every required team's approval of its current definition
hash. A ``--force --reason`` promotion (an admin's audited override) overrides the metric gates, never the
signatures: a forced champion without both approvals is refused like an unrecorded one, unless the run is started
with ``--allow-unapproved`` (development only: a warning on every line, and the rows are stamped).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import sqlalchemy as sa

from models.definition import definition_version as hash_definition
from pipeline import io, tracking, users

DECISIONS = ("approve", "reject")
UNAPPROVED_STAMP = "+unapproved"  # appended to the published rows' definition_version under --allow-unapproved

metadata = sa.MetaData()
approvals_table = sa.Table(
    "leadscore_approvals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition_version", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("user_name", sa.String(200), nullable=False),
    sa.Column("team", sa.String(20), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
)
promotions_table = sa.Table(
    "leadscore_promotions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # promote | rollback
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("previous", sa.Integer, nullable=True),
    sa.Column("definition_version", sa.String(64), nullable=False),
    sa.Column("user_name", sa.String(200), nullable=False),
    sa.Column("team", sa.String(20), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False, default=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("failed_checks", sa.Text, nullable=False, default="[]"),  # JSON list: what a forced promotion overrode
)


class SignoffError(RuntimeError):
    """The champion alias does not match the sign-off record: nothing may be published with it."""


class NotAllowed(ValueError):
    """The signed-in user may not do this (sign for another team, promote without the role)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _engine(url: str | None) -> sa.Engine:
    """The leadscore database, its tables made or migrated by ``pipeline.store`` (revision 0002 creates them)."""
    return io.migrated_engine(url)


def _insert(table: sa.Table, row: dict, url: str | None) -> None:
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(table.insert().values(**row))
    finally:
        eng.dispose()


def current_definition(model_name: str, version: int) -> tuple[str, dict]:
    """(hash, definition) of a version, the hash recomputed from its definition artifact (a tag can be edited)."""
    _, body = tracking.load_definition(model_name, version)
    return hash_definition(body), body


def may_promote(user: users.User) -> bool:
    """Admins, and data-science managers, promote and roll back."""
    return user.role == "admin" or (user.team == "data-science" and user.role == "manager")


def may_sign(user: users.User, team: str) -> bool:
    return user.team == team


# ---- approvals ---------------------------------------------------------------------------------------------------

def record_decision(model_name: str, version: int, *, user: users.User, team: str, definition_version: str,
                    decision: str = "approve", comment: str = "", url: str | None = None) -> dict:
    if decision not in DECISIONS:
        raise ValueError(f"decision must be approve or reject, not {decision!r}")
    if not may_sign(user, team):
        raise NotAllowed(f"{user.name} is in team {user.team}: only a {team} user can sign for {team}")
    row = {"model_name": model_name, "version": int(version), "definition_version": definition_version,
           "decision": decision, "user_id": user.id, "user_name": user.name, "team": team, "role": user.role,
           "at": _now(), "comment": comment}
    _insert(approvals_table, row, url)
    return row


def decisions(model_name: str, *, version: int | None = None, url: str | None = None) -> list[dict]:
    """Every approval and rejection, oldest first (of one version when given)."""
    query = sa.select(approvals_table).where(approvals_table.c.model_name == model_name)
    if version is not None:
        query = query.where(approvals_table.c.version == int(version))
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(query.order_by(approvals_table.c.id)).mappings().all()
    finally:
        eng.dispose()
    return [dict(r) for r in rows]


def standing(model_name: str, version: int, definition_version: str, *, url: str | None = None) -> dict[str, dict]:
    """Team → its latest decision on this version's definition ``definition_version`` (approve or reject)."""
    out: dict[str, dict] = {}
    for row in decisions(model_name, version=version, url=url):
        if row["definition_version"] == definition_version:
            out[row["team"]] = row
    return out


def approvals(model_name: str, version: int, definition_version: str, *, url: str | None = None) -> dict[str, dict]:
    """Team → its approval of this definition (the shape ``models.gates`` reads: by, at, comment)."""
    return {team: {"by": row["user_name"], "at": row["at"], "comment": row["comment"]}
            for team, row in standing(model_name, version, definition_version, url=url).items()
            if row["decision"] == "approve"}


def versions_approved_by(model_name: str, team: str, *, url: str | None = None) -> list[int]:
    """Versions whose latest decision by ``team`` (on any definition) is an approval."""
    latest: dict[int, str] = {}
    for row in decisions(model_name, url=url):
        if row["team"] == team:
            latest[row["version"]] = row["decision"]
    return sorted(v for v, d in latest.items() if d == "approve")


# ---- promotions --------------------------------------------------------------------------------------------------

def record_promotion(model_name: str, *, action: str, version: int, previous: int | None, definition_version: str,
                     user: users.User, forced: bool = False, reason: str = "", failed_checks: list[str] | None = None,
                     url: str | None = None) -> dict:
    row = {"model_name": model_name, "action": action, "version": int(version),
           "previous": int(previous) if previous is not None else None, "definition_version": definition_version,
           "user_name": user.name, "team": user.team, "role": user.role, "at": _now(), "forced": bool(forced),
           "reason": reason, "failed_checks": json.dumps(failed_checks or [])}
    _insert(promotions_table, row, url)
    return _promotion(row)


def _promotion(row) -> dict:
    out = dict(row)
    out["failed_checks"] = json.loads(out.get("failed_checks") or "[]")
    out["by"] = out["user_name"]
    return out


def promotions(model_name: str, *, url: str | None = None) -> list[dict]:
    """Every promotion and rollback of ``model_name``, oldest first."""
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(promotions_table).where(promotions_table.c.model_name == model_name)
                                .order_by(promotions_table.c.id)).mappings().all()
    finally:
        eng.dispose()
    return [_promotion(r) for r in rows]


# ---- the check before publishing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChampionCheck:
    version: int
    problems: list[str]  # empty: the champion is promoted through leadscore with every approval on record

    @property
    def passed(self) -> bool:
        return not self.problems


def check_champion(model_name: str, version: int, *, required: tuple[str, ...] | list[str],
                   tagged_definition: str | None = None, url: str | None = None,
                   definition_hash: str | None = None) -> ChampionCheck:
    """Does the alias's ``version`` match the sign-off record? Every failed check, each with its fix.

    ``definition_hash``: the version's definition artifact's hash, when the caller computed it from the files it
    loaded the version from (a server re-checking the champion it holds: those files do not change under it, and
    downloading them again is most of a check)."""
    records = promotions(model_name, url=url)
    if not records:
        return ChampionCheck(version, [
            f"{model_name}@champion names version {version}, but leadscore has no promotion on record (the alias was "
            f"set outside leadscore, e.g. in the MLflow UI): sign it and run `leadscore promote --version {version}`"])
    last = records[-1]
    if last["version"] != version:
        return ChampionCheck(version, [
            f"{model_name}@champion names version {version}, but the last leadscore {last['action']} ({last['by']}, "
            f"{last['at']}) made version {last['version']} champion: the alias was moved outside leadscore (MLflow UI "
            f"or API). Move it back with `leadscore promote --version {last['version']}`, or sign version {version} "
            f"and run `leadscore promote --version {version}`"])
    problems = []
    current = definition_hash if definition_hash is not None else current_definition(model_name, version)[0]
    if tagged_definition is not None and tagged_definition != current:
        problems.append(f"version {version}'s definition_version tag says {tagged_definition} but its definition "
                        f"artifact hashes to {current}: the tag was edited; restore it to {current}")
    signed = approvals(model_name, version, current, url=url)
    for team in required:
        if team not in signed:
            forced = " (it was promoted with --force)" if last["forced"] else ""
            problems.append(f"version {version}{forced} has no {team} approval of its current definition {current} on "
                            f"record: a {team} user runs `leadscore approve --version {version} --token TOKEN`, then "
                            f"`leadscore promote --version {version}`")
    return ChampionCheck(version, problems)


def refusal(check: ChampionCheck) -> str:
    """The one message of a refused night."""
    return ("sign-off check failed, nothing published (previous scores kept): " + " | ".join(check.problems)
            + " (or pass --allow-unapproved for development)")


def unapproved_warning(check: ChampionCheck) -> str:
    return (f"--allow-unapproved: version {check.version} fails the sign-off check, rows stamped "
            f"definition_version …{UNAPPROVED_STAMP}: " + " | ".join(check.problems))
