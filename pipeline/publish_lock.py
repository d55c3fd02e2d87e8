"""One publisher at a time: the lock the nightly job holds while it replaces a night's scores.

A lock file beside the parquet scores (a lock left by a dead process is taken over) and, on PostgreSQL,
an advisory lock, since runs on other machines share the database but not the folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import sqlalchemy as sa

from pipeline.io import db_url, engine, process_alive, scores_dir


class LockHeld(RuntimeError):
    """Another run is publishing to the same sink."""


# pg_advisory_lock key of the publish step ("lead" in ASCII): one per database.
PUBLISH_LOCK_KEY = 0x6C656164


@contextlib.contextmanager
def hold(folder: Path | None = None, url: str | None = None):
    """Only one run publishes at a time: a lock file beside the parquet scores (a lock left by a dead
    process is taken over) and, on PostgreSQL, an advisory lock, since runs on other machines share the
    database but not the folder."""
    with _file_lock(folder or scores_dir()) as path, _database_lock(url or db_url()):
        yield path


@contextlib.contextmanager
def _database_lock(url: str):
    eng = engine(url)
    try:
        if eng.dialect.name != "postgresql":  # SQLite serialises writers itself, and lives beside the lock file
            yield
            return
        with eng.connect() as conn:
            taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": PUBLISH_LOCK_KEY}).scalar()
            conn.commit()  # a session lock outlives the transaction; don't sit idle in one
            if not taken:
                raise LockHeld(f"another leadscore run is publishing to {eng.url.render_as_string()}; wait for it "
                               "(the database holds its advisory lock until that run's connection closes)")
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PUBLISH_LOCK_KEY})
                conn.commit()
    finally:
        eng.dispose()


@contextlib.contextmanager
def _file_lock(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".publish.lock"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and process_alive(pid):
                raise LockHeld(f"another leadscore run (pid {pid}) is publishing to {folder}; "
                               f"wait for it, or remove {path} if that process is gone") from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
        return
    raise LockHeld(f"could not take the publish lock {path}")
