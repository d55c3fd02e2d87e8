"""Named tables in and out: the only module that knows paths and database URLs.

Locations come from the environment (see .env.example), never from params.yaml:
- ``LEADSCORE_SOURCES``: folder with the source tables as ``<table>.parquet`` or ``<table>.csv``
  (default ``data/demo``), or a database holding them (a SQLAlchemy URL: ``postgresql+psycopg://…``,
  ``sqlite:///…``; see ``pipeline.source_db``); for a flat CRM export (``source.kind: flat``), the export file
  itself or a folder holding exactly one ``.csv`` or ``.parquet`` file;
- ``LEADSCORE_SCORES_DIR``: where scores are written as parquet, one folder per as-of date
  (default ``data/scores``);
- ``LEADSCORE_DB_URL``: SQLAlchemy URL of the scores database (default ``sqlite:///leadscore.db``); the run log
  falls back to ``<scores dir>/runs-fallback.jsonl`` when that database cannot be written.

Defaults and relative paths (a SQLite file included) resolve against the project home, ``LEADSCORE_HOME``
(default: the current folder), so a scheduler that starts in ``/`` finds the same stores as a person in the
project folder.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from features.schema import CONTRACT, REJECT_COLUMNS, validate_sources
from pipeline import source_db, store

SCORES_TABLE = store.SCORES_TABLE
RUNS_TABLE = "leadscore_runs"
REJECTS_TABLE = "leadscore_rejects"
SOURCE_VOLUMES_TABLE = "leadscore_source_volumes"
RUN_COLUMNS = ("run_id", "as_of", "started", "finished", "status", "leads_scored", "rejects", "model_version",
               "definition_version", "warnings", "error")
_RUN_TYPES = {"leads_scored": sa.Integer(), "rejects": sa.Integer(), "model_version": sa.Integer(),
              **{c: sa.Text() for c in ("run_id", "as_of", "started", "finished", "status", "definition_version",
                                        "warnings", "error")}}
_VOLUME_TYPES = {"run_id": sa.Text(), "as_of": sa.Text(), "table_name": sa.Text(), "rows": sa.BigInteger()}


def record_run(row: dict, *, volumes: dict[str, int] | None = None, url: str | None = None) -> str:
    """Write one run's line to the run log (table ``leadscore_runs``), replacing the line the run wrote when it
    started; with ``volumes`` (a published night's rows per source table) ``leadscore_source_volumes`` too, in the same
    transaction. When the database cannot be written (down, unreachable, full), the line goes to the local
    fallback run log instead (:func:`fallback_run_log`): a run is never recorded nowhere. Returns where it went."""
    line = {column: row.get(column) for column in RUN_COLUMNS}
    try:
        eng = migrated_engine(url)
        try:
            with eng.begin() as conn:
                conn.execute(sa.text(f"DELETE FROM {RUNS_TABLE} WHERE run_id = :r"), {"r": line["run_id"]})
                pd.DataFrame([line]).to_sql(RUNS_TABLE, conn, if_exists="append", index=False, dtype=_RUN_TYPES)
                if volumes:
                    pd.DataFrame({"run_id": line["run_id"], "as_of": line["as_of"], "table_name": list(volumes),
                                  "rows": list(volumes.values())}).to_sql(
                        SOURCE_VOLUMES_TABLE, conn, if_exists="append", index=False, dtype=_VOLUME_TYPES)
        finally:
            eng.dispose()
        return "database"
    except sa.exc.SQLAlchemyError as exc:
        return str(_append_fallback(line, volumes, database_problem(exc, url)))


def write_rejects(rejects: pd.DataFrame, *, run_id: str, as_of: pd.Timestamp | None,
                  url: str | None = None) -> None:
    """Keep the quarantined rows of one run (table, row number and key, column, reason, value: the columns of
    ``features.schema.REJECT_COLUMNS``, which the table ``leadscore_rejects`` holds)."""
    if rejects.empty:
        return
    unknown = set(rejects.columns) - set(REJECT_COLUMNS)
    if unknown:
        raise ValueError(f"rejected rows carry columns the quarantine table does not hold: {sorted(unknown)}")
    rejects = rejects.reindex(columns=REJECT_COLUMNS)
    rows = rejects.assign(run_id=run_id, as_of=f"{as_of:%Y-%m-%d}" if as_of is not None else None,
                          recorded_at=pd.Timestamp.now(tz="UTC").isoformat(timespec="microseconds"))
    for column in ("row_key", "value"):  # text columns: a number or a date is kept as it was written
        rows[column] = rows[column].map(lambda v: None if v is None or v is pd.NA or v != v else str(v))
    eng = migrated_engine(url)
    try:
        with eng.begin() as conn:
            rows.to_sql(REJECTS_TABLE, conn, if_exists="append", index=False, chunksize=10_000)
    finally:
        eng.dispose()


def read_rejects(*, run_id: str | None = None, url: str | None = None) -> pd.DataFrame:
    """Quarantined rows of one run (the latest run that had any, by default)."""
    eng = engine(url)
    try:
        _upgrade_store(eng, url, migrate_empty=False)
        with eng.connect() as conn:
            if not sa.inspect(conn).has_table(REJECTS_TABLE):
                return pd.DataFrame()
            run_id = run_id or conn.execute(sa.text(
                f"SELECT run_id FROM {REJECTS_TABLE} ORDER BY recorded_at DESC LIMIT 1")).scalar()
            return pd.read_sql(sa.text(f"SELECT * FROM {REJECTS_TABLE} WHERE run_id = :r "
                                       "ORDER BY table_name, row_number"), conn, params={"r": run_id})
    finally:
        eng.dispose()


def read_runs(*, url: str | None = None, limit: int = 20) -> pd.DataFrame:
    """The run log, newest first: the database's ``leadscore_runs`` merged with the local fallback run log (column
    ``logged_to``: ``database`` or the fallback file). Raises DatabaseUnavailable when the database cannot be read
    (:func:`read_run_log` shows the fallback's lines then)."""
    frame, problem = read_run_log(url=url, limit=limit)
    if problem:
        raise DatabaseUnavailable(problem)
    return frame


def home() -> Path:
    """The project home: where default stores live and relative locations start (``LEADSCORE_HOME``)."""
    return Path(os.environ.get("LEADSCORE_HOME") or ".")


def at_home(path: str | Path) -> Path:
    """``path`` as given when absolute, else under the project home."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else home() / path


def sqlite_at_home(url: str) -> str:
    """A SQLite URL whose file path is relative, moved under the project home; any other URL unchanged."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return url
    return url if Path(parsed.database).is_absolute() else parsed.set(database=str(at_home(parsed.database))
                                                                       ).render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL (None for any other database or an in-memory one)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def sources_dir() -> Path:
    return at_home(os.environ.get("LEADSCORE_SOURCES") or "data/demo")


SourceLocation = Path | str  # a folder (or a flat export file), or a database URL (str)


def source_location(value: str | Path | None = None) -> SourceLocation:
    """Where the sources are: ``value`` (``--sources``) or $LEADSCORE_SOURCES (default ``data/demo``), as a database
    URL (a relative SQLite file moved under the project home) or else a path under the project home."""
    value = value if value is not None else (os.environ.get("LEADSCORE_SOURCES") or "data/demo")
    if source_db.is_url(str(value)) and not isinstance(value, Path):
        return sqlite_at_home(str(value))
    return at_home(value)


def is_database(location: SourceLocation | None) -> bool:
    """Whether the sources (``location``, default $LEADSCORE_SOURCES) are a database rather than files."""
    return source_db.is_url(location if location is not None else source_location())


def shown_location(location: SourceLocation | None = None) -> str:
    """The sources' location fit to print: a database URL with its password masked."""
    location = location if location is not None else source_location()
    return source_db.shown(location) if source_db.is_url(location) else str(location)


def scores_dir() -> Path:
    return at_home(os.environ.get("LEADSCORE_SCORES_DIR") or "data/scores")


def db_url() -> str:
    return sqlite_at_home(os.environ.get("LEADSCORE_DB_URL") or "sqlite:///leadscore.db")


def require_scores_store(url: str | None = None) -> None:
    """Readers of published scores refuse a SQLite file that does not exist rather than create an empty one
    and answer "nothing published": the usual cause is a command run outside the project folder."""
    path = sqlite_file(url or db_url())
    if path is not None and not path.exists():
        raise FileNotFoundError(
            f"no scores database at {path.resolve()}: run leadscore from the project folder, set LEADSCORE_HOME "
            "to it, or point LEADSCORE_DB_URL at the database (nothing is published until `leadscore nightly` "
            "or `leadscore score` has run)")


def shown_url(url: str | None = None) -> str:
    """A database URL fit to print: the password masked (``***``)."""
    return sa.make_url(url or db_url()).render_as_string(hide_password=True)


def read_sources(folder: SourceLocation | None = None) -> dict[str, pd.DataFrame]:
    """Read every contract table present in ``folder`` and hold it strictly to the contract (any bad row
    is an error: what training wants). The nightly job quarantines bad rows instead (``load_sources`` +
    ``features.schema.check_sources``)."""
    return validate_sources(load_sources(folder))


def load_sources(folder: SourceLocation | None = None) -> dict[str, pd.DataFrame]:
    """Every contract table present in ``folder`` (a folder or a database URL), as stored (unchecked); a database's
    tables read in chunks, in the dtypes the files give (``pipeline.source_db``)."""
    folder = folder if folder is not None else source_location()
    if source_db.is_url(folder):
        return source_db.read_tables(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"source folder {folder} does not exist (run `leadscore generate` or set LEADSCORE_SOURCES)"
        )
    tables: dict[str, pd.DataFrame] = {}
    for name in CONTRACT:
        parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
        if parquet.exists():
            tables[name] = pd.read_parquet(parquet)
        elif csv.exists():
            tables[name] = pd.read_csv(csv)
    return tables


def write_sources(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """Write each table as ``<name>.parquet`` in ``folder``, each through a temporary file renamed into place,
    so a reader never sees half a table."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        tmp = folder / f".{name}.parquet.tmp"
        frame.to_parquet(tmp, index=False)
        tmp.replace(folder / f"{name}.parquet")


def copy_sources_to_database(url: str, *, folder: Path | None = None) -> dict[str, int]:
    """The contract tables of ``folder`` (default $LEADSCORE_SOURCES, which must then be a folder) written into the
    database at ``url`` with the indexes reads need (``source_db.INDEXES``); rows per table."""
    if not source_db.is_url(url):
        raise ValueError(f"--to must be a database URL (postgresql+psycopg://…, sqlite:///…), not {url!r}")
    folder = folder if folder is not None else source_location()
    if source_db.is_url(folder):
        raise ValueError("the tables are read from a folder: pass --from FOLDER (LEADSCORE_SOURCES is a database)")
    tables = load_sources(folder)
    if not tables:
        raise FileNotFoundError(f"{folder} holds no source tables (<table>.parquet or <table>.csv)")
    return source_db.write_tables(tables, sqlite_at_home(url))


def source_indexes(table: str) -> list[tuple[str, ...]]:
    """The indexes a source database needs on ``table`` (what ``copy_sources_to_database`` creates)."""
    return source_db.INDEXES.get(table, [])


FLAT_SUFFIXES = (".csv", ".parquet")


def flat_source_path(location: Path | None = None) -> Path:
    """The export file: ``location`` (or $LEADSCORE_SOURCES) itself, or the one export file in that folder."""
    location = location or sources_dir()
    if location.is_file():
        return location
    if not location.is_dir():
        raise FileNotFoundError(f"CRM export {location} does not exist (pass --sources or set LEADSCORE_SOURCES "
                                "to the export file)")
    found = sorted(p for p in location.iterdir() if p.suffix.lower() in FLAT_SUFFIXES)
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise FileNotFoundError(f"{location} must hold exactly one .csv or .parquet export to use as the flat "
                                f"source, it holds {len(found)} ({listed}): point --sources at the file")
    return found[0]


def sniff_delimiter(path: Path) -> str:
    """The field separator of a CSV file (``,`` ``;`` tab or ``|``), read from its first 64 kB."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_flat_source(location: Path | None = None) -> pd.DataFrame:
    """A flat CRM export as a frame, columns as the file names them, types as pandas infers them."""
    path = flat_source_path(location)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep=sniff_delimiter(path), encoding="utf-8-sig")


def read_truth(folder: Path | None = None) -> pd.DataFrame | None:
    """The demo world's true propensities, when the sources folder holds them (never for real data)."""
    folder = folder if folder is not None else source_location()
    if source_db.is_url(folder):
        return None  # the demo's truth stays with its files
    path = folder / "truth.parquet"
    return pd.read_parquet(path) if path.exists() else None


def fingerprint(tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Per table: rows and a content hash (row order and values), for run lineage."""
    out = {}
    for name, frame in sorted(tables.items()):
        row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest = hashlib.sha256(row_hashes.tobytes())
        digest.update(",".join(map(str, frame.columns)).encode())
        out[name] = {"rows": len(frame), "sha256": digest.hexdigest()}
    return out


def datasets_dir() -> Path:
    return at_home(os.environ.get("LEADSCORE_DATASETS_DIR") or "data/datasets")


def dataset_path(name: str, key: str, *, folder: Path | None = None) -> Path:
    """Where the named intermediate table ``name`` built under ``key`` lives (``<name>/<key>.parquet``)."""
    return (folder or datasets_dir()) / name / f"{key}.parquet"


def read_dataset(name: str, key: str, *, folder: Path | None = None) -> pd.DataFrame | None:
    """The named table built under ``key`` (with its ``attrs``), or None if it was never written. Each column's
    Arrow buffers are released as it becomes a pandas column (one block per column, not consolidated), so a
    read holds the table about once rather than twice (a training table of 0.36 GB: +0.56 GB peak RSS instead
    of +0.88 GB)."""
    path = dataset_path(name, key, folder=folder)
    if not path.exists():
        return None
    frame = pd.read_parquet(path, to_pandas_kwargs={"self_destruct": True, "split_blocks": True,
                                                    "use_threads": False})
    stored = pq.read_metadata(path).metadata or {}  # written block by block: attrs known only at the end
    if not frame.attrs and _ATTRS_KEY in stored:
        frame.attrs = json.loads(stored[_ATTRS_KEY])
    return frame


def write_dataset(frame: pd.DataFrame, name: str, key: str, *, folder: Path | None = None) -> Path:
    """Write a named intermediate table atomically (temporary file, then rename): a reader never sees half."""
    path = dataset_path(name, key, folder=folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


_ATTRS_KEY = b"PANDAS_ATTRS"  # where pandas keeps a frame's attrs in a parquet file (read back by read_parquet)


def write_dataset_blocks(blocks: Iterable[pd.DataFrame], name: str, key: str, *,
                         folder: Path | None = None) -> Path:
    """Write a named table as its blocks come (one parquet row group each), so the whole table is never held
    in memory to be written. Written to a temporary file renamed into place once the last block is in: a crash
    or an error leaves no table, never half of one, under the name. The blocks share their columns; a category
    column may have other categories in each block (read back, they are one category column). The iterable's
    ``attrs``, if it has any once exhausted, are kept as a frame's attrs are (``read_dataset`` returns them)."""
    path = dataset_path(name, key, folder=folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    writer = schema = None
    try:
        for frame in blocks:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                schema = _block_schema(table)
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(_conform(table, schema))
            del table
        if writer is None:
            raise ValueError(f"{name}/{key}: no block to write")
        attrs = getattr(blocks, "attrs", None)
        if attrs:
            writer.add_key_value_metadata({_ATTRS_KEY: json.dumps(attrs)})
        writer.close()
        writer = None
        tmp.replace(path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return path


def _block_schema(table: pa.Table) -> pa.Schema:
    """The file's schema from the first block's: category columns with 32-bit codes (a later block may have
    more categories), as text when the first block had no category to type them."""
    fields = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_dictionary(field.type):
            values = pa.large_string() if _no_categories(column) else field.type.value_type
            field = field.with_type(pa.dictionary(pa.int32(), values, field.type.ordered))
        fields.append(field)
    return pa.schema(fields, metadata=table.schema.metadata)


def _no_categories(column: pa.ChunkedArray) -> bool:
    return all(len(chunk.dictionary) == 0 for chunk in column.chunks)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A block in the file's schema: only category code widths (and categories of no type) may differ."""
    if table.schema.names != schema.names:
        raise ValueError(f"a block's columns {table.schema.names} are not the first block's {schema.names}")
    for have, want, column in zip(table.schema, schema, table.columns, strict=True):
        if have.type == want.type:
            continue
        if not (pa.types.is_dictionary(have.type) and pa.types.is_dictionary(want.type)
                and (have.type.value_type == want.type.value_type or _no_categories(column))):
            raise ValueError(f"column {have.name}: a block of type {have.type}, the first block's {want.type}")
    return table.cast(schema)


def engine(url: str | None = None) -> sa.Engine:
    eng = sa.create_engine(url or db_url())
    if eng.dialect.name == "sqlite":
        sa.event.listen(eng, "connect", _sqlite_wal)
    return eng


def migrated_engine(url: str | None = None) -> sa.Engine:
    """An engine on the leadscore database with every leadscore table in place: the store is brought to the newest
    layout (``pipeline.store.upgrade``, which creates what is missing). Checked on every call, one read of the
    version table: a database dropped and made again under the same URL is not taken for a migrated one."""
    eng = engine(url)
    with eng.connect() as conn:
        behind = store.needs_upgrade(conn)
    if behind:
        store.upgrade(url or db_url())
    return eng


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: a value starting like a formula gets a leading apostrophe."""
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _sqlite_wal(dbapi_connection, _record) -> None:
    """Write-ahead log: the queue reads last night's scores while tonight's are written, and a commit is
    one append to the log (a crash still rolls back whole transactions)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphaned_temporaries(folder: Path) -> None:
    """Temporary parquet files of runs whose process is gone (killed mid-publish): never published, never
    needed; a live run's file is left alone."""
    for path in folder.glob(".scores.*.parquet.tmp"):
        pid = path.name.split(".")[2]
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)


# SQLite's page cache while a night is published (KiB; the default is 2 MiB). Two indexes in different orders
# (the primary key by lead, the queue by owner and probability) get a night's rows out of order for one of
# them; with a night's index pages in memory that costs little, with 2 MiB it rereads pages for every row.
_SQLITE_PUBLISH_CACHE_KIB = 256 * 1024


@dataclass(frozen=True)
class Published:
    """One published night: its parquet file, and the old nights the retention removed."""

    path: Path
    nights_dropped: int = 0
    retention_cutoff: pd.Timestamp | None = None  # nights before it were removed (None: retention is off)


def write_scores(scores: pd.DataFrame, as_of: pd.Timestamp, *, retention_days: int | None = None,
                 url: str | None = None, folder: Path | None = None) -> Published:
    """Publish one night's scores: replace that as-of date's rows, never append a second copy.

    Database: delete-then-insert for that date inside one transaction. Parquet: written to a temporary
    file and renamed into place (atomic on one filesystem) only after the database committed.

    Retention (``score.retention_days``; None keeps every night): in the same transaction, the nights more
    than ``retention_days`` before the newest night are deleted; once committed, their parquet folders are
    removed too. A store in an older layout is migrated first (``pipeline.store.upgrade``).
    """
    root = folder or scores_dir()
    folder = root / f"as_of={as_of:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    _remove_orphaned_temporaries(folder)
    target = folder / "scores.parquet"
    tmp = folder / f".scores.{os.getpid()}.{uuid.uuid4().hex[:8]}.parquet.tmp"  # one per run: never shared
    # in key order: the primary key's index is walked once, in order, rather than at random for every row
    rows = scores.assign(as_of_ts=_iso(scores["as_of_ts"]), scored_at=_iso(scores["scored_at"])).sort_values(
        "lead_id", kind="stable")
    if pd.api.types.is_integer_dtype(rows["owner_id"]):  # owner ids are identifiers: text in the table
        rows["owner_id"] = rows["owner_id"].astype("string").astype(object)
    eng = engine(url)
    _upgrade_store(eng, url, migrate_empty=True)
    dropped: list = []
    cutoff = None
    # The parquet file is written while the database inserts (pyarrow and SQLite release the GIL); the
    # database commits only if the file was written, and the file moves into place only after the commit.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        parquet = pool.submit(scores.to_parquet, tmp, index=False)
        try:
            with eng.begin() as conn:  # one transaction: a failure anywhere leaves the previous rows in place
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_PUBLISH_CACHE_KIB}")
                if sa.inspect(conn).has_table(SCORES_TABLE):
                    rows["lead_id"] = store.stored_lead_ids(conn, rows["lead_id"])
                    conn.execute(sa.text(f"DELETE FROM {SCORES_TABLE} WHERE as_of_ts = :k").bindparams(
                        sa.bindparam("k", type_=store.UtcTimestamp())), {"k": as_of})
                    created = None
                else:
                    created = store.create_scores_table(conn, scores["lead_id"])
                if retention_days is not None:
                    cutoff, dropped = store.drop_old_nights(conn, as_of, retention_days)
                rows.to_sql(SCORES_TABLE, conn, if_exists="append", index=False, chunksize=100_000,
                            method=_insert_many if conn.dialect.paramstyle in _MARKS else None)
                if created is not None:
                    store.create_indexes(conn, created)
                parquet.result()
        except BaseException:
            concurrent.futures.wait([parquet])
            tmp.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # a night never published leaves no empty folder behind
                folder.rmdir()
            raise
        finally:
            eng.dispose()
    tmp.replace(target)  # the parquet copy moves into place only once the database committed
    if cutoff is not None:
        dropped = {f"{night:%Y-%m-%d}" for night in dropped} | _remove_nights_before(root, cutoff)
    return Published(path=target, nights_dropped=len(dropped), retention_cutoff=cutoff)


def _remove_nights_before(root: Path, cutoff: pd.Timestamp) -> set[str]:
    """The parquet folders (``as_of=<date>``) of nights before ``cutoff``; returns their dates."""
    removed = set()
    for path in root.glob("as_of=*"):
        night = path.name.removeprefix("as_of=")
        try:
            stamp = pd.Timestamp(night, tz="UTC")
        except ValueError:
            continue  # not a night's folder
        if path.is_dir() and stamp < cutoff:
            shutil.rmtree(path)
            removed.add(night)
    return removed


def _upgrade_store(eng: sa.Engine, url: str | None, *, migrate_empty: bool) -> bool:
    """Migrate the store to the newest layout when it is behind (a store written by an older leadscore);
    returns whether it holds a scores table. Only a writer (``migrate_empty``) versions a database that holds
    none of leadscore's tables yet: reading never creates anything."""
    with eng.connect() as conn:
        behind = (migrate_empty or store.is_store(conn)) and store.needs_upgrade(conn)
    if behind:
        store.upgrade(url or db_url())
    with eng.connect() as conn:
        return sa.inspect(conn).has_table(SCORES_TABLE)


HISTORY_COLUMNS = ("lead_id", "as_of_ts", "probability", "grade", "model_version", "definition_version",
                   "owner_id", "source", "segment")


def read_score_history(*, url: str | None = None) -> pd.DataFrame:
    """Every published night's scores (the columns the monitor and report need), oldest night first."""
    eng = engine(url)
    try:
        if not _upgrade_store(eng, url, migrate_empty=False):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS}).assign(
                as_of_ts=pd.Series(dtype="datetime64[ns, UTC]"))
        columns = ", ".join(store.read_expression(c, eng.dialect.name) for c in HISTORY_COLUMNS)
        with eng.connect() as conn:
            frame = pd.read_sql(sa.text(f"SELECT {columns} FROM {SCORES_TABLE} ORDER BY as_of_ts, lead_id"), conn)
    finally:
        eng.dispose()
    frame["as_of_ts"] = store.timestamps(frame["as_of_ts"])
    return frame


