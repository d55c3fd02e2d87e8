"""The command line on tiny data: data is printed as written (never as markup), errors go to stderr with the
documented exit codes, every command is registered, and importing the CLI sets nothing process-wide."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from pipeline import io
from pipeline.cli import app, data_science, environment, governance, operations, views, workspace

runner = CliRunner()
AS_OF = pd.Timestamp("2026-06-01", tz="UTC")
LINK = "[link=http://evil.example]click[/link]"
HYPERLINK = "\x1b]8;"  # OSC 8: what a terminal turns into a clickable link
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold, stripped before looking for the literal text
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (INFO   |WARNING|ERROR  ) ")  # a log line's start

GROUPS = {
    data_science: {"generate", "init", "train", "compare", "tune", "features", "feedback"},
    governance: {"definition", "approve", "promote", "rollback", "promotions"},
    operations: {"score", "nightly", "runs", "rejects", "monitor", "backup", "restore"},
    views: {"queue", "report"},
    environment: {"doctor"},
    workspace: {"serve"},
}


@pytest.fixture
def sink(tmp_path, monkeypatch):
    """Scores, run log and rejects in a throwaway SQLite database, found through the environment as in production."""
    url = f"sqlite:///{tmp_path}/leadscore.db"
    monkeypatch.setenv("LEADSCORE_DB_URL", url)
    monkeypatch.setenv("LEADSCORE_SCORES_DIR", str(tmp_path / "scores"))
    return url


@pytest.fixture
def terminal(monkeypatch):
    """Consoles that believe they write to a terminal: only then would Rich emit a hyperlink escape sequence."""
    for module in GROUPS:
        if hasattr(module, "console"):
            monkeypatch.setattr(module, "console", Console(force_terminal=True, width=160, emoji=False))
        if hasattr(module, "err_console"):
            monkeypatch.setattr(module, "err_console", Console(stderr=True, force_terminal=True, width=160,
                                                               emoji=False))


def _plain(text: str) -> str:
    return SGR.sub("", text)


def _messages(text: str) -> str:
    """What was printed, without the timestamp and level a log line (output to no terminal) starts with."""
    return "".join(TIMESTAMPED.sub("", line) for line in text.splitlines(keepends=True))


def _scores(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": list(range(1, n + 1)), "as_of_ts": AS_OF, "probability": [0.5 / (i + 1) for i in range(n)],
        "score": [99 - i for i in range(n)], "grade": ["A", "B", "C"][:n], "model_version": 3,
        "definition_version": "[red]def1", "owner_id": ["[bold]x[/bold]"] + ["rep_1"] * (n - 1),
        "company": ["Acme [/] Corp"] + [f"Co {i}" for i in range(1, n)], "source": "web",
        "reasons_positive": [f"visited pricing · {LINK}"] + ["opened e-mails"] * (n - 1), "reasons_negative": "",
        "scored_at": pd.Timestamp("2026-06-01 02:00", tz="UTC"),
    })


def test_queue_prints_markup_in_data_literally_and_makes_no_hyperlink(sink, terminal):
    io.write_scores(_scores(), AS_OF)
    result = runner.invoke(app, ["queue", "--top", "5"])
    assert result.exit_code == 0, result.output
    assert HYPERLINK not in result.output
    out = _plain(result.stdout)
    for literal in ("Acme [/] Corp", "[bold]x[/bold]", LINK, "definition [red]def1"):
        assert literal in out, literal
    assert "Co 2" in out and "visited pricing" in out


def test_queue_for_an_owner_named_in_markup(sink):
    io.write_scores(_scores(), AS_OF)
    result = runner.invoke(app, ["queue", "--owner", "[bold]x[/bold]"])
    assert result.exit_code == 0, result.output
    assert "Sales queue as of 2026-06-01 for [bold]x[/bold]: 1 open leads" in result.stdout
    assert "Acme [/] Corp" in result.stdout and "Co 1" not in result.stdout


def test_queue_without_scores_exits_1_on_stderr(sink):
    io.engine().connect().close()  # the database exists, nothing published in it
    result = runner.invoke(app, ["queue"])
    assert result.exit_code == 1
    assert "no scores published yet" in result.stderr and result.stdout == ""


def test_a_command_run_where_there_is_no_store_says_so_rather_than_create_an_empty_one(tmp_path, monkeypatch,
                                                                                        repo_root):
    for name in ("LEADSCORE_DB_URL", "MLFLOW_TRACKING_URI", "LEADSCORE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    queue = runner.invoke(app, ["queue"])
    assert queue.exit_code == 1
    assert "no scores database at" in queue.stderr and "LEADSCORE_HOME" in queue.stderr
    promotions = runner.invoke(app, ["promotions", "--params", str(repo_root / "params.yaml")])
    assert promotions.exit_code == 1 and "no MLflow store at" in promotions.stderr
    assert list(tmp_path.iterdir()) == []  # no empty database left behind


def test_the_project_home_and_its_env_file_are_found_from_any_folder(tmp_path, monkeypatch, repo_root):
    """A scheduler starts in /: LEADSCORE_HOME (or the .env file it names) points every default at the project."""
    home, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    for name in ("LEADSCORE_DB_URL", "MLFLOW_TRACKING_URI", "LEADSCORE_SOURCES", "LEADSCORE_SCORES_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so what the .env file sets is undone after the test
        monkeypatch.delenv(name)
    (home / ".env").write_text("LEADSCORE_SCORES_DIR=published\n")
    monkeypatch.setenv("LEADSCORE_HOME", str(home))
    monkeypatch.chdir(elsewhere)
    scores = pd.DataFrame({"lead_id": [1], "as_of_ts": [AS_OF], "probability": [0.5], "score": [90], "grade": ["A"],
                           "model_version": [1], "definition_version": ["d"], "owner_id": ["rep_1"],
                           "company": ["Acme"], "source": ["web"], "scored_at": [AS_OF]})
    from pipeline.cli.common import load_env_file

    assert load_env_file() == home / ".env"
    io.write_scores(scores, AS_OF)
    assert (home / "leadscore.db").exists() and (home / "published" / "as_of=2026-06-01" / "scores.parquet").exists()
    assert io.sources_dir() == home / "data" / "demo"
    result = runner.invoke(app, ["queue"])
    assert result.exit_code == 0, result.output
    assert "Acme" in result.stdout and list(elsewhere.iterdir()) == []


def test_runs_prints_markup_in_data_literally(sink, terminal):
    started = pd.Timestamp("2026-06-02 02:30", tz="UTC")
    io.record_run({
        "run_id": "r1", "as_of": "2026-06-01", "started": started.isoformat(),
        "finished": (started + pd.Timedelta(seconds=12.5)).isoformat(), "status": "failed", "leads_scored": None,
        "rejects": 0, "model_version": None, "definition_version": "[red]def1", "warnings": "[]",
        "error": f"ValueError: Acme [/] Corp {LINK}",
    })
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    assert HYPERLINK not in result.output
    out = _plain(result.stdout)
    assert "[red]def1" in out and "12.5 s" in out and "2026-06-02 02:30:00" in out
    # the error column folds long text: compare without the table's line breaks and borders
    flat = re.sub(r"[\s│]+", "", out)
    assert re.sub(r"\s+", "", f"ValueError: Acme [/] Corp {LINK}") in flat


def test_rejects_prints_markup_in_data_literally(sink, terminal):
    rows = pd.DataFrame({
        "table_name": ["leads", "leads"], "row_number": [3, 7], "row_key": ["[/]", "L7"],
        "column_name": ["[bold]company", "[bold]company"], "reason": ["not [i]valid", "not [i]valid"],
        "value": ["Acme [/] Corp", "[link=http://evil.example]x[/link]"],
    })
    io.write_rejects(rows, run_id="run-[1]", as_of=AS_OF)
    result = runner.invoke(app, ["rejects"])
    assert result.exit_code == 0, result.output
    assert HYPERLINK not in result.output
    out = _plain(result.stdout)
    assert "run run-[1] (night 2026-06-01): 2 rows quarantined" in out
    assert "leads.[bold]company: 2 rows not [i]valid" in out
    for literal in ("Acme [/] Corp", "[link=http://evil.example]x[/link]", "[/]"):
        assert literal in out, literal

    none = runner.invoke(app, ["rejects", "--run-id", "[red]nope"])
    assert none.exit_code == 0 and "no quarantined rows for run [red]nope" in _plain(none.stdout)


def test_an_error_with_markup_is_printed_literally_on_stderr_exit_1(tmp_path):
    missing = tmp_path / "[red]x" / "[link=file:evil]click[/link].csv"
    result = runner.invoke(app, ["init", "--from-csv", str(missing), "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    err = " ".join(_messages(result.stderr).split())
    assert err.startswith("error: CRM export ")
    assert "[red]x/[link=file:evil]click[/link].csv does not exist" in err
    assert not (tmp_path / "p.yaml").exists()


def test_invalid_params_exit_2_with_the_key_path_on_stderr(tmp_path, repo_root):
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["train"]["bogus_[b]key"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["features", "--params", str(bad)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "train.bogus_[b]key: unknown key" in result.stderr
    missing = runner.invoke(app, ["promotions", "--params", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml: no such file" in missing.stderr


def test_a_config_error_inside_a_step_stays_a_failure_exit_1(tmp_path):
    """init checks the params file it is about to write; a bad --defaults file fails it with exit 1, as before
    (exit 2 is for the --params a command loads)."""
    export = tmp_path / "crm.csv"
    pd.DataFrame({"lead_id": range(40), "created": pd.date_range("2025-01-01", periods=40, freq="D"),
                  "converted": [i % 2 for i in range(40)], "industry": ["a", "b"] * 20}).to_csv(export, index=False)
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text("train: {}\nscore: {}\n")
    result = runner.invoke(app, ["init", "--from-csv", str(export), "--out", str(tmp_path / "crm.yaml"),
                                 "--defaults", str(defaults)])
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr and "crm.yaml is invalid" in " ".join(result.stderr.split())


@pytest.mark.parametrize("flags", [[], ["--version", "1", "--latest"]], ids=["neither", "both"])
def test_approve_needs_exactly_one_of_version_and_latest(flags, repo_root):
    result = runner.invoke(app, ["approve", "--team", "sales", "--token", "lst_x", "--params",
                                 str(repo_root / "params.yaml"), *flags])
    assert result.exit_code == 2, result.output
    assert "error: give exactly one of --version N or --latest" in result.stderr


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = set(re.findall(r"^│ (\w+) ", result.stdout, flags=re.MULTILINE))
    expected = {"generate", "init", "train", "compare", "tune", "approve", "promote", "rollback", "promotions",
                "definition", "score", "nightly", "monitor", "report", "runs", "rejects", "queue", "features",
                "feedback", "doctor", "backup", "restore", "serve", "user", "sources"}
    assert listed == expected


@pytest.mark.parametrize("module", list(GROUPS), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_group_registers_its_commands(module):
    assert {c.callback.__name__ for c in module.group.registered_commands} == GROUPS[module]
    registered = {c.callback.__name__ for c in app.registered_commands}
    assert GROUPS[module] <= registered


def test_the_error_handler_maps_exceptions_to_exit_codes():
    import typer

    from pipeline.cli.common import InvalidParams, handle_errors
    from pipeline.steps import promote

    errors = {
        "refused": promote.PromotionRefused(7, ["marketing has not approved [b]version 7", LINK]),
        "lookup": LookupError("no champion for [red]lead-scoring"),
        "params": InvalidParams("params.yaml is invalid:\n  - train.x: unknown key"),
        "bug": RuntimeError("a bug keeps its traceback"),
    }
    probe = typer.Typer()

    @probe.command()
    @handle_errors()
    def fail(kind: str):
        raise errors[kind]

    refused = runner.invoke(probe, ["refused"])
    assert refused.exit_code == 1 and refused.stdout == ""
    assert _messages(refused.stderr).splitlines() == ["refused: version 7 cannot become champion:",
                                           "  ✗ marketing has not approved [b]version 7", f"  ✗ {LINK}"]
    lookup = runner.invoke(probe, ["lookup"])
    assert (lookup.exit_code, _messages(lookup.stderr)) == (1, "error: no champion for [red]lead-scoring\n")
    params = runner.invoke(probe, ["params"])
    assert params.exit_code == 2 and "train.x: unknown key" in params.stderr
    bug = runner.invoke(probe, ["bug"])
    assert bug.exit_code == 1 and isinstance(bug.exception, RuntimeError)


def test_importing_the_cli_sets_nothing_process_wide_and_setup_does(repo_root):
    """Imported in a fresh interpreter, after the libraries it uses (numpy and sqlalchemy add filters and levels of
    their own when imported): pipeline and pipeline.cli add nothing; setup() adds exactly its settings, once."""
    script = textwrap.dedent("""
        import json, logging, os, warnings
        def state():
            return {"env": dict(os.environ), "filters": [repr(f) for f in warnings.filters],
                    "mlflow": logging.getLogger("mlflow").level,
                    "pyfunc_filters": len(logging.getLogger("mlflow.pyfunc").filters)}
        import numpy, pandas, pydantic, rich.console, rich.markdown, sqlalchemy, typer, yaml  # their own set-up
        before = state()
        import pipeline.cli
        imported = state()
        pipeline.cli.setup()
        pipeline.cli.setup()  # idempotent
        after = state()
        print(json.dumps({"import_changed": before != imported,
                          "env_added": sorted(set(after["env"]) - set(before["env"])),
                          "filters_added": len(after["filters"]) - len(before["filters"]),
                          "mlflow": after["mlflow"], "pyfunc_filters": after["pyfunc_filters"]}))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "MPLBACKEND", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")}
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root, env=env, capture_output=True, text=True,
                          check=True)
    import json

    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["import_changed"] is False
    assert report["env_added"] == ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "MPLBACKEND", "OMP_WAIT_POLICY"]
    assert report["filters_added"] == 2 and report["pyfunc_filters"] == 0  # no pickle, so no pickle warning to hide
    assert report["mlflow"] == 30  # logging.WARNING



