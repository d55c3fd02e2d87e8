"""params.yaml → frozen, validated config objects.

Steps receive the typed slice they need (``config.train``), never the raw dict. Unknown keys and wrong
types fail at load time with the dotted path of the key and the expected type, because a typo in a
tuning file that silently falls back to a default is the most expensive kind of bug in ML.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from features.params import (
    MAX_SEGMENTS,
    FeatureParams,
    GenerateParams,
    LabelParams,
    SamplingParams,
    Section,
    SegmentParams,
    SourceParams,
    SpineParams,
)
from features.segments import overlap_problems
from models.params import (
    EvaluateParams,
    MonitorParams,
    PromoteParams,
    ReportParams,
    ScoreParams,
    SplitParams,
    TrainParams,
    TuneParams,
)

DEFAULT_PARAMS_PATH = Path("params.yaml")


class ConfigError(ValueError):
    """params.yaml does not describe a valid configuration."""


_Section = Section  # one base for every section: extra="forbid", strict, frozen


class RegisterParams(_Section):
    model_name: str = "lead-scoring"
    experiment_name: str = "lead-scoring"


class NightlyParams(_Section):
    """leadscore nightly: drift thresholds (population stability index) and where drift is logged, and the
    guards that fail a night whose sources look broken (too many bad rows, a table missing, empty or resized)."""

    psi_warn: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    experiment_name: str = "lead-scoring-monitoring"
    max_reject_share: float = Field(0.01, ge=0, le=1)  # per table; above it the night fails, nothing published
    # Rows per source table against the last published night: a larger relative change (either way) fails the
    # night, nothing published; null compares nothing (a missing or empty table still fails it).
    max_volume_change: float | None = Field(0.3, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> NightlyParams:
        if self.psi_alert < self.psi_warn:
            raise ValueError("psi_alert must be at least psi_warn")
        return self


class SparkParams(_Section):
    """``--engine spark``: how the night is split (partition sizing) and where Spark finds the tables. The master
    comes from the environment (``LEADSCORE_SPARK_MASTER``, default ``local[*]``), as do settings a cluster owns
    (``LEADSCORE_SPARK_CONF``, or Spark's own ``SPARK_CONF_DIR``)."""

    # Leads per partition: each partition holds its leads' accounts, events, opportunities and touches, and runs
    # the builders and the scorer on them in one Python worker (40,000 leads ~ 400k events: a few hundred MB).
    leads_per_partition: int = Field(40_000, gt=0)
    # A metastore database holding the contract tables under their own names (leads, engagement_events, ...);
    # null: the parquet folder named by --sources / LEADSCORE_SOURCES.
    database: str | None = None
    # spark.* settings for the session, e.g. {spark.sql.shuffle.partitions: "400"}; the environment's win.
    conf: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _spark_keys(self) -> SparkParams:
        wrong = [key for key in self.conf if not key.startswith("spark.")]
        if wrong:
            raise ValueError(f"spark.conf: keys are Spark settings starting with 'spark.' (got {', '.join(wrong)})")
        return self


SEGMENT_SEPARATOR = "--"


def segment_model_name(model_name: str, segment: str) -> str:
    """The registered model of a segment: ``lead-scoring--emea``."""
    return f"{model_name}{SEGMENT_SEPARATOR}{segment}"


class Config(_Section):
    _segment: SegmentParams | None = PrivateAttr(default=None)
    source: SourceParams = SourceParams()  # kind: contract (the six tables) unless a flat export is mapped
    labels: LabelParams
    spine: SpineParams
    features: FeatureParams
    sampling: SamplingParams = SamplingParams()
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams = EvaluateParams()
    tune: TuneParams = TuneParams()
    registry: RegisterParams = Field(alias="register")
    score: ScoreParams
    promote: PromoteParams = PromoteParams()
    nightly: NightlyParams = NightlyParams()
    monitor: MonitorParams = MonitorParams()
    report: ReportParams = ReportParams()
    generate: GenerateParams
    spark: SparkParams = SparkParams()
    # Segment models (features.segments): each its own registered model <register.model_name>--<name>, trained,
    # signed and promoted on its own (`--segment NAME`); the leads of no segment, or of a segment with no champion,
    # are scored by the global model.
    segments: list[SegmentParams] = Field(default_factory=list, max_length=MAX_SEGMENTS)

    @model_validator(mode="after")
    def _gap_covers_window(self) -> Config:
        if self.split.gap_days < self.labels.window_days:
            raise ValueError(
                f"split.gap_days ({self.split.gap_days}) must be >= labels.window_days "
                f"({self.labels.window_days}): otherwise training labels look into the evaluation period"
            )
        retention = self.score.retention_days
        if retention is not None and retention <= self.labels.window_days:
            raise ValueError(
                f"score.retention_days ({retention}) must be more than labels.window_days "
                f"({self.labels.window_days}): the monitor checks published nights once their label window has "
                "elapsed, and these would be deleted before then (null keeps every night)"
            )
        if (self.source.kind == "flat" and self.source.created_column is None
                and self.score.grade_capacity_per_week is not None):
            raise ValueError("score.grade_capacity_per_week needs dates to count leads per week; a flat export "
                             "without source.created_column has none: give score.grade_shares instead")
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError(f"segments: names must be unique (got {', '.join(names)})")
        if self.segments and self.source.kind != "contract":
            raise ValueError("segments need the data-contract tables (leads and accounts): a flat export has none")
        problems = overlap_problems(self.segments)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def segment(self) -> SegmentParams | None:
        """The segment this config trains, signs and promotes (:meth:`for_segment`), or None: the global model."""
        return self._segment

    def segment_named(self, name: str) -> SegmentParams:
        for segment in self.segments:
            if segment.name == name:
                return segment
        declared = ", ".join(s.name for s in self.segments) or "none"
        raise ValueError(f"no segment {name!r} is declared (segments: {declared})")

    def for_segment(self, name: str | None) -> Config:
        """The config of one segment's model: registered as ``<model_name>--<name>``, its grades sized by the
        segment's capacity; every command that trains, signs, promotes or reads a model then takes one path."""
        if name is None:
            return self
        segment = self.segment_named(name)
        copy = self.model_copy(update={
            "registry": self.registry.model_copy(update={"model_name": segment_model_name(self.registry.model_name,
                                                                                           name)}),
            "score": self.score.model_copy(update={"grade_capacity_per_week": dict(segment.capacity),
                                                   "grade_shares": None})})
        copy._segment = segment
        return copy

    def _dump(self) -> dict[str, Any]:
        """The params as data; the default ``source`` (the data contract) is left out, so the hash and the
        logged params of a contract config are what they were before flat exports existed."""
        exclude = ({"source"} if self.source == SourceParams() else set()) | ({"segments"} if not self.segments
                                                                             else set())
        return self.model_dump(mode="json", by_alias=True, exclude=exclude or None)

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
    if isinstance(given, dict):  # a rule across keys: the message names them; the whole section is noise
        return f"{path}: {error['msg'].removeprefix('Value error, ')}"
    return f"{path}: {error['msg']} (got {given!r} of type {type(given).__name__})"


def parse_config(raw: Any, source: str = "params.yaml") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_describe(e)}" for e in exc.errors())
        raise ConfigError(f"{source} is invalid:\n{lines}") from None


