"""Fault injection on the nightly path: each fault once, and after it the published night is the old one whole or
the new one whole, the exit code is the one the README documents, and the run log says what happened.

One small world is published once per module (the "old" night); each test gets copies of its score database,
parquet folder and MLflow registry and runs the "new" night on them. A SIGKILL at a precise point runs the command
in a subprocess (``RUNNER``) that patches the right function to kill its own process there; database faults run on
SQLite and on the PostgreSQL server `make test` starts (each test a database copied from a template holding the
old night)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import signing
import sqlalchemy as sa
from typer.testing import CliRunner

from pipeline import io, publish_lock, tracking
from pipeline.cli import app
from pipeline.config import parse_config
from pipeline.steps import nightly, promote

runner = CliRunner()


@pytest.fixture(scope="module")
def old_night(trained_template, tmp_path_factory):
    """The world with a champion and one published night, built once: the state every fault starts from."""
    root = tmp_path_factory.mktemp("faults")
    shutil.copy(trained_template.root / "mlflow.db", root / "mlflow.db")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
           "LEADSCORE_DATASETS_DIR": str(trained_template.root / "datasets"),
           "LEADSCORE_SOURCES": str(trained_template.root / "sources"),
           "LEADSCORE_DB_URL": f"sqlite:///{root}/scores.db", "LEADSCORE_SCORES_DIR": str(root / "scores")}
    config = parse_config(trained_template.raw)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.chdir(root)
        tracking.configure()
        signing.sign_and_promote(config, 1, reason="fault tests")
        result = nightly.run(config)
        assert result.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), result.error
        scores = io.read_scores(as_of=result.as_of)
    return SimpleNamespace(root=root, env=env, config=config, as_of=result.as_of, scores=scores, run_id=result.run_id,
                           params=trained_template.root / "params.yaml", sources=Path(env["LEADSCORE_SOURCES"]))


@pytest.fixture(scope="module")
def pg_template(old_night, postgres_server_url):
    """A PostgreSQL database holding the old night (scores and run log), copied for each test that needs one."""
    name = f"leadscore_faults_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    scratch = old_night.root / "pg-template-scores"
    io.write_scores(old_night.scores, old_night.as_of, url=url, folder=scratch)
    for run in io.read_runs(url=old_night.env["LEADSCORE_DB_URL"]).to_dict("records"):
        io.record_run(run, url=url, volumes=_volumes(old_night))
    signing.copy_records(old_night.env["LEADSCORE_DB_URL"], url)  # the champion's sign-off moves with the store
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _volumes(old_night) -> dict[str, int]:
    return {n: len(pd.read_parquet(p)) for n, p in ((p.stem, p) for p in old_night.sources.glob("*.parquet"))
            if n != "truth"}


@pytest.fixture(params=["sqlite", "postgresql"])
def sink(request, old_night, tmp_path, monkeypatch):
    return _world(request, old_night, tmp_path, monkeypatch, request.param)


@pytest.fixture
def world(request, old_night, tmp_path, monkeypatch):
    return _world(request, old_night, tmp_path, monkeypatch, "sqlite")


def _world(request, old_night, tmp_path, monkeypatch, kind: str) -> SimpleNamespace:
    """This test's copy of the old night: registry, score database (SQLite file or PostgreSQL copy) and parquet."""
    shutil.copy(old_night.root / "mlflow.db", tmp_path / "mlflow.db")
    shutil.copytree(old_night.root / "scores", tmp_path / "scores")
    if kind == "sqlite":
        shutil.copy(old_night.root / "scores.db", tmp_path / "scores.db")
        url = f"sqlite:///{tmp_path}/scores.db"
    else:
        server = request.getfixturevalue("postgres_server_url")
        template = request.getfixturevalue("pg_template")
        name = f"leadscore_t_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)

        def drop():
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

        request.addfinalizer(drop)
    env = {**old_night.env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db", "LEADSCORE_DB_URL": url,
           "LEADSCORE_SCORES_DIR": str(tmp_path / "scores")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    tracking.configure()
    return SimpleNamespace(root=tmp_path, env=env, url=url, kind=kind, old=old_night, config=old_night.config,
                           parquet=tmp_path / "scores" / f"as_of={old_night.as_of:%Y-%m-%d}" / "scores.parquet")


def _which_night(frame: pd.DataFrame, w) -> str:
    """'old' or 'new', asserting the frame is one night whole: every open lead, one scoring, one model version."""
    assert len(frame) == len(w.old.scores) and frame["scored_at"].nunique() == 1, "a mix of nights"
    assert sorted(frame["lead_id"]) == sorted(w.old.scores["lead_id"])
    if frame["scored_at"].iloc[0] == w.old.scores["scored_at"].iloc[0]:
        columns = list(w.old.scores.columns)
        pd.testing.assert_frame_equal(frame.sort_values("lead_id", ignore_index=True)[columns],
                                      w.old.scores.sort_values("lead_id", ignore_index=True), check_dtype=False)
        return "old"
    return "new"


def published(w) -> tuple[str, str]:
    """(the night the database holds, the night the parquet copy holds), each checked whole."""
    database = io.read_scores(as_of=w.old.as_of, url=w.url)
    parquet = pd.read_parquet(w.parquet)
    parquet["scored_at"] = pd.to_datetime(parquet["scored_at"], utc=True)
    return _which_night(database, w), _which_night(parquet, w)


def run_log(w) -> list[dict]:
    return io.read_runs(url=w.url).to_dict("records")


# SIGKILL at a precise point: the command runs in a child that kills itself there ------------------------------------

RUNNER = textwrap.dedent(r"""
    import os, pathlib, re, signal, sys, threading, time
    import sqlalchemy as sa
    from sqlalchemy import event

    point, command, params = sys.argv[1:4]
    state = {"publishing": set()}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def die_soon():  # from another thread, while this one carries on into the commit or the rename
        threading.Thread(target=lambda: (time.sleep(0.001), die()), daemon=True).start()

    WRITES = re.compile(r"^\s*(DELETE|INSERT|UPDATE|CREATE\s+INDEX)\b.*\bleadscore_scores\b", re.I | re.S)

    @event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def writes_scores(conn, cursor, statement, *args):
        if WRITES.search(statement):
            state["publishing"].add(id(conn.connection.dbapi_connection))

    @event.listens_for(sa.engine.Engine, "commit")
    def commit(conn):  # fires just before the transaction commits
        if id(conn.connection.dbapi_connection) in state["publishing"]:
            {"commit:before": die, "commit:during": die_soon}.get(point, lambda: None)()

    @event.listens_for(sa.pool.Pool, "checkin")
    def checked_in(dbapi_connection, record):  # the connection is back in the pool: its transaction committed
        if id(dbapi_connection) in state["publishing"] and point == "commit:after":
            die()

    real_replace = pathlib.Path.replace

    def replace(self, target):
        moving = self.name.startswith(".scores.") and self.name.endswith(".parquet.tmp")
        if moving and point == "rename:before":
            die()
        if moving and point == "rename:during":
            die_soon()
        out = real_replace(self, target)
        if moving and point == "rename:after":
            die()
        if moving and point == "rename:during":
            time.sleep(1)  # the kill lands before the run goes on
        return out

    pathlib.Path.replace = replace
    from pipeline.cli import main
    sys.argv = ["leadscore", command, "--params", params]
    main()
""")


def run_child(w, point: str, command: str = "nightly") -> subprocess.CompletedProcess:
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", RUNNER, point, command, str(w.old.params)], cwd=w.root,
                          env={**os.environ, **w.env, "PYTHONPATH": str(repo)}, capture_output=True, text=True,
                          timeout=300)