def _failed_run(run_id: str = "a1b2c3d4e5f6") -> None:
    started = pd.Timestamp("2026-06-02 02:30", tz="UTC")
    io.record_run({
        "run_id": run_id, "as_of": "2026-06-01", "started": started.isoformat(),
        "finished": (started + pd.Timedelta(seconds=3)).isoformat(), "status": "failed", "leads_scored": None,
        "rejects": None, "model_version": None, "definition_version": None, "warnings": "[]",
        "error": "SourceError: " + "a long explanation of what broke in the extract " * 6,
    })


def test_runs_shows_the_run_id_rejects_needs_and_no_nan(sink, terminal):
    _failed_run()
    out = _plain(runner.invoke(app, ["runs"]).stdout)
    assert "a1b2c3d4e5f6" in out and "rejects --run-id" in out
    assert "nan" not in out.lower().replace("explanation", "")


def test_output_that_is_not_a_terminal_is_timestamped_levelled_and_unwrapped(sink):
    """What cron or systemd writes to a log file: a time and a level on every line, no line cut in two."""
    _failed_run()
    result = runner.invoke(app, ["runs"])
    lines = result.stdout.splitlines()
    assert lines and all(TIMESTAMPED.match(line) for line in lines), result.stdout
    whole = ("a long explanation of what broke in the extract " * 6).strip()
    assert any(whole in line for line in lines)  # on one line, not folded
    missing = runner.invoke(app, ["rejects", "--run-id", "nope"])
    assert all(TIMESTAMPED.match(line) for line in missing.stdout.splitlines())
    error = runner.invoke(app, ["queue", "--as-of", "1999-01-01"])
    assert error.exit_code == 1 and error.stdout == ""
    assert re.match(r"^\S+Z (WARNING|ERROR) ", error.stderr), error.stderr


