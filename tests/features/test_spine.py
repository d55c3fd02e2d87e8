"""The spine: which (lead_id, as_of_ts) snapshots exist, exactly as the nightly job would have seen them."""

from __future__ import annotations

import pandas as pd
import pytest

from features.spine import build_spine, snapshot_dates

D1, D2, D3, D4, D5 = (pd.Timestamp(d, tz="UTC") for d in
                      ("2025-01-08", "2025-01-15", "2025-01-22", "2025-01-29", "2025-02-05"))
AS_OF = pd.DatetimeIndex([D1, D2, D3, D4, D5]).astype("datetime64[ns, UTC]")
MAX_AGE = 21


# --- snapshot_dates ---------------------------------------------------------------------------

def test_snapshot_dates_anchor_on_last_at_midnight_and_stop_at_first():
    """``last`` is floored to midnight and is always a snapshot; dates before ``first`` are dropped,
    even when ``first`` falls later on a snapshot's day."""
    got = snapshot_dates(pd.Timestamp("2025-01-01 12:00", tz="UTC"),
                         pd.Timestamp("2025-01-15 08:30", tz="UTC"), 7)
    expected = pd.DatetimeIndex([pd.Timestamp("2025-01-08", tz="UTC"),
                                 pd.Timestamp("2025-01-15", tz="UTC")]).astype("datetime64[ns, UTC]")
    pd.testing.assert_index_equal(got, expected)


def test_snapshot_dates_include_first_when_it_is_on_the_grid():
    """``first`` exactly at a snapshot midnight is included (never before first, but not after it)."""
    got = snapshot_dates("2025-01-01", pd.Timestamp("2025-01-15 23:59:59", tz="UTC"), 7)
    assert list(got) == [pd.Timestamp(d, tz="UTC") for d in ("2025-01-01", "2025-01-08", "2025-01-15")]
    assert str(got.dtype) == "datetime64[ns, UTC]"


def test_snapshot_dates_floor_in_utc_not_local_time():
    """A non-UTC ``last`` is converted before flooring: 01:00+05:00 on the 15th is the 14th in UTC."""
    got = snapshot_dates("2025-01-01", pd.Timestamp("2025-01-15 01:00", tz="Asia/Karachi"), 1)
    assert got[-1] == pd.Timestamp("2025-01-14", tz="UTC")
    assert len(got) == 14


def test_snapshot_dates_empty_when_last_floors_before_first():
    """No snapshot can precede the data: ``last`` flooring to before ``first`` (or data shorter than
    the label window, in build_training_spine) gives no dates, not an error."""
    got = snapshot_dates(pd.Timestamp("2025-01-15 06:00", tz="UTC"),
                         pd.Timestamp("2025-01-15 08:00", tz="UTC"), 7)
    assert len(got) == 0
    assert str(got.dtype) == "datetime64[ns, UTC]"


# --- build_spine ------------------------------------------------------------------------------

@pytest.fixture
def leads(utc, ids):
    return pd.DataFrame({
        "lead_id": ids(1, 2, 3, 4, 5, 6, 7, 8),
        "created_ts": utc(
            "2025-01-07 10:00",  # 1: open D1..D3, aged out before D4 (21.6 days)
            "2025-01-08",        # 2: created exactly at D1 → not open then; exactly 21 days old at D4
            "2025-01-09",        # 3: opportunity exactly at D3
            "2025-01-09",        # 4: opportunity one second before D3
            "2025-01-09",        # 5: disqualified exactly at D3
            "2025-02-05",        # 6: created exactly at the last date → never open
            "2025-02-10",        # 7: created after every date
            "2025-01-30",        # 8: open at D5 only
        ),
        "source": ["web"] * 8,
        "disqualified_ts": utc(None, None, None, None, "2025-01-22", None, None, None),
    })


@pytest.fixture
def opportunities(utc, ids):
    return pd.DataFrame({
        "lead_id": ids(3, 3, 4),
        "created_ts": utc("2025-01-25", "2025-01-22", "2025-01-21 23:59:59"),
        "closed_ts": utc(None, None, None),
        "is_won": [False, False, False],
    })


EXPECTED = [
    (1, D1),
    (1, D2), (2, D2), (3, D2), (4, D2), (5, D2),
    (1, D3), (2, D3), (3, D3), (5, D3),
    (2, D4),
    (8, D5),
]


