"""The data-contract tables in a SQL database (SQLAlchemy URL): read whole (chunked), read for one lead, written.

``LEADSCORE_SOURCES`` (or ``--sources``) may be a SQLAlchemy URL instead of a folder: ``postgresql+psycopg://…`` or
``sqlite:///…``. The six contract tables (``features.schema.CONTRACT``) are read by their names; a table the
database lacks is absent, as a file missing from a folder is. What is read is held to the contract exactly as files
are (``features.schema``): this module only turns the database's types into the dtypes the file path gives, by the
columns' SQL types: timestamps (PostgreSQL ``timestamptz``, SQLite text) as ``datetime64[ns, UTC]``, integers as
``int64`` (``Int64`` where a column has NULLs), booleans as ``bool`` (``boolean`` with NULLs), text as ``str``. A
value that cannot be read as its type (a SQLite text timestamp that is not ISO 8601) is kept as it is stored, so the
contract check quarantines that row with its reason, as it would from a CSV file.

Reads are chunked (a server-side cursor on PostgreSQL, ``chunk_rows`` rows at a time): the driver's row objects are
never held for more than one chunk, each chunk is converted to its final dtypes at once, and the table is assembled
column by column, so a large events table is never whole in memory twice. Rows come in the database's scan order
(the order they were loaded in, for a table ``leadscore sources load`` wrote); a quarantined row's ``row_number`` is
its position in that order.

One lead (``read_lead_tables``) is read with bound SQL through the indexes ``write_tables`` creates
(:data:`INDEXES`): the lead's row, its account's leads, their opportunities, the account, the lead's events and
sales activities, and the campaigns table (small, read whole).
"""

from __future__ import annotations

import datetime
import io as textio
import time
from collections.abc import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.schema import CONTRACT

CHUNK_ROWS = 200_000
# What the one-lead read and the nightly's feature build look rows up by: created by `leadscore sources load`, and
# what a team's own database needs for `leadscore score --lead` to stay in milliseconds.
INDEXES: dict[str, list[tuple[str, ...]]] = {
    "leads": [("lead_id",), ("account_id",), ("created_ts",)],
    "accounts": [("account_id",)],
    "campaigns": [("campaign_id",)],
    "engagement_events": [("lead_id", "event_ts")],
    "sales_activities": [("lead_id", "activity_ts")],
    "opportunities": [("lead_id", "created_ts")],
}


class SourceDatabaseError(ConnectionError):
    """The source database cannot be read or written; the message names it with its password masked."""


def is_url(location) -> bool:
    """Whether a sources location is a database URL (``dialect[+driver]://…``) rather than a folder or file."""
    return isinstance(location, str) and "://" in location


