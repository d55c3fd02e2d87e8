"""The sinks: the same published rows, replace-not-append, and atomic publish, on SQLite and PostgreSQL.

PostgreSQL runs on the real server `make test` starts (scripts/ensure-postgres.sh)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline import io, publish_lock, store

AS_OF = pd.Timestamp("2026-06-01", tz="UTC")


def _scores(as_of: pd.Timestamp, n: int = 5, shift: float = 0.0) -> pd.DataFrame:
    probability = [round(0.5 / (i + 1) + shift, 6) for i in range(n)]
    return pd.DataFrame({
        "lead_id": list(range(1, n + 1)), "as_of_ts": as_of, "probability": probability,
        "score": [99 - i for i in range(n)], "grade": ["A", "B", "C", "D", "D"][:n] + ["D"] * max(0, n - 5),
        "model_version": 3, "definition_version": "abc123", "owner_id": [f"rep_{i % 2}" for i in range(n)],
        "company": [f"Co {i}" for i in range(n)], "source": "web",
        "reasons_positive": "visited pricing", "reasons_negative": "",
        "scored_at": pd.Timestamp("2026-06-01 02:00", tz="UTC"), "segment": None,  # published rows name it
    })


@pytest.fixture(params=["sqlite", "postgresql"])
def sink(request, tmp_path):
    url = f"sqlite:///{tmp_path}/scores.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return {"url": url, "folder": tmp_path / "scores"}


def test_same_night_twice_leaves_one_set_and_other_nights_alone(sink):
    io.write_scores(_scores(AS_OF - pd.Timedelta(days=1)), AS_OF - pd.Timedelta(days=1), **sink)
    io.write_scores(_scores(AS_OF), AS_OF, **sink)
    io.write_scores(_scores(AS_OF, shift=0.01), AS_OF, **sink)
    tonight = io.read_scores(as_of=AS_OF, url=sink["url"])
    assert len(tonight) == 5 and tonight["probability"].iloc[0] == pytest.approx(0.51)
    assert len(io.read_scores(as_of=AS_OF - pd.Timedelta(days=1), url=sink["url"])) == 5
    mine = io.read_scores(as_of=AS_OF, owner="rep_1", url=sink["url"])
    assert mine["lead_id"].tolist() == [2, 4] and mine["probability"].is_monotonic_decreasing


def test_sqlite_and_postgresql_publish_the_same_rows(tmp_path, postgres_url):
    scores = _scores(AS_OF, n=50)
    io.write_scores(scores, AS_OF, url=f"sqlite:///{tmp_path}/s.db", folder=tmp_path / "a")
    io.write_scores(scores, AS_OF, url=postgres_url, folder=tmp_path / "b")
    lite = io.read_scores(as_of=AS_OF, url=f"sqlite:///{tmp_path}/s.db")
    pg = io.read_scores(as_of=AS_OF, url=postgres_url)
    pd.testing.assert_frame_equal(lite, pg)
    parquet = pd.read_parquet(tmp_path / "b" / "as_of=2026-06-01" / "scores.parquet")
    pd.testing.assert_frame_equal(lite, parquet.sort_values(["probability", "lead_id"], ascending=[False, True],
                                                            ignore_index=True), check_dtype=False)


def test_the_queue_index_exists(sink):
    io.write_scores(_scores(AS_OF), AS_OF, **sink)
    eng = sa.create_engine(sink["url"])
    indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(eng).get_indexes(store.SCORES_TABLE)}
    eng.dispose()
    assert indexes["ix_scores_queue"] == ["as_of_ts", "owner_id", "probability"]


def test_runs_and_rejects_tables_on_both_sinks(sink):
    rejects = pd.DataFrame({"table_name": ["engagement_events"], "row_number": [7], "row_key": ["42"],
                            "column_name": ["event_type"], "reason": ["unknown type"], "value": ["x"]})
    io.write_rejects(rejects, run_id="r1", as_of=AS_OF, url=sink["url"])
    io.record_run({"run_id": "r1", "as_of": "2026-06-01", "started": "2026-06-01T02:00:00+00:00",
                   "status": "published", "rejects": 1}, url=sink["url"])
    back = io.read_rejects(url=sink["url"])
    assert back[["table_name", "row_number", "row_key", "reason"]].values.tolist() == [
        ["engagement_events", 7, "42", "unknown type"]]
    assert io.read_runs(url=sink["url"])["rejects"].tolist() == [1]


def test_postgresql_lock_stops_a_second_publisher(postgres_url, tmp_path):
    """Two machines share the database but not the lock file: the advisory lock stops the second."""
    with (publish_lock.hold(tmp_path / "one", url=postgres_url),
          pytest.raises(publish_lock.LockHeld, match="another leadscore run"),
          publish_lock.hold(tmp_path / "two", url=postgres_url)):
        pass
    with publish_lock.hold(tmp_path / "two", url=postgres_url):  # released with the first run
        pass


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import pandas as pd
    from pipeline import io, publish_lock

    url, folder, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    real_insert = io._insert_many

    def stalling_insert(*args):
        written = real_insert(*args)  # rows of the new night are in the open transaction ...
        open(marker, "w").close()
        time.sleep(600)               # ... and here the process is killed
        return written

    io._insert_many = stalling_insert
    as_of = pd.Timestamp("2026-06-01", tz="UTC")
    n = 20_000
    scores = pd.DataFrame({"lead_id": range(n), "as_of_ts": as_of, "probability": 0.9, "score": 50,
                           "grade": "A", "model_version": 4, "definition_version": "new", "owner_id": "rep_0",
                           "company": "Co", "source": "web", "reasons_positive": "", "reasons_negative": "",
                           "scored_at": pd.Timestamp.now(tz="UTC")})
    with publish_lock.hold(__import__("pathlib").Path(folder), url=url):
        io.write_scores(scores, as_of, url=url, folder=__import__("pathlib").Path(folder))
""")


