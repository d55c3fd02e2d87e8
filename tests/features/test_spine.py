"""The spine: which (lead_id, as_of_ts) snapshots exist, exactly as the nightly job would have seen them."""

from __future__ import annotations

import numpy as np
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
    """Open on D ⇔ created < D, and D <= every closing moment (an opportunity opening, disqualification,
    created + max age): closing moments are inclusive, creation is not. (No opportunity here closes, so no
    lead comes back: see the recycled-lead tests below.)"""
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


def test_build_spine_without_age_cap_keeps_old_leads(leads, opportunities):
    """``max_lead_age_days=None`` (the shipped default): only creation, opportunities and disqualification
    decide. Lead 1 (aged out at 21 days) and lead 2 stay open to the last date."""
    spine = build_spine(leads, opportunities, AS_OF)
    extra = [(1, D4), (1, D5), (2, D5)]
    assert _pairs(spine) == sorted(EXPECTED + extra, key=lambda p: (p[1], p[0]))


# --- the open-lead population: recycled, won, old ------------------------------------------------

NIGHTS = pd.DatetimeIndex(pd.date_range("2025-03-01", periods=8, freq="7D", tz="UTC")).astype("datetime64[ns, UTC]")


def _one_lead(utc, ids, created, opps):
    """One lead created at ``created`` and its opportunities: (created_ts, closed_ts or None, is_won)."""
    leads = pd.DataFrame({"lead_id": ids(1), "created_ts": utc(created), "source": ["web"]})
    frame = pd.DataFrame({"lead_id": ids(*[1] * len(opps)), "created_ts": utc(*[o[0] for o in opps]),
                          "closed_ts": utc(*[o[1] for o in opps]), "is_won": [o[2] for o in opps]})
    return leads, frame


def _nights_open(spine) -> list[str]:
    return [f"{t:%m-%d}" for t in spine["as_of_ts"]]


def test_recycled_lead_reappears_after_its_lost_opportunity_and_leaves_while_the_next_is_open(utc, ids):
    """Lost opportunity open 03-05 … 03-20: out on 03-08 and 03-15, back on 03-22 and 03-29; a second one
    opens 03-30 and is still open at every later night (closed after the last night)."""
    leads, opps = _one_lead(utc, ids, "2025-02-01", [("2025-03-05", "2025-03-20", False),
                                                     ("2025-03-30", "2025-06-01", False)])
    spine = build_spine(leads, opps, NIGHTS)
    assert _nights_open(spine) == ["03-01", "03-22", "03-29"]


def test_won_lead_never_reappears(utc, ids):
    """A won deal closed 03-20 makes a customer: the lead never comes back to the queue."""
    leads, opps = _one_lead(utc, ids, "2025-02-01", [("2025-03-05", "2025-03-20", True)])
    assert _nights_open(build_spine(leads, opps, NIGHTS)) == ["03-01"]


def test_outcome_of_an_opportunity_still_open_is_not_read(utc, ids):
    """is_won is a fact only once the deal has closed: an opportunity closing after the last night blocks the
    lead on every night whatever its outcome (won, lost, or no closing date yet)."""
    outcomes = [("2025-03-05", "2025-05-01", True), ("2025-03-05", "2025-05-01", False), ("2025-03-05", None, False)]
    spines = [build_spine(*_one_lead(utc, ids, "2025-02-01", [o]), NIGHTS) for o in outcomes]
    for spine in spines:
        assert _nights_open(spine) == ["03-01"]


def test_opportunity_closing_exactly_at_the_night(utc, ids):
    """Closed exactly at a night: not known at that night (still open then, lead out), back the night after;
    one second earlier and the lead is back that night."""
    leads, opps = _one_lead(utc, ids, "2025-02-01", [("2025-03-05", "2025-03-15", False)])
    assert _nights_open(build_spine(leads, opps, NIGHTS)) == ["03-01", "03-22", "03-29", "04-05", "04-12", "04-19"]
    opps["closed_ts"] = utc("2025-03-14 23:59:59")
    back_that_night = ["03-01", "03-15", "03-22", "03-29", "04-05", "04-12", "04-19"]
    assert _nights_open(build_spine(leads, opps, NIGHTS)) == back_that_night