def recover(w) -> list[str]:
    """What the next run does first, holding the lock: close what the killed one left behind."""
    with publish_lock.hold():
        return io.recover_interrupted_runs()


KILLS = {  # point → (the database's night, the parquet's night) right after the kill; None: either, whole
    "commit:before": ("old", "old"),
    "commit:during": (None, None),
    "commit:after": ("new", "old"),
    "rename:before": ("new", "old"),
    "rename:during": ("new", None),
    "rename:after": ("new", "new"),
}


@pytest.mark.integration  # a whole process per point: in `make test`, not in `make test-fast`
@pytest.mark.parametrize("point", list(KILLS))
def test_sigkill_around_the_commit_and_the_rename(sink, point):
    child = run_child(sink, point)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    database, parquet = published(sink)
    expected_db, expected_parquet = KILLS[point]
    assert database == (expected_db or database) and parquet == (expected_parquet or parquet)
    [killed] = [r for r in run_log(sink) if r["status"] == io.RUNNING]  # logged when it started
    recover(sink)  # the next run's first step
    assert published(sink) == (database, database), "the parquet copy follows the committed database"
    assert not list(sink.parquet.parent.glob(".*.tmp"))
    [closed] = [r for r in run_log(sink) if r["run_id"] == killed["run_id"]]
    assert closed["status"] == (io.INTERRUPTED_AFTER_PUBLISH if database == "new" else io.INTERRUPTED)
    assert "killed?" in closed["error"]


