"""leadscore doctor as an operator meets it: all well on a ready store, and on a broken one each failure named
with what to fix, no password shown, exit 1."""

import re

import signing
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.steps import doctor

runner = CliRunner()


def _unfolded(output: str) -> str:
    """The table's text without borders or line breaks, so a value folded over two lines reads whole."""
    return re.sub(r"[\s│┃]", "", output)


def _by_name(checks):
    return {c.name: c for c in checks}


def test_a_ready_store_passes_every_check(store, repo_root, monkeypatch):
    monkeypatch.setenv("LEADSCORE_SOURCES", str(store.sources))
    signing.sign_and_promote(store.config(), 1, reason="tests")
    checks = _by_name(doctor.run(repo_root / "params.yaml"))
    assert checks["champion"].status == "ok" and "version 1" in checks["champion"].found
    assert checks["sources"].status == "ok" and "all within the contract" in checks["sources"].found
    # the sign-off record made the database file; nothing is published in it yet
    assert checks["scores database"].status == "ok" and "nothing published yet" in checks["scores database"].found
    assert {c.status for c in checks.values()} == {"ok"}
    result = runner.invoke(app, ["doctor", "--params", str(repo_root / "params.yaml")])
    assert result.exit_code == 0, result.output
    assert "ready" in result.stdout


def test_a_store_with_no_champion_says_what_to_do(store, repo_root):
    checks = _by_name(doctor.run(repo_root / "params.yaml"))
    assert checks["champion"].status == "failed" and "promote" in checks["champion"].fix
    assert doctor.exit_code(list(checks.values())) == 1


def test_an_empty_folder_and_an_unreachable_database_are_named_without_the_password(tmp_path, monkeypatch,
                                                                                      repo_root):
    for name in ("MLFLOW_TRACKING_URI", "LEADSCORE_HOME", "LEADSCORE_SOURCES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADSCORE_DB_URL", "postgresql+psycopg://sync:s3cr3t-pw@127.0.0.1:1/leads")
    monkeypatch.chdir(tmp_path)
    checks = _by_name(doctor.run(repo_root / "params.yaml"))
    assert checks["scores database"].status == "failed"
    assert checks["scores database"].found.startswith("postgresql+psycopg://sync:***@127.0.0.1:1/leads is unreachable")
    assert checks["MLflow store"].status == "failed" and "no MLflow store at" in checks["MLflow store"].found
    assert checks["champion"].status == "skipped"  # no registry: the champion is not looked for
    assert checks["sources"].status == "failed" and "does not exist" in checks["sources"].found
    result = runner.invoke(app, ["doctor", "--params", str(repo_root / "params.yaml")])
    assert result.exit_code == 1 and "not ready: 3 check(s) failed" in result.output
    shown = _unfolded(result.output)
    assert "sync:***@127.0.0.1" in shown and not any(part in shown for part in ("s3cr3t", "cr3t-pw"))
    assert list(tmp_path.iterdir()) == []  # a check creates nothing


def test_a_champion_the_sign_off_record_does_not_explain_fails_the_doctor(store, repo_root, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("LEADSCORE_SOURCES", str(store.sources))
    MlflowClient().set_registered_model_alias("lead-scoring", "champion", "1")  # set in the MLflow UI, say
    checks = _by_name(doctor.run(repo_root / "params.yaml"))
    assert checks["champion"].status == "failed" and "no promotion on record" in checks["champion"].found
