"""Promotion gates: every condition is a named check with words a person can act on; none is skipped."""

import pytest

from models.gates import check_promotion
from models.params import PromoteParams

SIGNED = {"marketing": {"by": "mia@example.com", "at": "2026-11-01T10:00:00+00:00"},
          "sales": {"by": "sam@example.com", "at": "2026-11-02T10:00:00+00:00"}}
GOOD = {"roc_auc": 0.80, "ece": 0.01}


def _check(**overrides):
    args = {"version": 5, "approvals": SIGNED, "approved_elsewhere": {}, "test_window": "2026-08-03..2026-09-28",
            "test_conversions": 120, "candidate": GOOD, "incumbent": {"roc_auc": 0.805, "ece": 0.01},
            "incumbent_version": 4, "params": PromoteParams()}
    return check_promotion(**{**args, **overrides})


def _failed(checks):
    return {c.name: c.message for c in checks if not c.passed}


def test_a_signed_calibrated_version_no_worse_than_the_champion_passes_every_check():
    checks = _check()
    assert [c.name for c in checks] == ["approval.marketing", "approval.sales", "test_conversions", "ece",
                                        "auc_vs_champion"]
    assert all(c.passed for c in checks)
    assert checks[0].message == "marketing approved version 5 (mia@example.com, 2026-11-01T10:00:00+00:00)"
    assert checks[-1].message == "ROC AUC 0.8000 vs champion version 4's 0.8050 on 2026-08-03..2026-09-28"


def test_a_missing_signature_says_who_and_which_version_they_signed_instead():
    failed = _failed(_check(approvals={"sales": SIGNED["sales"]}, approved_elsewhere={"marketing": [3, 1]}))
    assert failed == {"approval.marketing": "marketing has not approved version 5 (it approved version(s) 1, 3 "
                                            "instead): a marketing user runs "
                                            "`leadscore approve --version 5 --token TOKEN`"}


@pytest.mark.parametrize(("overrides", "name", "words"), [
    ({"test_conversions": 29}, "test_conversions", "holds 29 conversions; promote.min_test_conversions is 30"),
    ({"candidate": {"roc_auc": 0.8, "ece": 0.021}}, "ece", "calibration error 0.0210 is above promote.max_ece 0.02"),
    ({"candidate": {"roc_auc": 0.789, "ece": 0.01}, "incumbent": {"roc_auc": 0.8}}, "auc_vs_champion",
     "ROC AUC 0.7890 is 0.0110 below champion version 4's 0.8000"),
])
def test_each_metric_gate_fails_on_its_own_with_the_numbers(overrides, name, words):
    failed = _failed(_check(**overrides))
    assert list(failed) == [name] and words in failed[name]


def test_the_gate_edges_are_inclusive():
    edge = _check(test_conversions=30, candidate={"roc_auc": 0.5, "ece": 0.02}, incumbent={"roc_auc": 0.75},
                  params=PromoteParams(max_auc_drop=0.25))  # exact in binary: a drop of 0.25 is allowed
    assert _failed(edge) == {}


def test_no_champion_or_the_champion_itself_skips_the_comparison_and_only_that():
    assert "auc_vs_champion" not in [c.name for c in _check(incumbent=None, incumbent_version=None)]
    assert "auc_vs_champion" not in [c.name for c in _check(incumbent_version=5)]
    assert len(_check(incumbent=None, incumbent_version=None)) == 4


def test_required_approvals_come_from_params():
    checks = _check(approvals={}, params=PromoteParams(required_approvals=["sales"]))
    assert [c.name for c in checks if c.name.startswith("approval.")] == ["approval.sales"]
