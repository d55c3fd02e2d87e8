"""approve · promote · rollback · history: no model reaches sales without both teams' sign-off.

State lives in the leadscore database (``pipeline.signoff``): an approval or rejection records the authenticated
user, their team, the version and the definition hash it signed; every promotion, forced promotion and rollback
records who, from which version, when and why, before the alias ``champion`` moves. The MLflow tags
``approval.<team>`` and ``promotion.<NNNN>`` are a mirror for the MLflow UI; nothing trusts them.
``promote`` checks the gates of ``models.gates`` on the version's **backtest** (logged with its run: each
fold fitted on its past, tested on its own period): both teams signed, the backtest's ROC AUC is not more
than ``max_auc_drop`` below the champion's on the same folds, its calibration error is under ``max_ece``,
and its folds hold at least ``min_test_conversions`` conversions. It lists every failed condition.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from models.gates import CheckResult, check_promotion
from models.metrics import classification_metrics
from models.training import backtest
from pipeline import io, signoff, tracking, users
from pipeline import sources as lead_sources
from pipeline.config import Config


class PromotionRefused(RuntimeError):
    def __init__(self, version: int, reasons: list[str]):
        self.version, self.reasons = version, reasons
        super().__init__(f"version {version} cannot become champion:\n" + "\n".join(f"  - {r}" for r in reasons))


@dataclass
class PromotionOutcome:
    version: int
    previous: int | None
    forced: bool
    checks: list[str] = field(default_factory=list)


def approve(config: Config, *, version: int, user: users.User, team: str | None = None, comment: str = "",
            decision: str = "approve") -> dict:
    """Record ``user``'s decision (approve or reject) on ``version``'s current definition for their team, in the
    leadscore database; ``team`` defaults to the user's and must be it (a marketing user cannot sign for sales)."""
    team = team or user.team
    if team not in config.promote.required_approvals:
        raise ValueError(f"team must be one of {', '.join(config.promote.required_approvals)}, not {team!r}")
    if not signoff.may_sign(user, team):
        raise signoff.NotAllowed(f"{user.name} is in team {user.team}: only a {team} user can sign for {team} "
                                 f"(use a token of a {team} user: `leadscore user token NAME`)")
    tracking.configure()
    name = config.registry.model_name
    tracking.get_version(name, version)  # a clear error for a version that does not exist
    current, _ = signoff.current_definition(name, version)
    record = signoff.record_decision(name, version, user=user, team=team, definition_version=current,
                                     decision=decision, comment=comment)
    with contextlib.suppress(Exception):  # the mirror for the MLflow UI; nothing reads it to decide
        if decision == "approve":
            tracking.record_approval(name, version, team, {"by": user.name, "at": record["at"], "comment": comment,
                                                           "definition_version": current})
        else:
            tracking.remove_approval(name, version, team)
        tracking.describe_version(name, version, signoff.approvals(name, version, current))
    return record


def history(config: Config) -> list[dict]:
    """Every promotion and rollback from the leadscore database, oldest first."""
    tracking.configure()  # no MLflow store: said before a database is touched (and a SQLite file created)
    io.require_scores_store()
    return signoff.promotions(config.registry.model_name)


def unexplained_alias(config: Config) -> str | None:
    """A sentence when the champion alias points somewhere no leadscore record explains, else None."""
    tracking.configure()
    name = config.registry.model_name
    current = tracking.champion_version(name)
    records = history(config)
    last = records[-1]["version"] if records else None
    if current == last:
        return None
    if current is None:
        return f"{name}@champion is not set, but the last leadscore record made version {last} champion"
    return (f"{name}@champion names version {current}, which no leadscore record explains (the last record made "
            f"version {last} champion): moved outside leadscore; score and nightly refuse it")