def shown(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def problem(exc: BaseException, url: str) -> str:
    """One line: the database (password masked) and the first line of what its driver said (password masked)."""
    detail = getattr(exc, "orig", None) or exc
    first = next((line.strip() for line in str(detail).splitlines() if line.strip()), type(detail).__name__)
    password = sa.make_url(url).password
    return f"source database {shown(url)} cannot be read: " + (first.replace(str(password), "***") if password
                                                                 else first)


def _engine(url: str) -> sa.Engine:
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise SourceDatabaseError(f"{shown(url)} is not a database URL leadscore can open ({exc}); expected e.g. "
                                  "postgresql+psycopg://user@host/db or sqlite:///path/sources.db") from None


# Types ----------------------------------------------------------------------------------------------------------

def _kind(sql_type: sa.types.TypeEngine) -> str:
    if isinstance(sql_type, sa.Boolean):
        return "bool"
    if isinstance(sql_type, sa.DateTime | sa.Date):
        return "timestamp"
    if isinstance(sql_type, sa.Integer):
        return "int"
    if isinstance(sql_type, sa.Float | sa.Numeric):
        return "float"
    return "text"


def _timestamps(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        return out.astype("datetime64[ns, UTC]")
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("datetime", "empty"):
        return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")  # driver datetimes (any offsets)
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    if (parsed.isna() & values.notna()).any():
        return values.astype(object)  # unreadable text: the contract check quarantines those rows, with the reason
    return parsed.astype("datetime64[ns, UTC]")


def _convert(values: pd.Series, kind: str) -> pd.Series:
    """One chunk's column in the dtype the file path gives (NULL-able variants where it has NULLs)."""
    if kind == "timestamp":
        return _timestamps(values)
    if kind == "int":
        if pd.api.types.is_integer_dtype(values):
            return values.astype("Int64")
        if pd.api.types.is_float_dtype(values) or values.isna().all():
            floats = values.astype(float)
            whole = floats.dropna()
            return floats.astype("Int64") if (whole == np.floor(whole)).all() else floats
        return values
    if kind == "bool":
        if values.isna().all():
            return values.astype("boolean")
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values) or values.dtype == object:
            readable = values.dropna().isin([True, False, 0, 1]).all()
            return values.astype("boolean") if readable else values
        return values
    if kind == "float":
        return pd.to_numeric(values, errors="coerce") if values.dtype == object else values.astype(float)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.astype("str")
    return values


def _finish(values: pd.Series, kind: str) -> pd.Series:
    """The whole column: NULL-free integers and booleans in their plain dtypes, as parquet keeps them."""
    extension = isinstance(values.dtype, pd.api.extensions.ExtensionDtype)
    if kind in ("int", "bool") and extension and not values.isna().any():
        return values.astype("int64" if kind == "int" else bool)
    return values


def _column_kinds(conn: sa.Connection, table: str) -> dict[str, str]:
    return {c["name"]: _kind(c["type"]) for c in sa.inspect(conn).get_columns(table)}


def _frame(chunks: Iterable[pd.DataFrame], kinds: dict[str, str]) -> pd.DataFrame:
    """The chunks, each converted as it arrives, assembled column by column (each chunk's column freed as it goes)."""
    chunks = iter(chunks)
    first = next(chunks, None)
    second = next(chunks, None) if first is not None else None
    if first is not None and second is None:  # one chunk (a small table, one lead's rows): no assembly
        return _small_frame({c: first[c] for c in first.columns}, kinds)
    chunks = [first, second, *chunks] if first is not None else []
    converted = [pd.DataFrame({c: _convert(chunk[c], kinds.get(c, "text")) for c in chunk.columns})
                 for chunk in chunks]
    if not converted:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in kinds})
    columns = list(converted[0].columns)
    out = {}
    for col in columns:
        parts = [chunk.pop(col) for chunk in converted]
        if len({str(p.dtype) for p in parts}) > 1 and kinds.get(col) == "timestamp":
            parts = [p.astype(object) for p in parts]  # one chunk held unreadable text: keep the column as stored
        out[col] = _finish(pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True),
                           kinds.get(col, "text"))
    return pd.DataFrame(out)


# Reading --------------------------------------------------------------------------------------------------------

def contract_tables_in(conn: sa.Connection) -> list[str]:
    names = set(sa.inspect(conn).get_table_names())
    return [name for name in CONTRACT if name in names]


