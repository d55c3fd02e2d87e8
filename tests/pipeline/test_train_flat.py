"""Training on a flat export with created dates: the split follows them, dates become ages, weeks size grades."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from models.training import fit_and_evaluate
from pipeline import sources
from pipeline.config import parse_config


@pytest.fixture
def dated_export(tmp_path):
    """3,000 leads over a year, written in shuffled order, converting with a visible signal."""
    rng = np.random.default_rng(5)
    n = 3_000
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    intent = rng.normal(size=n)
    converted = rng.random(n) < 1 / (1 + np.exp(-(intent * 1.5 - 2)))
    frame = pd.DataFrame({
        "Id": [f"00Q{i:06d}" for i in range(n)],
        "CreatedDate": created.strftime("%Y-%m-%d"),
        "LastActivityDate": (created + pd.to_timedelta(rng.integers(0, 30, n), unit="D")).strftime("%Y-%m-%d"),
        "Intent Score": intent.round(3),
        "Industry": rng.choice(["software", "retail", "bank", "unknown"], n),
        "Email": [f"lead{i}@example.com" for i in range(n)],
        "IsConverted": np.where(converted, "true", "false"),
    })
    path = tmp_path / "salesforce_leads.csv"
    frame.to_csv(path, index=False)
    return path


def _config(repo_root):
    raw = copy.deepcopy(yaml.safe_load((repo_root / "params.yaml").read_text()))
    raw["source"] = {"kind": "flat", "id_column": "Id", "created_column": "CreatedDate",
                     "converted_column": "IsConverted",
                     "keep": ["Intent Score"]}  # a marketing score set before contact, though named "score"
    raw["train"]["min_conversions"] = 50
    raw["evaluate"]["bootstrap_samples"] = 20
    raw["score"]["grade_capacity_per_week"] = {"A": 3, "B": 6, "C": 12}
    return parse_config(raw)


def test_a_dated_export_backtests_in_created_order(dated_export, repo_root):
    config = _config(repo_root)
    source = sources.open_source(config, dated_export)
    prepared = source.training_set(source.build_training_table())
    assert len(prepared.folds) == 3
    for fold in prepared.folds:  # the last fifth (600 rows) in three test blocks, each after all earlier rows
        assert fold.history["created_ts"].max() <= fold.test["created_ts"].min()
        assert len(fold.test) == 200 and len(fold.history) + len(fold.test) <= 3000
    assert [len(f.history) for f in prepared.folds] == [2400, 2600, 2800]
    assert len(prepared.recent) == 600
    assert prepared.recent["created_ts"].min() >= prepared.table["created_ts"].quantile(0.79)
    assert all(".." in p and not p.startswith("rows") for p in prepared.periods().values())
    assert prepared.features == ["crm__lastactivitydate", "crm__intent_score", "crm__industry"]
    assert not any("row order" in w for w in prepared.warnings)
    assert any("'Email' excluded: an identifier" in w for w in prepared.warnings)
    assert source.plan.leak_risks == ("Intent Score",)  # kept on purpose: train asks for --accept-leak-risk
    assert prepared.table["crm__lastactivitydate"].between(-29, 0).all()  # age at creation: activity came after

    evaluation = fit_and_evaluate(prepared, "lgbm", train=config.train, evaluate=config.evaluate, score=config.score,
                                  model_name=config.registry.model_name)
    assert evaluation.metrics["test_roc_auc"] > 0.7
    weeks = prepared.recent["as_of_ts"].nunique()  # the weeks the recent leads were created in
    assert weeks > 5
    assert evaluation.grades["weekly_volume"].sum() == pytest.approx(len(prepared.recent) / weeks)
    assert evaluation.definition["learned"]["until"] == f"{prepared.table['as_of_ts'].max():%Y-%m-%d}"
    assert evaluation.definition["label"]["window_days"] is None
    assert "split by created date" in evaluation.definition["population"]["description"]
