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


def test_a_night_scored_in_spark_partitions_equals_the_default_engine(store, spark):
    from pipeline import io, spark_engine, tracking
    from pipeline import sources as lead_sources

    config = store.config()
    name = config.registry.model_name
    version = tracking.get_version(name, store.trained.model_version)
    source = lead_sources.open_source(config, store.sources)
    champion = tracking.Champion(scorer=tracking.load_scorer(version, name), version=version, state=None)
    as_of = pd.Timestamp("2026-06-01", tz="UTC")
    ours = champion.score(*source.open_leads(as_of, None), config.score)

    frames = spark_engine.read_parquet_tables(spark, store.sources)
    tables = io.read_sources(store.sources)
    dtypes = {n: {c: str(d) for c, d in f.dtypes.items()} for n, f in tables.items() if n in frames}
    packed, broadcast = spark_engine.pack(frames)
    theirs = spark_engine.score_partitions(
        packed, dtypes=dtypes, broadcast={n: tables[n] for n in broadcast}, scorer_files=champion.scorer.to_artifacts(),
        champion_fields={"version": champion.number, "tags": dict(version.tags)}, config=config, as_of=as_of,
        now=pd.Timestamp.now(tz="UTC"), partitions=3).toPandas()

    assert len(ours) > 100
    a = ours.sort_values("lead_id", ignore_index=True)
    b = theirs.sort_values("lead_id", ignore_index=True)
    assert a["lead_id"].tolist() == b["lead_id"].tolist()
    np.testing.assert_allclose(b["probability"], a["probability"], rtol=0, atol=1e-9)
    for col in ("score", "grade", "reasons_positive", "reasons_negative", "owner_id", "company", "source",
                "model_version", "definition_version"):
        assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col
    assert (b["as_of_ts"] == as_of.tz_localize(None)).all()