def read_tables(url: str, *, chunk_rows: int = CHUNK_ROWS, names: Iterable[str] | None = None,
                columns: dict[str, list[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Every contract table the database holds (or those of ``names``), as stored (unchecked), in the file path's
    dtypes; ``columns``: per table, only those columns it has."""
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            present = contract_tables_in(conn)
            tables = {}
            for name in (present if names is None else [n for n in names if n in present]):
                kinds = _column_kinds(conn, name)
                wanted = [c for c in (columns or {}).get(name, kinds) if c in kinds]
                if not wanted:
                    continue
                select = sa.select(*[sa.column(c) for c in wanted]).select_from(sa.table(name))
                stream = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
                tables[name] = _frame(pd.read_sql(select, stream, chunksize=chunk_rows),
                                      {c: kinds[c] for c in wanted})
            return tables
    except sa.exc.SQLAlchemyError as exc:
        raise SourceDatabaseError(problem(exc, url)) from None
    finally:
        eng.dispose()


def read_table(url: str, name: str, *, columns: list[str] | None = None, lead_id=None) -> pd.DataFrame | None:
    """One contract table (None when the database lacks it); only one lead's rows when ``lead_id`` is given."""
    if lead_id is None:
        return read_tables(url, names=[name], columns={name: columns} if columns else None).get(name)
    eng = _engine(url)
    try:
        with eng.connect() as conn:
            if name not in contract_tables_in(conn):
                return None
            kinds = _column_kinds(conn, name)
            wanted = [c for c in columns or kinds if c in kinds]
            return _lead_rows(conn, name, kinds, wanted, "lead_id", lead_id)
    except sa.exc.SQLAlchemyError as exc:
        raise SourceDatabaseError(problem(exc, url)) from None
    finally:
        eng.dispose()


def _key_value(kinds: dict[str, str], column: str, value):
    """A key bound as the column's type: an integer id column is never compared as text (its index is used)."""
    if kinds.get(column) == "int":
        text = str(value).strip()
        return int(text) if text.lstrip("-").isdigit() else None
    return str(value)


def _small_frame(columns: dict, kinds: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: _finish(_convert(pd.Series(v) if not isinstance(v, pd.Series) else v.reset_index(drop=True),
                                             kinds.get(c, "text")), kinds.get(c, "text"))
                         for c, v in columns.items()})


def _rows_frame(result, kinds: dict[str, str], wanted: list[str]) -> pd.DataFrame:
    """A query's few rows in the file path's dtypes, built straight from the row tuples: a column whose values
    all arrive as the driver types its column kind is built in one step; any other goes the general way (which
    keeps what the contract check must see, e.g. unreadable text in a timestamp column)."""
    rows = result.fetchall()
    if not rows:
        return _empty(wanted, kinds)
    names = list(result.keys())
    columns = {name: _typed_column(values, kinds.get(name, "text"))
               for name, values in zip(names, zip(*rows, strict=True), strict=True)}
    general = {name: pd.Series(list(values)) for name, values in columns.items()  # inferred, as pd.read_sql does
               if isinstance(values, tuple)}
    if general:
        columns.update(_small_frame(general, kinds))
    return pd.DataFrame(columns, columns=names)


_DRIVER_TYPES = {"int": (int,), "float": (float,), "text": (str,), "timestamp": (datetime.datetime,)}


def _typed_column(values: tuple, kind: str):
    """``values`` in the dtype ``_small_frame`` would give them, when each is None or what the driver returns for a
    column of ``kind`` (an int without a None: int64; a float, NULL as NaN: float64; text: ``str``; aware datetimes:
    UTC); else (a column of NULLs too) ``values`` unchanged, for the general path."""
    types = _DRIVER_TYPES.get(kind)
    if types is None or all(v is None for v in values) or not all(v is None or type(v) in types for v in values):
        return values
    if kind == "int":
        return values if None in values else np.array(values, dtype=np.int64)
    if kind == "float":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if kind == "text":
        return pd.array(values, dtype="str")
    if any(v is not None and v.tzinfo is None for v in values):  # naive: the general path's rule applies
        return values
    return pd.to_datetime(list(values), utc=True).astype("datetime64[ns, UTC]").array


def _lead_rows(conn: sa.Connection, name: str, kinds: dict[str, str], wanted: list[str], column: str,
               values) -> pd.DataFrame:
    values = [v for v in ((_key_value(kinds, column, x) for x in values) if isinstance(values, list | tuple)
                          else [_key_value(kinds, column, values)]) if v is not None]
    select = sa.select(*[sa.column(c) for c in wanted]).select_from(sa.table(name))
    if values:
        select = select.where(sa.column(column).in_(sa.bindparam("keys", values, expanding=True)))
    else:
        select = select.where(sa.false())
    return _rows_frame(conn.execute(select), {c: kinds[c] for c in wanted}, wanted)


def _lead_and_its_account_leads(conn: sa.Connection, kinds: dict[str, str], lead_id) -> pd.DataFrame:
    """The lead's row and every lead of its account (the history features read them), in one query that each index
    (``lead_id``, ``account_id``) answers."""
    key = _key_value(kinds, "lead_id", lead_id)
    if key is None:
        return _empty(list(kinds), kinds)
    leads = sa.table("leads", *[sa.column(c) for c in kinds])
    lead = sa.bindparam("lead", key)
    matches = leads.c.lead_id == lead
    if "account_id" in kinds:
        one = sa.table("leads", sa.column("lead_id"), sa.column("account_id")).alias("one_lead")
        matches = matches | (leads.c.account_id == sa.select(one.c.account_id).where(one.c.lead_id == lead)
                             .limit(1).scalar_subquery())
    return _rows_frame(conn.execute(sa.select(*leads.c).where(matches)), kinds, list(kinds))


_EMPTY_DTYPES = {"timestamp": "datetime64[ns, UTC]", "int": "int64", "float": "float64", "bool": "bool", "text": "str"}


def _empty(columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES[kinds[c]]) for c in columns})


