"""The sign-off nobody can bypass: score and nightly publish only with the champion leadscore promoted and both
teams' approvals of its current definition on record; approve from the CLI needs a token of the team it signs for."""

import pandas as pd
import pytest
import signing
from mlflow import MlflowClient
from typer.testing import CliRunner

from pipeline import io, signoff, tracking, users
from pipeline.cli import app
from pipeline.steps import nightly, promote, score

runner = CliRunner()
NIGHT = "2026-06-01"


@pytest.fixture(autouse=True)
def params_here(store):
    """The store's params.yaml in the working directory, where the CLI looks by default."""
    import yaml

    raw = store.config().model_dump(mode="python", by_alias=True)
    (store.root / "params.yaml").write_text(yaml.safe_dump(raw))


def _second_version(config) -> int:
    """Version 2: the same model registered again, never signed nor promoted."""
    client, name = MlflowClient(), config.registry.model_name
    first = client.get_model_version(name, "1")
    return int(client.create_model_version(name, first.source, run_id=first.run_id, tags=first.tags).version)


@pytest.fixture
def published(store):
    """Version 1 signed by both teams and promoted; one night published by the nightly job."""
    config = store.config()
    signing.sign_and_promote(config, 1)
    first = nightly.run(config, sources=store.sources)
    assert first.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), first.error
    return config, io.read_scores()


def _refused_and_intact(config, store, before: pd.DataFrame, words: str) -> None:
    """nightly and score both refuse (exit 1 from the CLI), publish nothing, and log the failed run."""
    night = nightly.run(config, sources=store.sources)
    assert night.exit_code == nightly.FAILED and night.status == "failed"
    assert night.error.startswith("sign-off check failed, nothing published") and words in night.error
    with pytest.raises(score.ScoreFailed, match="sign-off check failed") as failed:
        score.run(config, sources=store.sources, as_of=NIGHT)
    assert words in str(failed.value)
    cli = runner.invoke(app, ["nightly", "--sources", str(store.sources)])
    assert cli.exit_code == 1 and "sign-off check failed" in cli.stderr
    pd.testing.assert_frame_equal(io.read_scores(), before)  # the previous scores, untouched
    logged = io.read_runs()
    assert logged["status"].head(3).tolist() == ["failed"] * 3
    assert all(words in e for e in logged["error"].head(3))


def test_an_alias_moved_with_mlflowclient_to_an_unapproved_version_is_refused(store, published):
    config, before = published
    version = _second_version(config)
    MlflowClient().set_registered_model_alias(config.registry.model_name, "champion", str(version))
    _refused_and_intact(config, store, before, "the last leadscore promote (ops, ")
    assert "made version 1 champion: the alias was moved outside leadscore" in nightly.run(
        config, sources=store.sources).error
    shown = runner.invoke(app, ["promotions"])
    assert shown.exit_code == 0 and f"names version {version}, which no leadscore record explains" in " ".join(
        shown.output.split())


def test_an_alias_set_without_any_promotion_is_refused(store):
    config = store.config()
    signing.sign(config, 1)  # signed, but never promoted through leadscore
    MlflowClient().set_registered_model_alias(config.registry.model_name, "champion", "1")
    _refused_and_intact(config, store, io.read_scores(), "leadscore has no promotion on record")


def test_a_withdrawn_approval_or_an_edited_definition_tag_is_refused(store, published):
    config, before = published
    promote.approve(config, version=1, user=signing.user("sales"), decision="reject", comment="changed our mind")
    _refused_and_intact(config, store, before, "has no sales approval of its current definition")
    signing.sign(config, 1, teams=("sales",))
    MlflowClient().set_model_version_tag(config.registry.model_name, "1", "definition_version", "forged")
    _refused_and_intact(config, store, before, "definition_version tag says forged")