def check_gates(config: Config, *, version: int, sources: Path | None = None) -> list[CheckResult]:
    """Every condition for making ``version`` champion, on its backtest. The champion's backtest compares when
    it tested the same periods; when it was trained on an older extract, its recipe (family and ``train``
    params) is backtested again on today's folds, read from the named training table."""
    name = config.registry.model_name
    tracking.get_version(name, version)
    candidate, windows = tracking.backtest_of(name, version)
    current = tracking.champion_version(name)
    incumbent = incumbent_windows = None
    rebacktested = False
    if current is not None and current != version:
        incumbent, incumbent_windows = tracking.backtest_of(name, current)
        recipe = tracking.recipe_of(name, current) if incumbent_windows != windows else None
        if recipe is not None:
            source = lead_sources.open_source(config, sources)
            data = source.training_set(lead_sources.load_training_table(source)[0])
            if ";".join(fold.periods()["test"] for fold in data.folds) == windows:
                again = backtest(data, recipe[0], train=recipe[1])
                incumbent, incumbent_windows, rebacktested = (classification_metrics(again.y, again.probability),
                                                              windows, True)
    show = (lambda w: None if w is None else w.replace(";", ", "))  # noqa: E731
    return check_promotion(
        version=version, approvals=signoff.approvals(name, version, signoff.current_definition(name, version)[0]),
        approved_elsewhere={t: signoff.versions_approved_by(name, t) for t in config.promote.required_approvals},
        test_window=show(windows), test_conversions=int(candidate.get("positives", 0)),
        candidate=candidate, incumbent=incumbent, incumbent_version=current, incumbent_window=show(incumbent_windows),
        incumbent_rebacktested=rebacktested, params=config.promote)


def _check_promoter(user: users.User, *, force: bool) -> None:
    if not signoff.may_promote(user):
        raise signoff.NotAllowed(f"{user.name} ({user.team} {user.role}) may not promote: an admin or a data-science "
                                 "manager promotes and rolls back")
    if force and user.role != "admin":
        raise signoff.NotAllowed(f"{user.name} may not --force a promotion: only an admin overrides the checks")


def promote(config: Config, *, version: int, by: users.User, force: bool = False, reason: str = "",
            sources: Path | None = None) -> PromotionOutcome:
    """Make ``version`` champion: both teams' approvals of its current definition and the gates, or (an admin's
    audited override) ``force`` with a reason. The promotion is recorded in the leadscore database, then the alias
    moves. A forced promotion overrides the metric gates for ``promote``; score and nightly still refuse a
    champion whose approvals are not on record."""
    tracking.configure()
    name = config.registry.model_name
    tracking.get_version(name, version)
    if force and not reason.strip():
        raise ValueError("--force needs --reason: an override without a reason cannot be audited")
    _check_promoter(by, force=force)
    checks = check_gates(config, version=version, sources=sources)
    failures = [c.message for c in checks if not c.passed]
    passed = [c.message for c in checks if c.passed]
    if failures and not force:
        raise PromotionRefused(version, failures)
    previous = tracking.champion_version(name)
    current, _ = signoff.current_definition(name, version)
    event = signoff.record_promotion(name, action="promote", version=version, previous=previous,
                                     definition_version=current, user=by, forced=bool(failures and force),
                                     reason=reason, failed_checks=failures if force else [])
    tracking.set_alias(name, tracking.CHAMPION, version)
    _mirror(name, event)
    return PromotionOutcome(version=version, previous=previous, forced=bool(failures and force),
                            checks=passed + [f"OVERRIDDEN: {f}" for f in failures])


def _mirror(name: str, event: dict) -> None:
    """The promotion as a registered-model tag, for the MLflow UI only."""
    with contextlib.suppress(Exception):  # the database holds the record; a mirror that fails changes nothing
        tracking.record_promotion(name, {k: event[k] for k in ("action", "version", "previous", "at", "by", "forced",
                                                                "reason", "definition_version")})


def rollback(config: Config, *, by: users.User, reason: str = "") -> tuple[int, int]:
    """Move ``champion`` back to the version the current champion replaced (per the database record).
    Returns (from, to)."""
    tracking.configure()
    name = config.registry.model_name
    _check_promoter(by, force=False)
    current = tracking.champion_version(name)
    if current is None:
        raise LookupError(f"model {name!r} has no champion to roll back")
    events = [e for e in history(config)
              if e["action"] == "promote" and e["version"] == current and e.get("previous") is not None]
    if not events:
        raise LookupError(f"champion version {current} replaced no earlier version: nothing to roll back to")
    target = int(events[-1]["previous"])
    event = signoff.record_promotion(name, action="rollback", version=target, previous=current,
                                     definition_version=signoff.current_definition(name, target)[0], user=by,
                                     reason=reason)
    tracking.set_alias(name, tracking.CHAMPION, target)
    _mirror(name, event)
    return current, target


def load_definition(config: Config, version: int | None = None) -> tuple[int, dict]:
    tracking.configure()
    return tracking.load_definition(config.registry.model_name, version)