def test_json_log_format_writes_one_object_per_message_for_log_shippers(sink):
    _failed_run()
    result = runner.invoke(app, ["--log-format", "json", "runs"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records and {tuple(sorted(r)) for r in records} == {("command", "level", "message", "time")}
    assert records[0]["command"] == "runs" and "a1b2c3d4e5f6" in records[0]["message"]
    bad = runner.invoke(app, ["--log-format", "xml", "runs"])
    assert bad.exit_code == 2


def test_feedback_exports_every_disposition_with_its_score_as_csv(sink, terminal, tmp_path):
    import csv

    from pipeline import feedback, users

    io.write_scores(_scores(), AS_OF)
    manager, _ = users.add_user("sam", team="sales", role="manager", password="manager-password")
    feedback.record(1, disposition="bad_data", comment=f"=HYPERLINK(\"x\") {LINK}", user=manager)
    feedback.record(2, disposition="working", user=manager)
    feedback.record(2, disposition="not_a_fit", comment="in-house team", user=manager)

    result = runner.invoke(app, ["feedback", "--out", str(tmp_path / "labels.csv")])
    assert result.exit_code == 0, result.output
    assert "3 dispositions of 2 leads written to" in _plain(result.stdout)
    with (tmp_path / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["lead_id"], r["disposition"], r["current"]) for r in rows] == [
        ("1", "bad_data", "True"), ("2", "working", "False"), ("2", "not_a_fit", "True")]
    assert rows[0]["comment"] == f"'=HYPERLINK(\"x\") {LINK}"  # a spreadsheet shows it as text
    assert (rows[2]["as_of_ts"], rows[2]["grade"], rows[2]["model_version"], rows[2]["definition_version"]) == (
        "2026-06-01T00:00:00Z", "B", "3", "[red]def1")
    assert rows[2]["disposition_label"] == "Not a fit" and rows[2]["user_name"] == "sam"

    shown = runner.invoke(app, ["feedback"])
    assert shown.exit_code == 0 and HYPERLINK not in shown.output
    out = _plain(shown.stdout)
    assert LINK in out and "Working it (since changed)" in out and "Not a fit" in out
    later = runner.invoke(app, ["feedback", "--since", "2099-01-01"])
    assert later.exit_code == 0 and "0 dispositions of 0 leads recorded since 2099-01-01" in _plain(later.stdout)
