"""The feature catalogue: every column the builders emit, with its source, dtype and a plain-words line.

Names carry source and window (``eng__email_click_30d``). Each builder module declares its own specs
(features.specs.FeatureSpec) next to its code; this module gathers them, in column order.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from features.engagement import engagement_specs
from features.fit import fit_specs
from features.history import history_specs
from features.sales import sales_specs

if TYPE_CHECKING:  # for the annotation only: FeatureSpec is imported from features.specs, never from here
    from features.specs import FeatureSpec


def build_catalog(params) -> list[FeatureSpec]:
    """Every feature the builders emit for these params (the ``features`` section), in column order."""
    specs = [*fit_specs(params.fit), *engagement_specs(params.engagement)]
    if params.history:
        specs += history_specs(params.history_recent_leads_days)
    specs += sales_specs(params.sales_touches)
    labels = getattr(params, "labels", {})
    return [dataclasses.replace(s, labels=(*s.labels, *labels[s.name].items())) if s.name in labels else s
            for s in specs]


def model_features(params) -> list[str]:
    return [s.name for s in build_catalog(params) if s.in_model]
