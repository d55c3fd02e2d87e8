"""One lead scored on demand (``leadscore score --lead``, ``POST /api/leads/{id}/score``) equals the batch night."""

import json

import pandas as pd
import pytest
import signing
import sqlalchemy as sa
from typer.testing import CliRunner

from pipeline import io, one_lead
from pipeline.cli import app
from pipeline.steps import score

NIGHT = "2026-06-01"


def _batch_and_lead(store, sources):
    """The published batch night on ``sources``, and a lead of it that has reasons (each owner's best get them)."""
    config = store.config()
    signing.sign_and_promote(config, 1, reason="tests")
    score.run(config, sources=sources, as_of=NIGHT)
    night = io.read_scores(as_of=pd.Timestamp(NIGHT, tz="UTC"))
    explained = night[night["reasons_positive"] != ""]
    return config, night, explained


def _assert_same(result, row):
    assert result.probability == pytest.approx(float(row["probability"]), abs=1e-12)
    assert (result.grade, result.score) == (row["grade"], int(row["score"]))
    assert (result.reasons_positive, result.reasons_negative) == (row["reasons_positive"], row["reasons_negative"])
    assert result.model_version == int(row["model_version"])
    assert result.definition_version == row["definition_version"]


def test_one_lead_equals_the_batch_night_from_files_and_from_sqlite(store, tmp_path):
    config, night, explained = _batch_and_lead(store, store.sources)
    url = f"sqlite:///{tmp_path}/sources.db"
    io.copy_sources_to_database(url, folder=store.sources)
    for location in (store.sources, url):
        scorer = one_lead.OneLeadScorer(config, sources=location)
        try:
            for _, row in explained.head(3).iterrows():
                _assert_same(scorer.score(str(row["lead_id"]), as_of=NIGHT), row)
            low = night.iloc[-1]  # the night's lowest: it had no reasons in the batch, one lead always gets them
            result = scorer.score(str(low["lead_id"]), as_of=NIGHT)
            assert result.probability == pytest.approx(float(low["probability"]), abs=1e-12)
            assert result.reasons_positive or result.reasons_negative
        finally:
            scorer.close()
    logged = one_lead.read_log()
    assert len(logged) == 8 and set(logged["via"]) == {"cli"}
    assert len(io.read_scores(as_of=pd.Timestamp(NIGHT, tz="UTC"))) == len(night)  # nothing published


