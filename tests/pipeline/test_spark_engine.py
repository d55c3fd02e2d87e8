"""The Spark engine gives the default engine's nights: the same builders, checks and champions, run in Spark
partitions on local[2], on the shared small demo world — through ``nightly`` and ``score`` as users run them."""

import shutil

import numpy as np
import pandas as pd
import pytest
import signing

pyspark = pytest.importorskip("pyspark", reason="the spark extra: pip install -e '.[spark]'")

from pipeline import io  # noqa: E402
from pipeline.steps import nightly, score  # noqa: E402

SAME = ("score", "grade", "reasons_positive", "reasons_negative", "owner_id", "company", "source", "model_version",
        "definition_version", "segment")


@pytest.fixture(scope="module", autouse=True)
def _local_spark():
    """One local[2] session for the module: the engine uses a running session and leaves it running (its Python
    workers, their imports done, serve every test)."""
    from pipeline import spark_engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_SPARK_MASTER", "local[2]")
        mp.setenv("LEADSCORE_SPARK_CONF", "spark.sql.shuffle.partitions=4; spark.default.parallelism=2")
        session = spark_engine.spark_session()
        yield session
    session.stop()


def _assert_same_rows(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert len(ours) > 100
    a = ours.sort_values("lead_id", ignore_index=True)
    b = theirs.sort_values("lead_id", ignore_index=True)
    assert a["lead_id"].tolist() == b["lead_id"].tolist()
    np.testing.assert_allclose(b["probability"], a["probability"], rtol=0, atol=1e-9)
    for col in SAME:
        assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col
    assert (a["as_of_ts"] == b["as_of_ts"]).all()
    assert b["scored_at"].nunique() == 1  # one scoring time for the night, not one per partition


def _night(store, config, sources, engine, as_of=None):
    """One nightly run on ``engine``: its result, the published night, its quarantined rows."""
    result = nightly.run(config, sources=sources, engine=engine, as_of=as_of)
    assert result.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), result.error
    return result, io.read_scores(), io.read_rejects(run_id=result.run_id)


def test_a_night_published_by_the_spark_engine_equals_the_default_engines(store, tmp_path):
    """Tonight (found by each engine), on sources with bad rows of every kind: the same rows refused for the same
    reasons when each partition checks its own rows — a duplicated lead id on two accounts, a lead of an unknown
    account, a null timestamp, an event type nobody listed, a future event, an opportunity of an unknown lead (row
    numbers, positions in a partition there, are left out) — and from the rest the same published rows, the same
    drift, warnings and run log entries; the staging folder is gone afterwards."""
    signing.sign_and_promote(store.config(), 1, reason="tests")
    tables = {k: v for k, v in io.read_sources(store.sources).items() if k != "truth"}
    leads, events = tables["leads"].copy(), tables["engagement_events"].copy()
    twin = leads.iloc[[0]].assign(account_id=tables["accounts"]["account_id"].iloc[-1])
    leads = pd.concat([leads, twin], ignore_index=True)
    leads.loc[5, "account_id"] = 10 ** 9
    leads.loc[6, "created_ts"] = pd.NaT
    events.loc[3, "event_type"] = "carrier_pigeon"
    events.loc[4, "event_ts"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)
    opportunities = pd.concat([tables["opportunities"], tables["opportunities"].iloc[[0]].assign(lead_id=10 ** 9)],
                              ignore_index=True)
    io.write_sources({**tables, "leads": leads, "engagement_events": events, "opportunities": opportunities},
                     tmp_path / "bad")
    config = store.config(spark={"leads_per_partition": 700})  # 3,000 leads: five partitions
    ours, our_rows, our_rejects = _night(store, config, tmp_path / "bad", "default")
    theirs, their_rows, their_rejects = _night(store, config, tmp_path / "bad", "spark")

    columns = ["table_name", "row_key", "column_name", "reason", "value"]
    expected = our_rejects[columns].astype(str).sort_values(columns, ignore_index=True)
    assert len(expected) >= 6 and set(expected["table_name"]) >= {"leads", "engagement_events", "opportunities"}
    assert their_rejects[columns].astype(str).sort_values(columns, ignore_index=True).equals(expected)
    assert theirs.as_of == ours.as_of and theirs.rejects == ours.rejects and theirs.warnings == ours.warnings
    assert theirs.leads_scored == ours.leads_scored
    _assert_same_rows(our_rows, their_rows)
    drift = ours.drift.set_index("column")["psi"]
    np.testing.assert_allclose(theirs.drift.set_index("column")["psi"].reindex(drift.index), drift, atol=1e-12)
    assert io.read_runs()["status"].str.startswith("published").sum() == 2
    assert not any((store.root / "scores" / ".staging").iterdir())


