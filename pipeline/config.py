"""params.yaml → frozen, validated config objects.

Steps receive the typed slice they need (``config.train``), never the raw dict. Unknown keys and wrong
types fail at load time with the dotted path of the key and the expected type, because a typo in a
tuning file that silently falls back to a default is the most expensive kind of bug in ML.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from features.params import FeatureParams, GenerateParams, LabelParams, Section, SourceParams, SpineParams

DEFAULT_PARAMS_PATH = Path("params.yaml")


class ConfigError(ValueError):
    """params.yaml does not describe a valid configuration."""


_Section = Section  # one base for every section: extra="forbid", strict, frozen


class SplitParams(_Section):
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


class RegisterParams(_Section):
    model_name: str = "lead-scoring"
    experiment_name: str = "lead-scoring"


class ScoreParams(_Section):
    model_alias: str = "champion"
    # Grades sized by sales capacity: leads per week sales can work in each grade, best first; the next
    # letter takes the rest. Or, instead, fixed shares of the open population (grade_shares).
    grade_capacity_per_week: dict[str, int] | None = None
    grade_shares: dict[str, float] | None = None
    reasons: bool = True  # top 3 reasons for and 2 against each lead, from TreeSHAP contributions
    reasons_per_owner: int | None = Field(None, ge=1)  # only each owner's best N leads get reasons (None: all)

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


class NightlyParams(_Section):
    """leadscore nightly: drift thresholds (population stability index) and where drift is logged."""

    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    experiment_name: str = "lead-scoring-monitoring"
    max_reject_share: float = Field(0.01, ge=0, le=1)  # per table; above it the night fails, nothing published

    @model_validator(mode="after")
    def _ordered(self) -> NightlyParams:
        if self.psi_alert < self.psi_warn:
            raise ValueError("psi_alert must be at least psi_warn")
        return self


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


class Config(_Section):
    source: SourceParams = SourceParams()  # kind: contract (the six tables) unless a flat export is mapped
    labels: LabelParams
    spine: SpineParams
    features: FeatureParams
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams = EvaluateParams()
    tune: TuneParams = TuneParams()
    registry: RegisterParams = Field(alias="register")
    score: ScoreParams
    promote: PromoteParams = PromoteParams()
    nightly: NightlyParams = NightlyParams()
    monitor: MonitorParams = MonitorParams()
    generate: GenerateParams

    @model_validator(mode="after")
    def _gap_covers_window(self) -> Config:
        if self.split.gap_days < self.labels.window_days:
            raise ValueError(
                f"split.gap_days ({self.split.gap_days}) must be >= labels.window_days "
                f"({self.labels.window_days}): otherwise training labels look into the evaluation period"
            )
        if (self.source.kind == "flat" and self.source.created_column is None
                and self.score.grade_capacity_per_week is not None):
            raise ValueError("score.grade_capacity_per_week needs dates to count leads per week; a flat export "
                             "without source.created_column has none: give score.grade_shares instead")
        return self

    def _dump(self) -> dict[str, Any]:
        """The params as data; the default ``source`` (the data contract) is left out, so the hash and the
        logged params of a contract config are what they were before flat exports existed."""
        exclude = {"source"} if self.source == SourceParams() else None
        return self.model_dump(mode="json", by_alias=True, exclude=exclude)

    def flat(self) -> dict[str, Any]:
        """Dotted key → value, for MLflow params."""
        return _flatten(self._dump())

    def hash(self) -> str:
        """Stable content hash, for lineage tags."""
        blob = json.dumps(self._dump(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections become dotted keys; tables whose keys are data (grade names, points per value)
    stay whole, as JSON, since their keys may hold characters MLflow refuses in a param name."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and all(str(k).replace("_", "").isalnum() for k in value):
            out.update(_flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"]) or "<root>"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "missing":
        return f"{path}: required key is missing"
    given = error.get("input")
    given_type = type(given).__name__
    return f"{path}: {error['msg']} (got {given!r} of type {given_type})"


def parse_config(raw: Any, source: str = "params.yaml") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_describe(e)}" for e in exc.errors())
        raise ConfigError(f"{source} is invalid:\n{lines}") from None


def load_config(path: str | Path = DEFAULT_PARAMS_PATH) -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file (run from the project folder or pass --params)")
    with path.open() as fh:
        raw = yaml.safe_load(fh)
    return parse_config(raw, source=str(path))