def _iso(timestamps: pd.Series) -> pd.Series:
    """UTC ISO-8601 text, formatted once per distinct value (a night has one as-of and one scoring time)."""
    codes, uniques = pd.factorize(timestamps)
    text = pd.DatetimeIndex(uniques).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object)
    return pd.Series(np.where(codes >= 0, text[np.maximum(codes, 0)] if len(text) else None, None),
                     index=timestamps.index, dtype=object)


_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # positional placeholders, by DBAPI paramstyle


def _insert_many(table, conn, keys, data_iter) -> int:
    """pandas' to_sql insert, straight to the driver's executemany inside the open transaction.

    pandas' default builds one dict per row for SQLAlchemy; at a million rows a night that is most of
    the publish time. sqlite3 and psycopg both batch tuples natively."""
    rows = list(data_iter)
    marks = _MARKS[conn.dialect.paramstyle]
    columns = ", ".join(conn.dialect.identifier_preparer.quote(k) for k in keys)
    sql = (f"INSERT INTO {conn.dialect.identifier_preparer.quote(table.name)} ({columns}) "
           f"VALUES ({', '.join([marks] * len(keys))})")
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
    return len(rows)


def read_scores(*, as_of: pd.Timestamp | None = None, owner: str | None = None,
                url: str | None = None) -> pd.DataFrame:
    """Published scores for one as-of date (the latest by default), best first."""
    night = ":k" if as_of is not None else f"(SELECT MAX(as_of_ts) FROM {SCORES_TABLE})"
    where, args = f"WHERE as_of_ts = {night}", ({"k": as_of} if as_of is not None else {})
    if owner:
        where += " AND owner_id = :o"
        args["o"] = owner
    binds = [sa.bindparam("k", type_=store.UtcTimestamp())] if as_of is not None else []
    return _read_score_rows(where + " ORDER BY probability DESC, lead_id", binds, args, url)