def _pairs(spine: pd.DataFrame) -> list[tuple[int, pd.Timestamp]]:
    return list(zip(spine["lead_id"].tolist(), spine["as_of_ts"].tolist(), strict=True))


def test_build_spine_hand_computed(leads, opportunities):
    """Open on D ⇔ created < D, and D <= every closing moment (first opportunity, disqualification,
    created + max age): closing moments are inclusive, creation is not."""
    spine = build_spine(leads, opportunities, AS_OF, max_lead_age_days=MAX_AGE)
    assert _pairs(spine) == EXPECTED
    assert list(spine.columns) == ["lead_id", "as_of_ts"]
    assert spine["lead_id"].dtype == "int64"
    assert str(spine["as_of_ts"].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_index_equal(spine.index, pd.RangeIndex(len(EXPECTED)))


def test_build_spine_without_disqualified_column(leads, opportunities):
    """``disqualified_ts`` is optional in the contract; without it only age and opportunities close."""
    spine = build_spine(leads.drop(columns="disqualified_ts"), opportunities, AS_OF,
                        max_lead_age_days=MAX_AGE)
    assert (5, D4) in _pairs(spine)  # 5 is 20 days old at D4 and nothing closed it
    assert (5, D5) not in _pairs(spine)  # 27 days old


def test_build_spine_age_cut_is_inclusive_to_the_second(utc, ids):
    """A lead exactly ``max_lead_age_days`` old is open; one second older is not."""
    leads = pd.DataFrame({"lead_id": ids(1, 2), "created_ts": utc("2025-01-01", "2024-12-31 23:59:59"),
                          "source": ["web", "web"]})
    opps = pd.DataFrame({"lead_id": ids(), "created_ts": utc(), "closed_ts": utc(), "is_won": []})
    as_of = pd.DatetimeIndex([pd.Timestamp("2025-01-08", tz="UTC")]).astype("datetime64[ns, UTC]")
    spine = build_spine(leads, opps, as_of, max_lead_age_days=7)
    assert spine["lead_id"].tolist() == [1]


def test_build_spine_empty_dates(leads, opportunities):
    """No as-of dates → an empty spine with the spine's columns (not an error)."""
    empty = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")
    spine = build_spine(leads, opportunities, empty, max_lead_age_days=MAX_AGE)
    assert len(spine) == 0
    assert list(spine.columns) == ["lead_id", "as_of_ts"]


def test_build_spine_ignores_what_happens_after_the_last_as_of_date(leads, opportunities, utc, ids):
    """Point in time: opportunities and disqualifications after the last as-of date (added, or moved
    there) cannot change which leads were open on any earlier date."""
    before = build_spine(leads, opportunities, AS_OF, max_lead_age_days=MAX_AGE)

    later_leads = leads.copy()
    later_leads["disqualified_ts"] = utc(None, "2025-02-05 00:00:01", None, None, "2025-01-22",
                                         "2025-03-01", None, "2025-02-06")
    later_opps = opportunities.copy()
    later_opps.loc[0, "created_ts"] = pd.Timestamp("2025-06-01", tz="UTC")  # lead 3's second opp moves
    later_opps = pd.concat([later_opps, pd.DataFrame({
        "lead_id": ids(1, 2, 8, 8, 6),
        "created_ts": utc("2025-02-05 00:00:01", "2025-02-20", "2025-02-06", "2025-04-01", "2025-02-07"),
        "closed_ts": utc(None, "2025-03-01", None, None, None),
        "is_won": [False, True, False, False, False],
    })], ignore_index=True)

    after = build_spine(later_leads, later_opps, AS_OF, max_lead_age_days=MAX_AGE)
    pd.testing.assert_frame_equal(after, before)
    assert _pairs(after) == EXPECTED


def test_build_spine_is_sorted_by_as_of_then_lead(utc, ids):
    """The contract promises (as_of_ts, lead_id) order whatever the order of the leads table."""
    leads = pd.DataFrame({"lead_id": ids(30, 10, 20), "created_ts": utc("2025-01-01", "2025-01-02", "2025-01-03"),
                          "source": ["web"] * 3})
    opps = pd.DataFrame({"lead_id": ids(), "created_ts": utc(), "closed_ts": utc(), "is_won": []})
    spine = build_spine(leads, opps, AS_OF[:2], max_lead_age_days=MAX_AGE)
    assert spine["lead_id"].tolist() == [10, 20, 30, 10, 20, 30]
    assert spine["as_of_ts"].tolist() == [D1] * 3 + [D2] * 3
