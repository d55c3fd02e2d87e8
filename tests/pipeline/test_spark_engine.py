"""The Spark engine gives the default engine's rows: the same builders and scorer, run in Spark partitions on
local[2], on the shared small demo world."""

import numpy as np
import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark", reason="the spark extra: pip install -e '.[spark]'")


@pytest.fixture(scope="module")
def spark():
    from pipeline import spark_engine

    session = spark_engine.spark_session(master="local[2]", conf={"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


AS_OF = pd.Timestamp("2026-06-01", tz="UTC")
NOW = pd.Timestamp("2026-10-01", tz="UTC")


def _both_engines(store, spark, folder):
    """(default engine's scores, its rejects), (Spark's scores, its rejects) of one night of ``folder``'s tables."""
    from features.schema import check_sources
    from pipeline import spark_engine, tracking

    config = store.config()
    name = config.registry.model_name
    version = tracking.get_version(name, store.trained.model_version)
    champion = tracking.Champion(scorer=tracking.load_scorer(version, name), version=version, state=None)
    tables = {f.stem: pd.read_parquet(f) for f in sorted(folder.glob("*.parquet")) if f.stem != "truth"}  # unchecked
    checked = check_sources(tables, now=NOW, event_types=config.features.engagement.event_types)
    from pipeline.sources import ContractSource

    source = ContractSource(config, tables=checked.tables)
    ours = champion.score(*source.open_leads(AS_OF, None), config.score)

    frames = spark_engine.read_parquet_tables(spark, folder)
    dtypes = {n: {c: str(d) for c, d in f.dtypes.items()} for n, f in tables.items() if n in frames}
    packed, broadcast = spark_engine.pack(frames)
    rows = spark_engine.score_partitions(
        packed, dtypes=dtypes, broadcast={n: tables[n] for n in broadcast}, scorer_files=champion.scorer.to_artifacts(),
        champion_fields={"version": champion.number, "tags": dict(version.tags)}, config=config, as_of=AS_OF,
        now=NOW, partitions=3).toPandas()
    return (ours, checked.rejects), spark_engine.split_results(rows)


def test_a_night_scored_in_spark_partitions_equals_the_default_engine(store, spark):
    (ours, our_rejects), (theirs, their_rejects) = _both_engines(store, spark, store.sources)
    assert our_rejects.empty and their_rejects.empty

    assert len(ours) > 100
    a = ours.sort_values("lead_id", ignore_index=True)
    b = theirs.sort_values("lead_id", ignore_index=True)
    assert a["lead_id"].tolist() == b["lead_id"].tolist()
    np.testing.assert_allclose(b["probability"], a["probability"], rtol=0, atol=1e-9)
    for col in ("score", "grade", "reasons_positive", "reasons_negative", "owner_id", "company", "source",
                "model_version", "definition_version"):
        assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col
    assert (b["as_of_ts"] == AS_OF).all()


def test_bad_rows_are_quarantined_as_the_default_engine_does(store, spark, tmp_path):
    """The same rows refused for the same reasons when each partition checks its own rows: a duplicated lead id
    on two accounts, a lead of an unknown account, a null timestamp, an event type nobody listed, a future event,
    an opportunity of an unknown lead (row numbers, positions in a partition there, are left out)."""
    from pipeline import io

    tables = {k: v for k, v in io.read_sources(store.sources).items() if k != "truth"}
    leads, events = tables["leads"].copy(), tables["engagement_events"].copy()
    other_account = tables["accounts"]["account_id"].iloc[-1]
    twin = leads.iloc[[0]].assign(account_id=other_account)
    leads = pd.concat([leads, twin], ignore_index=True)
    leads.loc[5, "account_id"] = 10 ** 9
    leads.loc[6, "created_ts"] = pd.NaT
    events.loc[3, "event_type"] = "carrier_pigeon"
    events.loc[4, "event_ts"] = NOW + pd.Timedelta(days=3)
    opportunities = pd.concat([tables["opportunities"], tables["opportunities"].iloc[[0]].assign(lead_id=10 ** 9)],
                              ignore_index=True)
    io.write_sources({**tables, "leads": leads, "engagement_events": events, "opportunities": opportunities},
                     tmp_path / "bad")
    (ours, our_rejects), (theirs, their_rejects) = _both_engines(store, spark, tmp_path / "bad")

    columns = ["table_name", "row_key", "column_name", "reason", "value"]
    expected = our_rejects[columns].sort_values(columns, ignore_index=True)
    assert len(expected) >= 6 and set(expected["table_name"]) >= {"leads", "engagement_events", "opportunities"}
    assert their_rejects[columns].astype(str).sort_values(columns, ignore_index=True).equals(expected.astype(str))
    assert sorted(ours["lead_id"]) == sorted(theirs["lead_id"])
    np.testing.assert_allclose(theirs.sort_values("lead_id")["probability"], ours.sort_values("lead_id")["probability"],
                               rtol=0, atol=1e-9)
