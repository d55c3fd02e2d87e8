"""Sources in a SQL database: the same tables (dtypes included) and the same quarantine as from files, chunked
reads, loading with indexes, the workspace's context, and train → score → nightly on PostgreSQL."""

import pandas as pd
import pytest
import signing
import sqlalchemy as sa
from typer.testing import CliRunner

from features.schema import check_sources
from pipeline import io, source_db
from pipeline.cli import app

NOW = pd.Timestamp("2026-10-01", tz="UTC")


@pytest.fixture(scope="module")
def world(tmp_path_factory, config):
    from features.demo_world import generate_world

    folder = tmp_path_factory.mktemp("world") / "sources"
    io.write_sources(generate_world(300, 3, config.generate).tables, folder)
    return folder


def _same_tables(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=name)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_database_gives_the_same_tables_as_parquet(world, tmp_path, database, request):
    url = (f"sqlite:///{tmp_path}/sources.db" if database == "sqlite" else request.getfixturevalue("postgres_url"))
    written = io.copy_sources_to_database(url, folder=world)
    files = io.load_sources(world)
    assert written == {name: len(frame) for name, frame in files.items()}
    _same_tables(io.load_sources(url), files)
    _same_tables(source_db.read_tables(url, chunk_rows=97), files)  # many chunks, one table
    _same_tables(io.read_sources(url), io.read_sources(world))  # and after the contract's check
    events = io.read_source_table("engagement_events", lead_id="5", folder=url)
    expected = files["engagement_events"][files["engagement_events"]["lead_id"] == 5].reset_index(drop=True)
    # One lead's rows: the same values; a NULL-able integer column without NULLs among them may come back as int64
    pd.testing.assert_frame_equal(events, expected, check_dtype=False)
    with sa.create_engine(url).connect() as conn:
        indexed = {(t, tuple(i["column_names"])) for t in source_db.INDEXES for i in sa.inspect(conn).get_indexes(t)}
    assert ("engagement_events", ("lead_id", "event_ts")) in indexed and ("leads", ("account_id",)) in indexed


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_bad_row_in_a_database_is_quarantined_as_from_a_file(world, tmp_path, database, request, config):
    url = (f"sqlite:///{tmp_path}/sources.db" if database == "sqlite" else request.getfixturevalue("postgres_url"))
    tables = io.load_sources(world)
    tables["opportunities"].loc[0, "amount"] = -5.0  # negative money
    tables["engagement_events"].loc[3, "event_ts"] = NOW + pd.Timedelta(days=3)  # in the future
    tables["engagement_events"].loc[7, "lead_id"] = 999_999  # no such lead
    tables["sales_activities"].loc[2, "activity_type"] = None  # a NULL where the contract allows it: kept
    folder = tmp_path / "bad"
    io.write_sources(tables, folder)
    io.copy_sources_to_database(url, folder=folder)
    types = config.features.engagement.event_types
    from_files = check_sources(io.load_sources(folder), now=NOW, event_types=types)
    from_db = check_sources(io.load_sources(url), now=NOW, event_types=types)
    assert len(from_files.rejects) >= 3
    pd.testing.assert_frame_equal(from_db.rejects, from_files.rejects)
    _same_tables(from_db.tables, from_files.tables)


def test_an_unreadable_sqlite_timestamp_is_quarantined_with_the_csv_reason(world, tmp_path):
    """SQLite keeps timestamps as text: one that is not ISO 8601 is quarantined as the same text in a CSV file is."""
    url = f"sqlite:///{tmp_path}/sources.db"
    io.copy_sources_to_database(url, folder=world)
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE engagement_events SET event_ts = 'last tuesday' WHERE rowid = 4"))
    csv_folder = tmp_path / "csv"
    csv_folder.mkdir()
    for name, frame in io.load_sources(world).items():
        if name == "engagement_events":
            frame = frame.astype({"event_ts": object})
            frame.loc[3, "event_ts"] = "last tuesday"
        frame.to_csv(csv_folder / f"{name}.csv", index=False)
    from_db = check_sources(io.load_sources(url), now=NOW)
    from_csv = check_sources(io.load_sources(csv_folder), now=NOW)
    bad = from_db.rejects[from_db.rejects["reason"].str.contains("not parseable timestamps")]
    assert list(bad["row_number"]) == [4] and list(bad["value"]) == ["last tuesday"]
    pd.testing.assert_frame_equal(bad.reset_index(drop=True), from_csv.rejects[
        from_csv.rejects["reason"].str.contains("not parseable timestamps")].reset_index(drop=True))


