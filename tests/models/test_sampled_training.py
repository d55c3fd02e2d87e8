"""Sampling weights through the model code: a row of weight w counts as w copies of it (metrics, calibration,
thresholds, promises), the weighted figures of a sampled table estimate the full table's within their
intervals, and a table that was not sampled trains exactly as before."""

import numpy as np
import pandas as pd
import pytest
from test_training import _world  # weekly snapshots whose conversion follows one feature

from models.calibration import ProbabilityCalibrator
from models.grades import effective_counts, grade_promises, weekly_volume, wilson_interval
from models.metrics import classification_metrics, reliability_table
from models.params import EvaluateParams, ScoreParams, TrainParams
from models.scorer import grade_by_thresholds, grade_thresholds
from models.split import RecentRule, rolling_origin_folds
from models.training import TrainingSet, fit_and_evaluate


def _scores(n=60_000, seed=0):
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) * 1.4 - 3.6)))
    y = (rng.random(n) < p).astype(int)
    return y, p


def _sample(y, rate, seed=1):
    keep = (y == 1) | (np.random.default_rng(seed).random(len(y)) < rate)
    return keep, np.where(y[keep] == 1, 1.0, 1.0 / rate)


def test_an_integer_weight_counts_as_that_many_copies():
    y, p = _scores(4000)
    w = np.random.default_rng(2).integers(1, 4, len(y)).astype(float)
    copies = np.repeat(np.arange(len(y)), w.astype(int))
    weighted = classification_metrics(y, p, sample_weight=w)
    copied = classification_metrics(y[copies], p[copies])
    for name in ("roc_auc", "pr_auc", "brier", "log_loss", "positive_rate", "mean_probability", "rows", "positives"):
        assert weighted[name] == pytest.approx(copied[name], rel=1e-9), name
    for share in (0.2, 0.5, 0.8, 0.95):
        assert grade_thresholds(p, {"A": 1 - share}, w)["A"] == pytest.approx(
            np.quantile(p[copies], share, method="inverted_cdf"))
    iso_w = ProbabilityCalibrator(method="isotonic").fit(p, y, sample_weight=w)
    iso_c = ProbabilityCalibrator(method="isotonic").fit(p[copies], y[copies])
    assert np.allclose(iso_w.transform(p), iso_c.transform(p))
    sig_w = ProbabilityCalibrator(method="sigmoid").fit(p, y, sample_weight=w)
    sig_c = ProbabilityCalibrator(method="sigmoid").fit(p[copies], y[copies])
    assert np.allclose(sig_w.transform(p), sig_c.transform(p), atol=1e-6)
    as_of = pd.Series(pd.to_datetime(np.arange(len(y)) % 5, unit="D", utc=True))
    assert weekly_volume(as_of, w) == pytest.approx(weekly_volume(as_of.iloc[copies]))


def test_unit_weights_change_nothing():
    y, p = _scores(5000)
    ones = np.ones(len(y))
    assert classification_metrics(y, p, sample_weight=ones, n_boot=20, seed=3) == classification_metrics(
        y, p, n_boot=20, seed=3)
    leads = np.arange(len(y)) // 3
    assert effective_counts(y, leads, sample_weight=ones) == effective_counts(y, leads)
    # the weighted formula itself reduces to the unweighted one with unit weights
    from models.grades import _weighted_effective_counts
    assert np.allclose(_weighted_effective_counts(y.astype(float), ones, leads), effective_counts(y, leads))