def test_killing_the_process_mid_publish_leaves_the_published_night_intact(sink, tmp_path, repo_root):
    io.write_scores(_scores(AS_OF), AS_OF, **sink)
    before = io.read_scores(as_of=AS_OF, url=sink["url"])
    parquet = sink["folder"] / "as_of=2026-06-01" / "scores.parquet"
    parquet_before = parquet.read_bytes()
    marker = tmp_path / "writing"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, sink["url"], str(sink["folder"]), str(marker)],
                             cwd=repo_root, env={**os.environ, "PYTHONPATH": str(repo_root)})
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(io.read_scores(as_of=AS_OF, url=sink["url"]), before)
    assert parquet.read_bytes() == parquet_before
    # The dead run's lock file does not block the next night, which publishes normally.
    with publish_lock.hold(sink["folder"], url=sink["url"]):
        io.write_scores(_scores(AS_OF, shift=0.02), AS_OF, **sink)
    assert io.read_scores(as_of=AS_OF, url=sink["url"])["probability"].iloc[0] == pytest.approx(0.52)
    assert not list(parquet.parent.glob(".*.tmp"))


def test_write_sources_replaces_each_table_whole_and_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "sources"
    io.write_sources({"leads": pd.DataFrame({"lead_id": [1, 2, 3]}), "truth": pd.DataFrame({"lead_id": [1]})}, folder)
    io.write_sources({"leads": pd.DataFrame({"lead_id": [7]})}, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["leads.parquet", "truth.parquet"]
    assert pd.read_parquet(folder / "leads.parquet")["lead_id"].tolist() == [7]
    assert pd.read_parquet(folder / "truth.parquet")["lead_id"].tolist() == [1]


def test_a_run_the_database_cannot_take_goes_to_the_fallback_log_and_is_read_back_merged(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SCORES_DIR", str(tmp_path / "scores"))
    good, down = f"sqlite:///{tmp_path}/scores.db", "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"
    line = {"run_id": "r1", "as_of": "2026-06-01", "started": "2026-06-01T02:00:00+00:00", "status": io.RUNNING}
    assert io.record_run(line, url=good) == "database"
    where = io.record_run({**line, "status": "failed", "finished": "2026-06-01T02:00:03+00:00", "error": "x"},
                          url=down)
    assert where == str(io.fallback_run_log()) and "s3cret" not in io.fallback_run_log().read_text()
    io.record_run({**line, "run_id": "r2", "started": "2026-06-02T02:00:00+00:00", "status": "published",
                   "finished": "2026-06-02T02:00:09+00:00", "leads_scored": 7}, url=good)
    merged = io.read_runs(url=good)
    assert merged[["run_id", "status", "logged_to"]].values.tolist() == [
        ["r2", "published", "database"], ["r1", "failed", str(io.fallback_run_log())]]
    frame, problem = io.read_run_log(url=down)
    assert frame["run_id"].tolist() == ["r1"] and "u:***@127.0.0.1:1/x cannot be used" in problem
    with pytest.raises(io.DatabaseUnavailable, match="cannot be used"):
        io.read_runs(url=down)


def test_reading_the_run_log_where_there_is_no_store_creates_none(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SCORES_DIR", str(tmp_path / "scores"))
    assert io.read_runs(url=f"sqlite:///{tmp_path}/nowhere.db").empty
    assert not (tmp_path / "nowhere.db").exists()


def _block(ids, sources, weight):
    return pd.DataFrame({"lead_id": ids, "as_of_ts": pd.Timestamp("2026-01-05", tz="UTC"),
                         "fit__source": pd.Categorical(sources), "eng__web_visit_7d": [1] * len(ids),
                         "sample_weight": weight})


class _Blocks:
    """An iterable of blocks whose attrs are known once it is exhausted, as the training table's are."""

    def __init__(self, blocks, *, fail_after=None):
        self.blocks, self.fail_after, self.attrs = blocks, fail_after, {}

    def __iter__(self):
        for k, block in enumerate(self.blocks):
            if k == self.fail_after:
                raise RuntimeError("the build failed")
            yield block
        self.attrs = {"sampling": {"rows_kept": sum(len(b) for b in self.blocks)}}


def test_a_dataset_written_block_by_block_reads_back_as_one_table_with_its_attrs(tmp_path):
    blocks = [_block([1, 2], ["web", None], 1.0), _block([3], [None], 2.5), _block([4, 5], ["ads", "web"], 2.5)]
    path = io.write_dataset_blocks(_Blocks(blocks), "training_table", "k1", folder=tmp_path)
    assert path == io.dataset_path("training_table", "k1", folder=tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["k1.parquet"]  # no temporary file left
    back = io.read_dataset("training_table", "k1", folder=tmp_path)
    assert back.attrs == {"sampling": {"rows_kept": 5}}
    assert back["lead_id"].tolist() == [1, 2, 3, 4, 5]
    assert isinstance(back["fit__source"].dtype, pd.CategoricalDtype)  # one category column of every block's
    assert set(back["fit__source"].cat.categories) == {"web", "ads"}
    assert back["fit__source"].cat.codes.tolist() == [0, -1, -1, 1, 0]  # categories in first-seen order: web, ads
    assert back["sample_weight"].tolist() == [1.0, 1.0, 2.5, 2.5, 2.5]


def test_a_dataset_whose_build_fails_midway_leaves_nothing_under_its_name(tmp_path):
    blocks = [_block([1, 2], ["web", "ads"], 1.0), _block([3], ["web"], 1.0)]
    with pytest.raises(RuntimeError, match="the build failed"):
        io.write_dataset_blocks(_Blocks(blocks, fail_after=1), "training_table", "k2", folder=tmp_path)
    assert io.read_dataset("training_table", "k2", folder=tmp_path) is None
    assert list((tmp_path / "training_table").iterdir()) == []  # nor a temporary file
    bad = [_block([1], ["web"], 1.0), _block([2], ["web"], 1.0).assign(lead_id="x")]
    with pytest.raises(ValueError, match="lead_id"):  # blocks that do not share their columns' types
        io.write_dataset_blocks(bad, "training_table", "k3", folder=tmp_path)
    assert list((tmp_path / "training_table").iterdir()) == []
