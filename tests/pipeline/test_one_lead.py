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
    result = CliRunner().invoke(app, ["score", "--params", str(store.root / "params.yaml")
                                      if (store.root / "params.yaml").exists() else str(repo_root / "params.yaml"),
                                      "--lead", str(row["lead_id"]), "--as-of", NIGHT, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["lead_id"] == str(row["lead_id"]) and shown["grade"] == row["grade"]
    assert shown["model_version"] == 1


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
