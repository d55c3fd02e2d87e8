"""Sales feedback in the leadscore database: recorded with the published score it was about, history kept, who may
record it, and the scores themselves never touched. SQLite, and PostgreSQL when the test server runs."""

import pandas as pd
import pytest
from workspace_store import NIGHTS, publish

from pipeline import feedback, io, users


@pytest.fixture
def store(tmp_path):
    return publish(tmp_path)


def _user(url, name):
    return users.get_user(name, url=url)


def _check_round_trip(url):
    rep = _user(url, "rep_01")
    before = io.read_lead_scores(1, url=url)
    first = feedback.record(1, disposition="working", user=rep, url=url)
    second = feedback.record("1", disposition="not_a_fit", comment="  runs everything in-house  ", user=rep,
                             night="2026-06-01", url=url)
    assert (first["as_of_ts"], first["grade"], first["model_version"]) == (NIGHTS[1], "A", 3)
    assert first["probability"] == pytest.approx(0.61) and first["definition_version"] == "d1"
    assert (second["as_of_ts"], second["model_version"], second["comment"]) == (NIGHTS[0], 2, "runs everything "
                                                                                          "in-house")
    history = feedback.lead_feedback(1, url=url)
    assert list(history["disposition"]) == ["not_a_fit", "working"]  # newest first: the current one on top
    assert list(history["disposition_label"]) == ["Not a fit", "Working it"]
    assert set(history["user_name"]) == {"rep_01"} and set(history["team"]) == {"sales"}
    assert history["as_of_ts"].iloc[0] == NIGHTS[0]
    pd.testing.assert_frame_equal(io.read_lead_scores(1, url=url), before)  # feedback never changes a score
    feedback.record(4, disposition="duplicate", user=_user(url, "sam"), url=url)
    every = feedback.read_feedback(url=url)
    assert list(every["lead_id"]) == ["1", "1", "4"] and list(every["current"]) == [False, True, True]
    assert feedback.read_feedback(since=pd.Timestamp.now(tz="UTC").date() + pd.Timedelta(days=1), url=url).empty


def test_feedback_round_trip_on_sqlite(store):
    _check_round_trip(store.url)


def test_feedback_round_trip_on_postgresql(postgres_url, tmp_path):
    _check_round_trip(publish(tmp_path, url=postgres_url).url)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"disposition": "hot"}, "disposition must be one of working, not_a_fit"),
    ({"disposition": "working", "comment": "x" * (feedback.MAX_COMMENT_CHARS + 1)}, "at most"),
    ({"disposition": "working", "night": "2026-06-02"}, "no published score for the night of 2026-06-02"),
    ({"disposition": "working", "night": "last week"}, "YYYY-MM-DD"),
])
def test_invalid_feedback_is_refused_and_nothing_is_written(store, kwargs, message):
    with pytest.raises(feedback.FeedbackError, match=message):
        feedback.record(1, user=_user(store.url, "rep_01"), url=store.url, **kwargs)
    assert feedback.lead_feedback(1, url=store.url).empty


def test_only_sales_records_and_a_member_only_on_their_own_leads(store):
    with pytest.raises(feedback.NotAllowed, match="only sales users"):
        feedback.record(1, disposition="working", user=_user(store.url, "mia"), url=store.url)
    with pytest.raises(LookupError):
        feedback.record(4, disposition="working", user=_user(store.url, "rep_01"), url=store.url)
    with pytest.raises(LookupError):
        feedback.record(999, disposition="working", user=_user(store.url, "sam"), url=store.url)
    assert feedback.read_feedback(url=store.url).empty
    assert feedback.record(4, disposition="working", user=_user(store.url, "rep_02"), url=store.url)["lead_id"] == "4"