# The run log's fallback, and what a run that died leaves behind ----------------------------------------------------

RUNNING = "running"
INTERRUPTED = "interrupted"
INTERRUPTED_AFTER_PUBLISH = "interrupted after publishing"
FALLBACK_RUN_LOG = "runs-fallback.jsonl"


DATABASE_ERRORS = (sa.exc.SQLAlchemyError,)  # what the database or its driver raises, for a step to tell apart


class DatabaseUnavailable(RuntimeError):
    """The scores database cannot be reached or written; the message names it with its password masked."""


def fallback_run_log() -> Path:
    """Where a run is recorded when the database cannot be: ``<scores dir>/runs-fallback.jsonl``, one JSON line per
    record, beside the parquet scores and the publish lock (on the machine that ran it). ``leadscore runs`` reads it
    with the database's ``leadscore_runs``; a later line of the same run replaces an earlier one."""
    return scores_dir() / FALLBACK_RUN_LOG


def driver_message(exc: BaseException, url: str | None = None) -> str:
    """The first line of what the database driver said, with the URL's password masked should it appear."""
    detail = getattr(exc, "orig", None) or exc
    first = next((line.strip() for line in str(detail).splitlines() if line.strip()), type(detail).__name__)
    password = sa.make_url(url or db_url()).password
    return first.replace(str(password), "***") if password else first


