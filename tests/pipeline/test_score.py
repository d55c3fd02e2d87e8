"""score on a small trained store: it takes the nightly job's publish lock, and prints no password."""

from pathlib import Path

import pandas as pd
import pytest
import signing
from typer.testing import CliRunner

from pipeline import io, publish_lock
from pipeline.cli import app
from pipeline.steps import score


def test_score_waits_for_no_one_and_takes_the_nightly_lock(store):
    config = store.config()
    signing.sign_and_promote(config, 1, reason="tests")
    with publish_lock.hold(), pytest.raises(publish_lock.LockHeld, match="another leadscore run"):
        score.run(config, sources=store.sources, as_of="2026-06-01")
    assert io.read_scores().empty  # nothing published while the other run held the lock
    assert score.run(config, sources=store.sources, as_of="2026-06-01").rows == len(io.read_scores()) > 0
    assert not list((store.root / "scores").rglob("*.tmp"))  # no temporary file left behind


def test_the_cli_exits_four_while_another_run_publishes(store, repo_root):
    signing.sign_and_promote(store.config(), 1, reason="tests")
    with publish_lock.hold():
        result = CliRunner().invoke(app, ["score", "--params", str(repo_root / "params.yaml"), "--as-of",
                                          "2026-06-01"])
    assert result.exit_code == 4 and "another leadscore run" in result.output


def test_the_published_url_is_printed_without_its_password(monkeypatch, repo_root):
    monkeypatch.setenv("LEADSCORE_DB_URL", "postgresql+psycopg://sales_sync:s3cr3t-pw@db.internal:5432/leads")
    assert io.shown_url() == "postgresql+psycopg://sales_sync:***@db.internal:5432/leads"
    done = score.ScoreResult(as_of=pd.Timestamp("2026-06-01", tz="UTC"), rows=3, model_version=1,
                             parquet_path=Path("data/scores/as_of=2026-06-01/scores.parquet"), grade_counts={"A": 3})
    monkeypatch.setattr(score, "run_nights", lambda config, nights, sources=None, **_: [done])
    result = CliRunner().invoke(app, ["score", "--params", str(repo_root / "params.yaml")])
    assert result.exit_code == 0, result.output
    assert "s3cr3t-pw" not in result.output and "sales_sync:***@db.internal" in result.output


def test_integer_owner_ids_from_a_crm_export_are_scored_and_published_as_text(store, tmp_path):
    """Many CRMs export the owner as a number; the queue matches and shows it as text."""
    sources = tmp_path / "integer-owners"
    tables = io.read_sources(store.sources)
    tables["leads"]["owner_id"] = tables["leads"]["owner_id"].str.removeprefix("rep_").astype("int64")
    io.write_sources(tables, sources)
    config = store.config()
    signing.sign_and_promote(config, 1, reason="tests")
    assert score.run(config, sources=sources, as_of="2026-06-01").rows > 0
    published = io.read_scores()
    assert set(published["owner_id"]) <= {str(n) for n in range(1, 100)}
    assert len(io.read_scores(owner="3")) == (published["owner_id"] == "3").sum() > 0


def test_score_drops_the_nights_older_than_the_retention_and_says_how_many(store, tmp_path):
    import yaml

    signing.sign_and_promote(store.config(), 1, reason="tests")
    params = tmp_path / "params.yaml"
    raw = store.config(score={"retention_days": 100}).model_dump(mode="python", by_alias=True)
    params.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["score", "--params", str(params), "--sources", str(store.sources),
                                      "--as-of", "2026-02-01", "--as-of", "2026-06-01"])
    assert result.exit_code == 0, result.output
    assert "dropped 1 night older than score.retention_days (100 days)" in " ".join(result.output.split())
    assert io.read_scores(as_of=pd.Timestamp("2026-02-01", tz="UTC")).empty
    assert len(io.read_scores()) > 0
    assert sorted(p.name for p in (store.root / "scores").glob("as_of=*")) == ["as_of=2026-06-01"]
