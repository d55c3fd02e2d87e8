"""Engagement features: counts per event type in [as_of - w days, as_of) and recency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.engagement import build_engagement_features, engagement_columns

C = pd.Timestamp("2025-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
SEC = pd.Timedelta(seconds=1)
TYPES = ["email_open", "web_visit"]
WINDOWS = [7, 30]
UTC_NS = "datetime64[ns, UTC]"


def _frame(rows, columns, index=None) -> pd.DataFrame:
    """Rows of (lead_id, timestamp, ...) → a frame with an int64 id and a ns-UTC timestamp column."""
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
    data = {columns[0]: np.array(cols[0], dtype="int64"),
            columns[1]: pd.Series(list(cols[1]), dtype=UTC_NS, index=index)}
    data.update({c: list(v) for c, v in zip(columns[2:], cols[2:], strict=True)})
    return pd.DataFrame(data, index=index)


def _spine(rows, index) -> pd.DataFrame:
    return _frame(rows, ["lead_id", "as_of_ts"], index=pd.Index(index))


def _events(rows) -> pd.DataFrame:
    return _frame(rows, ["lead_id", "event_ts", "event_type"])


def _base_spine() -> pd.DataFrame:
    """Shuffled, non-default index: results must align on it, not on position or lead order."""
    return _spine([(1, C), (2, C), (2, C + 10 * DAY), (3, C)], index=[40, 10, 30, 20])


def _base_events() -> pd.DataFrame:
    return _events([
        (1, C - SEC, "email_open"),                # 7d and 30d
        (1, C - 7 * DAY, "email_open"),            # exactly at the 7d edge: inside (lo is inclusive)
        (1, C - 7 * DAY - SEC, "email_open"),      # 30d only
        (1, C - 30 * DAY, "web_visit"),            # exactly at the 30d edge: inside
        (1, C - 30 * DAY - SEC, "web_visit"),      # outside every window
        (1, C - 2 * DAY, "form_submit"),           # a type not listed: totals only
        (1, C, "email_open"),                      # exactly at the cutoff: not yet known
        (1, C + DAY, "web_visit"),                 # future
        (2, C - 10 * DAY, "web_visit"),
        (2, C + 3 * DAY, "email_open"),            # future for (2, C), 7 days before (2, C+10d)
        (99, C - DAY, "email_open"),               # a lead not on the spine
    ])


@pytest.fixture
def spine():
    return _base_spine()


@pytest.fixture
def events():
    return _base_events()


def _build(events, spine, types=TYPES, windows=WINDOWS):
    return build_engagement_features(events, spine, event_types=types, windows_days=windows)


def test_engagement_hand_computed(spine, events):
    """Window edges: [as_of - w, as_of); totals count unlisted types; recency is strict."""
    out = _build(events, spine)
    expected = pd.DataFrame({
        "eng__email_open_7d":  [2, 0, 1, 0],
        "eng__email_open_30d": [3, 0, 1, 0],
        "eng__web_visit_7d":   [0, 0, 0, 0],
        "eng__web_visit_30d":  [1, 1, 1, 0],
        "eng__events_7d":      [3, 0, 1, 0],
        "eng__events_30d":     [5, 1, 2, 0],
        "eng__days_since_last_event": [1 / 86_400, 10.0, 7.0, np.nan],
    }, index=pd.Index([40, 10, 30, 20]))
    pd.testing.assert_frame_equal(out, expected, check_dtype=False)
    for col in out.columns[:-1]:
        assert pd.api.types.is_integer_dtype(out[col]), col
    assert out["eng__days_since_last_event"].dtype == np.float64


def test_columns_follow_engagement_columns(spine, events):
    """The model's column list comes from engagement_columns; the builder must produce exactly it."""
    out = _build(events, spine, types=["web_visit", "email_open", "ad_click"], windows=[30, 7, 90])
    cols = engagement_columns(["web_visit", "email_open", "ad_click"], [30, 7, 90])
    assert list(out.columns) == cols
    assert cols[-1] == "eng__days_since_last_event"
    assert "eng__events_90d" in cols and "eng__ad_click_7d" in cols
    assert (out["eng__ad_click_90d"] == 0).all()


