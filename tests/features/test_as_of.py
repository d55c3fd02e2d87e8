"""tables_known_before: the sources as known strictly before a moment (honest replays train on this)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.as_of import tables_known_before
from features.labels import build_labels
from features.schema import validate_sources
from features.spine import build_spine, data_end

T = pd.Timestamp("2025-03-01", tz="UTC")


@pytest.fixture
def tables(utc, ids):
    leads = pd.DataFrame({
        "lead_id": ids(1, 2, 3, 4),
        "created_ts": utc("2025-01-05", "2025-02-10", "2025-03-01", "2025-03-20"),  # 3 exactly at T: not yet
        "source": ["web", "email", "web", "partner"],
        "account_id": ids(10, 10, 11, 11),
        "status": ["disqualified", "converted", "open", "open"],
        "disqualified_ts": utc("2025-04-01", None, None, None),
    })
    accounts = pd.DataFrame({"account_id": ids(10, 11), "employees": [50, 5000],
                             "is_customer": [True, False],
                             "customer_since_ts": utc("2025-05-01", None),
                             "updated_at": utc("2025-02-01", "2025-06-01")})  # an extra timestamp column
    campaigns = pd.DataFrame({"campaign_id": ids(1, 2), "channel": ["email", "webinar"],
                              "start_ts": utc("2024-12-01", "2025-03-15")})
    events = pd.DataFrame({
        "lead_id": ids(1, 1, 2, 2, 4),
        "event_ts": utc("2025-01-06", "2025-03-02", "2025-02-28 23:59:59", "2025-03-01", "2025-03-21"),
        "event_type": ["email_open", "web_visit", "form_submit", "email_click", "email_open"],
    })
    activities = pd.DataFrame({"lead_id": ids(2, 2), "activity_ts": utc("2025-02-11", "2025-03-05"),
                               "activity_type": ["call", "meeting"]})
    opportunities = pd.DataFrame({
        "lead_id": ids(1, 2, 4),
        "created_ts": utc("2025-01-20", "2025-02-20", "2025-03-25"),
        "closed_ts": utc("2025-02-15", "2025-04-10", None),  # lead 2's deal closes after T
        "is_won": [False, True, False],
        "stage": ["closed_lost", "closed_won", "open"],
    })
    return validate_sources({"leads": leads, "accounts": accounts, "campaigns": campaigns,
                             "engagement_events": events, "sales_activities": activities,
                             "opportunities": opportunities})


def test_nothing_at_or_after_the_cutoff_survives(tables):
    known = tables_known_before(tables, T)
    for name, frame in known.items():
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                assert not (frame[col] >= T).any(), f"{name}.{col} keeps a value at or after the cutoff"
    assert data_end(known) < T


def test_rows_exist_from_their_row_time_strictly_before_the_cutoff(tables):
    known = tables_known_before(tables, T)
    assert known["leads"]["lead_id"].tolist() == [1, 2]  # lead 3 created exactly at T is not known yet
    assert known["engagement_events"]["event_ts"].tolist() == [pd.Timestamp("2025-01-06", tz="UTC"),
                                                               pd.Timestamp("2025-02-28 23:59:59", tz="UTC")]
    assert known["sales_activities"]["activity_ts"].tolist() == [pd.Timestamp("2025-02-11", tz="UTC")]
    assert known["opportunities"]["lead_id"].tolist() == [1, 2]
    # accounts and campaigns have no row time: every row stays, their later timestamps blanked
    assert known["accounts"]["account_id"].tolist() == [10, 11]
    assert known["accounts"]["customer_since_ts"].isna().all()
    assert known["accounts"]["updated_at"].tolist()[0] == pd.Timestamp("2025-02-01", tz="UTC")
    assert pd.isna(known["accounts"]["updated_at"].tolist()[1])
    assert known["campaigns"]["campaign_id"].tolist() == [1, 2]
    assert pd.isna(known["campaigns"]["start_ts"].iloc[1])


def test_a_deal_closed_after_the_cutoff_looks_open(tables):
    opp = tables_known_before(tables, T)["opportunities"].set_index("lead_id")
    assert pd.isna(opp.loc[2, "closed_ts"]) and pd.isna(opp.loc[2, "is_won"])
    # a deal closed before the cutoff keeps its outcome
    assert opp.loc[1, "closed_ts"] == pd.Timestamp("2025-02-15", tz="UTC") and not opp.loc[1, "is_won"]


def test_a_later_disqualification_and_snapshot_fields_are_unknown(tables):
    known = tables_known_before(tables, T)
    assert known["leads"]["disqualified_ts"].isna().all()
    assert known["leads"]["status"].isna().all()
    assert known["opportunities"]["stage"].isna().all()
    assert known["accounts"]["is_customer"].isna().all()


def test_the_copy_is_valid_and_what_it_shows_matches_the_full_tables_before_the_cutoff(tables):
    known = validate_sources(tables_known_before(tables, T))
    # the spine at T is the same from either: it only reads what happened before T
    night = pd.DatetimeIndex([T]).astype("datetime64[ns, UTC]")
    from_full = build_spine(tables["leads"], tables["opportunities"], night, max_lead_age_days=365)
    from_known = build_spine(known["leads"], known["opportunities"], night, max_lead_age_days=365)
    pd.testing.assert_frame_equal(from_full, from_known)
    # no label can be observed from the copy: lead 2's win after T is not in it
    earlier = pd.DataFrame({"lead_id": [2], "as_of_ts": [pd.Timestamp("2025-02-12", tz="UTC")]})
    labelled = build_labels(earlier, known["opportunities"], window_days=10, milestone="won",
                            observed_until=data_end(known))
    assert labelled["converted_within_10d"].tolist() == [0]


def test_inputs_are_not_modified_and_children_of_unknown_leads_go(tables, utc, ids):
    before = {name: frame.copy() for name, frame in tables.items()}
    odd = dict(tables)  # an event stamped before its lead was created (an extract glitch)
    odd["engagement_events"] = pd.concat([tables["engagement_events"], pd.DataFrame({
        "lead_id": ids(4), "event_ts": utc("2025-02-01"), "event_type": ["web_visit"]})], ignore_index=True)
    known = tables_known_before(odd, T)
    assert 4 not in set(known["engagement_events"]["lead_id"])
    validate_sources(known)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(tables[name], frame)


def test_a_timestamp_column_that_is_not_a_timestamp_is_refused(tables):
    raw = dict(tables)
    raw["leads"] = tables["leads"].assign(created_ts=tables["leads"]["created_ts"].astype(str))
    with pytest.raises(TypeError, match="leads.created_ts"):
        tables_known_before(raw, T)


def test_features_up_to_the_cutoff_are_the_same_from_the_copy(config):
    """Perturb the future: on the demo world, every feature of every lead open on a night at or before the
    cutoff is identical whether built from the full tables or from what was known before the cutoff."""
    from features.demo_world import generate_world
    from features.training_table import build_feature_table

    tables = validate_sources(generate_world(3000, 11, config.generate).tables)
    cutoff = pd.Timestamp("2026-02-05", tz="UTC")
    known = validate_sources(tables_known_before(tables, cutoff))
    nights = pd.DatetimeIndex([cutoff - pd.Timedelta(days=63), cutoff]).astype("datetime64[ns, UTC]")
    age = config.spine.max_lead_age_days
    spine = build_spine(tables["leads"], tables["opportunities"], nights, max_lead_age_days=age)
    pd.testing.assert_frame_equal(spine, build_spine(known["leads"], known["opportunities"], nights,
                                                     max_lead_age_days=age))
    assert len(spine) > 500
    pd.testing.assert_frame_equal(build_feature_table(tables, spine, config.features),
                                  build_feature_table(known, spine, config.features),
                                  check_categorical=False)  # same values; a category list follows the rows present