EXTENDS = "extends"  # an override file's first key: the params file it changes (relative to its own folder)


def merge_params(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, anything else (lists, scalars, null) replaces."""
    out = dict(base)
    for key, value in override.items():
        out[key] = (merge_params(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict)
                    else value)
    return out


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise ConfigError(f"{path}: no such file (run from the project folder or pass --params)")
    with path.open() as fh:
        try:
            return yaml.safe_load(fh)
        except yaml.YAMLError as exc:  # the file, line and column, not a traceback
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ConfigError(f"{path}{where}: {problem}") from None


def read_params(path: str | Path, *, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The params a file describes, as data: an override file (``extends: <params file>`` and only the
    sections and keys it changes) merged over the file it extends, which may itself extend another."""
    path = Path(path)
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or EXTENDS not in raw:
        return raw
    raw = dict(raw)
    parent = Path(str(raw.pop(EXTENDS)))
    parent = parent if parent.is_absolute() else path.parent / parent
    if parent.resolve() in _seen or parent.resolve() == path.resolve():
        raise ConfigError(f"{path}: extends {parent}, which extends it back")
    base = read_params(parent, _seen=(*_seen, path.resolve()))
    if not isinstance(base, dict):
        raise ConfigError(f"{parent} (extended by {path}): expected a mapping of sections at the top level")
    return merge_params(base, raw)


def load_config(path: str | Path = DEFAULT_PARAMS_PATH) -> Config:
    """A complete params file, or an override file merged over the one it extends: validated as one."""
    return parse_config(read_params(path), source=str(path))