def test_weighted_figures_of_a_sampled_set_land_within_the_full_sets_intervals():
    y, p = _scores()
    keep, w = _sample(y, 0.1)
    full = classification_metrics(y, p, n_boot=200, seed=0)
    sampled = classification_metrics(y[keep], p[keep], sample_weight=w, n_boot=200, seed=0)
    assert sampled["sampled_rows"] < 0.2 * len(y)
    assert full["roc_auc_low"] <= sampled["roc_auc"] <= full["roc_auc_high"]
    assert sampled["roc_auc_low"] <= full["roc_auc"] <= sampled["roc_auc_high"]
    # the rate and the calibration: the weighted rate's effective-size Wilson interval holds the full rate
    k_eff, n_eff = effective_counts(y[keep], sample_weight=w)
    low, high = wilson_interval(k_eff, n_eff)
    assert low <= full["positive_rate"] <= high
    assert n_eff < w.sum()  # fewer observed rows than they stand for: a wider interval than the full set's
    assert sampled["brier"] == pytest.approx(full["brier"], rel=0.05)
    assert sampled["log_loss"] == pytest.approx(full["log_loss"], rel=0.05)
    assert abs(sampled["ece"] - full["ece"]) < 0.005
    bins_full, bins_sampled = reliability_table(y, p), reliability_table(y[keep], p[keep], sample_weight=w)
    assert np.allclose(bins_sampled["predicted"], bins_full["predicted"], rtol=0.1)
    # unweighted, the sampled set would look ten times as converting: the weights are what keep it honest
    assert classification_metrics(y[keep], p[keep])["positive_rate"] > 3 * full["positive_rate"]


def test_weighted_promises_match_the_full_periods_within_their_intervals():
    y, p = _scores(80_000, seed=4)
    keep, w = _sample(y, 0.15, seed=5)
    as_of = pd.Series(pd.to_datetime(np.arange(len(y)) % 8 * 7, unit="D", utc=True))
    leads = np.arange(len(y)) // 2
    shares = {"A": 0.02, "B": 0.08, "C": 0.2}
    t_full = grade_thresholds(p, shares)
    t_sampled = grade_thresholds(p[keep], shares, w)
    full = grade_promises(t_full, p, y, as_of, lambda q: grade_by_thresholds(q, t_full), leads=leads)
    sampled = grade_promises(t_sampled, p[keep], y[keep], as_of[keep], lambda q: grade_by_thresholds(q, t_sampled),
                             leads=leads[keep], sample_weight=w)
    for f, s in zip(full.itertuples(), sampled.itertuples(), strict=True):
        assert s.promised_low <= f.promised_rate <= s.promised_high, f.grade
        assert f.promised_low <= s.promised_rate <= f.promised_high, f.grade
        assert s.share == pytest.approx(f.share, abs=0.01)
        assert s.weekly_volume == pytest.approx(f.weekly_volume, rel=0.1)
    assert sampled["test_conversions"].sum() == full["test_conversions"].sum()  # every conversion kept, once


def _evaluate(table, sampling=None):
    rule = RecentRule(days=56, gap_days=28)
    data = TrainingSet(table=table, folds=rolling_origin_folds(table, folds=3, test_days=56, gap_days=28),
                       recent_rule=rule, features=["f__x", "f__noise"], target="y", label={"milestone": "won"},
                       population={"description": "everyone"}, sampling=sampling)
    train = TrainParams(calibration_folds=2, min_conversions=10,
                        lgbm={"n_estimators": 200, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 50})
    return fit_and_evaluate(data, "lgbm", train=train, evaluate=EvaluateParams(bootstrap_samples=100),
                            score=ScoreParams(grade_shares={"A": 0.05, "B": 0.15}), model_name="m")


def test_a_table_not_sampled_trains_exactly_as_before():
    table = _world(weeks=60, leads_per_week=150)
    plain = _evaluate(table)
    unit = _evaluate(table.assign(sample_weight=1.0),
                     sampling={"negative_rate": 1.0, "rows_kept": len(table), "rows_full": len(table), "seed": 42,
                               "positives": int(table["y"].sum()), "target_rows": 2_000_000, "sampled": False})
    pooled = {k: v for k, v in unit.metrics.items() if not k.startswith(("train_rows_full", "sampling_"))}
    pd.testing.assert_series_equal(pd.Series(pooled).sort_index(), pd.Series(plain.metrics).sort_index(),
                                   check_exact=True)
    assert unit.scorer.grade_thresholds == plain.scorer.grade_thresholds
    assert np.array_equal(unit.backtest_probability, plain.backtest_probability)
    assert unit.definition["definition_version"] == plain.definition["definition_version"]
    assert unit.backtest_weight is None
    pd.testing.assert_frame_equal(unit.grades, plain.grades)


