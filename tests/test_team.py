"""The team deployment end to end (issue 22): `scripts/team.sh up` on free ports in a temporary folder (its database a
fresh one on the test server, shared by MLflow and leadscore), a small demo world, `train` with only the MLflow
server's URL, approval as two users through the workspace's HTTP forms, promotion there, `nightly`, `queue`,
`report`, then the project folder (artifacts included) moved to another path and `nightly` run again; then down.

One file, one story, in order: `make test` runs it whole in one process (pytest-xdist, --dist loadfile)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
TEAM = REPO / "scripts" / "team.sh"
PASSWORDS = {"mia": "mia-marketing-pass", "sam": "sam-sales-pass", "dana": "dana-data-pass"}
CLEAN_PASSED = (0, 3)  # nightly: 3 = published with drift warnings (README, exit codes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], env: dict, cwd: Path, stdin: str | None = None, timeout: int = 300):
    return subprocess.run(args, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout)


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def _base_env() -> dict[str, str]:
    """A clean environment: none of the developer's leadscore or MLflow variables leak into the story."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_", "TEAM_"))}
    return {**keep, "OMP_WAIT_POLICY": "PASSIVE", "MPLBACKEND": "Agg"}


@pytest.fixture
def database(fresh_database):
    """One database for MLflow and leadscore both, as a team would set it up."""
    return fresh_database("team_e2e")


class Stack:
    """team.sh up/down for one project folder, on ports chosen free when the test starts."""

    def __init__(self, project: Path, db_url: str):
        self.project, self.db_url = project, db_url
        self.mlflow_port, self.serve_port = _free_port(), _free_port()

    @property
    def folder(self) -> Path:
        return self.project / ".team"

    def env(self) -> dict[str, str]:
        return {**_base_env(), "TEAM_DB_URL": self.db_url, "TEAM_MLFLOW_PORT": str(self.mlflow_port),
                "TEAM_SERVE_PORT": str(self.serve_port), "LEADSCORE_HOME": str(self.project),
                "LEADSCORE_SOURCES": "data/demo"}

    def up(self) -> subprocess.CompletedProcess:
        return _run(["bash", str(TEAM), "up", str(self.folder)], self.env(), self.project, timeout=240)

    def down(self) -> subprocess.CompletedProcess:
        return _run(["bash", str(TEAM), "down", str(self.folder)], self.env(), self.project, timeout=60)

    def service_env(self) -> dict[str, str]:
        """What the nightly timer and the workspace run with (team.env: the database URL)."""
        return {**_base_env(), **_env_file(self.folder / "team.env")}

    def client_env(self) -> dict[str, str]:
        """A data scientist's: the MLflow server's URL, no database URL at all."""
        return {**_base_env(), **_env_file(self.folder / "client.env"), "LEADSCORE_HOME": str(self.project),
                "LEADSCORE_SOURCES": "data/demo"}

    def leadscore(self, *args: str, env: dict | None = None, stdin: str | None = None):
        return _run([str(BIN / "leadscore"), *args], env or self.service_env(), self.project, stdin=stdin)


class Browser(requests.Session):
    """A signed-in user of the workspace at ``base``: session cookie kept, each form posted with its CSRF token."""

    def __init__(self, base: str, name: str):
        super().__init__()
        self.base = base
        response = self.submit("/login", "/login", {"name": name, "password": PASSWORDS[name], "next": "/queue"})
        assert response.status_code == 303 and "/login" not in response.headers["location"], response.text[:500]

    def submit(self, page: str, action: str, fields: dict) -> requests.Response:
        csrf = re.search(r'name="csrf" value="([^"]+)"', self.get(self.base + page, timeout=120).text).group(1)
        return self.post(self.base + action, data={**fields, "csrf": csrf}, allow_redirects=False, timeout=300)


class Clock:
    """Seconds per phase, reported at the end of `make test` (report_figure)."""

    def __init__(self):
        self.last, self.phases = time.monotonic(), []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases.append(f"{name} {now - self.last:.0f}s")
        self.last = now