def test_opportunity_opening_exactly_at_the_night_keeps_the_lead_that_night(utc, ids):
    """Created exactly at a night: not known yet, so the lead is still in that night's queue."""
    leads, opps = _one_lead(utc, ids, "2025-02-01", [("2025-03-08", None, False)])
    assert _nights_open(build_spine(leads, opps, NIGHTS)) == ["03-01", "03-08"]


def test_a_400_day_old_open_lead_is_in_without_a_cap_and_out_with_one(utc, ids):
    """Age is a stated choice: no cap keeps a 400-day-old lead, a 180-day cap drops it."""
    leads, opps = _one_lead(utc, ids, "2024-01-26", [])
    night = NIGHTS[:1]  # 2025-03-01, 400 days after creation
    assert build_spine(leads, opps, night)["lead_id"].tolist() == [1]
    assert build_spine(leads, opps, night, max_lead_age_days=None)["lead_id"].tolist() == [1]
    assert build_spine(leads, opps, night, max_lead_age_days=180).empty
    assert build_spine(leads, opps, night, max_lead_age_days=400)["lead_id"].tolist() == [1]  # inclusive


def test_disqualified_lead_stays_out_even_after_its_lost_opportunity_closes(utc, ids):
    """Disqualification is final; a lost opportunity closing later does not reopen the lead."""
    leads, opps = _one_lead(utc, ids, "2025-02-01", [("2025-03-05", "2025-03-20", False)])
    leads["disqualified_ts"] = utc("2025-03-18")
    assert _nights_open(build_spine(leads, opps, NIGHTS)) == ["03-01"]


def test_opportunities_of_unknown_leads_are_ignored(utc, ids):
    leads, opps = _one_lead(utc, ids, "2025-02-01", [])
    stray = pd.DataFrame({"lead_id": ids(99), "created_ts": utc("2025-02-02"), "closed_ts": utc(None),
                          "is_won": [False]})
    assert len(build_spine(leads, stray, NIGHTS)) == len(NIGHTS)


def _open_oracle(lead, opps, night, max_age_days):
    """The definition, one lead and one night at a time, only from what is known before the night."""
    if not lead.created_ts < night:
        return False
    if max_age_days is not None and night - lead.created_ts > pd.Timedelta(days=max_age_days):
        return False
    disq = getattr(lead, "disqualified_ts", pd.NaT)
    if pd.notna(disq) and disq < night:
        return False
    for o in opps.itertuples():
        if o.lead_id != lead.lead_id or not o.created_ts < night:
            continue
        closed_before = pd.notna(o.closed_ts) and o.closed_ts < night
        if not closed_before or bool(o.is_won):   # open at the night, or converted
            return False
    return True


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_age", [None, 30])
def test_build_spine_matches_a_per_lead_oracle(seed, max_age):
    """Random leads with several opportunities each, timestamps on and around the nights: the vectorised
    spine equals the definition checked lead by lead and night by night."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    nights = pd.DatetimeIndex([start + pd.Timedelta(days=7 * k) for k in range(1, 12)]).astype("datetime64[ns, UTC]")

    def stamps(n):  # whole days (many land exactly on a night) or a second off
        days = rng.integers(0, 90, n)
        jitter = rng.choice([0, 0, -1, 1, 3600], n)
        return pd.Series([start + pd.Timedelta(days=int(d), seconds=int(s)) for d, s in zip(days, jitter, strict=True)],
                         dtype="datetime64[ns, UTC]")

    n = 25
    created = stamps(n)
    disq = stamps(n).where(rng.random(n) < 0.2)
    leads = pd.DataFrame({"lead_id": np.arange(100, 100 + n), "created_ts": created, "disqualified_ts": disq,
                          "source": "web"})
    m = 40
    opp_lead = rng.integers(100, 100 + n, m)
    opp_created = stamps(m)
    length = pd.to_timedelta(rng.integers(0, 30, m), unit="D")
    opp_closed = (opp_created + length).where(rng.random(m) < 0.8)
    opps = pd.DataFrame({"lead_id": opp_lead, "created_ts": opp_created, "closed_ts": opp_closed,
                         "is_won": rng.random(m) < 0.3})
    got = _pairs(build_spine(leads, opps, nights, max_lead_age_days=max_age))
    expected = [(lead.lead_id, night) for night in nights for lead in leads.itertuples()
                if _open_oracle(lead, opps, night, max_age)]
    assert got == expected
