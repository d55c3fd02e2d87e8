"""The monitor step's verdicts and exit codes on hand-made evidence (no sources, no model needed)."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.monitoring import BREACH, KEPT, Evidence, assess
from pipeline import tracking
from pipeline.cli import app

NIGHT = pd.Timestamp("2026-01-05", tz="UTC")
DEFINITION = {"grades": [
    {"grade": "A", "promised_rate": 0.20, "promised_low": 0.16, "promised_high": 0.25},  # 8 % realized: [4.1, 15.0]
    {"grade": "B", "promised_rate": 0.05, "promised_low": 0.03, "promised_high": 0.07},
]}


# Buyers of the night: four A leads, one B lead, three leads never scored; one of a night not scored at all.
BUYERS = pd.DataFrame({"lead_id": [0, 1, 2, 3, 100, 900, 901, 902, 7],
                       "as_of_ts": [NIGHT] * 8 + [NIGHT + pd.Timedelta(days=7)]})


def _evidence(a_conversions: int, *, observed_until: pd.Timestamp, buyers: pd.DataFrame | None = None) -> Evidence:
    grades = ["A"] * 100 + ["B"] * 100
    converted = np.r_[np.ones(a_conversions), np.zeros(100 - a_conversions), np.ones(5), np.zeros(95)]
    scores = pd.DataFrame({"lead_id": np.arange(200), "as_of_ts": NIGHT, "grade": grades, "model_version": 1,
                           "probability": np.r_[np.full(100, 0.2), np.full(100, 0.05)], "converted": converted})
    nights = pd.DatetimeIndex([NIGHT])
    matured = nights[nights + pd.Timedelta(days=90) <= observed_until]
    if matured.empty:
        scores["converted"] = np.nan
    return Evidence(tables={}, scores=scores, observed_until=observed_until, nights=nights,
                    matured=matured, definitions={1: DEFINITION}, grade_order=["A", "B"], buyers=buyers)


LATER = NIGHT + pd.Timedelta(days=120)


def test_promises_kept_exit_zero(config):
    result = assess(_evidence(20, observed_until=LATER), config.monitor, window_days=config.labels.window_days)
    assert result.exit_code == KEPT and result.breaches.empty
    assert "every grade kept its promise over 1 matured nights" in result.message
    assert len(result.by_night) == 2 and len(result.cohorts) == 1


def test_a_grade_outside_its_promise_exits_three_and_is_named(config):
    result = assess(_evidence(8, observed_until=LATER), config.monitor, window_days=config.labels.window_days)
    assert result.exit_code == BREACH == 3
    assert list(result.breaches["grade"]) == ["A"]
    assert "grade A (version 1) converts below promise: realized 8.0%" in result.message


def test_no_matured_night_is_said_plainly_and_exits_zero(config):
    result = assess(_evidence(20, observed_until=NIGHT + pd.Timedelta(days=30)), config.monitor,
                    window_days=config.labels.window_days)
    assert result.exit_code == KEPT
    assert result.promises.empty
    assert result.message.startswith("no scored night has matured yet")
    assert "ends 2026-04-05" in result.message


def test_cli_exit_code_and_mlflow_metrics_on_a_breach(config, repo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    evidence = _evidence(8, observed_until=LATER, buyers=BUYERS)
    monkeypatch.setattr(tracking, "read_evidence", lambda config, sources=None: evidence)
    result = CliRunner().invoke(app, ["monitor", "--params", str(repo_root / "params.yaml")])
    assert result.exit_code == 3, result.output
    assert "converts below promise" in result.output
    words = " ".join(result.output.split())  # the console wraps long lines
    assert "coverage: 62.5% of the 8 leads that bought" in words
    assert "(A 50.0%, B 12.5%, not scored 37.5%)" in words
    runs = mlflow.search_runs(experiment_names=[config.monitor.experiment_name], output_format="pandas")
    run = runs.iloc[0]
    assert run["metrics.v1.A.breach"] == 1.0 and run["metrics.v1.B.breach"] == 0.0
    assert run["metrics.v1.A.realized_rate"] == pytest.approx(0.08)
    assert run["metrics.v1.A.promised_rate"] == pytest.approx(0.20)
    assert run["tags.verdict"] == "breach"
    assert run["metrics.coverage"] == pytest.approx(5 / 8)


def test_coverage_of_the_matured_nights_buyers(config):
    """Of the buyers of matured nights (the unmatured night's buyer is left out), the share scored, by grade."""
    result = assess(_evidence(20, observed_until=LATER, buyers=BUYERS), config.monitor,
                    window_days=config.labels.window_days)
    assert result.buyers.to_dict("list") == {"grade": ["A", "B", "not scored"], "buyers": [4, 1, 3],
                                             "share": [0.5, 0.125, 0.375]}
    assert result.coverage == pytest.approx(0.625)


def test_coverage_unknown_without_buyers(config):
    """Evidence gathered without buyers (older callers): no coverage, NaN, nothing logged."""
    result = assess(_evidence(20, observed_until=LATER), config.monitor, window_days=config.labels.window_days)
    assert result.buyers.empty and np.isnan(result.coverage)


def test_a_version_without_a_matured_night_is_not_listed_as_empty_promises(config):
    import dataclasses

    evidence = dataclasses.replace(_evidence(20, observed_until=LATER), definitions={1: DEFINITION, 2: DEFINITION})
    result = assess(evidence, config.monitor, window_days=config.labels.window_days)
    assert set(result.promises["model_version"]) == {1} and result.promises["leads"].min() > 0
