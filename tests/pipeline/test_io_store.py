"""The scores store a CRM sync reads: primary key, real timestamps, the latest_scores view, retention, and the
in-place migration of a store written by the old code — on SQLite and on the PostgreSQL `make test` starts."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline import io, store

NIGHT = pd.Timestamp("2026-06-01", tz="UTC")
PRIMARY_KEY = ["lead_id", "as_of_ts"]
WEEK = pd.Timedelta(days=7)


def _scores(as_of: pd.Timestamp, leads=(1, 2, 3, 4, 5), shift: float = 0.0,
            scored_at: str = "2026-06-01 02:00:00") -> pd.DataFrame:
    n = len(leads)
    return pd.DataFrame({
        "lead_id": list(leads), "as_of_ts": as_of,
        "probability": [round(0.5 / (i + 1) + shift, 6) for i in range(n)],
        "score": [99 - i for i in range(n)], "grade": (["A", "B", "C", "D"] + ["D"] * n)[:n],
        "model_version": 3, "definition_version": "abc123", "owner_id": [f"rep_{i % 2}" for i in range(n)],
        "company": [f"Co {i}" for i in range(n)], "source": "web",
        "reasons_positive": "visited pricing", "reasons_negative": "",
        "scored_at": pd.Timestamp(scored_at, tz="UTC"), "segment": None,
    })


@pytest.fixture(params=["sqlite", "postgresql"])
def sink(request, tmp_path):
    url = f"sqlite:///{tmp_path}/scores.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return {"url": url, "folder": tmp_path / "scores"}


def _query(url: str, sql: str) -> pd.DataFrame:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return pd.read_sql(sa.text(sql), conn)
    finally:
        eng.dispose()


def _inspect(url: str, what: str, *args):
    eng = sa.create_engine(url)
    try:
        return getattr(sa.inspect(eng), what)(*args)
    finally:
        eng.dispose()


def test_the_primary_key_refuses_a_lead_twice_in_one_night_and_keeps_the_published_night(sink):
    io.write_scores(_scores(NIGHT), NIGHT, **sink)
    before = io.read_scores(as_of=NIGHT, url=sink["url"])
    assert _inspect(sink["url"], "get_pk_constraint", store.SCORES_TABLE)["constrained_columns"] == PRIMARY_KEY
    with pytest.raises(Exception, match="UNIQUE constraint failed|duplicate key"):  # the driver's own error
        io.write_scores(_scores(NIGHT, leads=(1, 2, 2), shift=0.1), NIGHT, **sink)
    pd.testing.assert_frame_equal(io.read_scores(as_of=NIGHT, url=sink["url"]), before)
    assert not list((sink["folder"] / "as_of=2026-06-01").glob(".*.tmp"))
    eng = sa.create_engine(sink["url"])
    with pytest.raises(sa.exc.IntegrityError), eng.begin() as conn:  # whoever writes, not only leadscore
        conn.execute(sa.text("INSERT INTO leadscore_scores SELECT * FROM leadscore_scores WHERE lead_id = 1"))
    eng.dispose()
    # the same lead on another night is another row
    io.write_scores(_scores(NIGHT + WEEK, leads=(1, 2)), NIGHT + WEEK, **sink)
    assert len(io.read_score_history(url=sink["url"])) == 7


def test_timestamps_come_back_as_the_same_tz_aware_utc_instants(sink):
    scored_at = "2026-06-01 02:03:04.567891"  # kept to the second on both databases
    io.write_scores(_scores(NIGHT, scored_at=scored_at), NIGHT, **sink)
    back = io.read_scores(as_of=NIGHT, url=sink["url"])
    for col in ("as_of_ts", "scored_at"):
        assert str(back[col].dtype) == "datetime64[us, UTC]"
    assert (back["as_of_ts"] == NIGHT).all()
    assert (back["scored_at"] == pd.Timestamp("2026-06-01 02:03:04", tz="UTC")).all()
    assert io.read_score_history(url=sink["url"])["as_of_ts"].tolist() == [NIGHT] * 5
    # through the declared table (SQLAlchemy Core), too: aware UTC datetimes on both databases
    eng = sa.create_engine(sink["url"])
    with eng.connect() as conn:
        table = store.scores_table(sa.BigInteger())
        row = conn.execute(sa.select(table.c.as_of_ts, table.c.scored_at).where(
            table.c.as_of_ts == NIGHT.to_pydatetime()).limit(1)).one()
    eng.dispose()
    assert row.as_of_ts == NIGHT and row.as_of_ts.utcoffset() == pd.Timedelta(0)
    assert row.scored_at == pd.Timestamp("2026-06-01 02:03:04", tz="UTC")


PG_LAYOUT = {"lead_id": "bigint", "as_of_ts": "timestamp with time zone", "probability": "double precision",
             "score": "integer", "grade": "text", "model_version": "integer", "definition_version": "text",
             "owner_id": "text", "company": "text", "source": "text", "reasons_positive": "text",
             "reasons_negative": "text", "scored_at": "timestamp with time zone", "segment": "text"}


def _pg_types(url: str) -> dict[str, str]:
    types = _query(url, "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'leadscore_scores' ORDER BY ordinal_position")
    return dict(zip(types["column_name"], types["data_type"], strict=True))


def _sqlite_layout(url: str) -> list[tuple]:
    return [(c["name"], str(c["type"]), c["nullable"]) for c in _inspect(url, "get_columns", store.SCORES_TABLE)]


def test_postgresql_holds_real_timestamps(postgres_url, tmp_path):
    io.write_scores(_scores(NIGHT), NIGHT, url=postgres_url, folder=tmp_path / "scores")
    columns = {c["name"]: c["type"] for c in _inspect(postgres_url, "get_columns", store.SCORES_TABLE)}
    for col in ("as_of_ts", "scored_at"):
        assert isinstance(columns[col], sa.TIMESTAMP) and columns[col].timezone
    assert _pg_types(postgres_url) == PG_LAYOUT
    # an instant written from another time zone is the same night
    later = _query(postgres_url, "SELECT COUNT(*) AS n FROM leadscore_scores "
                                 "WHERE as_of_ts = TIMESTAMPTZ '2026-06-01 02:00:00+02:00'")
    assert later["n"].iloc[0] == 5


def test_the_latest_scores_view_gives_each_lead_its_latest_night(sink):
    io.write_scores(_scores(NIGHT, leads=(1, 2, 3, 4, 5)), NIGHT, **sink)
    io.write_scores(_scores(NIGHT + WEEK, leads=(1, 2, 3), shift=0.2), NIGHT + WEEK, **sink)
    io.write_scores(_scores(NIGHT - WEEK, leads=(1, 6)), NIGHT - WEEK, **sink)  # a backfill of an older night
    latest = _query(sink["url"],
                    "SELECT lead_id, as_of_ts, probability FROM leadscore_latest_scores ORDER BY lead_id")
    latest["as_of_ts"] = pd.to_datetime(latest["as_of_ts"], utc=True)
    assert latest["lead_id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert latest["as_of_ts"].tolist() == [NIGHT + WEEK] * 3 + [NIGHT] * 2 + [NIGHT - WEEK]
    assert latest["probability"].iloc[0] == pytest.approx(0.7)
    assert list(_query(sink["url"], "SELECT * FROM leadscore_latest_scores").columns) == list(_scores(NIGHT).columns)


def _nights_in_db(url: str) -> list[str]:
    return sorted(f"{t:%Y-%m-%d}" for t in io.read_score_history(url=url)["as_of_ts"].unique())


def _nights_on_disk(folder) -> list[str]:
    return sorted(p.name.removeprefix("as_of=") for p in folder.glob("as_of=*"))


def test_retention_drops_old_nights_from_the_database_and_the_parquet_folder(sink):
    nights = [NIGHT + i * WEEK for i in range(4)]  # 06-01, 06-08, 06-15, 06-22
    for night in nights[:3]:
        assert io.write_scores(_scores(night), night, retention_days=None, **sink).nights_dropped == 0
    (sink["folder"] / "as_of=2026-05-01").mkdir()  # a night the database no longer holds, on disk only
    (sink["folder"] / "notes").mkdir()             # not a night: left alone
    published = io.write_scores(_scores(nights[3]), nights[3], retention_days=10, **sink)
    assert published.nights_dropped == 3 and published.retention_cutoff == pd.Timestamp("2026-06-12", tz="UTC")
    assert _nights_in_db(sink["url"]) == _nights_on_disk(sink["folder"]) == ["2026-06-15", "2026-06-22"]
    assert (sink["folder"] / "notes").is_dir()
    assert len(io.read_scores(as_of=nights[2], url=sink["url"])) == 5  # the nights kept are whole
    # republishing within the retention drops nothing more
    assert io.write_scores(_scores(nights[3]), nights[3], retention_days=10, **sink).nights_dropped == 0
    # a backfill older than the retention would be deleted at once: refused, nothing changes
    with pytest.raises(ValueError, match="retention_days"):
        io.write_scores(_scores(nights[0]), nights[0], retention_days=10, **sink)
    assert _nights_in_db(sink["url"]) == _nights_on_disk(sink["folder"]) == ["2026-06-15", "2026-06-22"]


def _old_store(url: str, frames: list[pd.DataFrame]) -> None:
    """A store as the code before the migration wrote it: pandas' to_sql, ISO text timestamps, no key."""
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        for frame in frames:
            rows = frame.assign(**{c: frame[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ") for c in ("as_of_ts", "scored_at")})
            rows = rows.drop(columns="segment")  # older stores had no segment column (migration 0003 adds it)
            rows.to_sql("scores", conn, if_exists="append", index=False)
        conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_scores_queue ON scores (as_of_ts, owner_id, probability)"))
    eng.dispose()


def test_a_store_in_the_old_layout_is_migrated_in_place_on_first_use(sink, tmp_path, caplog):
    first, second = _scores(NIGHT), _scores(NIGHT + WEEK, leads=(1, 2, 3), shift=0.1)
    rescored = _scores(NIGHT + WEEK, leads=(2,), shift=0.3, scored_at="2026-06-08 05:00")  # a duplicate row
    _old_store(sink["url"], [first, second, rescored])
    columns = {c["name"]: c["type"] for c in _inspect(sink["url"], "get_columns", "scores")}
    assert isinstance(columns["as_of_ts"], sa.Text)  # the old layout, as today's stores hold it
    assert _inspect(sink["url"], "get_pk_constraint", "scores")["constrained_columns"] == []

    with caplog.at_level("WARNING", logger="pipeline.store"):
        migrated = io.read_scores(as_of=NIGHT + WEEK, url=sink["url"])  # first use
    assert "1 duplicate rows" in caplog.text
    assert _inspect(sink["url"], "get_pk_constraint", store.SCORES_TABLE)["constrained_columns"] == PRIMARY_KEY
    assert len(io.read_score_history(url=sink["url"])) == 8  # every row, the duplicate once
    row_2 = migrated.set_index("lead_id").loc[2]
    assert row_2["probability"] == pytest.approx(0.8) and row_2["scored_at"] == pd.Timestamp("2026-06-08 05:00",
                                                                                                 tz="UTC")
    # the same rows as a store written in the new layout from the start
    fresh = f"sqlite:///{tmp_path}/fresh.db"
    for frame, night in ((first, NIGHT), (second.drop(index=1), NIGHT + WEEK)):
        io.write_scores(pd.concat([frame, rescored]) if night != NIGHT else frame, night, url=fresh,
                        folder=tmp_path / "fresh")
    for night in (NIGHT, NIGHT + WEEK):
        pd.testing.assert_frame_equal(io.read_scores(as_of=night, url=sink["url"]),
                                      io.read_scores(as_of=night, url=fresh))
    assert [(ix["name"], ix["column_names"], bool(ix["unique"])) for ix in _inspect(sink["url"], "get_indexes",
                                                                                  store.SCORES_TABLE)] == [
        ("ix_scores_queue", ["as_of_ts", "owner_id", "probability"], False)]
    assert len(_query(sink["url"], "SELECT * FROM leadscore_latest_scores")) == 5
    if sink["url"].startswith("postgresql"):  # the layout a fresh store gets (test_postgresql_holds_real_timestamps)
        assert _pg_types(sink["url"]) == PG_LAYOUT
    else:
        assert _sqlite_layout(sink["url"]) == _sqlite_layout(fresh)
    versions = _query(sink["url"], f"SELECT version_num FROM {store.VERSION_TABLE}")
    assert versions["version_num"].tolist() == [store.HEAD]
    assert not _inspect(sink["url"], "has_table", "alembic_version")  # MLflow's name stays free

    # running the migration again changes nothing; the next publish goes into the migrated table
    store.upgrade(sink["url"])
    assert _query(sink["url"], f"SELECT version_num FROM {store.VERSION_TABLE}")["version_num"].tolist() == [store.HEAD]
    assert len(io.read_score_history(url=sink["url"])) == 8
    io.write_scores(_scores(NIGHT + 2 * WEEK), NIGHT + 2 * WEEK, **sink)
    assert len(io.read_score_history(url=sink["url"])) == 13


def test_the_migration_runs_again_as_a_no_op_through_alembic_itself(sink):
    from alembic import command
    from alembic.config import Config

    _old_store(sink["url"], [_scores(NIGHT)])
    io.write_scores(_scores(NIGHT + WEEK), NIGHT + WEEK, **sink)  # a publish migrates it first
    before = _query(sink["url"], "SELECT * FROM leadscore_scores ORDER BY as_of_ts, lead_id")
    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    eng = sa.create_engine(sink["url"])
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    eng.dispose()
    after = _query(sink["url"], "SELECT * FROM leadscore_scores ORDER BY as_of_ts, lead_id")
    pd.testing.assert_frame_equal(after, before)
    assert len(before) == 10


def test_mlflow_version_table_in_the_same_database_is_left_alone(sink):
    eng = sa.create_engine(sink["url"])
    with eng.begin() as conn:  # what MLflow's own migrations leave in a database it shares
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('1b5f0d9ad7c1')"))
    eng.dispose()
    _old_store(sink["url"], [_scores(NIGHT)])
    assert len(io.read_scores(url=sink["url"])) == 5
    assert _query(sink["url"], "SELECT version_num FROM alembic_version")["version_num"].tolist() == ["1b5f0d9ad7c1"]
    assert _query(sink["url"], f"SELECT version_num FROM {store.VERSION_TABLE}")["version_num"].tolist() == [store.HEAD]


def test_a_migration_that_fails_leaves_the_old_store_as_it_was(sink):
    broken = _scores(NIGHT).astype({"probability": object})
    broken.loc[3, "probability"] = None  # a row the new layout refuses (probability is NOT NULL)
    _old_store(sink["url"], [broken])
    with pytest.raises(sa.exc.IntegrityError):
        io.read_scores(url=sink["url"])
    assert len(_query(sink["url"], "SELECT * FROM scores")) == 5
    assert _inspect(sink["url"], "get_pk_constraint", "scores")["constrained_columns"] == []
    assert not _inspect(sink["url"], "has_table", "scores_new")
    assert not _inspect(sink["url"], "has_table", store.VERSION_TABLE)


def test_reading_a_database_with_no_scores_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/empty.db"
    assert io.read_scores(url=url).empty and io.read_score_history(url=url).empty
    assert _inspect(url, "get_table_names") == []


def test_text_lead_ids_and_integer_owner_ids(sink):
    frame = _scores(NIGHT).assign(lead_id=[f"00Q{i}" for i in range(5)], owner_id=[7, 8, 7, 8, 7])
    io.write_scores(frame, NIGHT, **sink)
    back = io.read_scores(as_of=NIGHT, url=sink["url"])
    assert back["lead_id"].tolist() == [f"00Q{i}" for i in range(5)]
    assert back["owner_id"].tolist() == ["7", "8", "7", "8", "7"]
    assert io.read_scores(as_of=NIGHT, owner="8", url=sink["url"])["lead_id"].tolist() == ["00Q1", "00Q3"]


def test_text_lead_ids_into_a_store_of_integer_ids_are_refused_with_the_reason(tmp_path):
    url = f"sqlite:///{tmp_path}/ints.db"
    io.write_scores(_scores(NIGHT), NIGHT, url=url, folder=tmp_path / "scores")
    with pytest.raises(ValueError, match="the scores table holds integer lead ids"):
        io.write_scores(_scores(NIGHT + WEEK).assign(lead_id=list("abcde")), NIGHT + WEEK, url=url,
                        folder=tmp_path / "scores")
    assert _nights_in_db(url) == ["2026-06-01"]


def test_head_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(store.MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == store.HEAD
