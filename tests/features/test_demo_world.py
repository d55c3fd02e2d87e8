"""The demo world: reproducible, inside the data contract, and shaped like a B2B funnel."""

import numpy as np
import pandas as pd
import pytest

from features.demo_world import generate_world
from features.schema import validate_sources


@pytest.fixture(scope="module")
def world(config):
    return generate_world(3000, 11, config.generate)


def test_same_seed_gives_identical_tables(world, config):
    again = generate_world(3000, 11, config.generate)
    for name, frame in world.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name], obj=name)
    pd.testing.assert_frame_equal(world.truth, again.truth)


def test_another_seed_gives_another_world(world, config):
    other = generate_world(3000, 12, config.generate)
    assert not world.tables["leads"]["created_ts"].equals(other.tables["leads"]["created_ts"])


def test_world_satisfies_the_data_contract(world):
    validated = validate_sources(world.tables)
    assert set(validated) == {"leads", "accounts", "campaigns", "engagement_events", "sales_activities",
                              "opportunities"}


def test_funnel_shape_is_realistic(world, config):
    leads, opps = world.tables["leads"], world.tables["opportunities"]
    win_rate = opps["is_won"].sum() / len(leads)
    assert 0.02 <= win_rate <= 0.08
    assert opps["lead_id"].is_unique
    channels = world.tables["campaigns"]["channel"].nunique()
    assert channels >= 5
    span = leads["created_ts"].max() - leads["created_ts"].min()
    assert span > pd.Timedelta(days=config.generate.days - 30)


def test_events_happen_while_the_lead_exists(world):
    ev = world.tables["engagement_events"].merge(world.tables["leads"][["lead_id", "created_ts"]], on="lead_id")
    assert (ev["event_ts"] >= ev["created_ts"]).all()
    end = pd.Timestamp(world.tables["leads"]["created_ts"].min()).normalize() + pd.Timedelta(days=800)
    assert (ev["event_ts"] < end).all()


def test_engagement_follows_latent_intent_and_sales_follow_propensity(world):
    counts = world.tables["engagement_events"].groupby("lead_id").size()
    truth = world.truth.set_index("lead_id")
    per_lead = counts.reindex(truth.index, fill_value=0)
    assert np.corrcoef(truth["intent"], np.log1p(per_lead))[0, 1] > 0.2
    won = world.tables["opportunities"].query("is_won")["lead_id"]
    assert truth.loc[won, "propensity"].mean() > 2 * truth["propensity"].mean()


def test_too_small_a_world_is_refused(config):
    with pytest.raises(ValueError, match="at least 100 leads"):
        generate_world(10, 1, config.generate)


def test_owners_follow_up_at_different_speeds_and_faster_follow_up_wins_more(world):
    leads = world.tables["leads"][["lead_id", "owner_id"]]
    acts = world.tables["sales_activities"].merge(leads, on="lead_id", suffixes=("", "_lead"))
    assert (acts["owner_id"] == acts["owner_id_lead"]).all()  # the lead's owner works it
    gaps = acts.sort_values(["lead_id", "activity_ts"]).groupby("lead_id")["activity_ts"].diff().dt.total_seconds()
    per_owner = (gaps / 86_400).groupby(acts.sort_values(["lead_id", "activity_ts"])["owner_id"]).median()
    assert per_owner.max() > 5 * per_owner.min()  # some owners slow, some fast
    truth = world.truth.merge(leads, on="lead_id")
    fast = truth["follow_up_gap_days"] < truth["follow_up_gap_days"].median()
    assert truth.loc[fast, "propensity"].mean() > 1.2 * truth.loc[~fast, "propensity"].mean()


def test_campaigns_differ_in_cost_and_in_the_quality_of_their_leads(world):
    campaigns = world.tables["campaigns"]
    assert campaigns["cost"].notna().all() and (campaigns["cost"] > 0).all()
    by_channel = campaigns.groupby("channel")["cost"].median()
    assert by_channel.max() > 3 * by_channel.min()
    leads = world.tables["leads"].dropna(subset=["first_campaign_id"]).merge(world.truth, on="lead_id")
    per_campaign = leads.groupby("first_campaign_id")["propensity"].mean()
    assert per_campaign.max() > 3 * per_campaign.min()
