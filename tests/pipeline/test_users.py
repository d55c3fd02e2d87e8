"""Workspace users and tokens (pipeline.users), the `leadscore user` and `serve` commands, and the cookie key."""

import os
import stat

import pytest
from typer.testing import CliRunner

from pipeline import users
from pipeline.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/leadscore.db"
    monkeypatch.setenv("LEADSCORE_DB_URL", url)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    return url


def test_add_and_authenticate(db):
    user, password = users.add_user("Dana", team="sales", role="manager", owner_id="REP_07")
    assert (user.name, user.team, user.role, user.owner_key, user.sees_every_owner) == (
        "Dana", "sales", "manager", "rep_07", True)
    assert len(password) >= users.MIN_PASSWORD_LENGTH
    assert users.authenticate("dana", password).name == "Dana"  # names match case-insensitively
    assert users.authenticate("Dana", password + "x") is None
    assert users.authenticate("nobody", password) is None


def test_names_are_unique_whatever_the_case_and_teams_and_roles_are_checked(db):
    users.add_user("dana", team="sales", password="long-enough-1")
    with pytest.raises(users.UserError, match="exists already"):
        users.add_user("DANA", team="marketing", password="long-enough-1")
    with pytest.raises(users.UserError, match="team must be one of"):
        users.add_user("eve", team="finance")
    with pytest.raises(users.UserError, match="role must be one of"):
        users.add_user("eve", team="sales", role="king")
    with pytest.raises(users.UserError, match="at least 8 characters"):
        users.add_user("eve", team="sales", password="short")
    assert [u.name for u in users.list_users()] == ["dana"]


def test_a_member_sees_their_own_leads_by_name_or_owner_id(db):
    rep, _ = users.add_user("Rep_01", team="sales")
    assert rep.owner_key == "rep_01" and not rep.sees_every_owner


def test_tokens_identify_their_user_and_are_kept_hashed(db):
    users.add_user("ops", team="data-science", role="admin", password="long-enough-1")
    token = users.issue_token("ops")
    assert token.startswith(users.TOKEN_PREFIX) and users.user_for_token(token).name == "ops"
    assert users.user_for_token(token + "x") is None and users.user_for_token("anything") is None
    with pytest.raises(users.UserError, match="no user named"):
        users.issue_token("ghost")


def test_cli_user_add_prints_a_one_time_password_that_signs_in(db):
    result = runner.invoke(app, ["user", "add", "rep_01", "--team", "sales"])
    assert result.exit_code == 0, result.output
    password = next(line.split("one-time password: ")[1].strip() for line in result.stdout.splitlines()
                    if "one-time password: " in line)
    assert users.authenticate("rep_01", password) is not None


def test_cli_user_add_reads_the_password_from_stdin_and_never_prints_it(db):
    result = runner.invoke(app, ["user", "add", "mia", "--team", "marketing", "--role", "manager",
                                 "--password-stdin"], input="a-chosen-password\n")
    assert result.exit_code == 0, result.output
    assert "a-chosen-password" not in result.output and "one-time password" not in result.output
    assert users.authenticate("mia", "a-chosen-password").role == "manager"


def test_cli_user_add_refuses_a_bad_team_with_exit_1(db):
    result = runner.invoke(app, ["user", "add", "x", "--team", "finance"])
    assert result.exit_code == 1 and "team must be one of" in result.stderr


def test_cli_user_token_prints_only_the_token(db):
    users.add_user("ops", team="data-science", password="long-enough-1")
    result = runner.invoke(app, ["user", "token", "ops"])
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert "\n" not in token and users.user_for_token(token).name == "ops"
    missing = runner.invoke(app, ["user", "token", "ghost"])
    assert missing.exit_code == 1 and "no user named 'ghost'" in missing.stderr


def test_cli_user_list_shows_names_as_written_and_no_secret(db):
    users.add_user("[bold]x[/bold]", team="sales", password="secret-password-1")
    result = runner.invoke(app, ["user", "list"])
    assert result.exit_code == 0
    assert "[bold]x[/bold]" in result.stdout and "secret-password-1" not in result.stdout
    assert "argon2" not in result.stdout


