"""The Spark engine against the default engine on the same nights: where the crossover is.

Run by ``make bench-spark``. Trains a champion on a 20,000-lead demo world (MLflow in a temporary folder), then, at
each size of BENCH_SPARK_SIZES (default 100,000 and 400,000 open leads, ``bench_scoring.scoring_world``: about 10
events a lead), writes the sources as parquet and scores one night twice: the default engine (pandas tables read
whole, ``ContractSource.open_leads``, the champion's ``score``) and the Spark engine on ``local[2]`` (Spark reads the
parquet, packs the tables by account, each partition runs the same path: ``pipeline.spark_engine``). Prints both
wall times and their ratio, and checks the two nights are the same rows (probabilities to 1e-9, grades and reasons
identical). On one 2-core machine Spark is slower; the ratio and its trend with size are what the figure is for.

    BENCH_SPARK_SIZES=100000,400000 python benchmarks/bench_spark.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.cli import setup  # noqa: E402

setup()

from bench_scoring import AS_OF, scoring_world  # noqa: E402

from features.schema import check_sources  # noqa: E402
from pipeline import io, spark_engine, tracking  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.sources import ContractSource  # noqa: E402
from pipeline.steps import generate, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOW = AS_OF + pd.Timedelta(days=1)


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SPARK_SIZES", "100000,400000").split(",")]
    partitions = int(os.environ.get("BENCH_SPARK_PARTITIONS", "8"))
    config = load_config(ROOT / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.update({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db", "LEADSCORE_SOURCES": str(tmp / "w"),
                           "LEADSCORE_DATASETS_DIR": str(tmp / "d")})
        os.chdir(tmp)
        generate.run(tmp / "w", 20_000, 7, config.generate)
        trained = train.run(config)
        name = config.registry.model_name
        version = tracking.get_version(name, trained.model_version)
        champion = tracking.Champion(scorer=tracking.load_scorer(version, name), version=version, state=None)
        spark = spark_engine.spark_session(master="local[2]")
        lines = []
        for n in sizes:
            folder = tmp / f"world-{n}"
            world = scoring_world(n, 10)
            world["engagement_events"] = world["engagement_events"].astype({"event_type": str})
            io.write_sources(world, folder)
            started = time.perf_counter()
            tables = {f.stem: pd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))}
            checked = check_sources(tables, now=NOW, event_types=config.features.engagement.event_types)
            ours = champion.score(*ContractSource(config, tables=checked.tables).open_leads(AS_OF, None), config.score)
            default_s = time.perf_counter() - started

            started = time.perf_counter()
            frames = spark_engine.read_parquet_tables(spark, folder)
            dtypes = {t: {c: str(d) for c, d in f.dtypes.items()} for t, f in tables.items() if t in frames}
            packed, broadcast = spark_engine.pack(frames)
            rows = spark_engine.score_partitions(
                packed, dtypes=dtypes, broadcast={t: tables[t] for t in broadcast},
                scorer_files=champion.scorer.to_artifacts(),
                champion_fields={"version": champion.number, "tags": dict(version.tags)}, config=config, as_of=AS_OF,
                now=NOW, partitions=partitions).toPandas()
            theirs, rejects = spark_engine.split_results(rows)
            spark_s = time.perf_counter() - started

            a = ours.sort_values("lead_id", ignore_index=True)
            b = theirs.sort_values("lead_id", ignore_index=True)
            gap = np.abs(a["probability"].to_numpy() - b["probability"].to_numpy()) if len(a) == len(b) else [1.0]
            same = (a["lead_id"].tolist() == b["lead_id"].tolist() and float(np.max(gap, initial=0)) <= 1e-9
                    and all(a[c].astype(str).tolist() == b[c].astype(str).tolist()
                            for c in ("grade", "reasons_positive", "reasons_negative")))
            lines.append(f"  {n:>9,} leads ({len(world['engagement_events']):,} events): default {default_s:7.1f} s, "
                         f"Spark local[2] {spark_s:7.1f} s, Spark / default {spark_s / default_s:5.2f}x; "
                         f"same rows: {same}; rejects {len(rejects)}")
        spark.stop()
    print(f"\nOne night, {partitions} partitions, reasons for every lead:")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
