"""Sales touches before each cutoff: counts per window, total so far, days since the last one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.params import SalesTouchParams
from features.sales import build_sales_features, sales_specs

C = pd.Timestamp("2025-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
SEC = pd.Timedelta(seconds=1)
UTC_NS = "datetime64[ns, UTC]"
PARAMS = SalesTouchParams(windows_days=[7, 30])


def _activities(rows) -> pd.DataFrame:
    """(lead_id, activity_ts, activity_type) rows."""
    return pd.DataFrame({
        "lead_id": np.array([r[0] for r in rows], dtype="int64"),
        "activity_ts": pd.DatetimeIndex([r[1] for r in rows], dtype=UTC_NS),
        "activity_type": pd.Series([r[2] for r in rows], dtype="str"),
    })


def _spine() -> pd.DataFrame:
    """Shuffled, non-default index; lead 2 twice; lead 3 never touched."""
    return pd.DataFrame({"lead_id": np.array([1, 2, 2, 3], dtype="int64"),
                         "as_of_ts": pd.DatetimeIndex([C, C, C + 10 * DAY, C], dtype=UTC_NS)},
                        index=pd.Index([40, 10, 30, 20]))


def _base_activities() -> pd.DataFrame:
    return _activities([
        (1, C - SEC, "call"),             # 7d, 30d
        (1, C - 7 * DAY, "email"),        # exactly at the 7d edge: inside
        (1, C - 30 * DAY, "call"),        # exactly at the 30d edge: inside
        (1, C - 30 * DAY - SEC, "call"),  # total only
        (1, C, "meeting"),                # at the cutoff: not yet known
        (1, C + DAY, "call"),             # future
        (2, C - 3 * DAY, "call"),
        (2, C + 3 * DAY, "email"),        # future for (2, C); 7 days before (2, C+10d)
        (99, C - DAY, "call"),            # a lead not on the spine
    ])


def test_sales_hand_computed():
    """Windows [as_of - w, as_of), total of everything strictly before, days since the latest touch."""
    out = build_sales_features(_base_activities(), _spine(), PARAMS)
    expected = pd.DataFrame({
        "sales__touches_7d": [2, 1, 1, 0],
        "sales__touches_30d": [3, 1, 2, 0],
        "sales__touches_total": [4, 1, 2, 0],
        "sales__days_since_last_touch": [1 / 86_400, 3.0, 7.0, np.nan],
    }, index=_spine().index).astype({s.name: s.dtype for s in sales_specs(PARAMS)})
    pd.testing.assert_frame_equal(out, expected)


def test_specs_are_monitoring_only_by_default():
    """Touches measure sales effort: out of the model unless use_in_model is set."""
    assert not any(s.in_model for s in sales_specs(SalesTouchParams()))
    assert all(s.in_model for s in sales_specs(SalesTouchParams(use_in_model=True)))
    assert [s.name for s in sales_specs(PARAMS)] == [
        "sales__touches_7d", "sales__touches_30d", "sales__touches_total", "sales__days_since_last_touch"]


def test_activities_none_gives_zeros_and_nan():
    """No sales extract: the columns exist, counts are 0 and days since last touch NaN."""
    spine = _spine()
    out = build_sales_features(None, spine, PARAMS)
    assert list(out.columns) == [s.name for s in sales_specs(PARAMS)]
    pd.testing.assert_index_equal(out.index, spine.index)
    for spec in sales_specs(PARAMS):
        assert str(out[spec.name].dtype) == spec.dtype, spec.name
    assert (out.drop(columns="sales__days_since_last_touch") == 0).all().all()
    assert out["sales__days_since_last_touch"].isna().all()


def test_empty_activities_table():
    """An extract with no rows gives the same as no extract."""
    spine = _spine()
    out = build_sales_features(_base_activities().iloc[:0], spine, PARAMS)
    pd.testing.assert_frame_equal(out, build_sales_features(None, spine, PARAMS))


def test_inputs_are_not_mutated():
    """The builder must not touch the caller's tables."""
    activities, spine = _base_activities(), _spine()
    copies = activities.copy(), spine.copy()
    build_sales_features(activities, spine, PARAMS)
    pd.testing.assert_frame_equal(activities, copies[0])
    pd.testing.assert_frame_equal(spine, copies[1])


def test_touches_at_or_after_the_cutoff_change_nothing():
    """Point in time: touches at as_of_ts or later, for any lead, change nothing."""
    spine, activities = _spine(), _base_activities()
    before = build_sales_features(activities, spine, PARAMS)
    last = spine.groupby("lead_id")["as_of_ts"].max()
    more = _activities([(lead, last[lead] + k * DAY, "call") for lead in (1, 2, 3) for k in (0, 1, 400)])
    after = build_sales_features(pd.concat([more, activities], ignore_index=True), spine, PARAMS)
    pd.testing.assert_frame_equal(after, before)
