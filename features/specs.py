"""What a feature column is: its name, source, kind (hence dtype) and the plain words that describe it.

Descriptions have a ``{value}`` slot so that reasons shown to sales ("visited the pricing page 3 times in
the last 7 days") and documentation come from one place. The builders declare their specs with these;
features.catalog gathers them. This module imports no builder, so every builder can import it.

The words follow the rules of a reason a rep reads (``describe``):
- counts: "{value} times" reads "once", "twice", "3 times"; ``one`` and ``zero`` give the words for one and
  for none where the description has another noun ("filled in one form", "has not filled in a form …");
- days: "{value} days ago" reads "today", "1 day ago", "12 days ago"; "{value} days" reads "1 day";
- flags: ``zero`` states the absence in its own words ("not yet a customer"), never "not: …";
- categories: shown by ``labels`` (code → words, frozen into the catalogue at training: params.yaml's
  ``features.labels`` over the built-in ones) and otherwise with underscores as spaces ("paid search");
- a reason against (``against=True``) whose count is below the average lead's (``typical``) says "only";
- ``context``: other columns of the same row whose values the words are made of (the time-decayed
  engagement reads as "engaged 4 times in the last 7 days, most recently 2 days ago", which is what it
  measures: recent events, the most recent counting most).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

COUNT, DAYS, CATEGORY, NUMBER, FLAG, RATIO = "count", "days", "category", "number", "flag", "ratio"
DECIMAL = "decimal"  # a number shown as given (4.857, not 5): the columns of a flat CRM export
DTYPES = {COUNT: "int32", DAYS: "float64", CATEGORY: "category", NUMBER: "float64", FLAG: "int8",
          RATIO: "float64", DECIMAL: "float64"}

# Words for codes the builders and the demo world produce; anything else shows with underscores as spaces.
SENIORITY_LABELS = {"c_level": "C-level", "vp": "VP", "director": "director", "manager": "manager",
                    "individual": "individual contributor", "student": "student or intern"}
DEPARTMENT_LABELS = {"it": "IT", "hr": "HR"}
COUNTRY_LABELS = {
    "US": "the United States", "GB": "the United Kingdom", "UK": "the United Kingdom", "DE": "Germany",
    "FR": "France", "NL": "the Netherlands", "CA": "Canada", "AU": "Australia", "IN": "India", "BR": "Brazil",
    "ES": "Spain", "IT": "Italy", "IE": "Ireland", "BE": "Belgium", "CH": "Switzerland", "AT": "Austria",
    "SE": "Sweden", "DK": "Denmark", "NO": "Norway", "FI": "Finland", "PL": "Poland", "PT": "Portugal",
    "JP": "Japan", "SG": "Singapore", "MX": "Mexico", "NZ": "New Zealand", "ZA": "South Africa",
}
SOURCE_LABELS = {"web_organic": "organic web search", "partner_referral": "a partner referral",
                 "outbound": "outbound prospecting", "webinar": "a webinar", "trade_show": "a trade show",
                 "paid_social": "paid social media"}


def readable(code) -> str:
    """A code as words when nobody gave it any: "paid_search" → "paid search"."""
    return str(code).replace("_", " ").strip()


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n:,} times")


def days_ago(days: float) -> str:
    d = round(float(days))
    return "today" if d <= 0 else "1 day ago" if d == 1 else f"{d:,} days ago"


def days_span(days: float) -> str:
    d = round(float(days))
    return "less than a day" if d <= 0 else "1 day" if d == 1 else f"{d:,} days"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fill(template: str, value, *, count: int | None = None, days: float | None = None, only: bool = False) -> str:
    """``template`` with its slot filled: counts as "once"/"twice"/"N times", days as "today"/"1 day ago"."""
    prefix = "only " if only else ""
    if count is not None and "{value} times" in template:
        return template.replace("{value} times", prefix + times(count))
    if days is not None:
        template = template.replace("{value} days ago", days_ago(days)).replace("{value} days", days_span(days))
    return template.format(value=f"{prefix}{value}")


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    source: str        # engagement | fit | lead | history | sales | crm export
    kind: str          # count | days | category | number | flag | ratio | decimal
    description: str   # plain words with a {value} slot
    missing: str = ""  # what a missing value means, in words
    in_model: bool = True
    zero: str = ""     # the words for 0: a count of none, a flag that is off ("not yet a customer")
    one: str = ""      # the words for a count of 1 when the description's noun is not "times"
    labels: tuple = ()  # ((code, words), ...): how a category's values read
    context: tuple = ()  # (count column, days-since column) of the same row the words are made of

    def __post_init__(self):  # JSON gives lists back: keep the spec hashable and comparable
        object.__setattr__(self, "labels", tuple((str(k), str(v)) for k, v in self.labels))
        object.__setattr__(self, "context", tuple(str(c) for c in self.context))

    @property
    def dtype(self) -> str:
        return DTYPES[self.kind]

    def label(self, code) -> str:
        return dict(self.labels).get(str(code), readable(code))

    def describe(self, value, *, against: bool = False, typical: float | None = None, context=()) -> str:
        """The description with the lead's value filled in, in a rep's words (see the module docstring).

        ``against``: the value counts against the lead; with ``typical`` (the average lead's value) a count
        below it reads "only N". ``context``: the values of the ``context`` columns of the same row."""
        if self.context:
            if len(context) == len(self.context):
                return self._describe_recent(*context, against=against, typical=typical)
            if _missing(value):
                return self.missing or "has never engaged"
            return "has engaged recently" if float(value) >= 0.05 else "has not engaged recently"
        if _missing(value):
            return self.missing or self.description.format(value="unknown")
        if self.kind == FLAG:
            on = bool(int(value))
            if "{value}" in self.description:  # "housing: yes" / "housing: no"
                return self.description.format(value="yes" if on else "no")
            return self.description if on else (self.zero or f"{self.description}: no")
        if self.kind == COUNT:
            n = int(value)
            if n == 0 and self.zero:
                return self.zero
            only = against and typical is not None and 0 < n < typical
            if n == 1 and self.one:
                return f"only {self.one}" if only and not self.one.startswith("only") else self.one
            return _fill(self.description, f"{n:,}", count=n, only=only)
        if self.kind == DAYS:
            return _fill(self.description, f"{float(value):,.0f}", days=float(value))
        if self.kind == CATEGORY:
            return self.description.format(value=self.label(value))
        if self.kind == NUMBER:
            value = f"{float(value):,.0f}"
        elif self.kind == RATIO:
            value = f"{float(value):.1f}"
        elif self.kind == DECIMAL:
            value = f"{float(value):g}"
        return self.description.format(value=value)

    def word_keys(self, values: np.ndarray) -> np.ndarray:
        """Per value, an integer equal for two values only when ``describe`` gives them the same words (for
        the same direction, typical value and context): so a million leads' reasons ask for words once per
        key, not once per lead. Days and whole numbers read rounded ("12 days ago" for 11.6 and 12.4), so
        they key by the rounded value (``round`` and the ``,.0f`` format both round half to even, as
        ``np.rint`` does, sign of zero kept); every other kind by the value's bits (never merging two
        values whose words might differ; all missing values are one key)."""
        values = np.asarray(values, dtype=np.float64)
        if self.kind in (DAYS, NUMBER):
            values = np.rint(values)
        return np.where(np.isnan(values), np.nan, values).view(np.int64)

    def _describe_recent(self, count, days, *, against: bool, typical: float | None) -> str:
        """Recent engagement in words: how often within the window, and when last."""
        window = self.description.split("{value} times ", 1)[-1].split(",")[0]  # "in the last 7 days"
        if _missing(days):
            return self.missing or "has never engaged"
        n = 0 if _missing(count) else int(count)
        if n == 0:
            return f"has not engaged {window} (last time {days_ago(days)})"
        only = against and typical is not None and n < typical
        return f"{_fill(self.description.split(',')[0], n, count=n, only=only)}, most recently {days_ago(days)}"


# event type: (counted, with {value}; what it did last; a count of one; none of it)
EVENT_PHRASES = {
    "email_open": ("opened campaign emails {value} times", "opened a campaign email", "",
                   "has not opened a campaign email"),
    "email_click": ("clicked campaign emails {value} times", "clicked a campaign email", "",
                    "has not clicked a campaign email"),
    "web_visit": ("visited the website {value} times", "visited the website", "", "has not visited the website"),
    "pricing_page_visit": ("visited the pricing page {value} times", "visited the pricing page", "",
                           "has not visited the pricing page"),
    "form_submit": ("filled in {value} forms", "filled in a form", "filled in one form", "has not filled in a form"),
    "content_download": ("downloaded content {value} times", "downloaded content", "",
                         "has not downloaded content"),
    "webinar_attend": ("attended {value} webinars", "attended a webinar", "attended one webinar",
                       "has not attended a webinar"),
    "event_attend": ("attended {value} events", "attended an event", "attended one event",
                     "has not attended an event"),
    "ad_click": ("clicked ads {value} times", "clicked an ad", "", "has not clicked an ad"),
}


def event_phrase(event_type: str) -> tuple[str, str]:
    """(counted phrase with {value}, phrase for 'last time it …')."""
    return event_words(event_type)[:2]


def event_words(event_type: str) -> tuple[str, str, str, str]:
    """(counted phrase with {value}, phrase for 'last time it …', a count of one, none)."""
    default = (f"had {{value}} '{event_type}' events", f"had a '{event_type}' event",
               f"had one '{event_type}' event", f"has had no '{event_type}' event")
    return EVENT_PHRASES.get(event_type, default)


def window_words(days: int) -> str:
    return "in the last day" if days == 1 else f"in the last {days} days"
