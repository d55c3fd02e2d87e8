"""Segments on tiny hand-written frames: who belongs where, overlaps refused when params load and on the data."""

import pandas as pd
import pytest

from features.params import SegmentParams
from features.segments import SegmentError, assign_segments, describe, overlap_problems, segment_lead_ids


def seg(name, capacity=None, **filters):
    return SegmentParams(name=name, filter={k.replace("__", "."): v for k, v in filters.items()},
                         capacity=capacity or {"A": 10})


LEADS = pd.DataFrame({"lead_id": [1, 2, 3, 4, 5], "country": ["DE", "FR", "US", "DE", None],
                      "source": ["email", "web", "email", "event", "email"], "account_id": [10, 11, 12, None, 10]})
ACCOUNTS = pd.DataFrame({"account_id": [10, 11, 12], "industry": ["software", "retail", "software"]})


def test_each_lead_gets_its_segment_and_the_rest_none():
    segments = [seg("dach", leads__country=["DE"]), seg("us_software", leads__country=["US"],
                                                        accounts__industry=["software"])]
    assigned = assign_segments(LEADS, ACCOUNTS, segments)
    assert assigned.to_dict() == {1: "dach", 2: None, 3: "us_software", 4: "dach", 5: None}


def test_an_account_column_is_the_leads_accounts_value_and_a_lead_without_account_matches_nothing():
    assigned = assign_segments(LEADS, ACCOUNTS, [seg("sw", accounts__industry=["software"])])
    assert assigned.to_dict() == {1: "sw", 2: None, 3: "sw", 4: None, 5: "sw"}


def test_declared_overlaps_name_both_segments():
    problems = overlap_problems([seg("a", leads__country=["DE", "FR"]), seg("b", leads__country=["FR", "US"])])
    assert len(problems) == 1 and "'a' and 'b'" in problems[0] and "['FR']" in problems[0]
    assert "no column in common" in overlap_problems([seg("a", leads__country=["DE"]),
                                                       seg("b", accounts__industry=["software"])])[0]


def test_one_separating_column_makes_segments_exclusive():
    assert overlap_problems([seg("a", leads__country=["DE"], leads__source=["email"]),
                             seg("b", leads__country=["DE"], leads__source=["web"])]) == []


def test_a_lead_matching_two_filters_on_the_data_is_an_error():
    # not exclusive by their declared values: only params loading refuses these; assignment refuses them too
    with pytest.raises(SegmentError, match=r"1 lead\(s\) match both segment 'b' and a \(lead_id 1\)"):
        assign_segments(LEADS, ACCOUNTS, [seg("a", leads__country=["DE"]), seg("b", leads__source=["email"])])


def test_a_missing_filter_column_says_which_table_lacks_it():
    with pytest.raises(SegmentError, match=r"the leads table has no column 'region'"):
        assign_segments(LEADS, ACCOUNTS, [seg("a", leads__region=["emea"])])
    with pytest.raises(SegmentError, match=r"no accounts table"):
        assign_segments(LEADS, None, [seg("a", accounts__industry=["software"])])


def test_segment_lead_ids_and_words():
    dach = seg("dach", leads__country=["DE"], leads__source=["email", "event"])
    assert list(segment_lead_ids(LEADS, ACCOUNTS, dach)) == [1, 4]
    assert describe(dach) == "leads.country in [DE] and leads.source in [email, event]"


@pytest.mark.parametrize(("raw", "message"), [
    ({"name": "Bad Name", "filter": {"leads.country": ["DE"]}, "capacity": {"A": 1}}, "String should match"),
    ({"name": "a", "filter": {"country": ["DE"]}, "capacity": {"A": 1}}, "must be written <table>.<column>"),
    ({"name": "a", "filter": {"leads.country": []}, "capacity": {"A": 1}}, "lists no values"),
    ({"name": "a", "filter": {"leads.country": "DE"}, "capacity": {"A": 1}}, "valid list"),
    ({"name": "a", "filter": {"leads.country": ["DE"]}, "capacity": {"A": 0}}, "capacity must be positive"),
])
def test_invalid_segments_are_refused(raw, message):
    with pytest.raises(ValueError, match=message):
        SegmentParams.model_validate(raw)


def test_each_model_answers_for_its_own_rows_and_buyers_night_by_night():
    from features.segments import model_buyers, model_rows

    n1, n2 = pd.Timestamp("2026-06-01", tz="UTC"), pd.Timestamp("2026-06-08", tz="UTC")
    dach = seg("dach", leads__country=["DE"])
    # night 1: dach had no champion yet, the global model scored everyone; night 2: dach's champion scored its leads
    scores = pd.DataFrame({"lead_id": [1, 2, 4, 1, 2, 4], "as_of_ts": [n1, n1, n1, n2, n2, n2],
                           "segment": [None, None, None, "dach", None, "dach"]})
    assert model_rows(scores, "dach").tolist() == [False, False, False, True, False, True]
    assert model_rows(scores, None).tolist() == [True, True, True, False, True, False]
    buyers = pd.DataFrame({"lead_id": [1, 2, 1, 2], "as_of_ts": [n1, n1, n2, n2]})
    pairs = lambda frame: list(zip(frame["lead_id"], frame["as_of_ts"].dt.day, strict=True))  # noqa: E731
    assert pairs(model_buyers(buyers, LEADS, ACCOUNTS, [dach], "dach", scores)) == [(1, 8)]
    assert pairs(model_buyers(buyers, LEADS, ACCOUNTS, [dach], None, scores)) == [(1, 1), (2, 1), (2, 8)]
    assert model_buyers(buyers, LEADS, ACCOUNTS, [], None, scores) is buyers  # no segments: every buyer