@pytest.mark.integration
def test_after_a_kill_between_commit_and_rename_the_next_night_publishes_whole(world):
    assert run_child(world, "rename:before").returncode == -signal.SIGKILL
    assert published(world) == ("new", "old")
    result = nightly.run(world.config)
    assert result.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), result.error
    assert published(world) == ("new", "new")
    log = run_log(world)
    assert [r["status"] for r in log][:2] == [result.status, io.INTERRUPTED_AFTER_PUBLISH]


# The database or MLflow unreachable, the disk full -----------------------------------------------------------------

@pytest.mark.parametrize("command", ["nightly", "score"])
@pytest.mark.parametrize("down", ["postgresql+psycopg://u:secret@127.0.0.1:1/x", "sqlite:////nonexistent/dir/x.db"])
def test_an_unreachable_database_is_one_line_exit_1_and_a_fallback_log_line(world, monkeypatch, down, command):
    monkeypatch.setenv("LEADSCORE_DB_URL", down)
    result = runner.invoke(app, [command, "--params", str(world.old.params)])
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert "secret" not in result.output and io.shown_url(down) in line and "cannot be used" in line
    assert str(io.fallback_run_log()) in line
    assert published(world) == ("old", "old")
    [logged] = [json.loads(x) for x in io.fallback_run_log().read_text().splitlines() if '"running"' not in x]
    assert logged["status"] == "failed" and logged["error"] in line and "secret" not in json.dumps(logged)
    shown = runner.invoke(app, ["runs"])  # the database is down: the fallback's lines are shown, said so
    assert shown.exit_code == 0 and "fallback" in shown.stdout and logged["run_id"] in shown.stdout
    monkeypatch.setenv("LEADSCORE_DB_URL", world.url)  # back up: both logs, merged, each line marked
    merged = io.read_runs()
    assert merged.set_index("run_id").loc[logged["run_id"], "logged_to"] == str(io.fallback_run_log())
    assert (merged["logged_to"] == "database").sum() == 1  # the old night's run


