"""Marketing and sales aggregates on tiny hand-written frames."""

import math

import numpy as np
import pandas as pd
import pytest

from models.views import (
    NO_CAMPAIGN,
    escalations,
    first_hand_offs,
    follow_up,
    ledger,
    marketing_view,
    sales_view,
    speed_labels,
)

N1 = pd.Timestamp("2026-03-02", tz="UTC")
N2 = N1 + pd.Timedelta(days=7)
N3 = N2 + pd.Timedelta(days=7)
ORDER = ["A", "B", "C", "D"]
NIGHTS = pd.DataFrame({
    "lead_id": [1, 1, 1, 2, 2, 3],
    "as_of_ts": [N1, N2, N3, N1, N2, N1],
    "grade": ["C", "A", "A", "B", "B", "D"],
    "probability": [0.05, 0.4, 0.45, 0.2, 0.22, 0.01],
    "owner_id": ["r1", "r1", "r1", "r2", "r2", "r2"],
})


def test_a_hand_off_is_the_first_scored_night_whatever_came_later():
    handed = first_hand_offs(NIGHTS.sample(frac=1, random_state=3)).set_index("lead_id")
    assert handed.loc[1, "grade"] == "C" and handed.loc[1, "as_of_ts"] == N1 and handed.loc[1, "probability"] == 0.05
    assert handed.loc[2, "grade"] == "B" and len(handed) == 3


def test_an_escalation_is_the_first_night_in_the_best_grade():
    escalated = escalations(NIGHTS, grade_order=ORDER).set_index("lead_id")
    assert escalated.loc[1, "grade"] == "A" and escalated.loc[1, "as_of_ts"] == N2
    assert escalated.loc[2, "as_of_ts"] == N1 and escalated.loc[3, "grade"] == "D"


def test_the_ledger_holds_realized_wins_against_the_probabilities_of_the_same_matured_leads():
    frame = pd.DataFrame({
        "lead_id": range(6), "key": ["x", "x", "x", "x", "y", "y"],
        "grade": ["A", "B", "C", "A", "C", "D"],
        "probability": [0.5, 0.3, 0.1, 0.6, 0.2, 0.05],
        "converted": [1.0, 1.0, 0.0, np.nan, 0.0, 0.0],
    })
    table = ledger(frame, "key", quality_grades=["A", "B"])
    x = table.loc["x"]
    assert (x.leads, x.quality_leads, x.matured_leads, x.realized_wins) == (4, 3, 3, 2)
    assert x.quality_share == 0.75
    assert x.expected_wins == pytest.approx(0.9)  # lead 3 has not matured: its 0.6 is not expected of anyone yet
    assert x.realized_rate == pytest.approx(2 / 3) and x.expected_rate == pytest.approx(0.3)
    assert x.realized_vs_expected == pytest.approx((2 / 3) / 0.3)
    assert x.realized_low < x.realized_rate < x.realized_high
    assert x.ratio_low == pytest.approx(x.realized_low / 0.3) and x.ratio_high == pytest.approx(x.realized_high / 0.3)
    y = table.loc["y"]
    assert y.realized_wins == 0 and y.realized_vs_expected == 0 and y.ratio_low == 0 and y.ratio_high > 0


def test_ledger_sums_agree_whichever_way_the_hand_offs_are_cut():
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({"lead_id": range(n), "grade": rng.choice(ORDER, n), "probability": rng.uniform(0, 0.3, n),
                          "owner_id": rng.choice(["r1", "r2", "r3"], n), "source": rng.choice(["a", "b"], n)})
    frame["converted"] = np.where(rng.uniform(size=n) < 0.8, (rng.uniform(size=n) < frame["probability"]) * 1.0,
                                  np.nan)
    tables = [ledger(frame, key, quality_grades=["A", "B"]) for key in ("grade", "owner_id", "source")]
    matured = frame["converted"].notna()
    totals = {"leads": n, "quality_leads": int(frame["grade"].isin(["A", "B"]).sum()),
              "matured_leads": int(matured.sum()), "realized_wins": int(frame["converted"].sum())}
    for t in tables:
        assert {col: int(t[col].sum()) for col in totals} == totals
        assert t["expected_wins"].sum() == pytest.approx(frame.loc[matured, "probability"].sum())


@pytest.fixture
def marketing():
    handed = pd.DataFrame({
        "lead_id": [1, 2, 3, 4, 5],
        "as_of_ts": N1,
        "grade": ["A", "B", "C", "A", "A"],
        "probability": [0.5, 0.3, 0.1, 0.4, 0.6],
        "converted": [1.0, 0.0, np.nan, 0.0, 1.0],
    })
    leads = pd.DataFrame({  # leads 6-9 were never scored (before the nights reported) but campaign 10 brought them
        "lead_id": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "source": ["webinar", "webinar", "email", "web_organic", "email", "webinar", "webinar", "webinar", "email"],
        "first_campaign_id": pd.array([10, 10, 20, pd.NA, 30, 10, 10, 10, 20], dtype="Int64"),
    })
    campaigns = pd.DataFrame({"campaign_id": [10, 20, 30, 40],
                              "name": ["Webinar #10", "Email #20", "Email #30", "Idle"],
                              "channel": ["webinar", "email", "email", "email"], "cost": [1000.0, 500.0, 300.0, 9.0]})
    return marketing_view(handed, leads, campaigns, quality_grades=["A", "B"])


