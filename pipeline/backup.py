"""One archive of a team's stores: leadscore's database, MLflow's database and MLflow's artifacts, and the way back.

``leadscore backup --out FILE`` writes a gzipped tar:

- ``manifest.json``: when, leadscore's store revision, and for each database its role (``leadscore``, ``mlflow``,
  or both when they share one database, as the team stack does), its kind and its file in the archive;
- ``db/<role>.dump``: PostgreSQL's own dump (``pg_dump --format=custom``) of the whole database, or ``db/<role>.sqlite``
  (SQLite's online backup) — every table with its exact types, keys, sequences and MLflow's migration version, which
  a re-creation from SQLAlchemy reads could only approximate for MLflow's schema;
- ``artifacts/…``: the folder the MLflow server proxies (``--artifacts-destination``).

``leadscore restore FILE`` loads it into an empty stack (databases with no tables, an empty artifacts folder;
anything else is refused, never merged), before the MLflow server is started on it. Where things are comes from the
environment, as for every command: ``LEADSCORE_DB_URL``, ``MLFLOW_BACKEND_STORE_URI`` (MLflow's database: a
tracking *server*'s URL says nothing about it) and ``LEADSCORE_ARTIFACTS_DIR`` (or ``--artifacts``). Passwords reach
``pg_dump``/``pg_restore`` through ``PGPASSWORD``, never on their command line.
"""

from __future__ import annotations

import datetime as dt
import glob
import io as stdio
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from pipeline import io, store

MANIFEST = "manifest.json"
ARTIFACTS = "artifacts"


class BackupError(RuntimeError):
    """The backup or restore cannot be done as asked (exit 1, with the reason)."""


@dataclass(frozen=True)
class Database:
    roles: tuple[str, ...]
    url: str

    @property
    def name(self) -> str:
        return "+".join(self.roles)

    @property
    def kind(self) -> str:
        return sa.make_url(self.url).get_backend_name()


def mlflow_db_url() -> str:
    url = os.environ.get("MLFLOW_BACKEND_STORE_URI")
    if not url:
        raise BackupError("MLFLOW_BACKEND_STORE_URI is not set: name MLflow's database (the tracking server's "
                          "--backend-store-uri; team.sh writes it to team.env)")
    return io.sqlite_at_home(url)


def artifacts_dir(given: Path | None) -> Path:
    folder = given or (Path(os.environ["LEADSCORE_ARTIFACTS_DIR"]) if os.environ.get("LEADSCORE_ARTIFACTS_DIR")
                       else None)
    if folder is None:
        raise BackupError("no artifacts folder: pass --artifacts or set LEADSCORE_ARTIFACTS_DIR (the MLflow server's "
                          "--artifacts-destination)")
    return io.at_home(folder)


def databases(leadscore_url: str, mlflow_url: str) -> list[Database]:
    """One entry per database: the team stack's shared database is dumped once."""
    if sa.make_url(leadscore_url) == sa.make_url(mlflow_url):
        return [Database(("leadscore", "mlflow"), leadscore_url)]
    return [Database(("leadscore",), leadscore_url), Database(("mlflow",), mlflow_url)]


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if not found:
        raise BackupError(f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it."""
    parsed = sa.make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    plain = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _run(args: list[str], env: dict, what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-2000:]}")


def _dump(db: Database, target: Path) -> None:
    if db.kind == "postgresql":
        conninfo, env = _libpq(db.url)
        _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(target),
              "--dbname", conninfo], env, f"pg_dump of {io.shown_url(db.url)}")
    elif db.kind == "sqlite":
        source = io.sqlite_file(db.url)
        if source is None or not source.exists():
            raise BackupError(f"no database at {io.shown_url(db.url)}")
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy whole in one file, no -wal beside it
        finally:
            src.close()
            dst.close()
    else:
        raise BackupError(f"{db.kind} databases are not backed up by leadscore: use the database's own tools")


def _tables(url: str) -> list[str]:
    eng = sa.create_engine(url)
    try:
        return sa.inspect(eng).get_table_names()
    finally:
        eng.dispose()


def backup(out: Path, *, artifacts: Path | None = None) -> dict:
    """Write the archive ``out``; returns its manifest."""
    folder = artifacts_dir(artifacts)
    if not folder.is_dir():
        raise BackupError(f"no artifacts folder at {folder}")
    dbs = databases(io.db_url(), mlflow_db_url())
    manifest = {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "store_revision": store.HEAD,
                "databases": [], "artifacts": ARTIFACTS}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(partial, "w:gz") as tar:
        for db in dbs:
            member = f"db/{db.name}.{'dump' if db.kind == 'postgresql' else 'sqlite'}"
            dump = Path(tmp) / member.replace("/", "-")
            _dump(db, dump)
            tar.add(dump, arcname=member)
            manifest["databases"].append({"roles": list(db.roles), "kind": db.kind, "file": member,
                                          "tables": len(_tables(db.url))})
        tar.add(folder, arcname=ARTIFACTS)
        data = json.dumps(manifest, indent=2).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, stdio.BytesIO(data))
    partial.replace(out)  # a backup cut short never passes for a whole one
    return manifest


def restore(archive: Path, *, artifacts: Path | None = None) -> dict:
    """Load ``archive`` into empty databases and an empty artifacts folder; returns its manifest."""
    folder = artifacts_dir(artifacts)
    with tarfile.open(archive, "r:gz") as tar:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
        except KeyError:
            raise BackupError(f"{archive} is not a leadscore backup (no {MANIFEST})") from None
        targets = {"leadscore": io.db_url(), "mlflow": mlflow_db_url()}
        plan = []
        for entry in manifest["databases"]:
            urls = {targets[role] for role in entry["roles"]}
            if len({str(sa.make_url(u)) for u in urls}) != 1:
                raise BackupError(f"the backup holds {' and '.join(entry['roles'])} in one database: point "
                                  "LEADSCORE_DB_URL and MLFLOW_BACKEND_STORE_URI at the same empty database")
            url = urls.pop()
            kind = sa.make_url(url).get_backend_name()
            if kind != entry["kind"]:
                raise BackupError(f"the backup's {entry['kind']} database cannot be restored into {kind}")
            plan.append((entry, url))
        for _entry, url in plan:  # every refusal before anything is written
            path = io.sqlite_file(url)
            if (path is None or path.exists()) and _tables(url):
                raise BackupError(f"{io.shown_url(url)} is not empty: restore only into an empty stack (a new "
                                  "database), never over one in use")
        if folder.exists() and any(folder.iterdir()):
            raise BackupError(f"the artifacts folder {folder} is not empty: restore into a new one")
        with tempfile.TemporaryDirectory() as tmp:
            for entry, url in plan:
                dump = Path(tmp) / "dump"
                with tar.extractfile(entry["file"]) as src, dump.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                if entry["kind"] == "postgresql":
                    conninfo, env = _libpq(url)
                    _run([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--dbname",
                          conninfo, str(dump)], env, f"pg_restore into {io.shown_url(url)}")
                else:
                    target = io.sqlite_file(url)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(dump, target)
            folder.mkdir(parents=True, exist_ok=True)
            members = [m for m in tar.getmembers() if m.name == ARTIFACTS or m.name.startswith(ARTIFACTS + "/")]
            tar.extractall(tmp, members=members, filter="data")  # no absolute paths, links out or devices
            extracted = Path(tmp) / ARTIFACTS
            if extracted.is_dir():
                for item in extracted.iterdir():
                    shutil.move(str(item), folder / item.name)
    return manifest