def test_inputs_are_not_mutated(spine, events):
    """Builders run on the caller's tables; they must not reorder, re-type or add columns to them."""
    spine_before, events_before = spine.copy(), events.copy()
    _build(events, spine)
    pd.testing.assert_frame_equal(spine, spine_before)
    pd.testing.assert_frame_equal(events, events_before)


def test_events_none_gives_empty_column_frame(spine):
    """No engagement table in the extract: the builder contributes no columns, one row per spine row."""
    out = _build(None, spine)
    assert out.shape == (4, 0)
    pd.testing.assert_index_equal(out.index, spine.index)


def test_future_events_do_not_change_features(spine, events):
    """Point in time: events exactly at as_of_ts or after it, of any type, change nothing."""
    before = _build(events, spine)
    changed = events.copy()
    # Lead 1's events at C and C+1d are at/after its only cutoff: swap their types.
    future = (changed["lead_id"] == 1) & (changed["event_ts"] >= C)
    assert future.sum() == 2
    changed.loc[future, "event_type"] = changed.loc[future, "event_type"].map(
        {"email_open": "web_visit", "web_visit": "email_open"})
    more = _events([
        (1, C, "web_visit"), (1, C, "form_submit"), (3, C, "email_open"), (3, C + SEC, "web_visit"),
        (2, C + 10 * DAY, "email_open"), (2, C + 40 * DAY, "web_visit"), (1, C + 400 * DAY, "ad_click"),
    ])
    after = _build(pd.concat([more, changed], ignore_index=True), spine)
    pd.testing.assert_frame_equal(after, before)


future_event = st.tuples(
    st.sampled_from([1, 2, 3]),
    st.integers(0, 60 * 86_400),  # seconds at or after the lead's last as-of date
    st.sampled_from(["email_open", "web_visit", "form_submit"]),
)


@settings(max_examples=50, deadline=None)
@given(extra=st.lists(future_event, max_size=8))
def test_random_future_events_do_not_change_features(extra):
    """Point in time, randomised: any batch of events at or after each lead's last as-of date."""
    spine, events = _base_spine(), _base_events()
    last_as_of = spine.groupby("lead_id")["as_of_ts"].max()
    before = _build(events, spine)
    rows = [(lead, last_as_of[lead] + pd.Timedelta(seconds=s), t) for lead, s, t in extra]
    after = _build(pd.concat([events, _events(rows)], ignore_index=True), spine)
    pd.testing.assert_frame_equal(after, before)


def test_lead_without_events_among_leads_with_events(spine, events):
    """A lead with no events at all gets zero counts and NaN recency (not 0, not an error)."""
    out = _build(events, spine)
    row = out.loc[20]
    assert (row.drop("eng__days_since_last_event") == 0).all()
    assert np.isnan(row["eng__days_since_last_event"])


@pytest.mark.parametrize("case", ["events_of_other_leads_only", "empty_events_table"])
def test_spine_where_no_lead_has_events(events, case):
    """Scoring a batch of brand-new leads (no events yet) must give zeros and NaN, not crash."""
    spine = _spine([(3, C), (4, C)], index=[0, 1])
    table = events if case == "events_of_other_leads_only" else events.iloc[:0]
    out = _build(table, spine)
    assert (out.drop(columns="eng__days_since_last_event") == 0).all().all()
    assert out["eng__days_since_last_event"].isna().all()


def test_same_lead_two_snapshots_are_independent(spine, events):
    """Each spine row uses its own cutoff: the later snapshot sees events the earlier one may not."""
    out = _build(events, spine)
    assert out.loc[10, "eng__email_open_7d"] == 0   # (2, C): the C+3d email is in the future
    assert out.loc[30, "eng__email_open_7d"] == 1   # (2, C+10d): exactly 7 days before, inside
