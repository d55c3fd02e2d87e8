"""The workspace over plain HTTP (FastAPI's TestClient): sign-in, sessions, CSRF, rate limit, roles, the queue's
filters and export, the lead and runs pages, and the bearer-token API."""

import csv
import io as textio
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from workspace_store import BRACKETS, PASSWORDS, XSS, publish

from pipeline import users
from pipeline.web import create_app
from pipeline.web.security import LoginLimiter

SECRET = "test-secret-" + "k" * 40


@pytest.fixture(scope="module")
def app(published):
    return create_app(url=published.url, sources=published.sources, secret=SECRET)


@pytest.fixture
def client(app):
    return TestClient(app)


def _csrf(client: TestClient, path: str = "/login") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def sign_in(client: TestClient, name: str, password: str | None = None):
    return client.post("/login", data={"name": name, "password": password or PASSWORDS[name],
                                       "csrf": _csrf(client), "next": "/queue"}, follow_redirects=False)


def signed_in(app, name: str) -> TestClient:
    client = TestClient(app)
    assert sign_in(client, name).status_code == 303
    return client


def _bearer(published, name: str) -> dict:
    return {"Authorization": f"Bearer {users.issue_token(name, url=published.url)}"}


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-lead="([^"]+)">', html)


# ---- open routes, sign-in, sessions ---------------------------------------------------------------------------

def test_health_answers_without_login(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/", "/queue", "/queue.csv", "/leads/1", "/runs", "/report", "/report.html",
                                  "/definition", "/api/docs", "/api/openapi.json"])