def test_editing_the_mlflow_approval_tags_grants_nothing(store):
    config = store.config()
    admin = signing.user("data-science")
    promote.promote(config, version=1, by=admin, force=True, reason="demo day")  # an override, no signatures
    for team in ("marketing", "sales"):  # what anyone with the MLflow UI could add
        tracking.record_approval(config.registry.model_name, 1, team, {"by": "someone", "at": "now", "comment": ""})
    _refused_and_intact(config, store, io.read_scores(), "(it was promoted with --force) has no marketing approval")


def test_allow_unapproved_publishes_with_a_warning_on_every_night_and_stamps_the_rows(store):
    config = store.config()
    promote.promote(config, version=1, by=signing.user("data-science"), force=True, reason="local experiment")
    result = runner.invoke(app, ["score", "--sources", str(store.sources), "--as-of", "2026-05-25", "--as-of", NIGHT,
                                 "--allow-unapproved"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    scored = [i for i, line in enumerate(lines) if "scored " in line]
    assert len(scored) == 2 and all("UNAPPROVED (rows stamped +unapproved)" in lines[i] for i in scored)
    assert all("WARNING" in lines[i - 1] and "--allow-unapproved: version 1 fails the sign-off check" in lines[i - 1]
               for i in scored)
    rows = io.read_scores()
    assert len(rows) and (rows["definition_version"] == store.trained.definition_version + "+unapproved").all()
    night = nightly.run(config, sources=store.sources, allow_unapproved=True)
    assert night.exit_code == nightly.WARNINGS and night.definition_version.endswith("+unapproved")
    assert any(w.startswith("--allow-unapproved: version 1 fails") for w in night.warnings)
    assert io.read_runs()["definition_version"].str.endswith("+unapproved").all()


def test_a_signed_champion_publishes_unstamped(store, published):
    _, rows = published
    assert (rows["definition_version"] == store.trained.definition_version).all()
    assert signoff.check_champion("lead-scoring", 1, required=("marketing", "sales")).passed


def test_approve_from_the_cli_needs_a_token_of_the_team_it_signs_for(store, monkeypatch):
    monkeypatch.delenv("LEADSCORE_TOKEN", raising=False)
    signing.user("marketing"), signing.user("sales")
    missing = runner.invoke(app, ["approve", "--version", "1", "--team", "sales"])
    assert missing.exit_code == 1 and "approve needs your API token" in " ".join(missing.stderr.split())
    bogus = runner.invoke(app, ["approve", "--version", "1", "--token", "lst_not-a-token"])
    assert bogus.exit_code == 1 and "belongs to no leadscore user" in bogus.stderr
    marketing = users.issue_token("mia")
    wrong = runner.invoke(app, ["approve", "--version", "1", "--team", "sales", "--token", marketing])
    assert wrong.exit_code == 1 and "only a sales user can sign for sales" in " ".join(wrong.stderr.split())
    assert signoff.decisions("lead-scoring") == []
    right = runner.invoke(app, ["approve", "--version", "1", "--comment", "fits"],
                          env={"LEADSCORE_TOKEN": users.issue_token("sam")})
    assert right.exit_code == 0, right.output
    assert "sales approved version 1" in right.output and "by sam" in right.output
    [record] = signoff.decisions("lead-scoring")
    assert (record["team"], record["user_name"], record["definition_version"], record["comment"]) == (
        "sales", "sam", store.trained.definition_version, "fits")
    no_by = runner.invoke(app, ["approve", "--version", "1", "--by", "mallory", "--token", marketing])
    assert no_by.exit_code == 2  # --by is gone: who signs is the token's user


def test_promote_from_the_cli_needs_an_admin_or_data_science_manager_token(store):
    config = store.config(promote={"max_auc_drop": 1.0, "max_ece": 1.0, "min_test_conversions": 0})
    signing.sign(config, 1)
    sales = users.issue_token("sam")
    refused = runner.invoke(app, ["promote", "--version", "1", "--token", sales])
    assert refused.exit_code == 1 and "may not promote" in refused.stderr
    assert tracking.champion_version("lead-scoring") is None