def test_marketing_by_campaign_spreads_the_cost_over_every_lead_of_the_campaigns_life(marketing):
    by = marketing["campaign"].set_index("campaign")
    webinar = by.loc["Webinar #10"]
    assert (webinar.leads, webinar.quality_leads, webinar.quality_share) == (2, 2, 1.0)
    assert (webinar.matured_leads, webinar.realized_wins, webinar.realized_rate) == (2, 1, 0.5)
    assert webinar.expected_wins == pytest.approx(0.8) and webinar.realized_vs_expected == pytest.approx(0.5 / 0.4)
    # 1000 over its 5 lifetime leads, all of quality at hand-off: 200 per quality lead (not 1000 / 2 scored ones)
    assert webinar.lifetime_leads == 5 and webinar.cost_per_lead == 200 and webinar.cost_per_quality_lead == 200
    assert webinar.channel == "webinar"
    weak = by.loc["Email #20"]
    assert weak.quality_leads == 0 and weak.matured_leads == 0 and weak.lifetime_leads == 2
    assert weak.cost_per_lead == 250
    assert math.isnan(weak.realized_rate) and math.isnan(weak.cost_per_quality_lead)  # no quality lead to divide by
    none = by.loc[NO_CAMPAIGN]
    assert none.quality_leads == 1 and math.isnan(none.cost)
    assert "Idle" not in by.index  # a campaign that handed over no scored lead is not in the view
    assert marketing["campaign"]["quality_share"].is_monotonic_decreasing


def test_marketing_by_channel_pools_the_campaigns_that_handed_a_lead_over(marketing):
    by = marketing["channel"].set_index("channel")
    assert by.loc["email", "cost"] == 800 and by.loc["email", "lifetime_leads"] == 3  # campaigns 20 and 30
    # quality leads over their lives: campaign 20, 2 leads × share 0; campaign 30, 1 lead × share 1
    assert by.loc["email", "cost_per_quality_lead"] == 800
    assert by.loc["webinar", "cost_per_quality_lead"] == 200


def test_marketing_by_source(marketing):
    by = marketing["source"].set_index("source")
    assert by.loc["email", "leads"] == 2 and by.loc["email", "quality_share"] == 0.5
    assert by.loc["email", "realized_rate"] == 1.0  # lead 3 has not matured; lead 5 converted
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
    handed = followed[["lead_id", "owner_id", "converted"]].assign(
        grade=["A", "B", "B", "A", "B", "C"], probability=[0.5, 0.2, 0.2, 0.4, 0.3, 0.05])
    view = sales_view(followed, handed, sla_hours_by_grade={"A": 24, "B": 48}, grade_order=ORDER,
                      speed_bucket_hours=[24, 72], quality_grades=["A", "B"])
    grade = view["by_grade"].set_index("grade")
    assert list(grade.index) == ["A", "B", "C"]
    a = grade.loc["A"]
    assert a.reached_leads == 4 and a.touched_share == 0.5 and a.median_latency_hours == 17.5
    # lead 3 is untouched but its 24 h have not elapsed: not judged; leads 1, 2 and 4 are
    assert a.sla_judged == 3 and a.within_sla_share == pytest.approx(1 / 3)
    # the ledger counts leads by the grade they were handed over in: leads 1 and 4
    assert (a.leads, a.matured_leads, a.realized_wins) == (2, 2, 1) and a.expected_wins == pytest.approx(0.9)
    assert grade.loc["B", "within_sla_share"] == 1.0 and grade.loc["B", "leads"] == 3
    assert math.isnan(grade.loc["C", "within_sla_share"]) and math.isnan(grade.loc["C", "sla_hours"])

    owner = view["by_owner"].set_index("owner_id")
    assert owner.loc["r1", "A_within_sla_share"] == 0.5 and owner.loc["r2", "A_within_sla_share"] == 0.0
    assert owner.loc["r1", "A_leads"] == 2 and owner.loc["r1", "A_median_latency_hours"] == 17.5
    assert owner.loc["r1", "expected_wins"] == pytest.approx(0.75) and owner.loc["r1", "realized_wins"] == 1
    assert owner.loc["r2", "realized_vs_expected"] == pytest.approx(0.5 / 0.35)
    assert view["by_owner"]["realized_vs_expected"].is_monotonic_increasing  # the furthest below expected first

    speed = view["by_speed"].set_index("speed")
    assert list(speed.index) == ["≤ 1 d", "1 d–3 d", "> 3 d or never"]
    assert speed["leads"].tolist() == [1, 2, 2]  # lead 3 has not matured; lead 4, never touched, is slowest
    assert speed["conversions"].tolist() == [1, 1, 0]
    assert speed.loc["1 d–3 d", "conversion_rate"] == 0.5
    assert speed.loc["1 d–3 d", "conversion_low"] < 0.5 < speed.loc["1 d–3 d", "conversion_high"]


def test_speed_labels_read_in_hours_or_days():
    assert speed_labels([12, 48]) == ["≤ 12 h", "12 h–2 d", "> 2 d or never"]


def test_a_quality_share_carries_its_interval():
    frame = pd.DataFrame({"lead_id": range(4), "key": "x", "grade": ["A", "C", "C", "C"], "probability": 0.1,
                          "converted": np.nan})
    x = ledger(frame, "key", quality_grades=["A", "B"]).loc["x"]
    assert x.quality_share == 0.25 and x.quality_low < 0.25 < x.quality_high