def test_a_sampled_table_backtests_and_calibrates_like_the_full_table_within_the_intervals():
    table = _world(leads_per_week=300)
    full = _evaluate(table)
    keep, w = _sample(table["y"].to_numpy(), 0.2, seed=9)
    sampled_table = table[keep].assign(sample_weight=w)
    info = {"negative_rate": 0.2, "rows_kept": int(keep.sum()), "rows_full": len(table), "seed": 9,
            "positives": int(table["y"].sum()), "target_rows": None, "sampled": True}
    sampled = _evaluate(sampled_table, sampling=info)
    m, s = full.metrics, sampled.metrics
    assert s["train_rows"] < 0.3 * m["train_rows"] and s["train_rows_full"] == len(table)
    assert m["test_roc_auc_low"] <= s["test_roc_auc"] <= m["test_roc_auc_high"]
    assert s["test_roc_auc_low"] <= m["test_roc_auc"] <= s["test_roc_auc_high"]
    # calibrated to the full population: weighted mean probability matches the full table's rate
    assert s["test_mean_probability"] == pytest.approx(m["test_positive_rate"], rel=0.15)
    assert abs(s["test_ece"] - m["test_ece"]) < 0.01 and abs(s["test_brier"] - m["test_brier"]) < 0.1 * m["test_brier"]
    for f, g in zip(full.grades.itertuples(), sampled.grades.itertuples(), strict=True):
        assert g.promised_low <= f.promised_rate <= g.promised_high, f.grade
        assert f.promised_low <= g.promised_rate <= f.promised_high, f.grade
    assert sampled.definition["sampling"]["rows_full"] == len(table)
    assert "sampling" not in full.definition


def test_a_weighted_drift_reference_describes_the_full_population_not_the_sample():
    from models.drift import build_reference, population_stability

    y, p = _scores(40_000, seed=6)
    X = pd.DataFrame({"f__p": p, "f__band": pd.Categorical(np.where(p > 0.1, "high", "low"))})
    keep, w = _sample(y, 0.1, seed=7)
    weighted = build_reference(X[keep], p[keep], w)
    plain = build_reference(X[keep], p[keep])
    drift_weighted = population_stability(weighted, X, p).set_index("column")["psi"]
    drift_plain = population_stability(plain, X, p).set_index("column")["psi"]
    assert (drift_weighted < 0.01).all()                       # tonight's full population: no drift
    assert (drift_plain > drift_weighted).all() and drift_plain["probability"] > 0.05  # the sample alone drifts


def test_a_tuning_trial_on_a_sampled_table_is_judged_by_weight():
    from models.training import validation_metric

    table = _world(leads_per_week=300)
    keep, w = _sample(table["y"].to_numpy(), 0.2, seed=11)
    train = TrainParams(lgbm={"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 50})

    def trial(frame, metric):
        data = TrainingSet(table=frame, folds=rolling_origin_folds(frame, folds=3, test_days=56, gap_days=28),
                           recent_rule=RecentRule(days=56, gap_days=28), features=["f__x", "f__noise"], target="y",
                           label={}, population={})
        return validation_metric(data, "lgbm", train=train, metric=metric)[0]

    sampled = table[keep].assign(sample_weight=w)
    # calibrated by weight: the log loss is the full table's, not the conversion-rich sample's
    assert trial(sampled, "log_loss") == pytest.approx(trial(table, "log_loss"), rel=0.1)
    assert trial(sampled.drop(columns="sample_weight"), "log_loss") > 1.5 * trial(table, "log_loss")