def test_every_page_redirects_anonymous_requests_to_login(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_sign_in_lands_on_the_page_asked_for_and_never_off_site(client):
    csrf = _csrf(client)
    response = client.post("/login", data={"name": "rep_01", "password": PASSWORDS["rep_01"], "csrf": csrf,
                                           "next": "/runs"}, follow_redirects=False)
    assert response.headers["location"] == "/runs"
    other = TestClient(client.app)
    response = other.post("/login", data={"name": "rep_01", "password": PASSWORDS["rep_01"], "csrf": _csrf(other),
                                          "next": "//evil.example/x"}, follow_redirects=False)
    assert response.headers["location"] == "/queue"


def test_names_are_matched_case_insensitively_at_sign_in(app):
    client = TestClient(app)
    assert sign_in(client, "REP_01", PASSWORDS["rep_01"]).status_code == 303
    assert 'id="signed-in-as">rep_01<' in client.get("/queue").text


def test_login_without_the_csrf_token_is_refused(client):
    client.get("/login")
    response = client.post("/login", data={"name": "rep_01", "password": PASSWORDS["rep_01"], "csrf": "forged"},
                           follow_redirects=False)
    assert response.status_code == 403
    assert "leadscore_session" not in client.cookies or client.get("/queue", follow_redirects=False).status_code == 303


def test_logout_needs_the_session_csrf_token(app):
    client = signed_in(app, "rep_01")
    assert client.post("/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200  # still signed in
    assert client.post("/logout", data={"csrf": _csrf(client, "/queue")}, follow_redirects=False).status_code == 303
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_a_forged_or_tampered_cookie_is_not_a_session(app, published):
    other = create_app(url=published.url, sources=published.sources, secret="another-secret-" + "z" * 40)
    foreign = signed_in(other, "sam")  # a session signed with another key
    client = TestClient(app)
    client.cookies.set("leadscore_session", foreign.cookies["leadscore_session"])
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_wrong_passwords_are_refused_then_rate_limited_per_user(published):
    app = create_app(url=published.url, sources=published.sources, secret=SECRET,
                     limiter=LoginLimiter(per_user=3, per_address=100))
    client = TestClient(app)
    for _ in range(3):
        response = sign_in(client, "rep_02", "not-the-password")
        assert response.status_code == 401 and "Wrong name or password." in response.text
    limited = sign_in(client, "rep_02")  # the right password, but too late
    assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
    assert sign_in(TestClient(app), "rep_01").status_code == 303  # another user is not locked out


def test_sign_in_is_rate_limited_per_client_address(published):
    app = create_app(url=published.url, sources=published.sources, secret=SECRET,
                     limiter=LoginLimiter(per_user=100, per_address=4))
    client = TestClient(app)
    for name in ("a", "b", "c", "d"):
        assert sign_in(client, name, "guess-guess").status_code == 401
    assert sign_in(client, "rep_01").status_code == 429


def test_limiter_forgets_failures_after_the_window():
    now = [0.0]
    limiter = LoginLimiter(per_user=2, per_address=10, window_seconds=60, clock=lambda: now[0])
    limiter.failed("ann", "1.2.3.4")
    limiter.failed("ANN", "1.2.3.4")
    assert limiter.retry_after("ann", "5.6.7.8") > 0
    now[0] = 61.0
    assert limiter.retry_after("ann", "5.6.7.8") == 0


# ---- the queue page -------------------------------------------------------------------------------------------

def test_a_rep_sees_only_their_own_queue_of_the_latest_night(app):
    page = signed_in(app, "rep_01").get("/queue").text
    assert _rows(page) == ["1", "2", "3"]  # best first
    assert "night of 2026-06-08" in page
    assert "Globex" not in page and "Hooli" not in page


def test_owner_ids_match_case_insensitively(app):
    page = signed_in(app, "rep_02").get("/queue").text  # the CRM spells the owner Rep_02
    assert _rows(page) == ["4", "5"]


def test_a_member_cannot_open_another_owners_queue(app):
    response = signed_in(app, "rep_01").get("/queue", params={"owner": "rep_03"})
    assert response.status_code == 403


def test_a_manager_sees_every_owner_and_picks_one(app):
    client = signed_in(app, "sam")
    everyone = client.get("/queue").text
    assert "Every owner" in everyone and "61 lead(s)" in everyone
    assert _rows(client.get("/queue", params={"owner": "REP_02"}).text) == ["4", "5"]


def test_queue_filters_grade_source_age_untouched_and_search(app):
    client = signed_in(app, "sam")
    assert _rows(client.get("/queue", params=[("grade", "A"), ("grade", "B")]).text) == ["1", "4", "2", "6"]
    assert _rows(client.get("/queue", params={"source": "webinar"}).text) == ["1", "5", "3"]
    assert _rows(client.get("/queue", params={"owner": "rep_01", "untouched": "true"}).text) == ["2", "3"]
    assert _rows(client.get("/queue", params={"owner": "rep_01", "max_age": "10"}).text) == ["3"]
    assert _rows(client.get("/queue", params={"owner": "rep_01", "min_age": "10"}).text) == ["1", "2"]
    assert _rows(client.get("/queue", params={"q": "grace"}).text) == ["2"]  # the contact's name
    assert _rows(client.get("/queue", params={"q": "ACME"}).text) == ["2"]  # the company's
    assert _rows(client.get("/queue", params={"campaign": "June webinar"}).text) == ["1", "5"]
    assert client.get("/queue", params={"max_age": "soon"}).status_code == 422


def test_queue_sorts_by_score_and_pages(app):
    client = signed_in(app, "sam")
    first = client.get("/queue", params={"owner": "rep_03"}).text
    assert "page 1 of 2" in first and len(_rows(first)) == 50
    second = client.get("/queue", params={"owner": "rep_03", "page": 2}).text
    assert len(_rows(second)) == 6 and not set(_rows(first)) & set(_rows(second))
    lowest = _rows(client.get("/queue", params={"owner": "rep_03", "sort": "score_asc"}).text)
    assert lowest[:2] == ["7", "8"]


def test_an_earlier_night_is_shown_when_asked(app):
    page = signed_in(app, "rep_01").get("/queue", params={"night": "2026-06-01"}).text
    assert _rows(page) == ["1", "2"]
    missing = signed_in(app, "rep_01").get("/queue", params={"night": "1999-01-01"})
    assert missing.status_code == 404 and "no scores were published for the night of 1999-01-01" in missing.text


def test_an_empty_queue_says_why(app, tmp_path):
    page = signed_in(app, "mia").get("/queue").text  # marketing owns no leads
    assert "No leads for owner mia on the night of 2026-06-08." in page
    filtered = signed_in(app, "rep_01").get("/queue", params={"q": "no such company"}).text
    assert "No leads match these filters on the night of 2026-06-08 for owner rep_01." in filtered
    empty = publish_nothing(tmp_path)
    assert "Nothing published yet" in signed_in(empty, "rep_01").get("/queue").text


def publish_nothing(root):
    url = f"sqlite:///{root}/leadscore.db"
    users.add_user("rep_01", team="sales", password=PASSWORDS["rep_01"], url=url)
    return create_app(url=url, sources=root / "no-sources", secret=SECRET)


def test_company_names_render_as_text(app):
    page = signed_in(app, "rep_01").get("/queue").text
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert BRACKETS in page
    assert "script-src" not in page and "'self'" in signed_in(app, "rep_01").get("/queue").headers[
        "content-security-policy"]


def test_csv_export_holds_the_filtered_view_every_page(app):
    client = signed_in(app, "sam")
    response = client.get("/queue.csv", params={"owner": "rep_03"})
    assert response.headers["content-disposition"] == 'attachment; filename="queue-2026-06-08.csv"'
    rows = list(csv.DictReader(textio.StringIO(response.text)))
    assert len(rows) == 56 and rows[0]["lead_id"] == "6" and {r["owner"] for r in rows} == {"rep_03"}
    mine = list(csv.DictReader(textio.StringIO(signed_in(app, "rep_01").get(
        "/queue.csv", params={"untouched": "true"}).text)))
    assert [(r["lead_id"], r["company"], r["contact"], r["grade"]) for r in mine] == [
        ("2", BRACKETS, "Grace Hopper", "B"), ("3", "Initech", "Peter Gibbons", "D")]
    assert mine[0]["last_sales_touch"] == "2026-06-05T09:30:00Z" and mine[0]["campaign"] == ""
    first = next(csv.DictReader(textio.StringIO(signed_in(app, "rep_01").get("/queue.csv").text)))
    assert (first["lead_id"], first["campaign"]) == ("1", "June webinar")


def test_csv_cells_that_look_like_formulas_are_text():
    from pipeline.web.app import _cell

    assert _cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")" and _cell("Acme") == "Acme"


# ---- lead and runs pages --------------------------------------------------------------------------------------

def test_the_lead_page_shows_each_night_engagement_and_touches(app):
    page = signed_in(app, "rep_01").get("/leads/1").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Ada Lovelace" in page
    assert "2026-06-01" in page and "2026-06-08" in page and "56.0%" in page and "61.0%" in page
    assert "June webinar" in page and "pricing_page_visit" in page and "nan" not in page
    assert "voicemail" in page


def test_a_member_cannot_open_another_owners_lead(app):
    assert signed_in(app, "rep_01").get("/leads/4").status_code == 404
    assert signed_in(app, "sam").get("/leads/4").status_code == 200
    assert signed_in(app, "sam").get("/leads/999").status_code == 404


def test_the_runs_page_lists_runs_and_a_runs_rejects(app):
    client = signed_in(app, "rep_01")
    assert "run-night-2" in client.get("/runs").text
    rejects = client.get("/runs", params={"run": "run-night-2"}).text
    assert "yesterday-ish" in rejects and "not a timestamp" in rejects


def _change_password(client: TestClient, current: str, new: str, repeat: str | None = None):
    return client.post("/account/password", data={"csrf": _csrf(client, "/account"), "current": current, "new": new,
                                                   "repeat": new if repeat is None else repeat},
                       follow_redirects=False)


def test_a_user_changes_their_password_and_their_other_sessions_end(tmp_path):
    store = publish(tmp_path)
    app = create_app(url=store.url, sources=store.sources, secret=SECRET)
    here, elsewhere = signed_in(app, "rep_02"), signed_in(app, "rep_02")
    assert "rep_02" in here.get("/account").text
    wrong = _change_password(here, "not-my-password", "a-new-password-1")
    assert wrong.status_code == 401 and "The current password is wrong." in wrong.text
    differ = _change_password(here, PASSWORDS["rep_02"], "a-new-password-1", "a-new-password-2")
    assert differ.status_code == 422 and "The two new passwords differ." in differ.text
    short = _change_password(here, PASSWORDS["rep_02"], "short")
    assert short.status_code == 422 and "at least 8 characters" in short.text
    done = _change_password(here, PASSWORDS["rep_02"], "a-new-password-1")
    assert done.status_code == 303 and done.headers["location"].startswith("/account?done=")
    assert here.get("/queue", follow_redirects=False).status_code == 200  # this session goes on
    assert elsewhere.get("/queue", follow_redirects=False).status_code == 303  # the other one is signed out
    assert sign_in(TestClient(app), "rep_02").status_code == 401
    assert sign_in(TestClient(app), "rep_02", "a-new-password-1").status_code == 303


def test_a_removed_user_is_signed_out_at_the_next_request(tmp_path):
    store = publish(tmp_path)
    app = create_app(url=store.url, sources=store.sources, secret=SECRET)
    client = signed_in(app, "mia")
    assert client.get("/queue", follow_redirects=False).status_code == 200
    users.remove_user("mia", url=store.url)
    users.add_user("mia", team="sales", password=PASSWORDS["mia"], url=store.url)  # someone else, same name
    response = client.get("/queue", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_the_password_form_needs_the_session_csrf_token(app, published):
    client = signed_in(app, "rep_01")
    response = client.post("/account/password", data={"csrf": "forged", "current": PASSWORDS["rep_01"],
                                                      "new": "whatever-123", "repeat": "whatever-123"})
    assert response.status_code == 403
    assert users.authenticate("rep_01", PASSWORDS["rep_01"], url=published.url) is not None


def test_the_report_page_says_what_it_is_missing_before_there_is_a_model(published, repo_root, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")  # no such store
    app = create_app(url=published.url, sources=published.sources, secret=SECRET, params=repo_root / "params.yaml")
    client = signed_in(app, "mia")
    response = client.get("/report")
    assert response.status_code == 503
    message = re.search(r'id="error-message">([^<]*)<', response.text).group(1)
    assert message.startswith("The report cannot be built from the stores yet: no MLflow store at ")
    assert "leadscore train" in message
    token = _bearer(published, "mia")
    assert TestClient(app).get("/api/report", headers=token).json()["detail"] == message


# ---- the JSON API ---------------------------------------------------------------------------------------------

def test_the_api_needs_a_token(client, published, app):
    for path in ("/api/queue", "/api/leads/1", "/api/runs", "/api/report", "/api/definition", "/api/me"):
        assert client.get(path).status_code == 401, path
    assert client.get("/api/queue", headers={"Authorization": "Bearer lst_not-a-token"}).status_code == 401
    session = signed_in(app, "rep_01")  # a browser session is no API token
    assert session.get("/api/queue").status_code == 401


def test_tokens_are_stored_only_as_hashes(published):
    import sqlalchemy as sa

    token = users.issue_token("rep_01", url=published.url)
    engine = sa.create_engine(published.url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_sha256 FROM leadscore_tokens")).scalars().all()
        hashes = conn.execute(sa.text("SELECT password_hash FROM leadscore_users")).scalars().all()
    engine.dispose()
    assert token not in stored and all(len(s) == 64 for s in stored)
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(p in h for h in hashes for p in PASSWORDS.values())
    assert users.user_for_token(token, url=published.url).name == "rep_01"


def test_api_queue_has_the_pages_filters_and_scope(client, published):
    mine = client.get("/api/queue", headers=_bearer(published, "rep_01")).json()
    assert mine["night"] == "2026-06-08" and mine["owner"] == "rep_01" and mine["total"] == 3
    assert [r["lead_id"] for r in mine["leads"]] == ["1", "2", "3"]
    assert mine["leads"][0]["company"] == XSS and mine["leads"][0]["last_touch"] == "2026-06-09T10:00:00Z"
    assert client.get("/api/queue", params={"owner": "rep_03"},
                      headers=_bearer(published, "rep_01")).status_code == 403
    manager = _bearer(published, "sam")
    graded = client.get("/api/queue", params=[("grade", "A"), ("owner", "rep_02")], headers=manager).json()
    assert [r["lead_id"] for r in graded["leads"]] == ["4"]
    paged = client.get("/api/queue", params={"owner": "rep_03", "page": 2}, headers=manager).json()
    assert paged["page"] == 2 and paged["pages"] == 2 and len(paged["leads"]) == 6


def test_api_lead_and_runs(client, published):
    rep = _bearer(published, "rep_01")
    lead = client.get("/api/leads/1", headers=rep).json()
    assert [n["as_of_ts"] for n in lead["nights"]] == ["2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"]
    assert [n["grade"] for n in lead["nights"]] == ["A", "A"]
    assert lead["sales_touches"][0]["activity_type"] == "call" and len(lead["engagement"]) == 2
    assert client.get("/api/leads/4", headers=rep).status_code == 404
    runs = client.get("/api/runs", params={"run": "run-night-2"}, headers=rep).json()
    assert runs["runs"][0]["run_id"] == "run-night-2" and runs["rejects"][0]["value"] == "yesterday-ish"
    assert client.get("/api/me", headers=rep).json() == {"name": "rep_01", "team": "sales", "role": "member",
                                                         "owner": "rep_01"}


def test_the_openapi_page_is_served_locally_to_signed_in_users(app):
    client = signed_in(app, "rep_01")
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/api/docs-static/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/queue", "/api/leads/{lead_id}", "/api/runs"} <= set(paths)
    assert "/login" not in paths


def test_history_reader_matches_text_and_integer_ids(published):
    from pipeline import io

    assert len(io.read_lead_scores("1", url=published.url)) == 2
    assert len(io.read_lead_scores(1, url=published.url)) == 2
    assert io.read_lead_scores("1 OR 1=1", url=published.url).empty
    assert io.read_score_nights(url=published.url) == [pd.Timestamp("2026-06-08", tz="UTC"),
                                                       pd.Timestamp("2026-06-01", tz="UTC")]


def test_the_session_cookie_is_http_only_and_same_site(client):
    client.get("/login")
    response = client.post("/login", data={"name": "rep_01", "password": PASSWORDS["rep_01"],
                                           "csrf": _csrf(client)}, follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("leadscore_session=") and "httponly" in cookie and "samesite=lax" in cookie
    assert PASSWORDS["rep_01"] not in response.headers["set-cookie"]


def test_source_reader_reads_one_leads_rows_and_only_the_columns_asked(published, tmp_path):
    from pipeline import io

    events = io.read_source_table("engagement_events", lead_id="1", folder=published.sources)
    assert len(events) == 2 and set(events["lead_id"]) == {1}
    assert io.read_source_table("engagement_events", lead_id="x1", folder=published.sources).empty
    leads = io.read_source_table("leads", columns=["lead_id", "contact_name", "no_such"], folder=published.sources)
    assert list(leads.columns) == ["lead_id", "contact_name"] and len(leads) == 61
    assert io.read_source_table("accounts", folder=published.sources) is None
    (tmp_path / "sales_activities.csv").write_text("lead_id,activity_ts,activity_type\nA-1,2026-06-01,call\n"
                                                   "B-2,2026-06-02,email\n")
    assert list(io.read_source_table("sales_activities", lead_id="B-2", folder=tmp_path)["activity_type"]) == ["email"]


def test_the_workspace_reads_a_postgresql_store(postgres_url, tmp_path):
    store = publish(tmp_path, url=postgres_url)
    app = create_app(url=store.url, sources=store.sources, secret=SECRET)
    page = signed_in(app, "rep_02").get("/queue").text
    assert _rows(page) == ["4", "5"] and "night of 2026-06-08" in page
    manager = signed_in(app, "sam")
    assert _rows(manager.get("/queue", params=[("grade", "A"), ("night", "2026-06-01")]).text) == ["1", "4"]
    assert "Hank Scorpio" in manager.get("/leads/4").text
    lead = TestClient(app).get("/api/leads/1", headers=_bearer(store, "rep_01")).json()
    assert [n["as_of_ts"] for n in lead["nights"]] == ["2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"]


def test_behind_https_the_session_cookie_is_secure(published, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SECURE_COOKIES", "1")
    client = TestClient(create_app(url=published.url, sources=published.sources, secret=SECRET))
    response = sign_in(client, "rep_01")
    assert "secure" in response.headers["set-cookie"].lower()


def test_pages_load_nothing_from_outside(client):
    from pathlib import Path

    import pipeline.web

    folder = Path(pipeline.web.__file__).parent
    for path in [*folder.glob("templates/*.html"), *folder.glob("static/*")]:
        text = path.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name
    login = client.get("/login").text
    assert '<link rel="stylesheet" href="/static/style.css">' in login and "<script" not in login
    assert client.get("/static/style.css").status_code == 200  # the login page's style, before signing in


def test_a_successful_sign_in_clears_the_names_failures_but_not_the_addresss():
    limiter = LoginLimiter(per_user=3, per_address=4, window_seconds=60, clock=lambda: 0.0)
    for _ in range(2):
        limiter.failed("ann", "1.2.3.4")
    limiter.succeeded("ann")
    limiter.failed("ann", "1.2.3.4")
    assert limiter.retry_after("ann", "9.9.9.9") == 0  # one failure since the success
    limiter.failed("bob", "1.2.3.4")
    assert limiter.retry_after("carl", "1.2.3.4") > 0  # the address's four failures still count


# ---- the Definition page's forms ----------------------------------------------------------------------------------

def test_the_definition_forms_need_a_session_and_its_csrf_token(store):
    from pipeline import signoff

    for name, team in (("mia", "marketing"), ("sam", "sales")):
        users.add_user(name, team=team, password=f"{name}-password")
    app = create_app(sources=store.sources, secret=SECRET)  # params.yaml: the working directory's (none needed yet)
    anonymous = TestClient(app)
    redirected = anonymous.post("/definition/1/decide", data={"decision": "approve"}, follow_redirects=False)
    assert redirected.status_code == 303 and redirected.headers["location"].startswith("/login")
    client = TestClient(app)
    assert sign_in(client, "sam", "sam-password").status_code == 303
    forged = client.post("/definition/1/decide", data={"decision": "approve", "csrf": "forged"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert signoff.decisions("lead-scoring") == []


def test_the_definition_api_gives_the_sign_off_record_to_a_token(store, tmp_path):
    import signing
    import yaml

    from pipeline.steps import promote

    raw = store.config().model_dump(mode="python", by_alias=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    promote.approve(store.config(), version=1, user=signing.user("marketing"), comment="fits")
    client = TestClient(create_app(sources=store.sources, secret=SECRET, params=tmp_path / "params.yaml"))
    assert client.get("/api/definition").status_code == 401
    token = users.issue_token(signing.user("sales").name)
    body = client.get("/api/definition", headers={"Authorization": f"Bearer {token}"}).json()
    assert (body["version"], body["champion"], body["missing_approvals"]) == (1, None, ["sales"])
    assert body["definition_version"] == store.trained.definition_version
    [decision] = body["decisions"]
    assert (decision["team"], decision["user_name"], decision["decision"], decision["current"]) == (
        "marketing", "mia", "approve", True)
    assert body["definition"]["grades"] and body["versions"][0]["approved_by"] == ["marketing"]
