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

``SparkNight`` is what ``leadscore score|nightly --engine spark`` run: the tables read once, counted (the volume
check), packed, then scored in one pass whose output — scores, quarantined rows and drift counts per partition —
Spark writes to a staging folder; the driver reads it back and publishes it with the default engine's
``io.write_scores`` (the database in one transaction, inserted in batches; the parquet file renamed into place).

Requires the ``spark`` extra (``pip install -e '.[spark]'``) and Java 17 (``scripts/ensure-java.sh``).
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import CONTRACT, REJECT_COLUMNS, TIMESTAMP, check_sources
from features.specs import FeatureSpec
from features.spine import data_end
from models.drift import population_counts, stability_from_counts
from models.scorer import LeadScorer
from models.scoring import SCORE_TABLE_COLUMNS as SCORE_COLUMNS
from models.scoring import combine_scores

TABLE, KEY, KIND = "__table", "__key", "__kind"
SCORE, REJECT, DRIFT, END = "score", "reject", "drift", "end"  # what a row of a partition's output is
BROADCAST = ("campaigns",)  # small tables every partition reads whole
SEP = "__"


def spark_session(*, master: str | None = None, conf: dict[str, str] | None = None):
    """A Spark session on ``master`` (default ``$LEADSCORE_SPARK_MASTER``, else ``local[*]``), in UTC, its Python
    workers running this interpreter (so they import the installed leadscore). ``conf`` (params.yaml's
    ``spark.conf``), then ``$LEADSCORE_SPARK_CONF`` (``key=value`` pairs separated by ``;``), which wins."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ImportError("--engine spark needs the spark extra and Java 17: pip install -e '.[spark]' and "
                          "scripts/ensure-java.sh (make setup installs both)") from exc

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # PySpark 4 warns of pandas 3 in every worker, on every batch; the engine's equality tests are what speak to it
    os.environ.setdefault("PYTHONWARNINGS", "ignore:PySpark does not yet fully support pandas:FutureWarning")
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = (SparkSession.builder.appName("leadscore")
               .master(master or os.environ.get("LEADSCORE_SPARK_MASTER") or "local[*]")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")  # progress bars would garble the command's output
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # pandas writes nanosecond timestamps, which Spark reads only as integers: read_parquet_tables
               # turns them into timestamps (microseconds; the features read whole seconds)
               .config("spark.sql.legacy.parquet.nanosAsLong", "true"))
    for key, value in {**(conf or {}), **environment_conf()}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("LEADSCORE_SPARK_LOG_LEVEL", "ERROR"))
    return session


def _active_session() -> bool:
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # spark_session says what to install
        return False
    return SparkSession.getActiveSession() is not None


def environment_conf(value: str | None = None) -> dict[str, str]:
    """``LEADSCORE_SPARK_CONF``: ``spark.key=value;spark.other=value`` (a cluster's settings, not params)."""
    value = os.environ.get("LEADSCORE_SPARK_CONF", "") if value is None else value
    conf = {}
    for pair in filter(None, (p.strip() for p in value.split(";"))):
        key, sep, setting = pair.partition("=")
        if not sep or not key.strip().startswith("spark."):
            raise ValueError(f"LEADSCORE_SPARK_CONF: {pair!r} is not spark.<setting>=<value> (pairs separated by ';')")
        conf[key.strip()] = setting.strip()
    return conf


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


@dataclass(frozen=True)
class ShippedChampion:
    """A champion as it travels to the workers: its scorer's text files and what ``Champion`` reads of its version."""

    files: tuple[tuple[str, str], ...]
    version: int
    tags: tuple[tuple[str, str], ...]
    unapproved: bool = False
    segment: str | None = None

    @classmethod
    def of(cls, champion) -> ShippedChampion:
        return cls(files=tuple(sorted(champion.scorer.to_artifacts().items())), version=champion.number,
                   tags=tuple(sorted((champion.version.tags or {}).items())), unapproved=champion.unapproved,
                   segment=champion.segment)

    def rebuild(self):
        from pipeline import tracking

        return tracking.Champion(scorer=_scorer(self.files), version=_Version(self.version, dict(self.tags)),
                                 state=None, unapproved=self.unapproved, segment=self.segment)


def ship(champions) -> tuple[ShippedChampion, tuple[ShippedChampion, ...]]:
    """``pipeline.champions.Champions`` → (the global champion, each segment's), ready to travel."""
    return ShippedChampion.of(champions.main), tuple(ShippedChampion.of(c) for c in champions.segments.values())


def _rebuilt(main: ShippedChampion, segments: tuple[ShippedChampion, ...]):
    from pipeline import champions as lead_champions

    return lead_champions.Champions(main=main.rebuild(), segments={c.segment: c.rebuild() for c in segments})


def partition_rows(packed, *, dtypes: dict[str, dict[str, str]], broadcast: dict[str, pd.DataFrame], config,
                   now: pd.Timestamp | None, event_types: list[str] | None, partitions: int,
                   as_of: pd.Timestamp | None = None,
                   champions: tuple | None = None, scored_at: pd.Timestamp | None = None):
    """Each partition through the default engine's own path; the output's ``__kind`` says what a row is.

    Without ``as_of``: each partition's checked tables' latest timestamp (``end``), from which 'tonight' is
    found as the default engine finds it. ``now`` and ``event_types`` are the check's (``check_sources``): the
    nightly job's clock and event types, or None and None for ``score``'s strict reading. With ``as_of`` and
    ``champions`` (:func:`ship`): the quarantined rows (``reject``), the night's rows scored by each lead's segment
    champion or the global one (``score``, stamped ``scored_at``), and per drift column the rows per reference bin
    (``drift``: counts as JSON in ``value``, rows in ``row_number``)."""
    from pyspark.sql import types as T

    from pipeline import champions as lead_champions
    from pipeline import sources as lead_sources

    def rows(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        tables = _partition_tables(batches, dtypes, broadcast)
        if tables is None:
            return
        checked = check_sources(tables, now=now, event_types=event_types)
        if as_of is None:
            try:
                end = data_end(checked.tables)
            except ValueError:  # no timestamp in this partition: others have them, or default_as_of says so
                end = pd.NaT
            yield _spark_ready(pd.DataFrame({KIND: [END], "data_end": pd.Series([end], dtype="datetime64[ns, UTC]")}),
                               schema.names)
            return
        if len(checked.rejects):  # row numbers are positions in a partition here: meaningless, left out
            yield _spark_ready(checked.rejects.assign(row_number=None, **{KIND: REJECT}), schema.names)
        queue, features = lead_sources.ContractSource(config, tables=checked.tables).open_leads(as_of, None)
        if queue.empty:
            return
        night = _rebuilt(*champions)
        scores = lead_champions.score(night, config, queue, features, checked.tables).assign(scored_at=scored_at)
        yield _spark_ready(scores.assign(**{KIND: SCORE}), schema.names)
        scorer = night.main.scorer
        if scorer.drift_reference:
            counts = population_counts(scorer.drift_reference, features[scorer.feature_names],
                                       scores["probability"].to_numpy())
            yield _spark_ready(pd.DataFrame({KIND: DRIFT, "column_name": list(counts), "row_number": len(features),
                                             "value": [json.dumps(c.tolist()) for c in counts.values()]}),
                               schema.names)

    text, number, whole, moment = T.StringType(), T.DoubleType(), T.LongType(), T.TimestampType()
    schema = T.StructType([T.StructField(name, kind) for name, kind in (
        (KIND, text),
        ("lead_id", whole), ("as_of_ts", moment), ("probability", number), ("score", whole), ("grade", text),
        ("model_version", whole), ("definition_version", text), ("owner_id", text), ("company", text),
        ("source", text), ("reasons_positive", text), ("reasons_negative", text), ("scored_at", moment),
        ("segment", text),
        ("table_name", text), ("row_number", whole), ("row_key", text), ("column_name", text), ("reason", text),
        ("value", text), ("data_end", moment))])
    return packed.repartition(partitions, KEY).mapInPandas(rows, schema)


def _partition_tables(batches: Iterator[pd.DataFrame], dtypes: dict[str, dict[str, str]],
                      broadcast: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame] | None:
    """A partition's rows as the contract's pandas tables (None: an empty partition)."""
    batch = pd.concat(list(batches), ignore_index=True)  # a key's rows may span Arrow batches
    if batch.empty:
        return None
    return {**unpack(batch, {n: d for n, d in dtypes.items() if n not in broadcast}), **broadcast}


@dataclass
class NightRows:
    """One night as the partitions computed it, gathered on the driver."""

    scores: pd.DataFrame   # SCORE_TABLE_COLUMNS, best first
    rejects: pd.DataFrame  # REJECT_COLUMNS (row numbers missing)
    drift_counts: dict[str, np.ndarray]
    drift_rows: int

    def drift(self, reference: dict) -> pd.DataFrame:
        """PSI per column, as ``population_stability`` gives it on the whole night."""
        return stability_from_counts(reference, self.drift_counts, self.drift_rows)


def split_results(rows) -> NightRows:
    """The partitions' rows (an Arrow table, as read back from staging) → the night's scores, quarantined rows and
    drift counts, each in its own columns and dtypes, timestamps in UTC. Split before pandas sees them, so a
    column that is null for other kinds of rows keeps its type. A broadcast table is checked in every partition:
    its rejects are kept once."""
    import pyarrow.compute as pc

    def kind(name: str, columns: list[str]) -> pd.DataFrame:
        return rows.filter(pc.equal(rows[KIND], name)).select(columns).to_pandas()

    scores = kind(SCORE, SCORE_COLUMNS)
    for col in ("as_of_ts", "scored_at"):
        scores[col] = pd.to_datetime(scores[col], utc=True)
    rejects = kind(REJECT, REJECT_COLUMNS)
    broadcast = rejects["table_name"].isin(BROADCAST)
    rejects = pd.concat([rejects[~broadcast], rejects[broadcast].drop_duplicates()], ignore_index=True)
    drift = kind(DRIFT, ["column_name", "row_number", "value"])
    counts: dict[str, np.ndarray] = {}
    for col, value in zip(drift["column_name"], drift["value"], strict=True):
        part = np.asarray(json.loads(value), dtype=np.int64)
        counts[col] = counts[col] + part if col in counts else part
    n_rows = int(drift.groupby("column_name")["row_number"].sum().max()) if len(drift) else 0
    return NightRows(scores=combine_scores([scores]), rejects=rejects, drift_counts=counts, drift_rows=n_rows)


class SparkTables:
    """Source tables as Spark reads them (a parquet folder, or ``spark.database`` in the metastore), counted and
    packed by partition key into ``ceil(leads / spark.leads_per_partition)`` partitions."""

    def __init__(self, config, location, spark=None):
        if config.source.kind != "contract":
            raise ValueError("--engine spark runs on the data-contract tables; score a flat CRM export with the "
                             "default engine")
        self.config = config
        self._owned = spark is None and not _active_session()  # a session someone else started stays up
        self.spark = spark or spark_session(conf=dict(config.spark.conf))
        tables, self.dtypes = read_tables(self.spark, config, location)
        self.rows = {name: int(frame.count()) for name, frame in sorted(tables.items())}  # as read: the volume check
        self.packed, broadcast = pack(tables)
        self.broadcast = {n: _typed(f, self.dtypes[n]) for n, f in broadcast.items()}
        self.partitions = max(1, math.ceil(self.rows["leads"] / config.spark.leads_per_partition))

    def stop(self) -> None:
        if self._owned:
            self.spark.stop()


class SparkTrainingTable(SparkTables):
    """The training table built in Spark partitions: an iterable of blocks with ``attrs``, as
    ``features.training_table.TrainingTableBlocks`` is, for ``io.write_dataset_blocks``.

    Three passes over the partitions, each running the default engine's functions on its leads: the extent (latest
    timestamp, first lead, the float32 columns of its accounts), then — when the sampling rate follows from a target
    size — the converting and other snapshots, then the blocks themselves, built by ``TrainingTableBlocks`` with the
    plan (dates, rate, float32 columns) decided on the driver from the passes before. Each partition writes its
    blocks as parquet files into a staging folder (shared storage on a cluster) and returns only their names and
    counts; the driver reads them back one at a time, then stops the session. The sources are held to the
    contract strictly, as the default engine's training reads them; ``as_of`` cuts each partition to what was known
    before it."""

    def __init__(self, config, location, *, staging: Path, as_of: pd.Timestamp | None = None, spark=None):
        super().__init__(config, location, spark=spark)
        self.staging, self.as_of = staging, as_of
        self.attrs: dict = {}

    def _map(self, work, fields):
        from pyspark.sql import types as T

        dtypes, broadcast, as_of = self.dtypes, self.broadcast, self.as_of

        def each(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            from features.as_of import tables_known_before
            from features.schema import validate_sources

            tables = _partition_tables(batches, dtypes, broadcast)
            if tables is None:
                return
            tables = validate_sources(tables)
            yield from work(tables if as_of is None else tables_known_before(tables, as_of))

        schema = T.StructType([T.StructField(name, kind) for name, kind in fields])
        return self.packed.repartition(self.partitions, KEY).mapInPandas(each, schema).toPandas()

    def plan(self):
        """The plan every partition builds its blocks with (``features.training_table.TrainingPlan``)."""
        from pyspark.sql import types as T

        from features.fit import float32_exact_columns
        from features.sampling import negative_rate
        from features.training_table import TrainingPlan, count_snapshots, training_dates

        c = self.config
        fit = c.features.fit

        def extent(tables):
            leads = tables["leads"]
            try:
                end = data_end(tables)
            except ValueError:
                end = pd.NaT
            yield pd.DataFrame({"end": pd.Series([end], dtype="datetime64[ns, UTC]").dt.tz_localize(None),
                                "first": pd.Series([leads["created_ts"].min()], dtype="datetime64[ns, UTC]")
                                .dt.tz_localize(None),
                                "narrow": [json.dumps(float32_exact_columns(tables.get("accounts"), fit))]})

        found = self._map(extent, [("end", T.TimestampType()), ("first", T.TimestampType()),
                                   ("narrow", T.StringType())])
        if found["end"].isna().all():
            raise ValueError("the sources hold no timestamps")
        end = pd.Timestamp(found["end"].max()).tz_localize("UTC")
        first = pd.Timestamp(found["first"].min()).tz_localize("UTC")
        dates = training_dates(first, end, c.labels, c.spine)
        narrow = set.intersection(*(set(json.loads(n)) for n in found["narrow"]))
        positives = negatives = 0
        if c.sampling.negative_rate is None and c.sampling.target_rows is not None:
            def counts(tables):
                p, n = count_snapshots(tables, dates, end, labels=c.labels, spine=c.spine,
                                       block_leads=c.sampling.block_leads)
                yield pd.DataFrame({"positives": [p], "negatives": [n]})

            counted = self._map(counts, [("positives", T.LongType()), ("negatives", T.LongType())])
            positives, negatives = int(counted["positives"].sum()), int(counted["negatives"].sum())
        return TrainingPlan(dates=dates, end=end, rate=negative_rate(c.sampling, positives, negatives),
                            narrow=tuple(sorted(narrow)))

    def __iter__(self) -> Iterator[pd.DataFrame]:
        from pyspark.sql import types as T

        from features.labels import label_column
        from features.sampling import sampling_summary
        from features.training_table import TrainingTableBlocks

        c = self.config
        plan = self.plan()
        folder = self.staging / f"training-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True)
        target = label_column(c.labels.window_days)

        def build(tables):
            blocks = TrainingTableBlocks(tables, labels=c.labels, spine=c.spine, features=c.features,
                                         sampling=c.sampling, plan=plan)
            for block in blocks:
                if block.empty:
                    continue
                path = folder / f"block-{uuid.uuid4().hex}.parquet"
                block.to_parquet(path, index=False)
                yield pd.DataFrame({"path": [str(path)], "rows": [len(block)],
                                    "positives": [int(block[target].sum())], "full": [0]})
            full = blocks.attrs["sampling"]["rows_full"]
            yield pd.DataFrame({"path": [None], "rows": [0], "positives": [0], "full": [full]})

        try:
            written = self._map(build, [("path", T.StringType()), ("rows", T.LongType()),
                                        ("positives", T.LongType()), ("full", T.LongType())])
            paths = sorted(written["path"].dropna())
            if not paths:
                raise ValueError("no open lead snapshot to train on in these sources")
            self.attrs = {"sampling": sampling_summary(plan.rate, int(written["rows"].sum()),
                                                       int(written["full"].fillna(0).sum()),
                                                       int(written["positives"].sum()), c.sampling)}
            for path in paths:
                yield pd.read_parquet(path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self.stop()  # built once: the session is not needed for the fits


class SparkNight(SparkTables):
    """The night's source tables as Spark reads them, counted and packed: score it with :meth:`score`."""

    def __init__(self, config, location, spark=None):
        if config.score.reasons and config.score.reasons_per_owner is not None:
            raise ValueError("--engine spark explains every lead: score.reasons_per_owner must be null (an owner's "
                             "leads span partitions, so their top N cannot be chosen inside one)")
        super().__init__(config, location, spark=spark)

    def _rows(self, **kwargs):
        return partition_rows(self.packed, dtypes=self.dtypes, broadcast=self.broadcast, config=self.config,
                              partitions=self.partitions, **kwargs)

    def default_as_of(self, now: pd.Timestamp | None, event_types: list[str] | None) -> pd.Timestamp:
        """Midnight after the latest timestamp of the checked tables, as the default engine finds 'tonight'."""
        ends = self._rows(now=now, event_types=event_types).select("data_end").toPandas()["data_end"]
        if ends.isna().all():
            raise ValueError("the sources hold no timestamps")
        return pd.Timestamp(ends.max()).tz_localize("UTC").floor("D") + pd.Timedelta(days=1)

    def score(self, champions, *, as_of: pd.Timestamp, now: pd.Timestamp | None, event_types: list[str] | None,
              staging: Path) -> NightRows:
        """The night scored in the partitions (``champions``: ``pipeline.champions.Champions``), written by Spark
        to a new folder under ``staging``, read back once, then removed."""
        folder = staging / f"night-{uuid.uuid4().hex[:12]}"
        scored_at = pd.Timestamp.now(tz="UTC").floor("s")
        try:
            self._rows(now=now, event_types=event_types, as_of=as_of, champions=ship(champions),
                       scored_at=scored_at).write.parquet(str(folder))
            import pyarrow.parquet as pq

            return split_results(pq.read_table(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def read_tables(spark, config, location) -> tuple[dict, dict[str, dict[str, str]]]:
    """(the contract tables as Spark frames, each table's columns in the dtypes the default engine reads them in).
    From the metastore database ``spark.database`` when params name one, else from the parquet folder."""
    database = config.spark.database
    if database is None:
        from pipeline import source_db

        if source_db.is_url(location):
            raise ValueError("--engine spark reads parquet folders (or a metastore database: params.yaml's "
                             "spark.database), not a database URL: use the default engine on a SQL source")
        import pyarrow.dataset as ds

        folder = Path(location)
        if not folder.is_dir():
            raise FileNotFoundError(f"source folder {folder} does not exist (run `leadscore generate` or set "
                                    "LEADSCORE_SOURCES)")
        tables = read_parquet_tables(spark, folder)
        dtypes = {name: {c: str(d) for c, d in ds.dataset(folder / f"{name}.parquet").schema.empty_table()
                         .to_pandas().dtypes.items()} for name in tables}
        return tables, dtypes
    tables = {name: spark.table(f"{database}.{name}") for name in CONTRACT
              if spark.catalog.tableExists(f"{database}.{name}")}
    if "leads" not in tables:
        raise LookupError(f"the metastore database {database!r} holds no table named leads")
    return tables, {name: {c: str(d) for c, d in frame.limit(0).toPandas().dtypes.items()}
                    for name, frame in tables.items()}


class _Version:
    """What ``Champion`` reads of an MLflow model version (number and tags), without MLflow in the workers."""

    def __init__(self, version: int, tags: dict):
        self.version, self.tags = version, tags


@functools.lru_cache(maxsize=8)
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
