"""What a feature column is: its name, source, kind (hence dtype) and the plain words that describe it.

Descriptions have a ``{value}`` slot so that reasons shown to sales ("visited the pricing page 3 times in
the last 7 days") and documentation come from one place. The builders declare their specs with these;
features.catalog gathers them. This module imports no builder, so every builder can import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

COUNT, DAYS, CATEGORY, NUMBER, FLAG, RATIO = "count", "days", "category", "number", "flag", "ratio"
DECIMAL = "decimal"  # a number shown as given (4.857, not 5): the columns of a flat CRM export
DTYPES = {COUNT: "int32", DAYS: "float64", CATEGORY: "category", NUMBER: "float64", FLAG: "int8",
          RATIO: "float64", DECIMAL: "float64"}


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    source: str        # engagement | fit | lead | history | sales | crm export
    kind: str          # count | days | category | number | flag | ratio | decimal
    description: str   # plain words with a {value} slot
    missing: str = ""  # what a missing value means, in words
    in_model: bool = True

    @property
    def dtype(self) -> str:
        return DTYPES[self.kind]

    def describe(self, value) -> str:
        """The description with the lead's value filled in."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.missing or self.description.format(value="unknown")
        if self.kind == FLAG:
            if "{value}" in self.description:  # "housing: yes" / "housing: no"
                return self.description.format(value="yes" if int(value) else "no")
            return self.description if int(value) else f"not: {self.description}"
        if self.kind in (COUNT,):
            value = int(value)
        elif self.kind in (DAYS, NUMBER):
            value = f"{float(value):,.0f}"
        elif self.kind == RATIO:
            value = f"{float(value):.1f}"
        elif self.kind == DECIMAL:
            value = f"{float(value):g}"
        return self.description.format(value=value)


EVENT_PHRASES = {
    "email_open": ("opened campaign emails {value} times", "opened a campaign email"),
    "email_click": ("clicked campaign emails {value} times", "clicked a campaign email"),
    "web_visit": ("visited the website {value} times", "visited the website"),
    "pricing_page_visit": ("visited the pricing page {value} times", "visited the pricing page"),
    "form_submit": ("filled in {value} forms", "filled in a form"),
    "content_download": ("downloaded content {value} times", "downloaded content"),
    "webinar_attend": ("attended {value} webinars", "attended a webinar"),
    "event_attend": ("attended {value} events", "attended an event"),
    "ad_click": ("clicked ads {value} times", "clicked an ad"),
}


def event_phrase(event_type: str) -> tuple[str, str]:
    """(counted phrase with {value}, phrase for 'last time it …')."""
    default = (f"had {{value}} '{event_type}' events", f"had a '{event_type}' event")
    return EVENT_PHRASES.get(event_type, default)


def window_words(days: int) -> str:
    return "in the last day" if days == 1 else f"in the last {days} days"