def test_errors_name_the_database_without_its_password(tmp_path, world):
    with pytest.raises(source_db.SourceDatabaseError) as caught:
        io.load_sources("postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:1/nowhere")
    assert "s3cr3t-pw" not in str(caught.value)
    assert str(caught.value).startswith("source database postgresql+psycopg://reader:***@127.0.0.1:1/nowhere cannot "
                                        "be read: ")
    with pytest.raises(source_db.SourceDatabaseError, match="not a database URL leadscore can open"):
        io.load_sources("nosuchdialect://x/y")
    with pytest.raises(ValueError, match="--to must be a database URL"):
        io.copy_sources_to_database(str(tmp_path / "folder"), folder=world)
    with pytest.raises(FileNotFoundError, match="holds no source tables"):
        io.copy_sources_to_database(f"sqlite:///{tmp_path}/x.db", folder=tmp_path)
    assert io.load_sources(f"sqlite:///{tmp_path}/empty.db") == {}  # no tables: as an empty folder


def test_sources_load_copies_a_folder_and_prints_no_password(world, tmp_path, postgres_url):
    result = CliRunner().invoke(app, ["sources", "load", "--to", postgres_url, "--from", str(world)])
    assert result.exit_code == 0, result.output
    password = sa.make_url(postgres_url).password
    assert "engagement_events" in result.output and "(lead_id, event_ts)" in result.output
    assert not password or password not in result.output
    result = CliRunner().invoke(app, ["sources", "load", "--to", "data/folder", "--from", str(world)])
    assert result.exit_code == 1 and "--to must be a database URL" in result.output


def test_the_workspace_reads_its_context_from_a_database(world, tmp_path):
    from pipeline.web import data

    url = f"sqlite:///{tmp_path}/sources.db"
    io.copy_sources_to_database(url, folder=world)
    from_files, from_db = data.SourceContext(world), data.SourceContext(url)
    for name, frame in from_files.tables().items():
        pd.testing.assert_frame_equal(from_db.tables()[name], frame) if isinstance(frame, pd.DataFrame) else \
            pd.testing.assert_series_equal(from_db.tables()[name], frame)
    assert from_db.problem == ""
    pd.testing.assert_frame_equal(from_db.lead_rows("sales_activities", "7"), from_files.lead_rows("sales_activities",
                                                                                                     "7"))
    broken = data.SourceContext("postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:1/nowhere")
    assert broken.tables() == {} and "cannot be read" in broken.problem and "s3cr3t-pw" not in broken.problem


@pytest.mark.integration
def test_train_score_and_nightly_run_on_postgresql_sources(store, postgres_url):
    from pipeline.steps import nightly, score, train

    io.copy_sources_to_database(postgres_url, folder=store.sources)
    config = store.config()
    trained = train.run(config, sources=postgres_url)
    signing.sign_and_promote(config, trained.model_version, reason="tests")
    night = score.run(config, sources=postgres_url, as_of="2026-06-01")
    assert night.rows > 0 and night.model_version == trained.model_version
    result = nightly.run(config, sources=postgres_url)
    assert result.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), result.error
    assert result.leads_scored > 0 and result.rejects == 0
    published = io.read_scores()
    assert len(published) == result.leads_scored and set(published["model_version"]) == {trained.model_version}


class _Rows:
    """What ``_rows_frame`` reads of a SQLAlchemy result: the rows and the column names."""

    def __init__(self, names, rows):
        self.names, self.rows = names, rows

    def keys(self):
        return self.names

    def fetchall(self):
        return self.rows


@pytest.mark.parametrize("column", [
    ("int", [3, 1, 2]), ("int", [3, None, 2]), ("int", ["3", "x", 2]), ("int", [True, 1, 2]),
    ("float", [0.5, None, 2.0]), ("float", [1, 2, 3]), ("float", [None, None, None]),
    ("text", ["a", None, "c"]), ("text", ["a", 1, "c"]),
    ("timestamp", [pd.Timestamp("2026-01-02 03:04:05.123456", tz="Europe/Berlin").to_pydatetime(), None,
                   pd.Timestamp("2026-02-01", tz="UTC").to_pydatetime()]),
    ("timestamp", [pd.Timestamp("2026-01-02").to_pydatetime(), None, "2026-01-03"]),
    ("timestamp", ["not a time", None, "2026-01-03"]),
    ("bool", [True, False, None]),
], ids=lambda c: f"{c[0]}:{c[1]}")
def test_rows_typed_in_one_step_get_the_dtypes_the_general_path_gives(column):
    """A lead's rows as the driver returns them (one-lead reads): the same dtypes and values as a whole table read
    in chunks gives them (``pd.read_sql``'s frame of the same rows, converted), typed columns built in one step and
    anything else the general way."""
    kind, values = column
    rows = [(v, k) for k, v in enumerate(values)]
    kinds = {"value": kind, "row": "int"}
    got = source_db._rows_frame(_Rows(["value", "row"], rows), kinds, ["value", "row"])
    chunk = pd.DataFrame.from_records(rows, columns=["value", "row"], coerce_float=True)  # as pd.read_sql builds it
    pd.testing.assert_frame_equal(got, source_db._frame(iter([chunk]), kinds), check_exact=True)
