"""`leadscore backup` / `restore` on SQLite stores (the PostgreSQL stack's round trip is in tests/test_team.py): the
same rows and artifacts come back, and every refusal leaves the target as it was."""

from __future__ import annotations

import tarfile

import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline import backup, io, users

NIGHT = pd.Timestamp("2026-06-01", tz="UTC")


def _scores() -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": [1, 2], "as_of_ts": NIGHT, "probability": [0.4, 0.1], "score": [90, 40], "grade": ["A", "C"],
        "model_version": 2, "definition_version": "d2", "owner_id": "rep_01", "company": "Co", "source": "web",
        "reasons_positive": "", "reasons_negative": "", "scored_at": pd.Timestamp("2026-06-01 02:00", tz="UTC")})


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """A leadscore store, a separate MLflow database and an artifacts folder, as the environment names them."""
    source = tmp_path / "source"
    leadscore_url, mlflow_url = f"sqlite:///{source}/leadscore.db", f"sqlite:///{source}/mlflow.db"
    source.mkdir()
    io.write_scores(_scores(), NIGHT, url=leadscore_url, folder=source / "scores")
    users.add_user("ana", team="sales", password="ana-password", url=leadscore_url)
    eng = sa.create_engine(mlflow_url)
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE registered_model_aliases (alias TEXT, version INTEGER, name TEXT)")
        conn.exec_driver_sql("INSERT INTO registered_model_aliases VALUES ('champion', 2, 'lead-scoring')")
    eng.dispose()
    (source / "artifacts" / "1" / "run" / "artifacts" / "definition").mkdir(parents=True)
    (source / "artifacts" / "1" / "run" / "artifacts" / "definition" / "definition.json").write_text('{"v": 2}')
    monkeypatch.setenv("LEADSCORE_DB_URL", leadscore_url)
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", mlflow_url)
    monkeypatch.setenv("LEADSCORE_ARTIFACTS_DIR", str(source / "artifacts"))
    return source


def _point_at(monkeypatch, folder) -> None:
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{folder}/leadscore.db")
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", f"sqlite:///{folder}/mlflow.db")
    monkeypatch.setenv("LEADSCORE_ARTIFACTS_DIR", str(folder / "artifacts"))


def test_backup_then_restore_into_an_empty_stack_gives_the_same_stores(stack, tmp_path, monkeypatch):
    archive = tmp_path / "backup.tar.gz"
    manifest = backup.backup(archive)
    assert [d["roles"] for d in manifest["databases"]] == [["leadscore"], ["mlflow"]]
    assert not list(tmp_path.glob("*.partial"))
    target = tmp_path / "target"
    _point_at(monkeypatch, target)
    backup.restore(archive)
    pd.testing.assert_frame_equal(io.read_scores(url=f"sqlite:///{target}/leadscore.db"),
                                  io.read_scores(url=f"sqlite:///{stack}/leadscore.db"))
    assert [u.name for u in users.list_users(url=f"sqlite:///{target}/leadscore.db")] == ["ana"]
    eng = sa.create_engine(f"sqlite:///{target}/mlflow.db")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT alias, version FROM registered_model_aliases").all() == [("champion", 2)]
    eng.dispose()
    restored = target / "artifacts" / "1" / "run" / "artifacts" / "definition" / "definition.json"
    assert restored.read_text() == '{"v": 2}'


def test_restore_refuses_a_stack_that_is_not_empty_and_changes_nothing(stack, tmp_path, monkeypatch):
    archive = tmp_path / "backup.tar.gz"
    backup.backup(archive)
    before = io.read_scores(url=f"sqlite:///{stack}/leadscore.db")
    with pytest.raises(backup.BackupError, match="is not empty"):
        backup.restore(archive)  # the environment still names the source stack: in use
    pd.testing.assert_frame_equal(io.read_scores(url=f"sqlite:///{stack}/leadscore.db"), before)
    target = tmp_path / "target"
    _point_at(monkeypatch, target)
    (target / "artifacts").mkdir(parents=True)
    (target / "artifacts" / "someone-elses").write_text("x")
    with pytest.raises(backup.BackupError, match="artifacts folder .* is not empty"):
        backup.restore(archive)
    assert not (target / "leadscore.db").exists()  # refused before any database was written


def test_an_archive_that_is_not_a_backup_is_refused(stack, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(stack / "leadscore.db", arcname="leadscore.db")
    with pytest.raises(backup.BackupError, match="not a leadscore backup"):
        backup.restore(bogus)


def test_backup_says_what_is_missing(stack, monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_BACKEND_STORE_URI")
    with pytest.raises(backup.BackupError, match="MLFLOW_BACKEND_STORE_URI is not set"):
        backup.backup(tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()
