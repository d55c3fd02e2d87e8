"""compare: every family's latest version and the champion, judged on their backtests over the same folds."""

import numpy as np
import pandas as pd
import pytest
import signing

from pipeline.steps import compare, train


def test_best_candidate_follows_the_metric_direction_and_skips_unscored_rows():
    table = pd.DataFrame({"candidate": ["a", "b", "c"], "version": [1, 2, 3], "roc_auc": [0.7, 0.8, np.nan],
                          "log_loss": [0.09, 0.11, np.nan]})
    assert compare.best_candidate(table, "roc_auc")["candidate"] == "b"
    assert compare.best_candidate(table, "log_loss")["candidate"] == "a"  # lower is better
    with pytest.raises(LookupError, match="no registered model could be scored"):
        compare.best_candidate(table.assign(roc_auc=np.nan), "roc_auc")


def test_each_family_and_the_champion_on_the_same_test_period(store):
    config = store.config()
    points = train.run(config, family="points", sources=store.sources)
    signing.sign_and_promote(config, 1, reason="first champion")
    result = compare.run(config, sources=store.sources)
    rows = result.table.set_index("candidate")
    assert list(rows.index) == ["latest points", "latest lgbm (champion)"]
    assert rows.loc["latest points", "version"] == points.model_version
    folds = [period for name, period in store.trained.periods.items() if name.startswith("backtest_")]
    assert result.test_window == ", ".join(folds) and len(folds) == 3
    assert result.dataset == store.trained.dataset == points.dataset  # one named table, read back
    lgbm = rows.loc["latest lgbm (champion)"]
    assert lgbm["roc_auc"] == pytest.approx(store.trained.metrics["test_roc_auc"])  # its own backtest, pooled
    assert lgbm["roc_auc_low"] <= lgbm["roc_auc"] <= lgbm["roc_auc_high"]
    best = rows["roc_auc"].idxmax()
    assert result.best == f"{best} (version {rows.loc[best, 'version']})"


def test_no_registered_version_says_what_to_run(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store.root}/empty.db")
    with pytest.raises(FileNotFoundError, match="no MLflow store at .*empty.db"):  # never created in passing
        compare.run(store.config(), sources=store.sources)
    compare.tracking.configure(create=True)
    compare.tracking.mlflow.search_experiments()  # MLflow creates its tables on first use
    with pytest.raises(LookupError, match="no versions of model 'lead-scoring' are registered yet"):
        compare.run(store.config(), sources=store.sources)


def test_a_version_backtested_on_other_periods_is_listed_but_not_ranked(store, monkeypatch):
    config = store.config()
    real = compare.tracking.backtest_of
    monkeypatch.setattr(compare.tracking, "backtest_of",
                        lambda name, version: (real(name, version)[0], "2025-01-01..2025-02-01"))
    with pytest.raises(LookupError, match="no registered model could be scored"):
        compare.run(config, sources=store.sources)
    monkeypatch.setattr(compare.tracking, "backtest_of", real)
    assert compare.run(config, sources=store.sources).table["note"].tolist() == [""]
