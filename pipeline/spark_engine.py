"""The Spark engine: the same ``features/`` builders and the same scorer, run inside Spark partitions.

Nothing here computes a feature or a score. The source tables are read by Spark and packed into one frame: every
row tagged with its table and a *partition key* that keeps together everything a lead's features read — the
account (its leads, their events, opportunities and sales touches, the account row), or the lead itself when it
has no account. The frame is hash-partitioned by that key and each partition, turned back into the contract's
pandas tables (``mapInPandas``), goes through the default engine's own path: ``check_sources``, the contract
source's ``open_leads`` (spine, fit, engagement, history, sales builders) and the champion's ``score``. Campaigns
(a small table every partition reads) travel with the function.

The champion travels as its data files (JSON and LightGBM's model text, ``LeadScorer.to_artifacts``) and is
rebuilt once per Python worker: no pickle of a model is ever read from an artifact store.

Requires the ``spark`` extra (``pip install -e '.[spark]'``) and Java 17 (``scripts/ensure-java.sh``).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from features.schema import CONTRACT, REJECT_COLUMNS, TIMESTAMP, check_sources
from features.specs import FeatureSpec
from models.scorer import LeadScorer
from models.scoring import SCORE_TABLE_COLUMNS as SCORE_COLUMNS

TABLE, KEY, KIND = "__table", "__key", "__kind"
SCORE, REJECT = "score", "reject"  # what a row of score_partitions' output is
BROADCAST = ("campaigns",)  # small tables every partition reads whole
SEP = "__"


def spark_session(*, master: str | None = None, conf: dict[str, str] | None = None):
    """A Spark session on ``master`` (default ``$LEADSCORE_SPARK_MASTER``, else ``local[*]``), in UTC, its Python
    workers running this interpreter (so they import the installed leadscore)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.appName("leadscore")
               .master(master or os.environ.get("LEADSCORE_SPARK_MASTER") or "local[*]")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # pandas writes nanosecond timestamps, which Spark reads only as integers: read_parquet_tables
               # turns them into timestamps (microseconds; the features read whole seconds)
               .config("spark.sql.legacy.parquet.nanosAsLong", "true"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def read_parquet_tables(spark, folder: Path) -> dict:
    """The contract tables of a folder of ``<table>.parquet`` files (or folders of parquet parts), as Spark frames."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    tables = {}
    for name, contract in CONTRACT.items():
        path = folder / f"{name}.parquet"
        if path.exists():
            frame = spark.read.parquet(str(path))
            kinds = {**contract.required, **contract.optional}
            for field in frame.schema.fields:
                if kinds.get(field.name) == TIMESTAMP and isinstance(field.dataType, T.LongType):  # nanoseconds
                    frame = frame.withColumn(field.name, F.timestamp_micros(F.floor(F.col(field.name) / 1000)))
            tables[name] = frame
    if "leads" not in tables:
        raise FileNotFoundError(f"{folder} holds no leads.parquet")
    return tables


def pack(tables: dict) -> tuple:
    """One Spark frame of every partitioned table's rows (columns ``<table>__<column>``, ``__table``, ``__key``), and
    the broadcast tables apart. Rows of a lead with no account are keyed by the lead; rows naming no known lead
    (the check quarantines them) by the lead id they name, so they meet no other lead."""
    from pyspark.sql import functions as F

    # A lead id given twice is quarantined whole (``check_sources``): its rows, whatever their accounts, go where
    # the check sees them all, keyed by the lead.
    duplicated = (tables["leads"].groupBy("lead_id").count().where("count > 1")
                  .select(F.col("lead_id").alias("__duplicated")))
    leads = (tables["leads"].join(F.broadcast(duplicated), F.col("lead_id") == F.col("__duplicated"), "left"))
    by_lead = F.concat(F.lit("l"), F.col("lead_id").cast("string"))
    lead_key = (F.when(F.col("__duplicated").isNull() & F.col("account_id").isNotNull(),
                       F.concat(F.lit("a"), F.col("account_id").cast("string"))).otherwise(by_lead)
                if "account_id" in leads.columns else by_lead)
    keys = leads.select(F.col("lead_id").alias("__lead"), lead_key.alias(KEY)).dropDuplicates(["__lead"])
    leads = leads.withColumn(KEY, lead_key).drop("__duplicated")
    parts = []
    for name, frame in tables.items():
        if name in BROADCAST:
            continue
        if name == "leads":
            keyed, frame = leads, tables["leads"]
        elif name == "accounts":
            keyed = frame.withColumn(KEY, F.concat(F.lit("a"), F.col("account_id").cast("string")))
        else:  # rows of a lead: its lead's key
            keyed = (frame.join(keys, frame["lead_id"] == keys["__lead"], "left")
                     .withColumn(KEY, F.coalesce(F.col(KEY), F.concat(F.lit("l"), F.col("lead_id").cast("string"))))
                     .drop("__lead"))
        parts.append(keyed.select(F.lit(name).alias(TABLE), F.col(KEY),
                                  *[F.col(c).alias(f"{name}{SEP}{c}") for c in frame.columns]))
    packed = functools.reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    return packed, {name: tables[name].toPandas() for name in BROADCAST if name in tables}


def unpack(batch: pd.DataFrame, dtypes: dict[str, dict[str, str]]) -> dict[str, pd.DataFrame]:
    """A partition's rows back into the contract's pandas tables, each column in the dtype the default engine reads
    (``dtypes``: per table, per column, as ``io.read_sources`` gives them)."""
    tables = {}
    for name, columns in dtypes.items():
        rows = batch[batch[TABLE] == name]
        frame = pd.DataFrame({c: rows[f"{name}{SEP}{c}"].to_numpy() if f"{name}{SEP}{c}" in rows else None
                              for c in columns})
        tables[name] = _typed(frame, columns)
    return tables


def _typed(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    out = {}
    for col, dtype in dtypes.items():
        values = frame[col]
        if dtype.startswith("datetime64"):  # Spark hands timestamps over naive, in its session zone (UTC)
            out[col] = pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
        elif dtype in ("int64", "Int64", "float64", "bool"):
            out[col] = values.astype(dtype if dtype != "int64" or values.notna().all() else "Int64")
        else:
            out[col] = values.astype(dtype)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def score_partitions(packed, *, dtypes: dict[str, dict[str, str]], broadcast: dict[str, pd.DataFrame],
                     scorer_files: dict[str, str], champion_fields: dict, config, as_of: pd.Timestamp,
                     now: pd.Timestamp, partitions: int):
    """The night's published rows, computed partition by partition by the default engine's own path."""
    from pyspark.sql import types as T

    from pipeline import sources as lead_sources
    from pipeline import tracking

    event_types = config.features.engagement.event_types

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        batch = pd.concat(list(batches), ignore_index=True)  # a key's rows may span Arrow batches
        if batch.empty:
            return
        tables = {**unpack(batch, {n: d for n, d in dtypes.items() if n not in broadcast}), **broadcast}
        checked = check_sources(tables, now=now, event_types=event_types)
        if len(checked.rejects):  # row numbers are positions in a partition here: meaningless, left out
            yield _spark_ready(checked.rejects.assign(row_number=None, **{KIND: REJECT}), schema.names)
        queue, features = lead_sources.ContractSource(config, tables=checked.tables).open_leads(as_of, None)
        if queue.empty:
            return
        scorer = _scorer(tuple(sorted(scorer_files.items())))
        champion = tracking.Champion(scorer=scorer, version=_Version(**champion_fields), state=None)
        yield _spark_ready(champion.score(queue, features, config.score).assign(**{KIND: SCORE}), schema.names)

    text, number, whole, moment = T.StringType(), T.DoubleType(), T.LongType(), T.TimestampType()
    schema = T.StructType([T.StructField(name, kind) for name, kind in (
        (KIND, text),
        ("lead_id", whole), ("as_of_ts", moment), ("probability", number), ("score", whole), ("grade", text),
        ("model_version", whole), ("definition_version", text), ("owner_id", text), ("company", text),
        ("source", text), ("reasons_positive", text), ("reasons_negative", text), ("scored_at", moment),
        ("table_name", text), ("row_number", whole), ("row_key", text), ("column_name", text), ("reason", text),
        ("value", text))])
    return packed.repartition(partitions, KEY).mapInPandas(score, schema)


def split_results(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``score_partitions``' collected rows → (the night's scores, the quarantined rows), each in its own columns,
    timestamps in UTC."""
    scores = rows[rows[KIND] == SCORE][SCORE_COLUMNS].reset_index(drop=True)
    for col in ("as_of_ts", "scored_at"):
        scores[col] = pd.to_datetime(scores[col]).dt.tz_localize("UTC")
    rejects = rows[rows[KIND] == REJECT][REJECT_COLUMNS].reset_index(drop=True)
    return scores, rejects


class _Version:
    """What ``Champion`` reads of an MLflow model version (number and tags), without MLflow in the workers."""

    def __init__(self, version: int, tags: dict):
        self.version, self.tags = version, tags


@functools.lru_cache(maxsize=2)
def _scorer(files: tuple) -> LeadScorer:
    return LeadScorer.from_artifacts(dict(files), feature_spec=FeatureSpec)


def _spark_ready(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows as Arrow hands them to Spark, in ``columns`` (those ``rows`` lacks all None): timestamps naive in UTC
    (the session's zone), text as objects, None for missing."""
    out = {}
    for col in columns:
        if col not in rows.columns:
            out[col] = pd.Series([None] * len(rows), dtype=object, index=rows.index)
            continue
        values = rows[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[col] = values.dt.tz_convert("UTC").dt.tz_localize(None)
        elif values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            out[col] = values.astype(object).where(values.notna(), None)
        else:
            out[col] = values
    return pd.DataFrame(out)