def test_the_cli_scores_one_lead_and_publishes_nothing(store, repo_root, tmp_path):
    config, night, explained = _batch_and_lead(store, store.sources)
    row = explained.iloc[0]
    result = CliRunner().invoke(app, ["score", "--params", str(store.sources.parent / "params.yaml"),
                                      "--lead", str(row["lead_id"]), "--as-of", NIGHT, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["lead_id"] == str(row["lead_id"]) and shown["grade"] == row["grade"]
    assert shown["model_version"] == 1


def test_the_cli_says_why_it_cannot_score(store):
    signing.sign_and_promote(store.config(), 1, reason="tests")
    params = str(store.sources.parent / "params.yaml")
    result = CliRunner().invoke(app, ["score", "--params", params, "--lead", "424242424", "--as-of", NIGHT])
    assert result.exit_code == 1 and "no lead 424242424 in the sources" in result.output
    result = CliRunner().invoke(app, ["score", "--params", params, "--lead", "1", "--as-of", NIGHT, "--as-of", NIGHT])
    assert result.exit_code == 2 and "give --as-of once" in result.output
    result = CliRunner().invoke(app, ["score", "--params", params, "--lead", "1", "--sources",
                                      "postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:1/nowhere"])
    assert result.exit_code == 1 and "s3cr3t-pw" not in result.output
    assert "source database postgresql+psycopg://reader:***@127.0.0.1:1/nowhere cannot be read" in result.output


def test_the_api_scores_one_lead_for_whoever_may_see_it(store, tmp_path):
    from fastapi.testclient import TestClient

    from pipeline import users
    from pipeline.web.app import create_app

    config, night, explained = _batch_and_lead(store, store.sources)
    url = f"sqlite:///{tmp_path}/sources.db"
    io.copy_sources_to_database(url, folder=store.sources)
    row = explained.iloc[0]
    owner = str(row["owner_id"])
    db = io.db_url()
    users.add_user("own", team="sales", owner_id=owner, password="own-password-123", url=db)
    users.add_user("other", team="sales", owner_id="nobody", password="other-password-123", url=db)
    users.add_user("boss", team="sales", role="manager", password="boss-password-123", url=db)
    app = create_app(url=db, sources=url, params=store.sources.parent / "params.yaml", secret="x" * 40)
    with TestClient(app) as client:
        def post(name, lead, **query):
            token = users.issue_token(name, url=db) if name else "nope"
            return client.post(f"/api/leads/{lead}/score", params=query,
                               headers={"Authorization": f"Bearer {token}"})

        answer = post("own", row["lead_id"], as_of=NIGHT)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["probability"] == pytest.approx(float(row["probability"]), abs=1e-12)
        assert (body["grade"], body["score"], body["reasons_positive"]) == (row["grade"], int(row["score"]),
                                                                             row["reasons_positive"])
        assert body["model_version"] == 1 and body["definition_version"] == row["definition_version"]
        assert post("boss", row["lead_id"], as_of=NIGHT).status_code == 200
        assert post("other", row["lead_id"], as_of=NIGHT).status_code == 404  # a member: their own leads only
        assert post(None, row["lead_id"]).status_code == 401
        assert post("boss", "no-such-lead").status_code == 404
        assert post("boss", row["lead_id"], as_of="not a date").status_code == 422
    logged = one_lead.read_log()
    assert list(logged["requested_by"]) == ["boss", "own"] and set(logged["via"]) == {"api"}


def test_refusals_say_why(store, tmp_path):
    config, night, _ = _batch_and_lead(store, store.sources)
    scorer = one_lead.OneLeadScorer(config, sources=store.sources)
    with pytest.raises(one_lead.LeadNotFound, match="no lead no-such-lead"):
        scorer.score("no-such-lead", as_of=NIGHT)
    leads = io.read_source_table("leads", folder=store.sources)
    later = leads.sort_values("created_ts").iloc[-1]  # created after the night: not open then
    with pytest.raises(one_lead.LeadNotScorable, match="not open as of 2026-06-01"):
        scorer.score(str(later["lead_id"]), as_of=NIGHT)
    row = night.iloc[0]
    with pytest.raises(one_lead.LeadNotFound, match="that you may see"):
        scorer.score(str(row["lead_id"]), as_of=NIGHT, may_see=lambda owner: False)


def test_a_quarantined_lead_is_refused_with_its_reason(store, tmp_path):
    config, night, _ = _batch_and_lead(store, store.sources)
    url = f"sqlite:///{tmp_path}/sources.db"
    io.copy_sources_to_database(url, folder=store.sources)
    lead = str(night.iloc[0]["lead_id"])
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE leads SET created_ts = 'last tuesday' WHERE lead_id = :l"), {"l": int(lead)})
    scorer = one_lead.OneLeadScorer(config, sources=url)
    with pytest.raises(one_lead.LeadNotScorable, match="quarantined.*created_ts are not parseable timestamps"):
        scorer.score(lead, as_of=NIGHT)


def test_no_score_from_a_champion_that_fails_the_signoff_check(store):
    from pipeline import signoff, tracking

    config = store.config()
    tracking.set_alias(config.registry.model_name, "champion", 1)  # moved by hand: no promotion on record
    scorer = one_lead.OneLeadScorer(config, sources=store.sources)
    with pytest.raises(signoff.SignoffError, match="no score returned.*no promotion on record"):
        scorer.score("1", as_of=NIGHT)


def test_one_lead_equals_the_batch_night_from_postgresql(store, postgres_url):
    config, night, explained = _batch_and_lead(store, store.sources)
    io.copy_sources_to_database(postgres_url, folder=store.sources)
    scorer = one_lead.OneLeadScorer(config, sources=postgres_url)
    try:
        for _, row in explained.head(3).iterrows():
            _assert_same(scorer.score(str(row["lead_id"]), as_of=NIGHT), row)
    finally:
        scorer.close()


def test_a_warm_server_rechecks_the_champion_without_making_a_request_wait(store):
    """Once verified, the champion is re-checked in the background: the request that finds the check due is
    answered at once; when the check fails (here the promotion record is gone), the requests after it are refused
    with the reason."""
    import os
    import threading

    from pipeline import signoff

    config, night, _ = _batch_and_lead(store, store.sources)
    lead = str(night.iloc[0]["lead_id"])
    scorer = one_lead.OneLeadScorer(config, sources=store.sources, recheck_seconds=0.0)
    try:
        first = scorer.score(lead, as_of=NIGHT)  # cold: verified before answering
        with sa.create_engine(os.environ["LEADSCORE_DB_URL"]).begin() as conn:
            conn.execute(signoff.promotions_table.delete())
        assert scorer.score(lead, as_of=NIGHT).probability == first.probability  # due, answered, check started
        for thread in threading.enumerate():
            if thread.name == "leadscore-champion-check":
                thread.join(timeout=60)
        with pytest.raises(signoff.SignoffError, match="no score returned.*no promotion on record"):
            scorer.score(lead, as_of=NIGHT)
    finally:
        scorer.close()