def database_problem(exc: BaseException, url: str | None = None) -> str:
    """One line naming the database (password masked) and what its driver said, for an operator to act on."""
    return f"database {shown_url(url)} cannot be used: {driver_message(exc, url)}"


def _append_fallback(line: dict, volumes: dict[str, int] | None, problem: str) -> Path:
    path = fallback_run_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**line, "volumes": volumes, "database_error": problem,
              "recorded_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="microseconds")}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return path


def _fallback_runs() -> pd.DataFrame:
    path = fallback_run_log()
    if not path.exists():
        return pd.DataFrame(columns=[*RUN_COLUMNS, "logged_to"])
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append({c: json.loads(text).get(c) for c in RUN_COLUMNS})
        except (ValueError, AttributeError):  # a line cut short by a crash: the rest are still readable
            continue
    return pd.DataFrame(lines, columns=list(RUN_COLUMNS)).assign(logged_to=str(path))


def _database_runs(url: str | None, limit: int | None) -> pd.DataFrame:
    path = sqlite_file(url or db_url())
    if path is not None and not path.exists():  # no store here: read nothing, create nothing
        return pd.DataFrame(columns=[*RUN_COLUMNS, "logged_to"])
    eng = engine(url)
    try:
        _upgrade_store(eng, url, migrate_empty=False)
        with eng.connect() as conn:
            if not sa.inspect(conn).has_table(RUNS_TABLE):
                return pd.DataFrame(columns=[*RUN_COLUMNS, "logged_to"])
            query = f"SELECT * FROM {RUNS_TABLE} ORDER BY started DESC"
            frame = pd.read_sql(sa.text(query + (" LIMIT :n" if limit else "")), conn, params={"n": limit})
    finally:
        eng.dispose()
    return frame.assign(logged_to="database")


