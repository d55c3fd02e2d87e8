"""Typed parameters of the model code (the ``split``, ``train``, ``evaluate``, ``tune``, ``score``,
``promote`` and ``monitor`` sections of params.yaml).

They live beside the code that reads them so that ``models/`` depends on nothing in ``pipeline/``;
pipeline.config composes them into the whole params.yaml. Unknown keys and wrong types are errors.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_by_name=True)


class SplitParams(_Section):
    """The rolling-origin backtest: each fold tests ``test_days`` of snapshots and learns from every snapshot
    at least ``gap_days`` (>= the label window) before them; within that history the last ``valid_days`` early-
    stop, calibrate and grade (the registered model's history: every matured snapshot)."""

    backtest_folds: int = Field(3, ge=3)
    test_days: int = Field(56, gt=0)
    valid_days: int = Field(56, gt=0)
    gap_days: int = Field(90, ge=0)


class LgbmParams(_Section):
    n_estimators: int = Field(2000, gt=0)
    learning_rate: float = Field(0.03, gt=0)
    num_leaves: int = Field(31, gt=1)
    min_child_samples: int = Field(200, gt=0)
    subsample: float = Field(0.8, gt=0, le=1)
    subsample_freq: int = Field(1, ge=0)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)


class LogRegParams(_Section):
    C: float = Field(0.5, gt=0)


class PointsParams(_Section):
    """Marketing's rules: points per event, counted in age bands (``windows_days``) weighted by ``decay``."""

    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90])
    decay: list[float] = Field(default_factory=lambda: [1.0, 0.5, 0.25])
    engagement: dict[str, float] = Field(default_factory=dict)
    fit: dict[str, dict[str, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bands(self) -> PointsParams:
        if len(self.decay) != len(self.windows_days):
            raise ValueError("decay needs one weight per entry of windows_days")
        if self.windows_days != sorted(set(self.windows_days)):
            raise ValueError("windows_days must be increasing")
        return self


class TrainParams(_Section):
    model: Literal["lgbm", "points", "logreg"] = "lgbm"
    seed: int = 42
    min_conversions: int = Field(100, ge=1)
    early_stopping_rounds: int = Field(100, gt=0)
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    # The refit sees every matured snapshot; its calibration, thresholds and promises use out-of-sample
    # probabilities of the most recent period from this many cross-fitted models (leads split in parts).
    calibration_folds: int = Field(3, ge=2)
    lgbm: LgbmParams = LgbmParams()
    logreg: LogRegParams = LogRegParams()
    points: PointsParams = PointsParams()


class EvaluateParams(_Section):
    primary_metric: Literal["roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10pct"] = "roc_auc"
    bootstrap_samples: int = Field(200, ge=0)


class TuneParams(_Section):
    """Search ranges for ``leadscore tune`` ([low, high]; learning_rate is searched on a log scale)."""

    trials: int = Field(20, gt=0)
    learning_rate: list[float] = Field(default_factory=lambda: [0.01, 0.2], min_length=2, max_length=2)
    num_leaves: list[int] = Field(default_factory=lambda: [7, 127], min_length=2, max_length=2)
    min_child_samples: list[int] = Field(default_factory=lambda: [20, 1000], min_length=2, max_length=2)
    colsample_bytree: list[float] = Field(default_factory=lambda: [0.3, 1.0], min_length=2, max_length=2)
    reg_lambda: list[float] = Field(default_factory=lambda: [0.0, 20.0], min_length=2, max_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> TuneParams:
        for name in ("learning_rate", "num_leaves", "min_child_samples", "colsample_bytree", "reg_lambda"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: low {low} is above high {high}")
        return self


class ScoreParams(_Section):
    model_alias: str = "champion"
    # Grades sized by sales capacity: leads per week sales can work in each grade, best first; the next
    # letter takes the rest. Or, instead, fixed shares of the open population (grade_shares).
    grade_capacity_per_week: dict[str, int] | None = None
    grade_shares: dict[str, float] | None = None
    reasons: bool = True  # top 3 reasons for and 2 against each lead, from TreeSHAP contributions
    reasons_per_owner: int | None = Field(None, ge=1)  # only each owner's best N leads get reasons (None: all)
    # Published nights kept: on publish, nights more than this many days before the newest are deleted from the
    # database and the parquet folder (None: every night kept). Must exceed labels.window_days (pipeline.config):
    # the monitor reads the nights whose label window has elapsed.
    retention_days: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _grades(self) -> ScoreParams:
        if (self.grade_capacity_per_week is None) == (self.grade_shares is None):
            raise ValueError("give exactly one of grade_capacity_per_week and grade_shares")
        if self.grade_shares is not None:
            shares = list(self.grade_shares.values())
            if any(s <= 0 for s in shares) or sum(shares) >= 1:
                raise ValueError("grade_shares must be positive and sum to less than 1 (the last grade takes the rest)")
        if self.grade_capacity_per_week is not None and any(c <= 0 for c in self.grade_capacity_per_week.values()):
            raise ValueError("grade_capacity_per_week must be positive")
        return self


class ReportParams(_Section):
    """leadscore report and the workspace's Report page: how the ledger is shown."""

    # A realized rate on fewer matured hand-offs than this is shown greyed, with its interval, never alone.
    min_matured: int = Field(30, ge=1)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")  # ISO 4217 code of the campaigns table's cost


class MonitorParams(_Section):
    """leadscore monitor and report: how promises are checked, what marketing and sales are held to."""

    interval: Literal["wilson", "clopper_pearson"] = "wilson"  # binomial interval around a realized rate
    confidence: float = Field(0.95, gt=0.5, lt=1)
    quality_grades: list[str] = Field(default_factory=lambda: ["A", "B"], min_length=1)  # marketing's quality lead
    # Sales' promise: touch a lead of this grade within this many hours of the night it was graded.
    sla_hours_by_grade: dict[str, float] = Field(default_factory=lambda: {"A": 48.0, "B": 120.0})
    follow_up_buckets_hours: list[int] = Field(default_factory=lambda: [24, 72, 168, 336], min_length=1)
    experiment_name: str = "lead-scoring-monitoring"

    @model_validator(mode="after")
    def _sane(self) -> MonitorParams:
        if any(h <= 0 for h in self.sla_hours_by_grade.values()):
            raise ValueError("sla_hours_by_grade must be positive")
        buckets = self.follow_up_buckets_hours
        if buckets != sorted(set(buckets)) or buckets[0] <= 0:
            raise ValueError("follow_up_buckets_hours must be positive and increasing")
        return self


class PromoteParams(_Section):
    """Gates a model version must pass (besides both teams' sign-off) to become champion."""

    required_approvals: list[Literal["marketing", "sales"]] = Field(default_factory=lambda: ["marketing", "sales"])
    max_auc_drop: float = Field(0.01, ge=0)  # vs the champion, both scored on the same current test period
    max_ece: float = Field(0.02, gt=0)
    min_test_conversions: int = Field(30, ge=0)
