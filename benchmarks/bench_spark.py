"""The Spark engine against the default engine on the same nights: where the crossover is.

Run by ``make bench-spark``. Trains a champion on a 20,000-lead demo world (MLflow in a temporary folder), then, at
each size of BENCH_SPARK_SIZES (default 200,000 and 1,000,000 open leads, ``bench_scoring.scoring_world``: about 10
events a lead), writes the sources as parquet and scores one night with each engine, as ``leadscore nightly``
does up to the publish:

* default: the tables read whole by pandas, ``check_sources`` (quarantine), ``ContractSource.open_leads`` and the
  champions' ``score`` (``pipeline.champions``);
* Spark on ``local[2]`` (``pipeline.spark_engine.SparkNight``): Spark reads the parquet, counts the tables (the
  volume check), packs them by account into ``ceil(leads / spark.leads_per_partition)`` partitions, each runs the
  same path in a Python worker; the rows go to a staging folder and are read back on the driver.

Prints both wall times (Spark's session start-up apart) and their ratio, and checks the two nights are the same rows
(probabilities to 1e-9, grades and reasons identical). On one 2-core machine Spark is slower; the ratio and its trend
with size are what the figure is for.

Before the first size, one night of a 5,000-lead world goes through the Spark engine uncounted: Spark's Python
workers start and import leadscore once per session, a cost a nightly job pays once, not per size.

    BENCH_SPARK_SIZES=200000,1000000 python benchmarks/bench_spark.py
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
from pipeline import champions as lead_champions  # noqa: E402
from pipeline import io, spark_engine, tracking  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.sources import ContractSource  # noqa: E402
from pipeline.steps import generate, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOW = AS_OF + pd.Timedelta(days=1)


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SPARK_SIZES", "200000,1000000").split(",")]
    config = load_config(ROOT / "params.yaml")
    event_types = config.features.engagement.event_types
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.update({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db", "LEADSCORE_SOURCES": str(tmp / "w"),
                           "LEADSCORE_DATASETS_DIR": str(tmp / "d")})
        os.chdir(tmp)
        generate.run(tmp / "w", 20_000, 7, config.generate)
        trained = train.run(config)
        name = config.registry.model_name
        version = tracking.get_version(name, trained.model_version)
        champions = lead_champions.Champions(main=tracking.Champion(
            scorer=tracking.load_scorer(version, name), version=version, state=None))
        started = time.perf_counter()
        spark = spark_engine.spark_session(master=os.environ.get("LEADSCORE_SPARK_MASTER", "local[2]"))
        print(f"Spark session ({spark.sparkContext.master}) started in {time.perf_counter() - started:.1f} s; "
              f"{os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        lines = []
        for n in [5_000, *sizes]:
            folder = tmp / f"world-{n}"
            world = scoring_world(n, 10)
            world["engagement_events"] = world["engagement_events"].astype({"event_type": str})
            io.write_sources(world, folder)
            started = time.perf_counter()
            checked = check_sources(io.load_sources(folder), now=NOW, event_types=event_types)
            source = ContractSource(config, tables=checked.tables)
            ours = lead_champions.score(champions, config, *source.open_leads(AS_OF, None), source.tables)
            default_s = time.perf_counter() - started

            started = time.perf_counter()
            night = spark_engine.SparkNight(config, folder, spark=spark)
            theirs = night.score(champions, as_of=AS_OF, now=NOW, event_types=event_types, staging=tmp / "staging")
            spark_s = time.perf_counter() - started

            a = ours.sort_values("lead_id", ignore_index=True)
            b = theirs.scores.sort_values("lead_id", ignore_index=True)
            gap = np.abs(a["probability"].to_numpy() - b["probability"].to_numpy()) if len(a) == len(b) else [1.0]
            same = (a["lead_id"].tolist() == b["lead_id"].tolist() and float(np.max(gap, initial=0)) <= 1e-9
                    and all(a[c].astype(str).tolist() == b[c].astype(str).tolist()
                            for c in ("grade", "reasons_positive", "reasons_negative")))
            events = len(world["engagement_events"])
            lines.append(f"  {n:>9,} leads ({events:,} events, {night.partitions} partitions): "
                         f"default {default_s:6.1f} s, Spark {spark_s:6.1f} s, Spark / default "
                         f"{spark_s / default_s:5.2f}x; same rows: {same} ({len(a):,} scored, rejects "
                         f"{len(checked.rejects)} / {len(theirs.rejects)}); load average "
                         f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(lines[-1] + (" (warm-up, not counted)" if n == 5_000 else ""), flush=True)
            if n == 5_000:
                lines.pop()
        spark.stop()
    print(f"\nOne night, reasons for every lead, spark.leads_per_partition {config.spark.leads_per_partition:,}:")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