def _merge_runs(*logs: pd.DataFrame) -> pd.DataFrame:
    """One line per run, newest first: a finished line over its start line, the later of two finished ones."""
    logs = [log for log in logs if len(log)]
    if not logs:
        return pd.DataFrame()
    frame = pd.concat(logs, ignore_index=True).astype({"started": object, "finished": object})
    frame["_final"] = frame["status"] != RUNNING
    frame["_order"] = range(len(frame))
    frame = frame.sort_values(["_final", "_order"]).drop_duplicates("run_id", keep="last")
    frame = frame.sort_values("started", ascending=False, ignore_index=True)
    return frame.drop(columns=["_final", "_order"]).astype(object).where(frame.notna(), None)


def read_run_log(*, url: str | None = None, limit: int = 20) -> tuple[pd.DataFrame, str | None]:
    """(the run log newest first, merged as in :func:`read_runs`; what stopped the database being read, or None)."""
    problem = None
    try:
        database = _database_runs(url, limit)
    except sa.exc.SQLAlchemyError as exc:
        database, problem = pd.DataFrame(), database_problem(exc, url)
    return _merge_runs(database, _fallback_runs()).head(limit), problem


def last_published_volumes(*, url: str | None = None) -> dict[str, int] | None:
    """Rows per source table of the last published night (the latest as-of date; of its runs, the last to
    start), as recorded in ``source_volumes``; None before the first."""
    eng = engine(url)
    try:
        _upgrade_store(eng, url, migrate_empty=False)
        with eng.connect() as conn:
            if not sa.inspect(conn).has_table(SOURCE_VOLUMES_TABLE):
                return None
            run_id = conn.execute(sa.text(
                f"SELECT v.run_id FROM {SOURCE_VOLUMES_TABLE} v LEFT JOIN {RUNS_TABLE} r ON r.run_id = v.run_id "
                "ORDER BY v.as_of DESC, r.started DESC LIMIT 1")).scalar()
            if run_id is None:
                return None
            rows = conn.execute(sa.text(f"SELECT table_name, rows FROM {SOURCE_VOLUMES_TABLE} WHERE run_id = :r"),
                                {"r": run_id}).all()
    finally:
        eng.dispose()
    return {table: int(n) for table, n in rows}


