"""No command prints a password: every command that can touch the scores database is run against one whose URL
carries a password and cannot be reached, and its whole output (stdout and stderr) is searched for it."""

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

SECRET = "s3cr3t-Pw0rd"
URL = f"postgresql+psycopg://sales_sync:{SECRET}@127.0.0.1:1/leads"
runner = CliRunner()

COMMANDS = [["queue"], ["runs"], ["rejects"], ["monitor"], ["report", "--out", "report.html"], ["score"],
            ["nightly"], ["doctor"], ["promotions"], ["definition"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_no_command_prints_the_database_password(command, store, repo_root, monkeypatch):
    monkeypatch.setenv("LEADSCORE_DB_URL", URL)
    params = [] if command[0] in ("queue", "runs", "rejects") else ["--params", str(repo_root / "params.yaml")]
    result = runner.invoke(app, [*command, *params])
    shown = result.stdout + result.stderr
    assert SECRET not in shown and "Pw0rd" not in shown, shown
    if command[0] in ("queue", "rejects", "monitor", "report"):  # readers of the database: one clear line
        assert result.exit_code == 1
        assert "sales_sync:***@127.0.0.1:1/leads cannot be reached" in " ".join(result.stderr.split())
