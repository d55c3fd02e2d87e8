"""Volume guards: a missing, empty or resized table named with both counts; nothing else flagged."""

import pandas as pd

from features.volumes import table_rows, volume_problems

BEFORE = {"leads": 1000, "opportunities": 100, "engagement_events": 20_000}


def test_rows_are_counted_per_table_as_read():
    assert table_rows({"leads": pd.DataFrame({"a": [1, 2]}), "engagement_events": pd.DataFrame()}) == {
        "engagement_events": 0, "leads": 2}


def test_a_night_like_the_last_one_passes():
    tonight = {"leads": 1010, "opportunities": 101, "engagement_events": 21_000}
    assert volume_problems(tonight, BEFORE, required=BEFORE, max_change=0.3, location="data/x") == []


def test_an_empty_table_fails_with_both_counts_even_without_a_previous_night():
    [problem] = volume_problems({**BEFORE, "engagement_events": 0}, BEFORE, required=BEFORE, max_change=0.3,
                                location="x")
    assert problem == "engagement_events: 0 rows (the last published night had 20,000)"
    [first] = volume_problems({"leads": 5, "campaigns": 0}, None, required=["leads"], max_change=0.3, location="x")
    assert first.startswith("campaigns: 0 rows")


def test_a_drop_or_a_jump_beyond_the_limit_fails_and_names_both_counts():
    half = volume_problems({**BEFORE, "engagement_events": 10_000}, BEFORE, required=BEFORE, max_change=0.3,
                           location="x")
    assert half == ["engagement_events: 10,000 rows against 20,000 on the last published night (-50%, beyond "
                    "nightly.max_volume_change 30%)"]
    jump = volume_problems({**BEFORE, "leads": 1400}, BEFORE, required=BEFORE, max_change=0.3, location="x")
    assert jump and jump[0].startswith("leads: 1,400 rows against 1,000") and "+40%" in jump[0]
    assert volume_problems({**BEFORE, "leads": 1299}, BEFORE, required=BEFORE, max_change=0.3, location="x") == []
    assert volume_problems({**BEFORE, "leads": 1400}, BEFORE, required=BEFORE, max_change=None, location="x") == []


def test_a_missing_required_table_names_the_table_and_the_folder():
    tonight = {"leads": 1000, "opportunities": 100}
    [problem] = volume_problems(tonight, BEFORE, required=BEFORE, max_change=0.3, location="/data/crm")
    assert problem == "engagement_events: table is missing from /data/crm (the last published night had 20,000 rows)"
    assert volume_problems(tonight, None, required=["leads", "opportunities"], max_change=0.3, location="x") == []