def _signoff_and_scores(url: str) -> dict:
    """What a restore must give back of leadscore's database: every approval and promotion, every score row."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return {table: conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}")).all()
                    for table, order in (("leadscore_approvals", "id"), ("leadscore_promotions", "id"),
                                         ("leadscore_scores", "as_of_ts, lead_id"))}
    finally:
        eng.dispose()


def test_team_stack_end_to_end_moved_and_restored(tmp_path, database, fresh_database, repo_root, report_figure):
    clock = Clock()
    project = tmp_path / "project"
    project.mkdir()
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["score"]["grade_capacity_per_week"] = {"A": 30, "B": 90, "C": 210}  # a small world's small sales team
    raw["evaluate"]["bootstrap_samples"] = 20
    raw["train"]["lgbm"]["learning_rate"] = 0.15  # fewer trees: the model's quality is not what this test is about
    raw["train"]["early_stopping_rounds"] = 30
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    stack = Stack(project, database)
    generated = stack.leadscore("generate", "--leads", "3000", "--seed", "1", "--out", "data/demo", env=_base_env())
    assert generated.returncode == 0, generated.stderr
    clock.lap("generate")

    up = stack.up()
    clock.lap("up")
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        assert f"http://127.0.0.1:{stack.mlflow_port}" in up.stdout and "Workspace:" in up.stdout
        assert "team_e2e_" in up.stdout  # the database URL is printed (masked), the env file keeps it
        assert (stack.folder / "team.env").stat().st_mode & 0o077 == 0

        # a data scientist trains with the server's URL only: no database URL, no local MLflow store
        client = stack.client_env()
        assert "LEADSCORE_DB_URL" not in client
        trained = stack.leadscore("train", env=client)
        assert trained.returncode == 0, trained.stderr[-3000:]
        clock.lap("train")
        assert not (project / "mlflow.db").exists() and not (project / "mlruns").exists()
        assert not (project / "leadscore.db").exists()
        assert any((stack.folder / "artifacts").rglob("definition.json"))  # artifacts went through the server

        for name, team, role in (("mia", "marketing", "member"), ("sam", "sales", "member"),
                                 ("dana", "data-science", "admin")):
            added = stack.leadscore("user", "add", name, "--team", team, "--role", role, "--password-stdin",
                                    stdin=PASSWORDS[name] + "\n")
            assert added.returncode == 0, added.stderr

        base = f"http://127.0.0.1:{stack.serve_port}"
        for name in ("mia", "sam"):  # each signs for their own team through the workspace
            decided = Browser(base, name).submit("/definition?version=1", "/definition/1/decide",
                                                 {"decision": "approve", "comment": f"{name} agrees"})
            assert decided.status_code == 303 and "approved" in decided.headers["location"], decided.text[:500]
        promoted = Browser(base, "dana").submit("/definition?version=1", "/definition/1/promote",
                                                {"reason": "team stack test"})
        assert promoted.status_code == 303, promoted.text[:1000]
        clock.lap("users, approve, promote")

        nightly = stack.leadscore("nightly")
        assert nightly.returncode in CLEAN_PASSED, nightly.stderr[-3000:]
        clock.lap("nightly")
        rescored = stack.leadscore("score")  # the same night again, by hand: replaced, never doubled
        assert rescored.returncode in CLEAN_PASSED, rescored.stderr[-3000:]
        monitored = stack.leadscore("monitor")  # 0 kept / nothing matured yet, 3 a grade outside its promise
        assert monitored.returncode in (0, 3), monitored.stderr[-3000:]
        queue = stack.leadscore("queue", "--top", "5")
        assert queue.returncode == 0 and "A" in queue.stdout, queue.stderr
        report = stack.leadscore("report", "--out", str(tmp_path / "report.html"))
        assert report.returncode == 0 and (tmp_path / "report.html").stat().st_size > 10_000, report.stderr
        runs = stack.leadscore("runs")
        assert runs.returncode == 0 and "published" in runs.stdout, runs.stdout + runs.stderr
        clock.lap("score, monitor, queue, report, runs")
        # one database holds both: MLflow's runs table and leadscore's prefixed tables
        eng = sa.create_engine(database)
        with eng.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM runs")).scalar() >= 1  # MLflow's
            assert conn.execute(sa.text("SELECT COUNT(*) FROM leadscore_runs")).scalar() >= 1
            published = conn.execute(sa.text("SELECT COUNT(*) FROM leadscore_scores")).scalar()
        eng.dispose()
        assert published > 0
        for shown in (up.stdout, nightly.stdout, nightly.stderr, queue.stdout, runs.stdout):
            assert "password" not in shown.lower() or "***" in shown
    finally:
        stack.down()
    clock.lap("down")

    # the whole project folder (artifacts, scores, sources) moves; the stack comes up at the new path
    moved = tmp_path / "moved" / "project"
    moved.parent.mkdir()
    shutil.move(str(project), str(moved))
    stack = Stack(moved, database)
    up = stack.up()
    clock.lap("up after the move")
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        again = stack.leadscore("nightly")
        assert again.returncode in CLEAN_PASSED, again.stderr[-3000:]
        clock.lap("nightly after the move")
        definition = stack.leadscore("definition", "--json", env=stack.client_env())
        assert definition.returncode == 0 and '"grades"' in definition.stdout, definition.stderr[-2000:]
        archive = tmp_path / "team-backup.tar.gz"
        backed = stack.leadscore("backup", "--out", str(archive))
        assert backed.returncode == 0, backed.stderr[-2000:]
        assert "leadscore + mlflow: postgresql" in backed.stdout
    finally:
        down = stack.down()
    assert down.returncode == 0
    for pid_file in ("mlflow.pid", "serve.pid"):
        assert not (stack.folder / "run" / pid_file).exists()
    clock.lap("definition, backup, down")

    # restored into an empty stack (a new database, a new folder): the same champion, definition, sign-off, scores
    restored = tmp_path / "restored"
    shutil.copytree(moved, restored, ignore=shutil.ignore_patterns(".team"))
    empty = fresh_database("team_e2e")
    target = Stack(restored, empty)
    restore_env = {**_base_env(), "LEADSCORE_DB_URL": empty, "MLFLOW_BACKEND_STORE_URI": empty}
    artifacts = ["--artifacts", str(target.folder / "artifacts")]
    loaded = target.leadscore("restore", str(archive), *artifacts, env=restore_env)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    again = target.leadscore("restore", str(archive), *artifacts, env=restore_env)
    assert again.returncode == 1 and "is not empty" in again.stderr  # never over a stack in use
    up = target.up()
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        same = target.leadscore("definition", "--json", env=target.client_env())
        assert same.returncode == 0 and same.stdout == definition.stdout, same.stderr[-2000:]
        assert _signoff_and_scores(empty) == _signoff_and_scores(database)
    finally:
        target.down()
    clock.lap("restore, up, compare, down")
    report_figure("team stack end to end: " + ", ".join(clock.phases))


def test_team_up_refuses_a_port_already_taken(tmp_path, database):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**_base_env(), "TEAM_DB_URL": database, "TEAM_MLFLOW_PORT": str(port),
               "TEAM_SERVE_PORT": str(_free_port())}
        result = _run(["bash", str(TEAM), "up", str(tmp_path / ".team")], env, tmp_path, timeout=60)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already taken" in result.stderr
    assert not (tmp_path / ".team" / "run" / "mlflow.pid").exists()
