"""approve · promote · rollback · history: no model reaches sales without both teams' sign-off.

State lives in the MLflow registry, next to the model versions it is about:
- an approval is a model-version tag ``approval.<team>`` (JSON: by, at, comment, definition_version);
- the alias ``champion`` names the version sales is scored with;
- every promotion, forced promotion and rollback is a registered-model tag ``promotion.<NNNN>``
  (JSON: action, version, previous, at, by, forced, reason, definition_version) — the history.
``promote`` checks, on the *current* test period, that the candidate's ROC AUC is not more than
``max_auc_drop`` below the champion's, that its calibration error is under ``max_ece`` and that the
period holds at least ``min_test_conversions`` conversions; it lists every failed condition.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient

from models.metrics import classification_metrics
from models.scorer import to_model_input
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


def _version(client: MlflowClient, name: str, version: int):
    try:
        return client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(f"model {name!r} has no version {version}") from exc


def champion_version(client: MlflowClient, name: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(name, tracking.CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def approve(config: Config, *, version: int, team: str, by: str, comment: str = "") -> dict:
    if team not in TEAMS:
        raise ValueError(f"team must be one of {', '.join(TEAMS)}, not {team!r}")
    tracking.configure()
    client = MlflowClient()
    name = config.registry.model_name
    mv = _version(client, name, version)
    record = {"by": by, "at": _now(), "comment": comment,
              "definition_version": (mv.tags or {}).get("definition_version", "")}
    client.set_model_version_tag(name, str(version), f"approval.{team}", json.dumps(record))
    return record


def approvals(mv) -> dict[str, dict]:
    return {k.split(".", 1)[1]: json.loads(v) for k, v in (mv.tags or {}).items() if k.startswith("approval.")}


def history(config: Config) -> list[dict]:
    tracking.configure()
    model = MlflowClient().get_registered_model(config.registry.model_name)
    events = [json.loads(v) for k, v in sorted((model.tags or {}).items()) if k.startswith("promotion.")]
    return events


def _record(client: MlflowClient, name: str, event: dict) -> None:
    model = client.get_registered_model(name)
    n = sum(1 for k in (model.tags or {}) if k.startswith("promotion."))
    client.set_registered_model_tag(name, f"promotion.{n + 1:04d}", json.dumps(event))


def _score_on_test(name: str, version: int, test: pd.DataFrame, target: str, config: Config) -> dict[str, float]:
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    names = model.metadata.get_input_schema().input_names()
    p = model.predict(to_model_input(test, names))["probability"].to_numpy(dtype=float)
    return classification_metrics(test[target].to_numpy(), p)


def check_gates(config: Config, *, version: int, sources: Path | None = None) -> tuple[list[str], list[str]]:
    """(failures, passed checks) for making ``version`` champion. Approvals first, then the metric gates."""
    from pipeline.steps import train

    client = MlflowClient()
    name = config.registry.model_name
    mv = _version(client, name, version)
    gates = config.promote
    failures, passed = [], []
    signed = approvals(mv)
    for team in gates.required_approvals:
        if team in signed:
            passed.append(f"{team} approved version {version} ({signed[team]['by']}, {signed[team]['at']})")
        else:
            others = [int(v.version) for v in client.search_model_versions(f"name = '{name}'")
                      if f"approval.{team}" in (v.tags or {})]
            hint = f" (it approved version(s) {', '.join(map(str, sorted(others)))} instead)" if others else ""
            failures.append(f"{team} has not approved version {version}{hint}: "
                            f"`leadscore approve --version {version} --team {team} --by NAME`")

    prepared = train.prepare(config, sources)
    test, target = prepared.split.test, prepared.target
    window = prepared.split.periods()["test"]
    conversions = int(test[target].sum())
    if conversions < gates.min_test_conversions:
        failures.append(f"the test period {window} holds {conversions} conversions; promote.min_test_conversions "
                        f"is {gates.min_test_conversions}")
    else:
        passed.append(f"{conversions} conversions in the test period {window}")
    candidate = _score_on_test(name, version, test, target, config)
    if candidate["ece"] > gates.max_ece:
        failures.append(f"calibration error {candidate['ece']:.4f} is above promote.max_ece {gates.max_ece}")
    else:
        passed.append(f"calibration error {candidate['ece']:.4f} <= {gates.max_ece}")
    current = champion_version(client, name)
    if current is not None and current != version:
        incumbent = _score_on_test(name, current, test, target, config)
        drop = incumbent["roc_auc"] - candidate["roc_auc"]
        if drop > gates.max_auc_drop:
            failures.append(f"ROC AUC {candidate['roc_auc']:.4f} is {drop:.4f} below champion version {current}'s "
                            f"{incumbent['roc_auc']:.4f} on {window}; promote.max_auc_drop is {gates.max_auc_drop}")
        else:
            passed.append(f"ROC AUC {candidate['roc_auc']:.4f} vs champion version {current}'s "
                          f"{incumbent['roc_auc']:.4f} on {window}")
    return failures, passed


def promote(config: Config, *, version: int, by: str | None = None, force: bool = False, reason: str = "",
            sources: Path | None = None) -> PromotionOutcome:
    tracking.configure()
    client = MlflowClient()
    name = config.registry.model_name
    mv = _version(client, name, version)
    if force and not reason.strip():
        raise ValueError("--force needs --reason: an override without a reason cannot be audited")
    failures, passed = check_gates(config, version=version, sources=sources)
    if failures and not force:
        raise PromotionRefused(version, failures)
    previous = champion_version(client, name)
    tracking.set_alias(name, tracking.CHAMPION, version)
    _record(client, name, {
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
    client = MlflowClient()
    name = config.registry.model_name
    current = champion_version(client, name)
    if current is None:
        raise LookupError(f"model {name!r} has no champion to roll back")
    events = [e for e in history(config)
              if e["action"] == "promote" and e["version"] == current and e.get("previous") is not None]
    if not events:
        raise LookupError(f"champion version {current} replaced no earlier version: nothing to roll back to")
    target = int(events[-1]["previous"])
    tracking.set_alias(name, tracking.CHAMPION, target)
    _record(client, name, {"action": "rollback", "version": target, "previous": current, "at": _now(),
                           "by": by or getpass.getuser(), "forced": False, "reason": reason,
                           "definition_version": (_version(client, name, target).tags or {}).get(
                               "definition_version", "")})
    return current, target


def load_definition(config: Config, version: int | None = None) -> tuple[int, dict]:
    tracking.configure()
    client = MlflowClient()
    name = config.registry.model_name
    if version is None:
        version = champion_version(client, name)
        if version is None:
            raise LookupError("no champion yet: pass --version N")
    mv = _version(client, name, version)
    try:
        return version, mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/definition/definition.json")
    except Exception as exc:  # the run predates definitions or its artifacts are gone
        raise LookupError(f"version {version} has no definition artifact") from exc
