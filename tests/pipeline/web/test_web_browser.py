"""The workspace as a person meets it: headless Chromium (Debian's chromium + chromium-driver, through Selenium)
against a real uvicorn server on a free local port, over the tiny published store. One server and one browser for
the module; each test starts signed out."""

import csv
import time

import pytest
from browser import chromium, click_and_wait, needs_chromium, no_alert, serving, sign_in
from workspace_store import BRACKETS, PASSWORDS, XSS

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(published):
    from pipeline.web import create_app
    from pipeline.web.security import LoginLimiter

    app = create_app(url=published.url, sources=published.sources, secret="browser-test-" + "s" * 40,
                     limiter=LoginLimiter(per_user=3, per_address=50))
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("downloads")) as driver:
        yield driver


@pytest.fixture
def page(browser, server):
    browser.get(server + "/health")
    browser.delete_all_cookies()  # every test starts signed out
    browser.base = server
    return browser


def _sign_in(driver, name: str, password: str | None = None, path: str = "/login"):
    sign_in(driver, name, password or PASSWORDS[name], path)


def _rows(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [tr.get_attribute("data-lead") for tr in driver.find_elements(By.CSS_SELECTOR, "#queue tbody tr")]


def test_anonymous_request_is_redirected_to_login_then_back(page):
    from selenium.webdriver.common.by import By

    page.get(page.base + "/runs")
    assert page.current_url.startswith(page.base + "/login?next=")
    assert page.find_element(By.TAG_NAME, "h1").text == "Sign in"
    _sign_in(page, "rep_01", path=page.current_url.removeprefix(page.base))
    assert page.current_url == page.base + "/runs"
    assert "run-night-2" in page.find_element(By.ID, "runs").text


def test_a_rep_sees_only_their_queue_and_names_render_as_text(page):
    from selenium.webdriver.common.by import By

    _sign_in(page, "rep_01")
    assert page.current_url == page.base + "/queue"
    assert _rows(page) == ["1", "2", "3"]
    owners = {td.text for td in page.find_elements(By.CSS_SELECTOR, "#queue td.owner")}
    assert owners == {"rep_01"}
    no_alert(page)
    companies = [td.text for td in page.find_elements(By.CSS_SELECTOR, "#queue td.company")]
    assert companies[:2] == [XSS, BRACKETS]  # the literal text, shown as written
    assert page.find_elements(By.CSS_SELECTOR, "#queue td.company script") == []
    assert page.find_element(By.ID, "signed-in-as").text == "rep_01"


def test_filter_sort_and_export_the_csv(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _sign_in(page, "rep_01")
    page.find_element(By.ID, "untouched").click()
    click_and_wait(page, page.find_element(By.ID, "apply"))
    assert _rows(page) == ["2", "3"]  # lead 1 was called after the night
    Select(page.find_element(By.ID, "sort")).select_by_value("score_asc")
    click_and_wait(page, page.find_element(By.ID, "apply"))
    assert _rows(page) == ["3", "2"]
    assert "untouched=true" in page.current_url and "sort=score_asc" in page.current_url

    page.find_element(By.ID, "export-csv").click()
    target = page.downloads / "queue-2026-06-08.csv"
    deadline = time.monotonic() + 15
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    with target.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["lead_id"], r["company"], r["owner"]) for r in rows] == [("3", "Initech", "rep_01"),
                                                                       ("2", BRACKETS, "rep_01")]


