"""Promotion gates: may a model version become champion? Both teams' sign-off, then the metric gates.

Pure: the version's approvals, its metrics and the incumbent's on the same current test period, and the
``promote`` params in; one named check result per condition out, each with the words a person acts on.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.params import PromoteParams


@dataclass(frozen=True)
class CheckResult:
    name: str      # approval.<team> | test_conversions | ece | auc_vs_champion
    passed: bool
    message: str


def check_promotion(*, version: int, approvals: dict[str, dict], approved_elsewhere: dict[str, list[int]],
                    test_window: str, test_conversions: int, candidate: dict[str, float],
                    incumbent: dict[str, float] | None, incumbent_version: int | None,
                    params: PromoteParams, incumbent_window: str | None = None,
                    incumbent_rebacktested: bool = False) -> list[CheckResult]:
    """Every condition for making ``version`` champion, approvals first.

    ``approved_elsewhere``: per team, the other versions it signed (to say so when it did not sign this one);
    ``candidate`` and ``incumbent``: backtest metrics of both; ``test_window`` and ``incumbent_window``: the
    periods their backtests tested. Two backtests compare only on the same periods;
    ``incumbent_rebacktested``: the champion's recipe was backtested again on the candidate's folds."""
    checks = []
    for team in params.required_approvals:
        if team in approvals:
            signed = approvals[team]
            checks.append(CheckResult(f"approval.{team}", True,
                                      f"{team} approved version {version} ({signed['by']}, {signed['at']})"))
        else:
            others = sorted(approved_elsewhere.get(team, []))
            hint = f" (it approved version(s) {', '.join(map(str, others))} instead)" if others else ""
            checks.append(CheckResult(f"approval.{team}", False,
                                      f"{team} has not approved version {version}{hint}: "
                                      f"a {team} user runs `leadscore approve --version {version} --token TOKEN`"))
    if test_conversions < params.min_test_conversions:
        checks.append(CheckResult("test_conversions", False,
                                  f"the test period {test_window} holds {test_conversions} conversions; "
                                  f"promote.min_test_conversions is {params.min_test_conversions}"))
    else:
        checks.append(CheckResult("test_conversions", True,
                                  f"{test_conversions} conversions in the test period {test_window}"))
    ece = candidate["ece"]
    if ece > params.max_ece:
        checks.append(CheckResult("ece", False, f"calibration error {ece:.4f} is above promote.max_ece "
                                                f"{params.max_ece}"))
    else:
        checks.append(CheckResult("ece", True, f"calibration error {ece:.4f} <= {params.max_ece}"))
    if incumbent is not None and incumbent_version is not None and incumbent_version != version:
        if incumbent_window is not None and incumbent_window != test_window:
            checks.append(CheckResult("auc_vs_champion", False,
                                      f"champion version {incumbent_version} was backtested on {incumbent_window}, "
                                      f"version {version} on {test_window}: their ROC AUCs do not compare; train "
                                      "the champion's recipe on today's data too, or override with --force "
                                      "--reason"))
            return checks
        new, old = candidate["roc_auc"], incumbent["roc_auc"]
        whose = f"champion version {incumbent_version}'s" + (" recipe's" if incumbent_rebacktested else "")
        drop = old - new
        if drop > params.max_auc_drop:
            checks.append(CheckResult("auc_vs_champion", False,
                                      f"ROC AUC {new:.4f} is {drop:.4f} below {whose} {old:.4f} on {test_window}; "
                                      f"promote.max_auc_drop is {params.max_auc_drop}"))
        else:
            checks.append(CheckResult("auc_vs_champion", True,
                                      f"ROC AUC {new:.4f} vs {whose} {old:.4f} on {test_window}"))
    return checks