def test_a_new_password_replaces_the_old_and_changes_the_session_stamp(db):
    before, old = users.add_user("dana", team="sales")
    after, new = users.set_password("DANA")
    assert new != old and users.authenticate("dana", old) is None and users.authenticate("dana", new).id == before.id
    assert after.session_stamp != before.session_stamp and len(after.session_stamp) == 32
    with pytest.raises(users.UserError, match="at least 8 characters"):
        users.set_password("dana", "short")
    with pytest.raises(users.UserError, match="no user named 'nobody'"):
        users.set_password("nobody", "long-enough-1")


def test_removing_a_user_ends_their_tokens_and_a_new_user_of_that_name_is_someone_else(db):
    first, password = users.add_user("dana", team="sales", password="long-enough-1")
    token = users.issue_token("dana")
    removed = users.remove_user("Dana")
    assert removed.name == "dana" and users.get_user("dana") is None
    assert users.user_for_token(token) is None and users.authenticate("dana", password) is None
    again, _ = users.add_user("dana", team="marketing", password="long-enough-1")
    assert again.session_stamp != first.session_stamp  # a cookie of the first dana does not open the second's
    with pytest.raises(users.UserError, match="no user named"):
        users.remove_user("nobody")


def test_revoking_tokens_ends_every_token_of_that_user_only(db):
    users.add_user("dana", team="sales", password="long-enough-1")
    users.add_user("eve", team="marketing", password="long-enough-1")
    dana = [users.issue_token("dana"), users.issue_token("dana")]
    eve = users.issue_token("eve")
    assert users.revoke_tokens("dana") == 2
    assert [users.user_for_token(t) for t in dana] == [None, None] and users.user_for_token(eve).name == "eve"


def test_cli_user_password_remove_and_revoke_tokens(db):
    users.add_user("dana", team="sales", password="long-enough-1")
    users.issue_token("dana")
    result = runner.invoke(app, ["user", "password", "dana"])
    assert result.exit_code == 0, result.output
    password = result.output.split("one-time password:")[1].split()[0]
    assert users.authenticate("dana", password) is not None and "signed out" in result.output
    result = runner.invoke(app, ["user", "password", "dana", "--password-stdin"], input="chosen-by-dana\n")
    assert result.exit_code == 0 and "chosen-by-dana" not in result.output
    assert users.authenticate("dana", "chosen-by-dana") is not None
    result = runner.invoke(app, ["user", "revoke-tokens", "dana"])
    assert result.exit_code == 0 and "revoked 1 API token(s) of dana" in result.output
    result = runner.invoke(app, ["user", "remove", "dana"])
    assert result.exit_code == 0 and "removed dana (sales, member)" in result.output
    result = runner.invoke(app, ["user", "remove", "dana"])
    assert result.exit_code == 1 and "no user named 'dana'" in result.output


def test_serve_refuses_a_missing_store_before_starting(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_DB_URL", f"sqlite:///{tmp_path}/nowhere.db")
    result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 1 and "no scores database at" in result.stderr
    assert not (tmp_path / "nowhere.db").exists()


def test_the_cookie_key_is_generated_once_with_owner_only_permissions(tmp_path, monkeypatch):
    from pipeline.web.security import SECRET_FILE, secret_key

    monkeypatch.delenv("LEADSCORE_SECRET_KEY", raising=False)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path))
    first = secret_key()
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_key() == first and len(first) >= 32
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="readable by other users"):
        secret_key()


def test_the_cookie_key_from_the_environment_must_be_long(monkeypatch):
    from pipeline.web.security import secret_key

    monkeypatch.setenv("LEADSCORE_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="at least 32 characters"):
        secret_key()
    monkeypatch.setenv("LEADSCORE_SECRET_KEY", "k" * 40)
    assert secret_key() == "k" * 40


@pytest.mark.parametrize("command", [["user", "list"], ["user", "token", "ops"], ["serve", "--port", "0"],
                                     ["user", "add", "ops", "--team", "sales"]], ids=" ".join)
def test_no_workspace_command_prints_the_database_password(command, monkeypatch):
    secret = "s3cr3t-Pw0rd"
    monkeypatch.setenv("LEADSCORE_DB_URL", f"postgresql+psycopg://sales_sync:{secret}@127.0.0.1:1/leads")
    result = runner.invoke(app, command)
    shown = result.stdout + result.stderr
    assert result.exit_code == 1 and secret not in shown
    assert "sales_sync:***@127.0.0.1:1/leads cannot be reached" in " ".join(result.stderr.split())