def test_mlflow_unreachable_before_publishing_fails_the_night(world, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    result = runner.invoke(app, ["nightly", "--params", str(world.old.params)])
    assert result.exit_code == 1, result.output
    assert published(world) == ("old", "old")
    assert run_log(world)[0]["status"] == "failed" and "127.0.0.1:1" in run_log(world)[0]["error"]


def test_mlflow_unreachable_after_publishing_is_a_warning_of_a_published_night(world, monkeypatch):
    real_write = io.write_scores

    def write_then_lose_mlflow(*args, **kwargs):
        path = real_write(*args, **kwargs)
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        tracking.mlflow.set_tracking_uri("http://127.0.0.1:1")  # the tracking server goes away
        return path

    monkeypatch.setattr(io, "write_scores", write_then_lose_mlflow)
    result = runner.invoke(app, ["nightly", "--params", str(world.old.params)])
    assert result.exit_code == 3, result.output
    assert published(world) == ("new", "new")
    [logged] = run_log(world)[:1]
    assert logged["status"] == "published with warnings" and logged["leads_scored"] == len(world.old.scores)
    assert any("logging the night to MLflow failed" in w for w in json.loads(logged["warnings"]))


@pytest.mark.parametrize("command", ["nightly", "score"])
def test_a_disk_write_failure_on_the_parquet_publishes_nothing(sink, monkeypatch, command):
    def full_disk(self, path, *args, **kwargs):
        if ".scores." in str(path):
            raise OSError(28, "No space left on device")
        return real_to_parquet(self, path, *args, **kwargs)

    real_to_parquet = pd.DataFrame.to_parquet
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    result = runner.invoke(app, [command, "--params", str(sink.old.params)])
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert published(sink) == ("old", "old")
    assert not list(sink.parquet.parent.glob(".*.tmp"))
    assert run_log(sink)[0]["status"] == "failed" and "No space left" in run_log(sink)[0]["error"]


# Two publishers, broken extracts, a rollback --------------------------------------------------------------------------

@pytest.mark.integration
def test_score_and_nightly_on_the_same_night_at_once(world):
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, **world.env, "PYTHONPATH": str(repo)}
    children = [subprocess.Popen([sys.executable, "-c", "from pipeline.cli import main; main()", command,
                                  "--params", str(world.old.params)], cwd=world.root, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for command in ("nightly", "score")]
    outcomes = [(child.wait(timeout=300), child.communicate()[1]) for child in children]
    codes = [code for code, _ in outcomes]
    assert set(codes) <= {0, 3, 4} and any(code in (0, 3) for code in codes), outcomes
    assert published(world) == ("new", "new")
    log = run_log(world)
    tonight = [r for r in log if r["run_id"] != world.old.run_id]
    assert len([r for r in tonight if r["status"].startswith("published")]) == sum(c in (0, 3) for c in codes)
    assert all(r["status"] != io.RUNNING for r in log)
    for code, stderr in outcomes:
        if code == 4:
            assert "another leadscore run" in stderr


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_an_empty_or_half_size_events_file_fails_the_night_naming_both_counts(world, tmp_path, fraction):
    broken = tmp_path / "broken"
    shutil.copytree(world.old.sources, broken)
    events = pd.read_parquet(broken / "engagement_events.parquet")
    events.head(int(len(events) * fraction)).to_parquet(broken / "engagement_events.parquet", index=False)
    result = runner.invoke(app, ["nightly", "--params", str(world.old.params), "--sources", str(broken)])
    assert result.exit_code == 1, result.output
    kept = int(len(events) * fraction)
    words = (f"engagement_events: 0 rows (the last published night had {len(events):,})" if not kept else
             f"engagement_events: {kept:,} rows against {len(events):,} on the last published night (-50%")
    assert words in " ".join(result.stderr.split()) and "nothing published" in result.stderr
    assert published(world) == ("old", "old")
    [logged] = run_log(world)[:1]
    assert logged["status"] == "failed" and words in logged["error"]


def test_a_rollback_during_a_nightly_run_publishes_no_night_of_the_version_rolled_back(world, monkeypatch):
    from mlflow import MlflowClient

    client, name = MlflowClient(), world.config.registry.model_name
    first = client.get_model_version(name, "1")
    second = client.create_model_version(name, first.source, run_id=first.run_id, tags=first.tags)
    signing.sign_and_promote(world.config, int(second.version), reason="fault tests")
    real_load = tracking.load_champion

    def load_then_roll_back(*args, **kwargs):
        champion = real_load(*args, **kwargs)  # the night is scored with version 2 ...
        # ... while ops roll back to version 1
        promote.rollback(world.config, by=signing.user("data-science"), reason="bad version")
        return champion

    monkeypatch.setattr(tracking, "load_champion", load_then_roll_back)
    result = runner.invoke(app, ["nightly", "--params", str(world.old.params)])
    assert result.exit_code == 1, result.output
    assert "moved from version 2 to 1" in " ".join(result.stderr.split())
    assert published(world) == ("old", "old")
    assert run_log(world)[0]["status"] == "failed" and "rollback" in run_log(world)[0]["error"]
    monkeypatch.setattr(tracking, "load_champion", real_load)
    again = runner.invoke(app, ["nightly", "--params", str(world.old.params)])
    assert again.exit_code in (0, 3), again.output
    assert published(world) == ("new", "new") and (io.read_scores(url=world.url)["model_version"] == 1).all()