def recover_interrupted_runs(*, url: str | None = None, folder: Path | None = None) -> list[str]:
    """Close what runs killed mid-way left behind. Call it holding the publish lock: then no other run is alive.

    - A parquet copy a dead run wrote but never renamed into place (killed between the database commit and the
      rename) is moved into place when the database holds exactly its rows (same night, count and scoring time);
      otherwise it was never published and is removed. The database and the parquet then hold the same night.
    - A run still logged as ``running`` is marked ``interrupted`` (nothing published) or ``interrupted after
      publishing`` (its night's rows in the database were scored after it started).
    Returns one line per thing done.
    """
    folder = folder or scores_dir()
    done = []
    for tmp in sorted(folder.glob("as_of=*/.scores.*.parquet.tmp")):
        pid = tmp.name.split(".")[2]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        as_of = pd.Timestamp(tmp.parent.name.removeprefix("as_of="), tz="UTC")
        try:
            copy = pd.read_parquet(tmp, columns=["scored_at"])["scored_at"]
        except Exception:  # noqa: BLE001 — killed while writing it: never complete, never published
            copy = None
        night = read_scores(as_of=as_of, url=url) if copy is not None else pd.DataFrame()
        if (copy is not None and len(copy) == len(night) > 0
                and pd.to_datetime(copy, utc=True).max() == night["scored_at"].max()):
            tmp.replace(tmp.parent / "scores.parquet")
            done.append(f"night {as_of:%Y-%m-%d}: the parquet copy committed by a killed run was moved into place")
        else:
            tmp.unlink(missing_ok=True)
    running = _merge_runs(_database_runs(url, None), _fallback_runs())
    for run in (running[running["status"] == RUNNING].to_dict("records") if len(running) else []):
        started = pd.Timestamp(run["started"]).floor("s")
        night = read_scores(as_of=pd.Timestamp(run["as_of"], tz="UTC"), url=url) if run["as_of"] else pd.DataFrame()
        published = len(night) > 0 and night["scored_at"].max() >= started
        run["status"] = INTERRUPTED_AFTER_PUBLISH if published else INTERRUPTED
        run["error"] = ("the process ended after its night was published, before it finished (killed?)"
                        if published else "the process ended before it published anything (killed?)")
        if published:
            run["leads_scored"] = len(night)
        record_run(run, url=url)
        done.append(f"run {run['run_id']}: {run['status']}")
    return done

