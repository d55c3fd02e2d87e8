"""A real flat CRM export end to end through the CLI: the UCI bank telemarketing data (tests/data).

init → train LightGBM and the logistic-regression baseline on the same row-order split → compare →
approve → promotion gates → score the leads that have not converted → queue. The tests share one
registry (module scope) and read as one story, in file order."""

import hashlib

import mlflow
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pipeline import io
from pipeline.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()
BANK_MD5 = "f6cb2c1256ffe2836b36df321f46e92c"  # as published with the data set (tests/data/.../README.md)
# The backtest's three folds cut the last 20 % of the file (test_share 0.2 of 41,188 rows) into blocks.
TEST_ROWS = "rows 32951..35696;rows 35697..38442;rows 38443..41188"


def _invoke(*args):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output

TOKENS: dict[str, str] = {}  # team → an API token of that team's user (made by the bank fixture)


@pytest.fixture(scope="module")
def bank_csv(repo_root):
    return repo_root / "tests" / "data" / "uci_bank_marketing" / "bank-additional-full.csv"


@pytest.fixture(scope="module")
def bank(tmp_path_factory, repo_root, bank_csv):
    root = tmp_path_factory.mktemp("bank")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    # mlflow.set_registry_uri also exports MLFLOW_REGISTRY_URI; setting it here makes undo() remove it, so the
    # next module's registry is its own.
    mp.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{root}/mlflow.db")
    mp.setenv("LEADSCORE_SOURCES", str(bank_csv))
    mp.setenv("LEADSCORE_DB_URL", f"sqlite:///{root}/scores.db")
    mp.setenv("LEADSCORE_SCORES_DIR", str(root / "scores"))
    from pipeline import users

    for name, team, role in (("mia", "marketing", "member"), ("sam", "sales", "member"),
                             ("ops", "data-science", "admin")):
        users.add_user(name, team=team, role=role, password="bank-password")
        TOKENS[team] = users.issue_token(name)
    mp.setenv("LEADSCORE_TOKEN", TOKENS["data-science"])  # promote acts as the admin ops
    outputs = {
        "init": _invoke("init", "--from-csv", str(bank_csv), "--out", "bank.yaml",
                        "--defaults", str(repo_root / "params.yaml")),
        "lgbm": _invoke("train", "--params", "bank.yaml"),
        "logreg": _invoke("train", "--model", "logreg", "--params", "bank.yaml"),
    }
    yield root, outputs
    mp.undo()


def _runs() -> pd.DataFrame:
    runs = mlflow.search_runs(experiment_names=["lead-scoring"], output_format="pandas")
    return runs[runs["tags.mlflow.parentRunId"].isna()].set_index("tags.model_family")  # not the backtest folds


def test_the_copy_in_the_repository_is_the_published_file(bank_csv):
    assert hashlib.md5(bank_csv.read_bytes()).hexdigest() == BANK_MD5


def test_init_maps_the_export_and_refuses_to_overwrite(bank, bank_csv):
    root, outputs = bank
    assert "converted flag" in outputs["init"] and "row number" in outputs["init"] and "row order" in outputs["init"]
    text = (root / "bank.yaml").read_text()
    assert "#   duration: leak risk: its name (duration)" in text and "alone it ranks the outcome at AUC" in text
    assert '#   job: found "unknown"' in text
    source = yaml.safe_load(text)["source"]
    assert source["converted_column"] == "y" and source["exclude"] == [] and source["keep"] == []
    assert source["id_column"] is None and source["created_column"] is None
    (root / "bank.yaml").write_text(text + "# edited by hand\n")
    again = runner.invoke(app, ["init", "--from-csv", str(bank_csv), "--out", "bank.yaml"])
    assert again.exit_code == 1 and "bank.yaml exists, not written" in again.output and "--force" in again.output
    assert "euribor3m" in again.output  # it still shows what it inferred
    assert (root / "bank.yaml").read_text().endswith("# edited by hand\n")


def test_lightgbm_against_the_logistic_regression_baseline_on_the_same_backtest(bank, record_property, report_figure):
    """Both families backtested on the same three blocks of the last fifth, both pooled AUCs with their
    intervals printed at the end of the test run.

    The last fifth of the file is another regime (31 % convert against 5 % before). Each fold learns from
    every row before its block, its latest fifth included (early stopping and calibration on it), so the
    drifting economy reaches the model: LightGBM backtests at 0.745 pooled, at least as well as the
    logistic-regression baseline. README, "Use your own CRM export"."""
    _, outputs = bank
    runs = _runs()
    lgbm, logreg = runs.loc["lgbm"], runs.loc["logreg"]
    assert lgbm["tags.backtest_windows"] == logreg["tags.backtest_windows"] == TEST_ROWS
    assert lgbm["tags.source_kind"] == "flat"
    assert "duration" not in lgbm["tags.feature_set"] and "crm__emp_var_rate" in lgbm["tags.feature_set"]
    figures = {family: (run["metrics.test_roc_auc"], run["metrics.test_roc_auc_low"], run["metrics.test_roc_auc_high"])
               for family, run in (("lgbm", lgbm), ("logreg", logreg))}
    line = "bank, row-order backtest on the last fifth (3 folds): " + "; ".join(
        f"{family} test ROC AUC {auc:.3f} [{low:.3f}, {high:.3f}]" for family, (auc, low, high) in figures.items())
    record_property("bank_auc", line)
    report_figure(line)
    assert figures["lgbm"][0] >= 0.74, line  # the issue's target for the best family
    assert figures["lgbm"][0] >= figures["logreg"][0] - 0.01, line  # not behind the baseline
    assert lgbm["metrics.train_rows"] == 41_188  # the registered model learned from every row
    assert "the backtest follows row order" in " ".join(outputs["lgbm"].split())


