"""Sales feedback over plain HTTP (FastAPI's TestClient): the lead page's form and history, who may record, CSRF,
the API round trip, validation, and the published score left as it was."""

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from test_web_http import SECRET, _bearer, _csrf, sign_in, signed_in
from workspace_store import XSS

from pipeline import feedback, io, users
from pipeline.web import create_app

MARKETING_MANAGER_PASSWORD = "marketing-manager-password"


@pytest.fixture(scope="module")
def app(published):
    users.add_user("max", team="marketing", role="manager", password=MARKETING_MANAGER_PASSWORD, url=published.url)
    return create_app(url=published.url, sources=published.sources, secret=SECRET)


def _post(client: TestClient, lead_id, **form):
    form.setdefault("csrf", _csrf(client, "/queue"))
    return client.post(f"/leads/{lead_id}/feedback", data=form, follow_redirects=False)


def test_a_rep_records_feedback_on_their_lead_and_sees_it_in_the_history(app, published):
    client = signed_in(app, "rep_01")
    page = client.get("/leads/2").text
    assert 'id="feedback-form"' in page and 'id="no-feedback"' in page and "Not a fit" in page
    response = _post(client, 2, disposition="not_a_fit", comment="builds it in-house")
    assert response.status_code == 303 and response.headers["location"].startswith("/leads/2?done=")
    page = client.get(response.headers["location"]).text
    assert 'id="feedback-history"' in page and "builds it in-house" in page and "(current)" in page
    assert "Recorded: Not a fit (the 2026-06-08 score)." in page
    row = feedback.lead_feedback(2, url=published.url).iloc[0]
    assert (row["disposition"], row["user_name"], row["grade"], row["model_version"]) == ("not_a_fit", "rep_01",
                                                                                         "B", 3)


def test_a_rep_cannot_record_on_another_owners_lead(app, published):
    client = signed_in(app, "rep_01")
    assert _post(client, 4, disposition="working").status_code == 404
    assert _post(client, 999, disposition="working").status_code == 404
    assert feedback.lead_feedback(4, url=published.url).empty


def test_a_sales_manager_records_on_any_lead(app, published):
    assert _post(signed_in(app, "sam"), 6, disposition="duplicate").status_code == 303
    assert list(feedback.lead_feedback(6, url=published.url)["user_name"]) == ["sam"]


def test_marketing_sees_the_history_but_cannot_record(app, published):
    rep = users.get_user("rep_02", url=published.url)
    feedback.record(5, disposition="bad_data", comment="wrong company", user=rep, url=published.url)
    manager = TestClient(app)
    assert sign_in(manager, "max", MARKETING_MANAGER_PASSWORD).status_code == 303
    page = manager.get("/leads/5").text
    assert "wrong company" in page and 'id="feedback-form"' not in page and 'id="cannot-record"' in page
    assert _post(manager, 5, disposition="working").status_code == 403
    assert _post(signed_in(app, "mia"), 1, disposition="working").status_code == 403
    assert TestClient(app).post("/api/leads/5/feedback", json={"disposition": "working"},
                                headers=_bearer(published, "mia")).status_code == 403
    assert len(feedback.lead_feedback(5, url=published.url)) == 1


def test_the_form_needs_the_session_csrf_token(app, published):
    client = signed_in(app, "rep_01")
    assert _post(client, 3, disposition="working", csrf="forged").status_code == 403
    assert client.post("/leads/3/feedback", data={"disposition": "working"}).status_code == 403
    assert feedback.lead_feedback(3, url=published.url).empty


def test_feedback_never_changes_the_published_score(app, published):
    before = io.read_lead_scores(1, url=published.url)
    nights = io.read_night_scores(pd.Timestamp("2026-06-08", tz="UTC"), url=published.url)
    client = signed_in(app, "rep_01")
    for disposition in ("working", "already_customer"):
        assert _post(client, 1, disposition=disposition).status_code == 303
    pd.testing.assert_frame_equal(io.read_lead_scores(1, url=published.url), before)
    pd.testing.assert_frame_equal(io.read_night_scores(pd.Timestamp("2026-06-08", tz="UTC"), url=published.url),
                                  nights)


def test_an_unknown_disposition_or_a_long_comment_is_422_with_the_reason(app, published):
    client = signed_in(app, "rep_01")
    response = _post(client, 3, disposition="hot lead")
    assert response.status_code == 422 and "disposition must be one of working, not_a_fit" in response.text
    assert 'id="feedback-form"' in response.text  # the page again, with the reason above the form
    too_long = _post(client, 3, disposition="working", comment="x" * (feedback.MAX_COMMENT_CHARS + 1))
    assert too_long.status_code == 422 and "at most" in too_long.text
    api = TestClient(app)
    answer = api.post("/api/leads/3/feedback", json={"disposition": "hot"}, headers=_bearer(published, "rep_01"))
    assert answer.status_code == 422 and "disposition must be one of" in answer.json()["detail"]
    assert api.post("/api/leads/3/feedback", json={"comment": "no disposition"},
                    headers=_bearer(published, "rep_01")).status_code == 422
    assert feedback.lead_feedback(3, url=published.url).empty


def test_a_comment_with_markup_renders_as_text(app, published):
    client = signed_in(app, "sam")
    assert _post(client, 4, disposition="wrong_contact", comment=XSS).status_code == 303
    page = client.get("/leads/4").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page


def test_api_round_trip_with_a_token(app, published):
    api, rep = TestClient(app), _bearer(published, "rep_02")
    assert api.post("/api/leads/4/feedback", json={"disposition": "working"}).status_code == 401
    answer = api.post("/api/leads/4/feedback", headers=rep,
                      json={"disposition": "no_budget_or_timing", "comment": "budget in Q3", "night": "2026-06-01",
                            "grade": "D", "probability": 0.99})  # score fields from a client are ignored
    assert answer.status_code == 201
    created = answer.json()
    assert (created["as_of_ts"], created["grade"], created["model_version"]) == ("2026-06-01T00:00:00Z", "A", 2)
    assert created["probability"] == pytest.approx(0.50) and created["disposition_label"] == "No budget or timing"
    lead = api.get("/api/leads/4", headers=rep).json()
    assert lead["feedback"][0]["comment"] == "budget in Q3" and lead["feedback"][0]["user_name"] == "rep_02"
    assert api.post("/api/leads/4/feedback", json={"disposition": "working", "night": "2026-06-02"},
                    headers=rep).status_code == 422
    assert api.post("/api/leads/1/feedback", json={"disposition": "working"}, headers=rep).status_code == 404


def test_the_feedback_api_is_in_the_openapi_page(app):
    schema = signed_in(app, "rep_01").get("/api/openapi.json").json()
    assert "post" in schema["paths"]["/api/leads/{lead_id}/feedback"]
    assert "not_a_fit (Not a fit)" in schema["components"]["schemas"]["FeedbackIn"]["properties"]["disposition"][
        "description"]
