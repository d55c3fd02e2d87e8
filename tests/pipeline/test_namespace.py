"""leadscore's own namespace (revision 0002): every table it owns carries the ``leadscore_`` prefix, so MLflow and
leadscore share one database; a store written under the old bare names is migrated in place, rows kept."""

from __future__ import annotations

import uuid

import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline import io, signoff, store, users

NIGHT = pd.Timestamp("2026-06-01", tz="UTC")
OLD_SCORE_COLUMNS = ["lead_id", "as_of_ts", "probability", "score", "grade", "model_version", "definition_version",
                     "owner_id", "company", "source", "reasons_positive", "reasons_negative", "scored_at"]


def _scores(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": range(1, n + 1), "as_of_ts": NIGHT, "probability": [0.5 / (i + 1) for i in range(n)],
        "score": [99 - i for i in range(n)], "grade": ["A", "B", "C", "D"][:n], "model_version": 1,
        "definition_version": "d1", "owner_id": "rep_01", "company": "Co", "source": "web",
        "reasons_positive": "", "reasons_negative": "", "scored_at": pd.Timestamp("2026-06-01 02:00", tz="UTC")})


@pytest.fixture
def shared_database(fresh_database):
    """A fresh PostgreSQL database that MLflow and leadscore both use."""
    return fresh_database("team_ns")


def _tables(url: str) -> set[str]:
    eng = sa.create_engine(url)
    try:
        inspector = sa.inspect(eng)
        return set(inspector.get_table_names()) | set(inspector.get_view_names())
    finally:
        eng.dispose()


def test_mlflow_and_leadscore_share_one_postgresql_database(shared_database, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_database)
    mlflow.set_tracking_uri(shared_database)
    try:
        experiment = mlflow.set_experiment(f"team-ns-{uuid.uuid4().hex[:6]}")  # MLflow's tables: runs, metrics …
        with mlflow.start_run() as before:
            mlflow.log_metric("auc", 0.9)
        # what the nightly job writes: its run log line, the published night, quarantined rows
        io.record_run({"run_id": "night-1", "as_of": "2026-06-01", "started": "2026-06-01T02:00:00+00:00",
                       "status": "published", "leads_scored": 4, "rejects": 1}, volumes={"leads": 4},
                      url=shared_database)
        io.write_scores(_scores(), NIGHT, url=shared_database, folder=tmp_path / "scores")
        io.write_rejects(pd.DataFrame({"table_name": ["leads"], "row_number": [3], "row_key": [17],
                                       "column_name": ["created_ts"], "reason": ["not a timestamp"],
                                       "value": [20260601]}), run_id="night-1", as_of=NIGHT, url=shared_database)
        users.add_user("ana", team="sales", password="ana-password", url=shared_database)
        # MLflow still works on its own tables, and leadscore reads its own back
        with mlflow.start_run():
            mlflow.log_metric("auc", 0.95)
        found = mlflow.search_runs([experiment.experiment_id])
        assert len(found) == 2 and before.info.run_id in set(found["run_id"])
        runs = io.read_runs(url=shared_database)
        assert runs[["run_id", "status", "leads_scored"]].values.tolist() == [["night-1", "published", 4]]
        assert io.last_published_volumes(url=shared_database) == {"leads": 4}
        assert io.read_rejects(url=shared_database)[["row_key", "value"]].values.tolist() == [["17", "20260601"]]
        assert len(io.read_scores(url=shared_database)) == 4
    finally:
        mlflow.set_tracking_uri(None)
    tables = _tables(shared_database)
    assert {"runs", "experiments", "metrics", "alembic_version"} <= tables  # MLflow's
    ours = {t for t in tables if t.startswith("leadscore_")}
    assert ours >= {store.SCORES_TABLE, store.LATEST_VIEW, io.RUNS_TABLE, io.REJECTS_TABLE, io.SOURCE_VOLUMES_TABLE,
                    "leadscore_users", "leadscore_tokens", "leadscore_approvals", "leadscore_promotions",
                    "leadscore_feedback", "leadscore_one_lead_scores", store.VERSION_TABLE}