def test_without_dates_the_wording_counts_no_weeks(bank):
    _, outputs = bank
    assert "leads/week" not in outputs["lgbm"] and "share of leads" in outputs["lgbm"]
    assert "score.grade_shares" in " ".join(outputs["lgbm"].split())
    out = _invoke("definition", "--version", "1", "--params", "bank.yaml")
    assert "share of open leads" in out and "per week" not in out


def test_same_export_params_and_seed_give_the_same_model(bank, bank_csv, tmp_path):
    """On the export's first 20,000 rows: reproducibility does not need all 41,188, and two fits on them are half
    the suite's slowest test."""
    from models.training import fit_and_evaluate
    from pipeline import sources
    from pipeline.config import load_config

    config = load_config("bank.yaml")
    head = tmp_path / "bank-head.csv"
    head.write_text("".join(bank_csv.read_text().splitlines(keepends=True)[:20_001]))

    def fit():
        source = sources.open_source(config, head)
        return fit_and_evaluate(source.training_set(source.build_training_table()), "lgbm", train=config.train,
                                evaluate=config.evaluate, score=config.score, model_name=config.registry.model_name)

    first, second = fit(), fit()
    assert (first.backtest_probability == second.backtest_probability).all()
    assert first.definition["definition_version"] == second.definition["definition_version"]


def test_the_feature_catalogue_lists_the_export_columns(bank):
    out = _invoke("features", "--params", "bank.yaml")
    assert "crm__euribor3m" in out and "euribor3m is N" in out and "crm__duration" not in out


def test_compare_reports_both_on_the_same_test_rows(bank):
    out = _invoke("compare", "--params", "bank.yaml")
    assert "Model comparison on the backtest periods " + TEST_ROWS.replace(";", ", ") in " ".join(out.split())
    assert "latest lgbm" in out and "latest logreg" in out and "best on roc_auc" in out


def test_gates_hold_then_score_and_queue_the_open_leads(bank, bank_csv):
    for team in ("marketing", "sales"):
        _invoke("approve", "--version", "1", "--team", team, "--token", TOKENS[team], "--params", "bank.yaml")
    # The last fifth of the file converts at 31 %, the rows before it at 11 % or less: a backtest fold calibrated
    # on its history cannot be calibrated on the regime after it, and the gate says so.
    refused = runner.invoke(app, ["promote", "--version", "1", "--params", "bank.yaml"])
    assert refused.exit_code == 1 and "above promote.max_ece" in refused.output
    forced = _invoke("promote", "--version", "1", "--force", "--reason", "bank pilot", "--params", "bank.yaml")
    assert "champion → version 1" in forced

    out = _invoke("score", "--params", "bank.yaml")
    assert "with model version 1" in out
    export = pd.read_csv(bank_csv, sep=";")
    open_rows = set((export.index[export["y"] == "no"] + 1).tolist())  # row numbers of the leads not converted
    scores = io.read_scores()
    assert len(scores) == len(open_rows) == 36_548
    assert set(scores["lead_id"]) == open_rows
    assert scores["probability"].between(0, 1).all() and scores["probability"].is_monotonic_decreasing
    assert set(scores["grade"]) <= {"A", "B", "C", "D"}
    columns = [c for c in export.columns if c not in ("y", "duration")]
    top = scores.head(20)
    first = top["reasons_positive"].str.split(" · ").str[0]
    assert first.map(lambda r: any(r.startswith(f"{c} is ") or r.startswith(f"{c}: ") for c in columns)).all()

    queue = _invoke("queue", "--top", "5")
    assert "Sales queue" in queue and str(scores.iloc[0]["lead_id"]) in queue



def test_init_without_out_writes_beside_not_over_the_projects_params(bank, bank_csv, repo_root):
    root, _ = bank
    (root / "params.yaml").write_text("# the project's own\n")
    _invoke("init", "--from-csv", str(bank_csv), "--defaults", str(repo_root / "params.yaml"))
    assert (root / "params.yaml").read_text() == "# the project's own\n"
    written = yaml.safe_load((root / "bank-additional-full.params.yaml").read_text())
    assert written["source"]["converted_column"] == "y"