# The workspace's readers (pipeline.web): bound parameters only; nights bound as the store's UTC timestamps.

def _night_param(name: str = "k") -> sa.BindParameter:
    return sa.bindparam(name, type_=store.UtcTimestamp())


def read_score_nights(*, url: str | None = None) -> list[pd.Timestamp]:
    """Every published night (as-of), newest first; empty when nothing is published."""
    eng = engine(url)
    try:
        if not _upgrade_store(eng, url, migrate_empty=False):
            return []
        column = store.scores_table().c.as_of_ts
        with eng.connect() as conn:
            nights = conn.execute(sa.select(column).distinct().order_by(column.desc())).scalars().all()
    finally:
        eng.dispose()
    return [pd.Timestamp(night) for night in nights]


def read_night_scores(as_of: pd.Timestamp, *, owners: list[str] | None = None, grades: list[str] | None = None,
                      sources: list[str] | None = None, url: str | None = None) -> pd.DataFrame:
    """One night's published scores, best first, narrowed to ``owners`` (matched case-insensitively), ``grades``
    and ``sources`` when given (None = any)."""
    query = "WHERE as_of_ts = :k"
    args: dict = {"k": as_of}
    binds = [_night_param()]
    for column, values, transform in (("owner_id", owners, "LOWER(owner_id)"), ("grade", grades, "grade"),
                                      ("source", sources, "source")):
        if values is not None:
            query += f" AND {transform} IN :{column}"
            args[column] = [v.lower() for v in values] if column == "owner_id" else list(values)
            binds.append(sa.bindparam(column, expanding=True))
    return _read_score_rows(query + " ORDER BY probability DESC, lead_id", binds, args, url)


