"""Coverage: of the leads that bought after a night, the share the night's population held."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.coverage import buyers_of_nights, in_sales_pipeline, population_coverage, spine_coverage
from features.labels import build_labels
from features.spine import build_spine

N1, N2, N3 = (pd.Timestamp(d, tz="UTC") for d in ("2025-03-01", "2025-03-08", "2025-03-15"))
NIGHTS = pd.DatetimeIndex([N1, N2, N3]).astype("datetime64[ns, UTC]")
DAY = pd.Timedelta(days=1)


def _pairs(frame):
    return list(zip(frame["lead_id"].tolist(), frame["as_of_ts"].tolist(), strict=True))


def _world(utc, ids):
    leads = pd.DataFrame({"lead_id": ids(1, 2, 3, 4, 5),
                          "created_ts": utc("2025-01-01", "2025-01-01", "2025-03-05", "2025-01-01", "2025-01-01"),
                          "source": ["web"] * 5})
    opps = pd.DataFrame({
        "lead_id": ids(1, 2, 3, 4, 5),
        "created_ts": utc("2025-03-02", "2025-02-01", "2025-03-06", "2025-03-02", "2025-03-02"),
        "closed_ts": utc("2025-03-10", "2025-03-08", "2025-03-20", "2025-03-10", "2025-03-15"),
        "is_won": [True, True, True, False, True],
    })
    return leads, opps


def test_buyers_are_leads_that_existed_and_won_inside_the_window(utc, ids):
    """Window 10 days: lead 1 (won 03-10) buys for N1 and N2; lead 2 (won exactly at N2) for N1 only (the
    window is open at the night, closed at its end); lead 3 (won 03-20) for N3 only — 12 days after N2, and
    created after N1 anyway; lead 4 lost; lead 5 (won exactly at N3) for N2 only (N1 + 10 d < 03-15)."""
    leads, opps = _world(utc, ids)
    buyers = buyers_of_nights(leads, opps, NIGHTS, window_days=10, milestone="won")
    assert _pairs(buyers) == [(1, N1), (2, N1), (1, N2), (5, N2), (3, N3)]
    created_late = buyers_of_nights(leads, opps, NIGHTS, window_days=30, milestone="won")
    assert (3, N1) not in _pairs(created_late) and (3, N2) in _pairs(created_late)


def test_buyers_agree_with_the_labels(utc, ids):
    """Same rule as features.labels: on every (existing lead, night) the buyer pairs are exactly label == 1."""
    leads, opps = _world(utc, ids)
    every = pd.DataFrame([(lead, night) for night in NIGHTS for lead in leads["lead_id"]],
                         columns=["lead_id", "as_of_ts"])
    created = every["lead_id"].map(leads.set_index("lead_id")["created_ts"])
    every = every[created < every["as_of_ts"]].reset_index(drop=True)
    for window in (5, 10, 30):
        labelled = build_labels(every, opps, window_days=window, milestone="won",
                                observed_until=pd.Timestamp("2026-01-01", tz="UTC"))
        positive = labelled[labelled[f"converted_within_{window}d"] == 1].sort_values(["as_of_ts", "lead_id"])
        buyers = buyers_of_nights(leads, opps, NIGHTS, window_days=window, milestone="won")
        assert _pairs(buyers) == _pairs(positive), window


def test_opportunity_created_milestone(utc, ids):
    leads, opps = _world(utc, ids)
    buyers = buyers_of_nights(leads, opps, NIGHTS, window_days=7, milestone="opportunity_created")
    assert _pairs(buyers) == [(1, N1), (4, N1), (5, N1)]  # lead 3's deal opened before N2, after N1 (unborn)


def test_no_nights_or_no_events_give_no_buyers(utc, ids):
    leads, opps = _world(utc, ids)
    assert buyers_of_nights(leads, opps, NIGHTS[:0], window_days=10, milestone="won").empty
    none = buyers_of_nights(leads, opps.iloc[:0], NIGHTS, window_days=10, milestone="won")
    assert none.empty and list(none.columns) == ["lead_id", "as_of_ts"]


def test_population_coverage_counts_pairs(utc, ids):
    buyers = pd.DataFrame({"lead_id": ids(1, 2, 1, 3), "as_of_ts": pd.DatetimeIndex([N1, N1, N2, N2])})
    population = pd.DataFrame({"lead_id": ids(1, 1, 3, 9, 1),
                               "as_of_ts": pd.DatetimeIndex([N1, N3, N2, N2, N1])})  # duplicates count once
    assert population_coverage(buyers, population) == {"coverage": 0.5, "coverage_buyers": 4,
                                                       "coverage_in_population": 2}
    assert population_coverage(buyers.iloc[:0], population)["coverage"] is None


def test_in_sales_pipeline_is_point_in_time(utc, ids):
    """Open at the night = created before it and not closed before it (closed exactly at it: still open)."""
    opps = pd.DataFrame({"lead_id": ids(1, 2, 3), "created_ts": utc("2025-03-02", "2025-02-01", "2025-03-08"),
                         "closed_ts": utc("2025-03-08", None, None), "is_won": [False, False, False]})
    pairs = pd.DataFrame({"lead_id": ids(1, 1, 2, 3, 4), "as_of_ts": pd.DatetimeIndex([N2, N3, N1, N2, N2])})
    assert in_sales_pipeline(pairs, opps).tolist() == [True, False, True, False, False]


def test_spine_coverage_of_the_open_lead_spine(utc, ids):
    """On the spine of open leads, the buyers it misses are the ones whose deal sales was already working."""
    leads, opps = _world(utc, ids)
    spine = build_spine(leads, opps, NIGHTS)
    got = spine_coverage(spine, leads, opps, window_days=10, milestone="won")
    # The spine's nights: N1 (leads 1, 4, 5) and N3 (lead 4, back after its loss on 03-10); nobody is open on
    # N2. Buyers (1,N1) (2,N1) (3,N3): the spine holds (1,N1); lead 2's deal is open since 02-01, lead 3's
    # since 03-06.
    assert _pairs(spine) == [(1, N1), (4, N1), (5, N1), (4, N3)]
    assert got == {"coverage": 1 / 3, "coverage_buyers": 3, "coverage_in_population": 1,
                   "coverage_in_sales_pipeline": 2}


def test_inputs_are_not_mutated(utc, ids):
    leads, opps = _world(utc, ids)
    copies = leads.copy(), opps.copy()
    spine_coverage(build_spine(leads, opps, NIGHTS), leads, opps, window_days=10, milestone="won")
    pd.testing.assert_frame_equal(leads, copies[0])
    pd.testing.assert_frame_equal(opps, copies[1])
    assert np.all(leads.index == copies[0].index)