def _old_layout_store(url: str) -> None:
    """A store as leadscore wrote it before revision 0002: bare ``scores`` (0001's layout), ``latest_scores``,
    ``runs``, ``rejects``, ``source_volumes``; users and approvals made on first use; versioned at 0001."""
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE scores (lead_id BIGINT NOT NULL, as_of_ts TEXT NOT NULL, probability FLOAT NOT NULL, "
            "score INTEGER NOT NULL, grade TEXT NOT NULL, model_version INTEGER NOT NULL, definition_version TEXT "
            "NOT NULL, owner_id TEXT, company TEXT, source TEXT, reasons_positive TEXT, reasons_negative TEXT, "
            "scored_at TEXT NOT NULL, CONSTRAINT pk_scores PRIMARY KEY (lead_id, as_of_ts))")
        conn.exec_driver_sql("CREATE INDEX ix_scores_queue ON scores (as_of_ts, owner_id, probability)")
        listed = ", ".join(f"s.{c}" for c in OLD_SCORE_COLUMNS)
        conn.exec_driver_sql(f"CREATE VIEW latest_scores AS SELECT {listed} FROM scores s WHERE s.as_of_ts = "
                             "(SELECT MAX(t.as_of_ts) FROM scores t WHERE t.lead_id = s.lead_id)")
        for lead in (1, 2, 3):
            conn.exec_driver_sql(
                "INSERT INTO scores VALUES (?, '2026-06-01T00:00:00Z', 0.4, 90, 'A', 1, 'd1', 'rep_01', 'Co', "
                "'web', '', '', '2026-06-01T02:00:00Z')", (lead,))
        conn.exec_driver_sql("CREATE TABLE runs (run_id TEXT, as_of TEXT, started TEXT, finished TEXT, status TEXT, "
                             "leads_scored INTEGER, rejects INTEGER, model_version INTEGER, definition_version TEXT, "
                             "warnings TEXT, error TEXT)")
        conn.exec_driver_sql("INSERT INTO runs VALUES ('old-run', '2026-06-01', '2026-06-01T02:00:00+00:00', "
                             "'2026-06-01T02:05:00+00:00', 'published', 3, 1, 1, 'd1', '[]', NULL)")
        conn.exec_driver_sql("CREATE TABLE rejects (table_name TEXT, row_number BIGINT, row_key TEXT, "
                             "column_name TEXT, reason TEXT, value TEXT, run_id TEXT, as_of TEXT, recorded_at TEXT)")
        conn.exec_driver_sql("INSERT INTO rejects VALUES ('leads', 9, '9', 'created_ts', 'not a timestamp', 'x', "
                             "'old-run', '2026-06-01', '2026-06-01T02:01:00+00:00')")
        conn.exec_driver_sql("CREATE TABLE source_volumes (run_id TEXT, as_of TEXT, table_name TEXT, rows BIGINT)")
        conn.exec_driver_sql("INSERT INTO source_volumes VALUES ('old-run', '2026-06-01', 'leads', 3)")
        conn.exec_driver_sql(f"CREATE TABLE {store.VERSION_TABLE} (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO {store.VERSION_TABLE} VALUES ('0001')")
    users.metadata.create_all(eng)  # the tables users and sign-off used to create on first use
    signoff.metadata.create_all(eng)
    eng.dispose()


def test_an_old_layout_sqlite_store_is_migrated_in_place_and_keeps_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path}/leadscore.db"
    _old_layout_store(url)
    eng = sa.create_engine(url)
    with eng.begin() as conn:  # a user added by the old code, straight into its table
        conn.execute(users.users_table.insert().values(name="old.rep", name_key="old.rep", team="sales",
                                                       role="member", owner_id=None, password_hash="x",
                                                       created_at="2026-05-01T00:00:00Z"))
    eng.dispose()

    runs = io.read_runs(url=url)  # the first use of the store migrates it
    assert runs[["run_id", "leads_scored"]].values.tolist() == [["old-run", 3]]
    tables = _tables(url)
    assert not tables & {"scores", "latest_scores", "runs", "rejects", "source_volumes"}
    assert {store.SCORES_TABLE, store.LATEST_VIEW, io.RUNS_TABLE, io.REJECTS_TABLE, io.SOURCE_VOLUMES_TABLE,
            "leadscore_feedback", "leadscore_one_lead_scores"} <= tables
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        assert store.current_version(conn) == store.HEAD
        latest = conn.exec_driver_sql(f"SELECT lead_id FROM {store.LATEST_VIEW} ORDER BY lead_id").scalars().all()
    eng.dispose()
    assert latest == [1, 2, 3]
    assert len(io.read_scores(url=url)) == 3
    assert io.read_rejects(url=url)["row_key"].tolist() == ["9"]
    assert io.last_published_volumes(url=url) == {"leads": 3}
    assert [u.name for u in users.list_users(url=url)] == ["old.rep"]
    # the next night goes into the migrated table, beside the old rows
    io.write_scores(_scores().assign(as_of_ts=NIGHT + pd.Timedelta(days=1)), NIGHT + pd.Timedelta(days=1), url=url,
                    folder=tmp_path / "scores")
    assert len(io.read_score_history(url=url)) == 7


def test_a_bare_runs_table_that_is_not_leadscores_is_left_alone(tmp_path):
    """MLflow's ``runs`` in the same database is never renamed, read or written by leadscore."""
    url = f"sqlite:///{tmp_path}/shared.db"
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("INSERT INTO runs VALUES ('abc', 'an MLflow run')")
    eng.dispose()
    io.record_run({"run_id": "night-1", "status": "published", "started": "2026-06-01T02:00:00+00:00"}, url=url)
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT run_uuid, name FROM runs").all() == [("abc", "an MLflow run")]
    eng.dispose()
    assert io.read_runs(url=url)["run_id"].tolist() == ["night-1"]


def test_rejected_rows_with_columns_the_table_does_not_hold_are_refused(tmp_path):
    with pytest.raises(ValueError, match="quarantine table does not hold"):
        io.write_rejects(pd.DataFrame({"table_name": ["leads"], "key": ["1"]}), run_id="r", as_of=NIGHT,
                         url=f"sqlite:///{tmp_path}/x.db")
