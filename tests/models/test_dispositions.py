"""Dispositions per campaign and hand-off grade, on hand-written frames."""

import math

import pandas as pd

from models.feedback import current_dispositions, dispositions_by_campaign
from models.views import NO_CAMPAIGN

DISPOSITIONS = ["working", "not_a_fit", "bad_data"]
GRADES = ["A", "B", "C", "D"]
T = pd.Timestamp("2026-06-10", tz="UTC")


def _frames():
    handed = pd.DataFrame({"lead_id": [1, 2, 3, 4, 5, 6], "grade": ["A", "A", "A", "B", "A", "C"]})
    leads = pd.DataFrame({"lead_id": [1, 2, 3, 4, 5, 6], "first_campaign_id": [7, 7, 7, 7, 8, None]})
    campaigns = pd.DataFrame({"campaign_id": [7, 8], "name": ["June webinar", "Spring ads"]})
    feedback = pd.DataFrame({
        "id": [1, 2, 3, 4, 5],
        "lead_id": ["1", "1", "2", "4", "6"],  # text, as the feedback table keeps them
        "disposition": ["working", "not_a_fit", "working", "bad_data", "not_a_fit"],
        "created_at": [T, T + pd.Timedelta(days=1), T, T, T],
    })
    return feedback, handed, leads, campaigns


def test_each_lead_counts_once_with_its_latest_disposition():
    feedback, *_ = _frames()
    current = current_dispositions(feedback.sample(frac=1, random_state=3))
    assert dict(zip(current["lead_id"], current["disposition"], strict=True)) == {
        "1": "not_a_fit", "2": "working", "4": "bad_data", "6": "not_a_fit"}


def test_shares_per_campaign_and_hand_off_grade():
    table = dispositions_by_campaign(*_frames(), dispositions=DISPOSITIONS, grade_order=GRADES)
    assert list(zip(table["campaign"], table["grade"], strict=True)) == [
        (NO_CAMPAIGN, "C"), ("June webinar", "A"), ("June webinar", "B"), ("Spring ads", "A")]
    webinar_a = table[(table["campaign"] == "June webinar") & (table["grade"] == "A")].iloc[0]
    assert (webinar_a["leads"], webinar_a["with_feedback"]) == (3, 2)
    assert webinar_a["feedback_share"] == 2 / 3
    assert (webinar_a["share_not_a_fit"], webinar_a["share_working"], webinar_a["share_bad_data"]) == (0.5, 0.5, 0)
    spring = table[table["campaign"] == "Spring ads"].iloc[0]
    assert spring["with_feedback"] == 0 and math.isnan(spring["share_working"])
    assert table.loc[table["campaign"] == NO_CAMPAIGN, "share_not_a_fit"].item() == 1.0


def test_without_campaign_names_campaigns_show_by_id_and_inputs_are_untouched():
    feedback, handed, leads, _ = _frames()
    before = [f.copy() for f in (feedback, handed, leads)]
    table = dispositions_by_campaign(feedback, handed, leads, None, dispositions=DISPOSITIONS, grade_order=GRADES)
    assert set(table["campaign"]) == {"7", "8", NO_CAMPAIGN}
    for frame, copy in zip((feedback, handed, leads), before, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_no_feedback_at_all_gives_counts_and_no_shares():
    feedback, handed, leads, campaigns = _frames()
    table = dispositions_by_campaign(feedback.iloc[0:0], handed, leads, campaigns, dispositions=DISPOSITIONS,
                                     grade_order=GRADES)
    assert table["leads"].sum() == 6 and table["with_feedback"].sum() == 0
    assert table["share_working"].isna().all()