def read_night_facets(as_of: pd.Timestamp, *, url: str | None = None) -> dict[str, list[str]]:
    """The owners, grades and sources present on one night (for the workspace's filter lists)."""
    eng = engine(url)
    out: dict[str, list[str]] = {"owner_id": [], "grade": [], "source": []}
    try:
        if not _upgrade_store(eng, url, migrate_empty=False):
            return out
        with eng.connect() as conn:
            for column in out:
                statement = sa.text(f"SELECT DISTINCT {column} FROM {SCORES_TABLE} WHERE as_of_ts = :k "
                                    f"AND {column} IS NOT NULL ORDER BY {column}").bindparams(_night_param())
                out[column] = [str(v) for v in conn.execute(statement, {"k": as_of}).scalars()]
    finally:
        eng.dispose()
    return out


def read_lead_scores(lead_id: str | int, *, url: str | None = None) -> pd.DataFrame:
    """Every night one lead was scored (all published columns), oldest night first; empty if never scored. The
    id is compared as text: a CRM's ids are integers in one store and text in another."""
    return _read_score_rows("WHERE CAST(lead_id AS VARCHAR(100)) = :l ORDER BY as_of_ts", [], {"l": str(lead_id)},
                            url)


def _read_score_rows(where: str, binds: list, params: dict, url: str | None) -> pd.DataFrame:
    """Every column of the scores rows ``where`` selects (bound ``params``), timestamps as UTC; empty when nothing
    is published."""
    eng = engine(url)
    try:
        if not _upgrade_store(eng, url, migrate_empty=False):
            return pd.DataFrame()
        columns = ", ".join(store.read_expression(c.name, eng.dialect.name) for c in store.scores_table().columns)
        statement = sa.text(f"SELECT {columns} FROM {SCORES_TABLE} {where}").bindparams(*binds)
        with eng.connect() as conn:
            frame = pd.read_sql(statement, conn, params=params)
    finally:
        eng.dispose()
    for col in store.TIMESTAMP_COLUMNS:
        frame[col] = store.timestamps(frame[col])
    return frame


def read_source_table(name: str, *, columns: list[str] | None = None, lead_id: str | None = None,
                      folder: SourceLocation | None = None) -> pd.DataFrame | None:
    """One source table as stored (unchecked), None when the folder (or database) lacks it: only those of
    ``columns`` it has (all by default), and only one lead's rows when ``lead_id`` is given (a parquet filter or a
    bound, indexed query: the workspace's lead page reads one lead's events, never the whole table)."""
    folder = folder if folder is not None else source_location()
    if source_db.is_url(folder):
        return source_db.read_table(folder, name, columns=columns, lead_id=lead_id)
    parquet, csv_path = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.exists():
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(parquet)
        wanted = [c for c in columns or schema.names if c in schema.names]
        if lead_id is None:
            return pd.read_parquet(parquet, columns=wanted)
        numeric = pa.types.is_integer(schema.field("lead_id").type)
        if numeric and not str(lead_id).lstrip("-").isdigit():
            return pd.read_parquet(parquet, columns=wanted).iloc[0:0]  # no integer id is spelled that way
        return pd.read_parquet(parquet, columns=wanted,
                               filters=[("lead_id", "==", int(lead_id) if numeric else str(lead_id))])
    if csv_path.exists():
        frame = pd.read_csv(csv_path, usecols=lambda c: columns is None or c in columns)
        return frame[frame["lead_id"].astype(str) == str(lead_id)] if lead_id is not None else frame
    return None