def test_a_manager_filters_by_owner_and_grade(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _sign_in(page, "sam")
    assert len(_rows(page)) == 50  # every owner, first page
    Select(page.find_element(By.ID, "owner")).select_by_value("Rep_02")
    page.find_element(By.ID, "grade-A").click()
    click_and_wait(page, page.find_element(By.ID, "apply"))
    assert _rows(page) == ["4"]


def test_open_a_lead_from_the_queue(page):
    from selenium.webdriver.common.by import By

    _sign_in(page, "rep_01")
    click_and_wait(page, page.find_element(By.CSS_SELECTOR, 'tr[data-lead="1"] td.company a'))
    assert page.current_url == page.base + "/leads/1"
    no_alert(page)
    assert page.find_element(By.ID, "lead-company").text == XSS
    assert page.find_element(By.ID, "lead-contact").text == "Ada Lovelace"
    nights = [tr.text.split()[0] for tr in page.find_elements(By.CSS_SELECTOR, "#history tbody tr")]
    assert nights == ["2026-06-08", "2026-06-01"]
    assert "voicemail" in page.find_element(By.ID, "touches").text
    assert "June webinar" in page.find_element(By.ID, "events").text


def test_wrong_password_is_refused_then_sign_in_is_rate_limited(page):
    from selenium.webdriver.common.by import By

    for _ in range(3):
        _sign_in(page, "rep_02", "wrong-password")
        assert page.find_element(By.ID, "login-error").text == "Wrong name or password."
        assert page.find_elements(By.ID, "queue") == []
    _sign_in(page, "rep_02")  # the right password, after too many wrong ones
    assert "Too many failed sign-ins" in page.find_element(By.ID, "login-error").text
    assert page.find_elements(By.ID, "signed-in-as") == []


def test_a_user_changes_their_one_time_password_from_the_account_page(page, published):
    from selenium.webdriver.common.by import By

    from pipeline import users

    _, one_time = users.add_user("pat", team="marketing", url=published.url)
    _sign_in(page, "pat", one_time)
    click_and_wait(page, page.find_element(By.ID, "signed-in-as"))
    assert page.current_url == page.base + "/account"
    for field, value in (("current", one_time), ("new", "pats-own-password"), ("repeat", "pats-own-password")):
        page.find_element(By.ID, field).send_keys(value)
    click_and_wait(page, page.find_element(By.ID, "change-password"))
    assert page.find_element(By.ID, "done").text == "Password changed: other sessions are signed out."
    page.delete_all_cookies()
    _sign_in(page, "pat", one_time)
    assert page.find_element(By.ID, "login-error").text == "Wrong name or password."
    _sign_in(page, "pat", "pats-own-password")
    assert page.find_element(By.ID, "signed-in-as").text == "pat"


def test_the_api_page_renders_offline_for_a_signed_in_user(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _sign_in(page, "rep_01")
    page.get(page.base + "/api/docs")
    WebDriverWait(page, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {e.text.replace("\u200b", "") for e in page.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/queue", "/api/leads/{lead_id}", "/api/runs"} <= paths


def test_a_rep_records_not_a_fit_with_a_comment_and_sees_it_in_the_history(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _sign_in(page, "rep_01", path="/login?next=/leads/2")
    assert page.current_url == page.base + "/leads/2"
    assert page.find_element(By.ID, "no-feedback").text == "No feedback recorded yet."
    Select(page.find_element(By.ID, "disposition")).select_by_visible_text("Not a fit")
    page.find_element(By.ID, "feedback-comment").send_keys(f"runs it in-house {XSS}")
    click_and_wait(page, page.find_element(By.ID, "record-feedback"))
    assert page.current_url.startswith(page.base + "/leads/2?done=")
    no_alert(page)
    assert page.find_element(By.ID, "feedback-done").text == "Recorded: Not a fit (the 2026-06-08 score)."
    [row] = page.find_elements(By.CSS_SELECTOR, "#feedback-history tbody tr")
    assert "Not a fit (current)" in row.text and "rep_01" in row.text and "2026-06-08" in row.text
    assert row.find_element(By.CSS_SELECTOR, "td.comment").text == f"runs it in-house {XSS}"


SIGNERS = {"mia": ("marketing", "member"), "sam": ("sales", "member"), "ops": ("data-science", "admin")}


@pytest.fixture
def signoff_page(browser, store):
    """The workspace over a trained registry (version 1, no champion) with a marketing, a sales and an admin user;
    its params.yaml opens the metric gates so only the signatures decide."""
    import yaml

    from pipeline import users
    from pipeline.web import create_app

    for name, (team, role) in SIGNERS.items():
        users.add_user(name, team=team, role=role, password=f"{name}-password")
    raw = store.config(promote={"max_auc_drop": 1.0, "max_ece": 1.0, "min_test_conversions": 0}).model_dump(
        mode="python", by_alias=True)
    (store.root / "params.yaml").write_text(yaml.safe_dump(raw))
    app = create_app(sources=store.sources, secret="browser-test-" + "d" * 40, params=store.root / "params.yaml")
    with serving(app) as base:
        browser.get(base + "/health")
        browser.delete_all_cookies()
        browser.base = base
        yield browser


def _sign_out(driver) -> None:
    driver.get(driver.base + "/health")
    driver.delete_all_cookies()


def test_marketing_approves_sales_approves_then_an_admin_promotes_and_marketing_cannot_sign_for_sales(signoff_page):
    from selenium.webdriver.common.by import By

    from pipeline import signoff, tracking

    page = signoff_page
    _sign_in(page, "mia", "mia-password", path="/login?next=/definition")
    assert page.current_url == page.base + "/definition"
    assert page.find_element(By.ID, "signoff-state").text == "Waiting for: marketing, sales."
    assert page.find_element(By.ID, "approve").text == "Approve for marketing"
    assert page.find_elements(By.ID, "promote") == []  # a marketing member does not promote
    page.find_element(By.ID, "comment").send_keys("Grades match what campaigns deliver")
    click_and_wait(page, page.find_element(By.ID, "approve"))
    assert page.find_element(By.ID, "done").text == "marketing approved version 1"
    assert page.find_element(By.ID, "signoff-state").text == "Waiting for: sales."
    [row] = page.find_elements(By.CSS_SELECTOR, "#decisions tbody tr")
    assert row.text.split()[1:4] == ["marketing", "mia", "(member)"]

    # A marketing user cannot sign for sales, even by rewriting the form the page sent
    page.execute_script("document.querySelector('#sign-form input[name=team]').value = 'sales'")
    click_and_wait(page, page.find_element(By.ID, "approve"))
    assert "only a sales user can sign for sales" in page.find_element(By.ID, "error-message").text
    assert [(d["team"], d["user_name"]) for d in signoff.decisions("lead-scoring")] == [("marketing", "mia")]

    _sign_out(page)
    _sign_in(page, "sam", "sam-password", path="/login?next=/definition?version=1")
    assert page.find_element(By.ID, "approve").text == "Approve for sales"
    click_and_wait(page, page.find_element(By.ID, "approve"))
    assert page.find_element(By.ID, "signoff-state").text.startswith("Approved by marketing and sales")
    assert page.find_elements(By.ID, "promote") == []  # a sales member does not promote either
    assert tracking.champion_version("lead-scoring") is None

    _sign_out(page)
    _sign_in(page, "ops", "ops-password", path="/login?next=/definition?version=1")
    assert page.find_elements(By.ID, "approve") == []  # data science signs for no team
    page.find_element(By.ID, "reason").send_keys("both teams signed")
    click_and_wait(page, page.find_element(By.ID, "promote"))
    assert page.find_element(By.ID, "done").text == "version 1 is champion"
    assert "champion" in page.find_element(By.CSS_SELECTOR, "#versions tr[data-version='1']").text
    assert tracking.champion_version("lead-scoring") == 1
    [promotion] = signoff.promotions("lead-scoring")
    assert (promotion["by"], promotion["version"], promotion["forced"], promotion["reason"]) == (
        "ops", 1, False, "both teams signed")
    assert signoff.check_champion("lead-scoring", 1, required=("marketing", "sales")).passed
