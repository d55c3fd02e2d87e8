"""Typed parameters of the feature builders and the demo world (the ``labels``, ``spine``, ``features`` and
``generate`` sections).

They live beside the builders so that ``features/`` depends on nothing in ``pipeline/``; pipeline.config
composes them into the whole params.yaml. Unknown keys and wrong types are errors.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_by_name=True)


class LabelParams(Section):
    milestone: Literal["won", "opportunity_created"] = "won"
    window_days: int = Field(90, gt=0)

    @property
    def column(self) -> str:
        return f"converted_within_{self.window_days}d"


class SpineParams(Section):
    cadence_days: int = Field(7, gt=0)
    max_lead_age_days: int | None = Field(None, gt=0)  # None: no age cap (features.spine)


class SamplingParams(Section):
    """How the training table is bounded (``features.sampling``): every converting snapshot is kept; non-converting
    ones are kept with probability ``negative_rate``, decided per (lead, as-of date) by a seeded hash, and carry
    the weight 1 / rate into fitting, calibration, metrics and promises. ``negative_rate`` null derives the rate
    from ``target_rows`` (the table's size near it); ``target_rows`` null with no rate keeps every snapshot. The
    table is built ``block_leads`` leads at a time, so the unsampled table never exists at once."""

    target_rows: int | None = Field(2_000_000, gt=0)
    negative_rate: float | None = Field(None, gt=0, le=1)
    seed: int = 42
    block_leads: int = Field(100_000, gt=0)


class TrendParams(Section):
    recent_days: int = Field(7, gt=0)
    baseline_days: int = Field(30, gt=0)


class HighIntentParams(Section):
    """Which events say "ready to buy": whole event types, and form fills with these details."""

    event_types: list[str] = Field(default_factory=lambda: ["pricing_page_visit"])
    form_event_type: str = "form_submit"
    form_details: list[str] = Field(default_factory=lambda: ["demo_request", "contact_sales"])
    windows_days: list[int] = Field(default_factory=lambda: [7, 30])


class EngagementParams(Section):
    event_types: list[str] = Field(min_length=1)
    windows_days: list[int] = Field(min_length=1)
    half_lives_days: list[float] = Field(default_factory=lambda: [7.0, 30.0])
    trend: TrendParams = TrendParams()
    high_intent: HighIntentParams = HighIntentParams()
    chunk_pairs: int = Field(2_500_000, gt=0)  # (event, snapshot) pairs per block: bounds memory
    threads: int = Field(2, gt=0)  # blocks built side by side

    @model_validator(mode="after")
    def _positive_unique(self) -> EngagementParams:
        for name in ("windows_days", "event_types", "half_lives_days"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must not repeat")
        if any(w <= 0 for w in self.windows_days):
            raise ValueError("windows_days must all be positive")
        if any(h < 1 for h in self.half_lives_days):
            raise ValueError("half_lives_days must be at least 1 day")
        return self


class FitParams(Section):
    lead_categorical: list[str] = Field(default_factory=list)
    account_categorical: list[str] = Field(default_factory=list)
    account_numeric: list[str] = Field(default_factory=list)
    # Upper bounds (exclusive) of the employee bands; the last band is open-ended.
    company_size_bands: list[int] = Field(default_factory=lambda: [10, 50, 200, 1000, 5000])
    free_email_domains: list[str] = Field(default_factory=list)
    # Ordered rules: the first label whose pattern matches the job title (case-insensitive) wins.
    seniority_rules: dict[str, str] = Field(default_factory=dict)
    department_rules: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules_compile(self) -> FitParams:
        for name in ("seniority_rules", "department_rules"):
            for label, pattern in getattr(self, name).items():
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{name}.{label}: invalid regular expression ({exc})") from None
        if self.company_size_bands != sorted(set(self.company_size_bands)):
            raise ValueError("company_size_bands must be increasing")
        return self


class SalesTouchParams(Section):
    windows_days: list[int] = Field(default_factory=lambda: [30])
    # Touches measure sales effort, not lead quality: kept for monitoring, out of the model by default.
    use_in_model: bool = False


class FeatureParams(Section):
    engagement: EngagementParams
    fit: FitParams
    history: bool = True
    history_recent_leads_days: int = Field(365, ge=1)  # window of hist__account_other_leads_<N>d
    sales_touches: SalesTouchParams = SalesTouchParams()
    # How category codes read in reasons: {feature column: {code: words}}, over the built-in words (country
    # names, "C-level", ...); a code nobody labelled shows with underscores as spaces ("paid_search" → "paid search").
    labels: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _labels_name_category_features(self) -> FeatureParams:
        known = category_features(self.fit)
        for column, words in self.labels.items():
            if column not in known:
                raise ValueError(f"labels.{column}: not a category feature; expected one of {', '.join(known)}")
            empty = [code for code, text in words.items() if not text.strip()]
            if empty:
                raise ValueError(f"labels.{column}: empty words for {', '.join(empty)}")
        return self


def category_features(fit: FitParams) -> list[str]:
    """The category feature columns the fit builder emits for these params (what labels may name)."""
    names = [f"fit__{c}" for c in fit.lead_categorical] + [f"fit__account_{c}" for c in fit.account_categorical]
    names += ["fit__seniority"] if fit.seniority_rules else []
    names += ["fit__department"] if fit.department_rules else []
    return [*names, "fit__company_size_band", "fit__first_campaign_channel"]


ColumnType = Literal["numeric", "categorical", "boolean", "date", "text"]


class SourceParams(Section):
    """Where the leads come from: the six-table data contract (default) or one flat CRM export.

    For ``kind: flat`` the column map says which column is the id (none: the row number), when each lead
    was created (optional: without it the split follows row order), whether it converted (a flag and/or a
    date), which columns to leave out (leaky: filled in by sales after contact) and, optionally, a column's
    type. Every other column becomes a feature with an inferred type.
    """

    kind: Literal["contract", "flat"] = "contract"
    id_column: str | None = None                # None: the lead id is the row number in the file (1-based)
    created_column: str | None = None           # None: no dates, the split follows row order
    converted_column: str | None = None         # a binary flag (yes/no, true/false, 1/0, won/lost …)
    converted_date_column: str | None = None    # a date, empty while not converted
    exclude: list[str] = Field(default_factory=list)
    types: dict[str, ColumnType] = Field(default_factory=dict)
    # Text with more distinct values than this is bucketed: its most frequent levels, the rest "(other)".
    max_categories: int = Field(50, gt=1)
    # Text whose distinct values exceed this share of the rows (ids, e-mails, free notes) is dropped.
    max_unique_share: float = Field(0.5, gt=0, le=1)
    # The backtest in created-date or row order: its folds test the last test_share of the rows; a history's
    # last valid_share early-stops, calibrates and grades.
    valid_share: float = Field(0.2, gt=0, lt=1)
    test_share: float = Field(0.2, gt=0, lt=1)
    # Leak screen (features.screens), on the training rows: a column that alone ranks the outcome at this AUC
    # or better is excluded, as are near-deciding values and names sales sets after contact …
    leak_auc: float = Field(0.90, gt=0.5, le=1)
    # … unless kept here (say why in a comment); train then needs --accept-leak-risk and tags the run.
    keep: list[str] = Field(default_factory=list)
    # Values that mean "nothing chosen" (trimmed, any case): missing before typing.
    placeholders: list[str] = Field(default_factory=lambda: ["Select", "--", "N/A", "unknown", ""])
    # Dates written 05/01/2026: true reads day first (5 January), false month first (May 1). None: each column's
    # values say (a first number over 12 can only be a day); training freezes what it read into the model version.
    day_first: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SourceParams:
        flat_only = ("id_column", "created_column", "converted_column", "converted_date_column")
        if self.kind == "contract":
            given = [k for k in flat_only if getattr(self, k) is not None]
            given += [k for k in ("exclude", "types", "keep") if getattr(self, k)]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to kind: flat")
            return self
        if self.converted_column is None and self.converted_date_column is None:
            raise ValueError("kind: flat needs converted_column or converted_date_column")
        if self.valid_share + self.test_share >= 0.9:
            raise ValueError("valid_share + test_share must leave at least 10 % of the rows to train on")
        mapped = [c for c in (self.id_column, self.created_column, self.converted_column,
                              self.converted_date_column) if c is not None]
        if len(set(mapped)) != len(mapped):
            raise ValueError("id, created and converted columns must be different columns")
        both = sorted(set(self.keep) & set(self.exclude))
        if both:
            raise ValueError(f"{', '.join(both)}: listed in both keep and exclude")
        return self


class GenerateParams(Section):
    """The shape of the demo world (features.demo_world); its size and seed are CLI options."""

    start: dt.date = dt.date(2024, 10, 1)
    days: int = Field(730, ge=200)
    n_owners: int = Field(12, gt=0)
    n_campaigns: int = Field(48, gt=0)


SEGMENT_TABLES = ("leads", "accounts")
MAX_SEGMENTS = 10
_SEGMENT_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_SEGMENT_COLUMN = re.compile(r"^(leads|accounts)\.[A-Za-z_][A-Za-z0-9_]*$")


class SegmentParams(Section):
    """One segment model (``features.segments``): the leads whose columns hold one of the listed values, in every
    column named (``leads.<column>`` or ``accounts.<column>``, the lead's account), and that segment's sales
    capacity per week, which sizes its grades as ``score.grade_capacity_per_week`` sizes the global model's."""

    name: str = Field(pattern=_SEGMENT_NAME)  # a slug: the segment's model is registered as <model_name>--<name>
    filter: dict[str, list[str | int | bool]] = Field(min_length=1)
    capacity: dict[str, int] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> SegmentParams:
        for column, values in self.filter.items():
            if not _SEGMENT_COLUMN.match(column):
                raise ValueError(f"segment {self.name!r}: filter column {column!r} must be written "
                                 f"<table>.<column> with table one of {', '.join(SEGMENT_TABLES)} "
                                 "(e.g. leads.country or accounts.industry)")
            if not values:
                raise ValueError(f"segment {self.name!r}: filter column {column!r} lists no values")
        if any(c <= 0 for c in self.capacity.values()):
            raise ValueError(f"segment {self.name!r}: capacity must be positive")
        return self
