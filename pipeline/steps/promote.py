"""approve · promote · rollback · history: no model reaches sales without both teams' sign-off.

State lives in the MLflow registry, next to the model versions it is about (``pipeline.tracking``): an
approval is a model-version tag ``approval.<team>``; the alias ``champion`` names the version sales is
scored with; every promotion, forced promotion and rollback is a registered-model tag ``promotion.<NNNN>``.
``promote`` checks the gates of ``models.gates`` on the version's **backtest** (logged with its run: each
fold fitted on its past, tested on its own period): both teams signed, the backtest's ROC AUC is not more
than ``max_auc_drop`` below the champion's on the same folds, its calibration error is under ``max_ece``,
and its folds hold at least ``min_test_conversions`` conversions. It lists every failed condition.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models.gates import CheckResult, check_promotion
from models.metrics import classification_metrics
from models.training import backtest
from pipeline import sources as lead_sources
from pipeline import tracking
from pipeline.config import Config

TEAMS = ("marketing", "sales")


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


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")


def approve(config: Config, *, version: int, team: str, by: str, comment: str = "") -> dict:
    if team not in TEAMS:
        raise ValueError(f"team must be one of {', '.join(TEAMS)}, not {team!r}")
    tracking.configure()
    name = config.registry.model_name
    mv = tracking.get_version(name, version)
    record = {"by": by, "at": _now(), "comment": comment,
              "definition_version": (mv.tags or {}).get("definition_version", "")}
    tracking.record_approval(name, version, team, record)
    return record


def history(config: Config) -> list[dict]:
    tracking.configure()
    return tracking.promotion_history(config.registry.model_name)


def check_gates(config: Config, *, version: int, sources: Path | None = None) -> list[CheckResult]:
    """Every condition for making ``version`` champion, on its backtest. The champion's backtest compares when
    it tested the same periods; when it was trained on an older extract, its recipe (family and ``train``
    params) is backtested again on today's folds, read from the named training table."""
    name = config.registry.model_name
    mv = tracking.get_version(name, version)
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
        version=version, approvals=tracking.approvals(mv),
        approved_elsewhere={t: tracking.versions_approved_by(name, t) for t in config.promote.required_approvals},
        test_window=show(windows), test_conversions=int(candidate.get("positives", 0)),
        candidate=candidate, incumbent=incumbent, incumbent_version=current, incumbent_window=show(incumbent_windows),
        incumbent_rebacktested=rebacktested, params=config.promote)


def promote(config: Config, *, version: int, by: str | None = None, force: bool = False, reason: str = "",
            sources: Path | None = None) -> PromotionOutcome:
    tracking.configure()
    name = config.registry.model_name
    mv = tracking.get_version(name, version)
    if force and not reason.strip():
        raise ValueError("--force needs --reason: an override without a reason cannot be audited")
    checks = check_gates(config, version=version, sources=sources)
    failures = [c.message for c in checks if not c.passed]
    passed = [c.message for c in checks if c.passed]
    if failures and not force:
        raise PromotionRefused(version, failures)
    previous = tracking.champion_version(name)
    tracking.set_alias(name, tracking.CHAMPION, version)
    tracking.record_promotion(name, {
        "action": "promote", "version": version, "previous": previous, "at": _now(),
        "by": by or getpass.getuser(), "forced": bool(failures and force),
        "reason": reason, "failed_checks": failures if force else [],
        "definition_version": (mv.tags or {}).get("definition_version", ""),
    })
    return PromotionOutcome(version=version, previous=previous, forced=bool(failures and force),
                            checks=passed + [f"OVERRIDDEN: {f}" for f in failures])


def rollback(config: Config, *, by: str | None = None, reason: str = "") -> tuple[int, int]:
    """Move ``champion`` back to the version it replaced. Returns (from, to)."""
    tracking.configure()
    name = config.registry.model_name
    current = tracking.champion_version(name)
    if current is None:
        raise LookupError(f"model {name!r} has no champion to roll back")
    events = [e for e in tracking.promotion_history(name)
              if e["action"] == "promote" and e["version"] == current and e.get("previous") is not None]
    if not events:
        raise LookupError(f"champion version {current} replaced no earlier version: nothing to roll back to")
    target = int(events[-1]["previous"])
    tracking.set_alias(name, tracking.CHAMPION, target)
    tracking.record_promotion(name, {
        "action": "rollback", "version": target, "previous": current, "at": _now(), "by": by or getpass.getuser(),
        "forced": False, "reason": reason,
        "definition_version": (tracking.get_version(name, target).tags or {}).get("definition_version", "")})
    return current, target


def load_definition(config: Config, version: int | None = None) -> tuple[int, dict]:
    tracking.configure()
    return tracking.load_definition(config.registry.model_name, version)