def test_score_on_spark_backfills_nights_and_refuses_bad_rows_as_the_strict_reading_does(store, tmp_path):
    signing.sign_and_promote(store.config(), 1, reason="tests")
    config = store.config()
    nights = [pd.Timestamp("2026-06-01", tz="UTC"), pd.Timestamp("2026-06-08", tz="UTC")]
    score.run_nights(config, nights=nights, sources=store.sources)
    ours = io.read_score_history()
    results = score.run_nights(config, nights=nights, sources=store.sources, engine="spark")
    assert [r.as_of for r in results] == nights
    theirs = io.read_score_history()
    assert len(theirs) == len(ours) and sorted(theirs["as_of_ts"].unique()) == nights
    merged = ours.merge(theirs, on=["lead_id", "as_of_ts"], suffixes=("", "_spark"), validate="one_to_one")
    assert len(merged) == len(ours)
    np.testing.assert_allclose(merged["probability_spark"], merged["probability"], rtol=0, atol=1e-9)
    assert (merged["grade_spark"] == merged["grade"]).all()

    broken = tmp_path / "broken"
    shutil.copytree(store.sources, broken)
    events = pd.read_parquet(broken / "engagement_events.parquet")
    events.loc[7, "lead_id"] = None
    events.to_parquet(broken / "engagement_events.parquet")
    with pytest.raises(score.ScoreFailed) as default_error:
        score.run_nights(config, nights=nights[:1], sources=broken)
    with pytest.raises(score.ScoreFailed) as spark_error:
        score.run_nights(config, nights=nights[:1], sources=broken, engine="spark")
    assert str(spark_error.value) == str(default_error.value)
    assert "engagement_events.lead_id: 1 rows" in str(spark_error.value)


def test_segment_champions_score_their_leads_inside_the_partitions(store):
    """A segment's champion travels to the workers with the global one: each lead scored by its segment's model
    and stamped with it, as ``pipeline.champions.score`` does on one machine."""
    from pipeline import champions as lead_champions
    from pipeline import spark_engine, tracking
    from pipeline.sources import ContractSource

    config = store.config(segments=[{"name": "north_america", "filter": {"leads.country": ["US", "CA"]},
                                     "capacity": {"A": 10, "B": 30, "C": 70}}])
    name = config.registry.model_name
    version = tracking.get_version(name, store.trained.model_version)
    main = tracking.Champion(scorer=tracking.load_scorer(version, name), version=version, state=None)
    champions = lead_champions.Champions(main=main, segments={"north_america": tracking.Champion(
        scorer=main.scorer, version=version, state=None, segment="north_america")})
    as_of = pd.Timestamp("2026-06-01", tz="UTC")
    source = ContractSource(config, store.sources)
    ours = lead_champions.score(champions, config, *source.open_leads(as_of, None), source.tables)
    night = spark_engine.SparkNight(config, store.sources)
    try:
        theirs = night.score(champions, as_of=as_of, now=None, event_types=None, staging=store.root / "staging")
    finally:
        night.stop()
    assert 0 < (ours["segment"] == "north_america").sum() < len(ours)
    _assert_same_rows(ours, theirs.scores)


def test_the_training_table_built_in_spark_partitions_is_the_default_engines(store, tmp_path):
    """Cut to what was known before a past day, sampled to a target size (so the rate comes from counts over every
    partition): the same rows, features, weights and sampling summary as one machine's build."""
    from features.training_table import finish_training_table
    from pipeline import spark_engine
    from pipeline.sources import ContractSource

    config = store.config(sampling={"target_rows": 4_000, "block_leads": 400}, spark={"leads_per_partition": 1000})
    as_of = pd.Timestamp("2026-06-01", tz="UTC")
    ours = ContractSource(config, store.sources, as_of=as_of).build_training_table()
    blocks = spark_engine.SparkTrainingTable(config, store.sources, staging=tmp_path / "staging", as_of=as_of)
    path = io.write_dataset_blocks(blocks, "training_table", "spark", folder=tmp_path / "datasets")
    theirs = finish_training_table(io.read_dataset("training_table", "spark", folder=tmp_path / "datasets"))

    assert ours.attrs["sampling"]["sampled"] and theirs.attrs["sampling"] == ours.attrs["sampling"]
    assert 1_000 < len(ours) < ours.attrs["sampling"]["rows_full"]
    pd.testing.assert_frame_equal(theirs, ours, check_exact=True)
    assert path.exists() and not any((tmp_path / "staging").iterdir())


def test_the_command_line_says_what_the_spark_engine_cannot_do(store, tmp_path):
    """One lead is read on this machine; chosen reasons per owner cannot be picked inside partitions: both said
    before Spark starts, with the documented exit codes."""
    import re

    import yaml
    from typer.testing import CliRunner

    from pipeline.cli import app

    signing.sign_and_promote(store.config(), 1, reason="tests")
    raw = yaml.safe_load((store.sources.parent / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    runner = CliRunner()
    one = runner.invoke(app, ["score", "--lead", "1", "--engine", "spark"])
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", one.output).split())  # Rich's error box, unwrapped
    assert one.exit_code == 2 and "--engine spark does not apply" in said

    raw["score"]["reasons_per_owner"] = 100
    (tmp_path / "per-owner.yaml").write_text(yaml.safe_dump(raw))
    night = runner.invoke(app, ["nightly", "--engine", "spark", "--params", str(tmp_path / "per-owner.yaml")])
    assert night.exit_code == 1 and "score.reasons_per_owner must be null" in night.output
    assert io.read_runs()["status"].tolist() == ["failed"]