class LeadReader:
    """One lead's rows from the source database, with bound, indexed lookups; one engine (and its connection pool)
    and the tables' column types kept for the life of the reader (a server process)."""

    CAMPAIGNS_SECONDS = 60

    def __init__(self, url: str):
        self.url = url
        self.engine = _engine(url)
        self._kinds: dict[str, dict[str, str]] | None = None
        self._campaigns_read: tuple[float, pd.DataFrame] | None = None

    def close(self) -> None:
        self.engine.dispose()

    def _table_kinds(self, conn: sa.Connection) -> dict[str, dict[str, str]]:
        if self._kinds is None:
            self._kinds = {name: _column_kinds(conn, name) for name in contract_tables_in(conn)}
        return self._kinds

    def _campaigns(self, conn: sa.Connection, kinds: dict[str, str]) -> pd.DataFrame:
        """The campaigns table (small, read whole), kept for ``CAMPAIGNS_SECONDS``: a new campaign is seen within it."""
        now = time.monotonic()
        if self._campaigns_read is None or now - self._campaigns_read[0] >= self.CAMPAIGNS_SECONDS:
            columns = list(kinds)
            select = sa.select(*[sa.column(c) for c in columns]).select_from(sa.table("campaigns"))
            self._campaigns_read = (now, _rows_frame(conn.execute(select), kinds, columns))
        return self._campaigns_read[1].copy()

    def read(self, lead_id) -> dict[str, pd.DataFrame] | None:
        """The tables the features of ``lead_id`` need, restricted to it (and its account); None when no lead has
        that id. As stored (unchecked), in the file path's dtypes."""
        try:
            with self.engine.connect() as conn:
                kinds = self._table_kinds(conn)
                if "leads" not in kinds:
                    raise SourceDatabaseError(f"source database {shown(self.url)} has no leads table")

                def rows(name, column, values):
                    return _lead_rows(conn, name, kinds[name], list(kinds[name]), column, values)

                tables = {"leads": _lead_and_its_account_leads(conn, kinds["leads"], lead_id)}
                key = _key_value(kinds["leads"], "lead_id", lead_id)
                lead = tables["leads"][tables["leads"]["lead_id"].to_numpy() == key]
                if lead.empty:
                    return None
                account = lead["account_id"].iloc[0] if "account_id" in lead.columns else None
                if account is not None and not pd.isna(account):
                    if "accounts" in kinds:
                        tables["accounts"] = rows("accounts", "account_id", account)
                elif "accounts" in kinds:
                    tables["accounts"] = _empty(list(kinds["accounts"]), kinds["accounts"])
                lead_ids = [v.item() if hasattr(v, "item") else v for v in tables["leads"]["lead_id"]]
                if "opportunities" in kinds:
                    tables["opportunities"] = rows("opportunities", "lead_id", lead_ids)
                for name in ("engagement_events", "sales_activities"):
                    if name in kinds:
                        tables[name] = rows(name, "lead_id", lead_id)
                if "campaigns" in kinds:
                    tables["campaigns"] = self._campaigns(conn, kinds["campaigns"])
                return tables
        except sa.exc.SQLAlchemyError as exc:
            raise SourceDatabaseError(problem(exc, self.url)) from None


# Writing --------------------------------------------------------------------------------------------------------

def write_tables(tables: dict[str, pd.DataFrame], url: str, *, chunk_rows: int = CHUNK_ROWS) -> dict[str, int]:
    """Each contract table of ``tables`` into the database at ``url``, replacing a table of that name, with the
    indexes of :data:`INDEXES`; rows per table written. PostgreSQL is loaded with COPY, SQLite in batches; each
    table in one transaction (a reader never sees half a table)."""
    unknown = sorted(set(tables) - set(CONTRACT))
    if unknown:
        raise ValueError(f"not contract tables: {', '.join(unknown)} (expected {', '.join(CONTRACT)})")
    eng = _engine(url)
    written = {}
    try:
        for name, frame in tables.items():
            with eng.begin() as conn:
                frame.iloc[:0].to_sql(name, conn, if_exists="replace", index=False)
                if conn.dialect.name == "postgresql":
                    _copy(conn, name, frame, chunk_rows)
                else:
                    for start in range(0, len(frame), chunk_rows):
                        frame.iloc[start:start + chunk_rows].to_sql(name, conn, if_exists="append", index=False)
                for cols in INDEXES.get(name, []):
                    if set(cols) <= set(frame.columns):
                        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_{name}_{'_'.join(cols)} ON {name} "
                                             f"({', '.join(cols)})"))
            written[name] = len(frame)
        with eng.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("ANALYZE"))
    except sa.exc.SQLAlchemyError as exc:
        raise SourceDatabaseError(problem(exc, url).replace("cannot be read", "cannot be written")) from None
    finally:
        eng.dispose()
    return written


def _copy(conn: sa.Connection, name: str, frame: pd.DataFrame, chunk_rows: int) -> None:
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(f'COPY "{name}" ({columns}) FROM STDIN (FORMAT csv)') as copy:
            for start in range(0, len(frame), chunk_rows):
                buffer = textio.StringIO()
                frame.iloc[start:start + chunk_rows].to_csv(buffer, header=False, index=False,
                                                            date_format="%Y-%m-%d %H:%M:%S.%f+00:00")
                copy.write(buffer.getvalue())
    finally:
        cursor.close()
