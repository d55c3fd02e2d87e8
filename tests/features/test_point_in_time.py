"""EventIndex: the one as-of primitive every builder relies on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.point_in_time import EventIndex, encode_entities, time_offset
from features.timeutil import to_seconds

BASE = pd.Timestamp("2025-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)


def _day(k: int) -> pd.Timestamp:
    return BASE + pd.Timedelta(days=k)


@pytest.fixture
def hand_index():
    """Lead 10: days 1, 3, 3, 5; lead 20: days 5, 8; lead 30 is indexed but has no rows; lead 99 is
    not in the index at all (its row must be ignored)."""
    frame = pd.DataFrame({
        "lead_id": np.array([10, 20, 10, 99, 10, 20, 10], dtype="int64"),
        "ts": pd.Series([_day(k) for k in (5, 8, 3, 4, 1, 5, 3)], dtype="datetime64[ns, UTC]"),
    })
    entities = pd.Index(np.array([10, 20, 30], dtype="int64"))
    offset = time_offset(frame["ts"])
    return EventIndex.from_frame(frame, "lead_id", "ts", entities, offset), entities


def _queries(entities, rows):
    """(entity, lo_day, hi_day) tuples → codes, lo seconds, hi seconds."""
    ids = pd.Series(np.array([r[0] for r in rows], dtype="int64"))
    codes = encode_entities(entities, ids)
    lo = to_seconds(pd.Series([_day(r[1]) for r in rows], dtype="datetime64[ns, UTC]"))
    hi = to_seconds(pd.Series([_day(r[2]) for r in rows], dtype="datetime64[ns, UTC]"))
    return codes, lo, hi


def test_count_between_closed_left_includes_lo_excludes_hi(hand_index):
    """Feature windows are [lo, hi): an event exactly at the cutoff is not yet known."""
    index, entities = hand_index
    codes, lo, hi = _queries(entities, [(10, 3, 5), (10, 1, 6), (20, 5, 8), (30, 0, 10), (99, 0, 10)])
    got = index.count_between(codes, lo, hi, closed="left")
    np.testing.assert_array_equal(got, [2, 4, 1, 0, 0])


def test_count_between_closed_right_excludes_lo_includes_hi(hand_index):
    """Label windows are (lo, hi]: a milestone exactly at the as-of date is not in the window."""
    index, entities = hand_index
    codes, lo, hi = _queries(entities, [(10, 3, 5), (10, 1, 5), (20, 5, 8), (30, 0, 10), (99, 0, 10)])
    got = index.count_between(codes, lo, hi, closed="right")
    np.testing.assert_array_equal(got, [1, 3, 1, 0, 0])


def test_count_between_default_is_closed_left(hand_index):
    """Builders call count_between without ``closed`` for features; the default must be [lo, hi)."""
    index, entities = hand_index
    codes, lo, hi = _queries(entities, [(10, 3, 5)])
    np.testing.assert_array_equal(index.count_between(codes, lo, hi), [2])


def test_last_before_is_strict_and_never_crosses_entities(hand_index):
    """Latest row strictly before the cutoff; when the entity has none, the preceding key in the
    sorted array belongs to another entity and must not be returned."""
    index, entities = hand_index
    rows = [(10, 5, 0), (10, 6, 0), (10, 1, 0), (20, 5, 0), (20, 9, 0), (30, 10, 0), (99, 10, 0)]
    codes, cutoff, _ = _queries(entities, rows)
    got = index.last_before(codes, cutoff)
    expected = [to_seconds(_day(3)), to_seconds(_day(5)), np.nan, np.nan, to_seconds(_day(8)),
                np.nan, np.nan]
    np.testing.assert_array_equal(got, np.array(expected, dtype=float))


def test_out_of_range_timestamps_are_rejected():
    """The int key packs seconds into 34 bits; a row before the offset must raise, not wrap around."""
    with pytest.raises(ValueError, match="outside the supported range"):
        EventIndex(np.array([0], dtype=np.int64), np.array([5], dtype=np.int64), offset=10)


def test_last_before_on_an_index_without_rows_is_nan():
    """An as-of query against an index with no rows (no events for any queried entity) is NaN."""
    index = EventIndex(np.array([], dtype=np.int64), np.array([], dtype=np.int64), offset=0)
    got = index.last_before(np.array([0, -1], dtype=np.int64), np.array([100, 100], dtype=np.int64))
    np.testing.assert_array_equal(got, [np.nan, np.nan])


# --- oracle: the vectorised searches against a plain Python loop -------------------------------

POOL = [1, 2, 3, 4]  # 4 never makes it into the index
indexed_ids = st.lists(st.sampled_from([1, 2, 3]), unique=True, max_size=3)
events_st = st.lists(st.tuples(st.sampled_from(POOL), st.integers(0, 8)), max_size=15)
queries_st = st.lists(
    st.tuples(st.sampled_from(POOL), st.integers(-2, 10), st.integers(-2, 10)), min_size=1, max_size=10
)


def _build(ids, events, query_times):
    frame = pd.DataFrame({
        "lead_id": np.array([e for e, _ in events], dtype="int64"),
        "ts": pd.Series([BASE + k * HOUR for _, k in events], dtype="datetime64[ns, UTC]"),
    })
    entities = pd.Index(np.array(ids, dtype="int64"))
    qts = pd.Series([BASE + k * HOUR for k in query_times], dtype="datetime64[ns, UTC]")
    offset = time_offset(frame["ts"], qts)
    return EventIndex.from_frame(frame, "lead_id", "ts", entities, offset), entities


def _secs(k: int) -> np.ndarray:
    return to_seconds(pd.Series([BASE + k * HOUR], dtype="datetime64[ns, UTC]"))[0]


@settings(max_examples=100, deadline=None)
@given(ids=indexed_ids, events=events_st, queries=queries_st, closed=st.sampled_from(["left", "right"]))
def test_count_between_matches_python_loop(ids, events, queries, closed):
    """Random small data on an hourly grid (many ties, empty entities, unknown entities)."""
    spans = [(e, min(a, b), max(a, b)) for e, a, b in queries]
    index, entities = _build(ids, events, [t for _, a, b in spans for t in (a, b)])
    codes = encode_entities(entities, pd.Series(np.array([q[0] for q in spans], dtype="int64")))
    lo = np.array([_secs(q[1]) for q in spans], dtype=np.int64)
    hi = np.array([_secs(q[2]) for q in spans], dtype=np.int64)

    def inside(k, a, b):
        return a <= k < b if closed == "left" else a < k <= b

    expected = [sum(1 for e, k in events if e == q and q in ids and inside(k, a, b)) for q, a, b in spans]
    np.testing.assert_array_equal(index.count_between(codes, lo, hi, closed=closed), expected)


@settings(max_examples=100, deadline=None)
@given(ids=indexed_ids, events=events_st, queries=queries_st)
def test_last_before_matches_python_loop(ids, events, queries):
    """Latest row strictly before the cutoff for the same entity, NaN otherwise."""
    index, entities = _build(ids, events, [a for _, a, _ in queries])
    codes = encode_entities(entities, pd.Series(np.array([q[0] for q in queries], dtype="int64")))
    cutoff = np.array([_secs(a) for _, a, _ in queries], dtype=np.int64)

    expected = []
    for q, a, _ in queries:
        prior = [k for e, k in events if e == q and q in ids and k < a]
        expected.append(float(_secs(max(prior))) if prior else np.nan)
    np.testing.assert_array_equal(index.last_before(codes, cutoff), np.array(expected, dtype=float))
