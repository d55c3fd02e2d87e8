"""Marketing and sales aggregates on tiny hand-written frames."""

import math

import numpy as np
import pandas as pd
import pytest

from models.views import NO_CAMPAIGN, follow_up, hand_offs, marketing_view, sales_view, speed_labels

N1 = pd.Timestamp("2026-03-02", tz="UTC")
N2 = N1 + pd.Timedelta(days=7)
N3 = N2 + pd.Timedelta(days=7)
ORDER = ["A", "B", "C", "D"]


def test_a_hand_off_is_the_first_night_in_the_best_grade():
    scores = pd.DataFrame({
        "lead_id": [1, 1, 1, 2, 2, 3],
        "as_of_ts": [N1, N2, N3, N1, N2, N1],
        "grade": ["C", "A", "A", "B", "B", "D"],
        "owner_id": ["r1", "r1", "r1", "r2", "r2", "r2"],
    })
    handed = hand_offs(scores, grade_order=ORDER).set_index("lead_id")
    assert handed.loc[1, "grade"] == "A" and handed.loc[1, "as_of_ts"] == N2
    assert handed.loc[2, "as_of_ts"] == N1 and handed.loc[3, "grade"] == "D"
    assert len(handed) == 3


@pytest.fixture
def marketing():
    handed = pd.DataFrame({
        "lead_id": [1, 2, 3, 4, 5],
        "as_of_ts": N1,
        "grade": ["A", "B", "C", "A", "A"],
        "converted": [1.0, 0.0, np.nan, 0.0, 1.0],
    })
    leads = pd.DataFrame({
        "lead_id": [1, 2, 3, 4, 5],
        "source": ["webinar", "webinar", "email", "web_organic", "email"],
        "first_campaign_id": pd.array([10, 10, 20, pd.NA, 30], dtype="Int64"),
    })
    campaigns = pd.DataFrame({"campaign_id": [10, 20, 30, 40],
                              "name": ["Webinar #10", "Email #20", "Email #30", "Idle"],
                              "channel": ["webinar", "email", "email", "email"], "cost": [1000.0, 500.0, 300.0, 9.0]})
    return marketing_view(handed, leads, campaigns, quality_grades=["A", "B"])


def test_marketing_by_campaign(marketing):
    by = marketing["campaign"].set_index("campaign")
    webinar = by.loc["Webinar #10"]
    assert (webinar.leads, webinar.quality_leads, webinar.quality_share) == (2, 2, 1.0)
    assert (webinar.matured_leads, webinar.conversions, webinar.conversion_rate) == (2, 1, 0.5)
    assert webinar.cost == 1000 and webinar.cost_per_quality_lead == 500 and webinar.channel == "webinar"
    weak = by.loc["Email #20"]
    assert weak.quality_leads == 0 and weak.matured_leads == 0
    assert math.isnan(weak.conversion_rate) and math.isnan(weak.cost_per_quality_lead)  # no quality lead to divide by
    none = by.loc[NO_CAMPAIGN]
    assert none.quality_leads == 1 and math.isnan(none.cost)
    assert "Idle" not in by.index  # a campaign that delivered no scored lead is not in the view
    assert marketing["campaign"]["quality_share"].is_monotonic_decreasing


def test_marketing_by_channel_sums_the_costs_of_the_campaigns_that_delivered(marketing):
    by = marketing["channel"].set_index("channel")
    assert by.loc["email", "cost"] == 800  # campaigns 20 and 30; the idle campaign 40 delivered nobody
    assert by.loc["email", "quality_leads"] == 1 and by.loc["email", "cost_per_quality_lead"] == 800
    assert by.loc["webinar", "cost_per_quality_lead"] == 500


def test_marketing_by_source(marketing):
    by = marketing["source"].set_index("source")
    assert by.loc["email", "leads"] == 2 and by.loc["email", "quality_share"] == 0.5
    assert by.loc["email", "conversion_rate"] == 1.0  # lead 3 has not matured; lead 5 converted
    assert "cost" not in by.columns


def test_follow_up_is_the_first_touch_strictly_after_the_night():
    handed = pd.DataFrame({"lead_id": [1, 2], "as_of_ts": [N1, N2], "grade": ["A", "B"]})
    activities = pd.DataFrame({
        "lead_id": [1, 1, 1, 1, 2],
        "activity_ts": [N1 - pd.Timedelta(hours=1), N1, N1 + pd.Timedelta(hours=30), N1 + pd.Timedelta(hours=5),
                        N2 - pd.Timedelta(hours=3)],
    })
    out = follow_up(handed, activities, observed_until=N2 + pd.Timedelta(hours=100)).set_index("lead_id")
    assert out.loc[1, "latency_hours"] == 5
    assert math.isnan(out.loc[2, "latency_hours"])  # touched only before it was handed over
    assert out.loc[2, "observed_hours"] == 100
    assert out.loc[1, "observed_hours"] == 100 + 7 * 24


def test_sales_view_by_grade_owner_and_speed():
    followed = pd.DataFrame({
        "lead_id": [1, 2, 3, 4, 5, 6],
        "grade": ["A", "A", "A", "A", "B", "C"],
        "owner_id": ["r1", "r1", "r2", "r2", "r2", "r1"],
        "latency_hours": [5, 30, np.nan, np.nan, 40, 200],
        "observed_hours": [1000, 1000, 10, 1000, 1000, 1000],
        "converted": [1.0, 0.0, np.nan, 0.0, 1.0, 0.0],
    })
    view = sales_view(followed, sla_hours_by_grade={"A": 24, "B": 48}, grade_order=ORDER, speed_bucket_hours=[24, 72])
    grade = view["by_grade"].set_index("grade")
    assert list(grade.index) == ["A", "B", "C"]
    a = grade.loc["A"]
    assert a.leads == 4 and a.touched_share == 0.5 and a.median_latency_hours == 17.5
    # lead 3 is untouched but its 24 h have not elapsed: not judged; leads 1, 2 and 4 are
    assert a.sla_judged == 3 and a.within_sla_share == pytest.approx(1 / 3)
    assert a.conversion_rate == pytest.approx(1 / 3)
    assert grade.loc["B", "within_sla_share"] == 1.0
    assert math.isnan(grade.loc["C", "within_sla_share"]) and math.isnan(grade.loc["C", "sla_hours"])

    owner = view["by_owner"].set_index("owner_id")
    assert owner.loc["r1", "A_within_sla_share"] == 0.5 and owner.loc["r2", "A_within_sla_share"] == 0.0
    assert owner.loc["r1", "A_leads"] == 2 and owner.loc["r1", "A_median_latency_hours"] == 17.5

    speed = view["by_speed"].set_index("speed")
    assert list(speed.index) == ["≤ 1 d", "1 d–3 d", "> 3 d or never"]
    assert speed["leads"].tolist() == [1, 2, 2]  # lead 3 has not matured; lead 4, never touched, is slowest
    assert speed["conversions"].tolist() == [1, 1, 0]
    assert speed.loc["1 d–3 d", "conversion_rate"] == 0.5


def test_speed_labels_read_in_hours_or_days():
    assert speed_labels([12, 48]) == ["≤ 12 h", "12 h–2 d", "> 2 d or never"]
