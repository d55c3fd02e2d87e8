"""Sales touches before each snapshot: how much effort sales already spent on the lead.

They measure sales behaviour, not lead quality (a lead gets calls because someone thought it good), so
they are built and kept for monitoring and left out of the model unless
``features.sales_touches.use_in_model`` is true.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.point_in_time import EventIndex, encode_entities, time_offset
from features.specs import COUNT, DAYS, FeatureSpec, window_words
from features.timeutil import SECONDS_PER_DAY, to_seconds


def sales_specs(params) -> list[FeatureSpec]:
    use = params.use_in_model
    specs = [FeatureSpec(f"sales__touches_{w}d", "sales", COUNT, f"sales touched the lead {{value}} times "
                         f"{window_words(w)}", zero=f"sales has not touched the lead {window_words(w)}",
                         in_model=use) for w in params.windows_days]
    specs += [
        FeatureSpec("sales__touches_total", "sales", COUNT, "sales touched the lead {value} times so far",
                    zero="sales has not touched the lead yet", in_model=use),
        FeatureSpec("sales__days_since_last_touch", "sales", DAYS, "last sales touch {value} days ago",
                    missing="sales has not touched the lead yet", in_model=use),
    ]
    return specs


def build_sales_features(activities: pd.DataFrame | None, spine: pd.DataFrame, params) -> pd.DataFrame:
    names = [s.name for s in sales_specs(params)]
    if activities is None:
        frame = pd.DataFrame(0, index=spine.index, columns=names[:-1]).astype(np.int32)
        frame["sales__days_since_last_touch"] = np.nan
        return frame
    leads = pd.Index(spine["lead_id"].unique())
    offset = time_offset(spine["as_of_ts"], activities["activity_ts"])
    index = EventIndex.from_frame(activities, "lead_id", "activity_ts", leads, offset)
    codes = encode_entities(leads, spine["lead_id"])
    cutoff = to_seconds(spine["as_of_ts"])
    out = {}
    for w in params.windows_days:
        out[f"sales__touches_{w}d"] = index.count_between(codes, cutoff - w * SECONDS_PER_DAY, cutoff)
    out["sales__touches_total"] = index.count_between(codes, np.full(len(cutoff), offset), cutoff)
    out["sales__days_since_last_touch"] = (cutoff - index.last_before(codes, cutoff)) / SECONDS_PER_DAY
    frame = pd.DataFrame(out, index=spine.index)
    return frame.astype({n: "int32" for n in names[:-1]})[names]
