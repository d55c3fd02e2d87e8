"""The training core: refuses data it cannot learn or be judged on; backtests on folds it never trained on;
refits on everything; calibrates on the recent period with models that never saw those leads."""

import numpy as np
import pandas as pd
import pytest

from models import training
from models.params import EvaluateParams, ScoreParams, TrainParams
from models.split import RecentRule, rolling_origin_folds
from models.training import InsufficientData, TrainingSet, check_sufficiency, fit_and_evaluate, lead_parts

WEEK = pd.Timedelta(days=7)


def _world(weeks: int = 80, leads_per_week: int = 150, seed: int = 0) -> pd.DataFrame:
    """Weekly snapshots of fresh leads; conversion follows one feature, so any fit ranks well above chance."""
    rng = np.random.default_rng(seed)
    nights = pd.date_range("2024-01-01", periods=weeks, freq="7D", tz="UTC")
    n = weeks * leads_per_week
    x = rng.normal(size=n)
    return pd.DataFrame({
        "lead_id": np.arange(n), "as_of_ts": np.repeat(nights, leads_per_week),
        "f__x": x, "f__noise": rng.normal(size=n),
        "y": (rng.random(n) < 1 / (1 + np.exp(-(x * 1.5 - 3.5)))).astype(int),
    })


RULE = RecentRule(days=56, gap_days=28)


def _set(table: pd.DataFrame, **kwargs) -> TrainingSet:
    folds = rolling_origin_folds(table, folds=3, test_days=56, gap_days=28)
    return TrainingSet(table=table, folds=folds, recent_rule=RULE, features=["f__x", "f__noise"], target="y",
                       label={"milestone": "won"}, population={"description": "everyone"}, **kwargs)


def test_enough_conversions_pass():
    assert check_sufficiency(_set(_world()), min_conversions=10) is None


def test_too_few_training_conversions_are_refused_with_the_numbers():
    data = _set(_world())
    first = int(data.folds[0].history["y"].sum())
    with pytest.raises(InsufficientData, match=rf"backtest fold 1 learns from .* holds {first} converted snapshots; "
                                               rf"train.min_conversions is {first + 1}"):
        check_sufficiency(data, min_conversions=first + 1)


def test_a_period_without_conversions_is_refused():
    table = _world()
    tested = _set(table).folds[1].test
    table.loc[table["as_of_ts"].isin(tested["as_of_ts"]), "y"] = 0
    with pytest.raises(InsufficientData, match="backtest fold 2 tests .* which holds no conversions"):
        check_sufficiency(_set(table), min_conversions=1)
    recent = RULE.cut(table)[1]
    table.loc[table["as_of_ts"].isin(recent["as_of_ts"]), "y"] = 0
    with pytest.raises(InsufficientData, match="holds no conversions"):
        check_sufficiency(_set(table), min_conversions=1)


def test_lead_parts_are_stable_and_spread():
    leads = pd.Series(np.arange(4000))
    parts = lead_parts(leads, 4)
    assert (parts == lead_parts(leads.sample(frac=1, random_state=1).sort_index(), 4)).all()
    assert set(parts) == {0, 1, 2, 3} and np.bincount(parts).min() > 800


def test_each_model_learns_its_whole_history_and_is_calibrated_on_outcomes_it_never_saw(monkeypatch):
    data = _set(_world())
    real_fit = training.fit_lgbm
    fits = []

    def recording_fit(rows, valid=None, *, params):
        fits.append({"rows": set(rows.index), "valid": None if valid is None else set(valid.index),
                     "trees": params.lgbm.n_estimators})
        return real_fit(rows, valid, params=params)

    monkeypatch.setattr(training, "fit_lgbm", recording_fit)
    evaluation = fit_and_evaluate(data, "lgbm", train=TrainParams(calibration_folds=3),
                                  evaluate=EvaluateParams(bootstrap_samples=0),
                                  score=ScoreParams(grade_shares={"A": 0.1, "B": 0.3}), model_name="m")
    assert len(fits) == 4 * 5  # per model: early stopping, the whole history, three cross-fits
    histories = [fold.history for fold in data.folds] + [data.table]
    for k, history in enumerate(histories):
        stop, whole, *cross = fits[5 * k:5 * k + 5]
        early, recent = RULE.cut(history)
        assert stop["rows"] == set(early.index) and stop["valid"] == set(recent.index)
        assert early["as_of_ts"].max() <= recent["as_of_ts"].min() - pd.Timedelta(days=28)
        assert whole["rows"] == set(history.index) and whole["valid"] is None  # the latest data included
        parts = lead_parts(recent["lead_id"], 3)
        for part, fit in enumerate(cross):
            held = set(recent["lead_id"][parts == part])
            seen = history.loc[list(fit["rows"])]
            # a held lead's matured past may be seen, as the deployed model sees it on a night; not one snapshot
            # whose label overlaps the recent period
            assert fit["trees"] == whole["trees"] and not held & set(seen.loc[~seen.index.isin(early.index), "lead_id"])
            assert set(seen.index) >= set(early.index)
    for fold in data.folds:  # every label a fold learns from was known when its period began
        assert fold.history["as_of_ts"].max() <= fold.test["as_of_ts"].min() - pd.Timedelta(days=28)
    learned = evaluation.definition["learned"]
    assert learned["until"] == f"{data.table['as_of_ts'].max():%Y-%m-%d}" and learned["rows"] == len(data.table)
    assert [f["fold"] for f in evaluation.definition["backtest"]["folds"]] == [1, 2, 3]
    assert evaluation.metrics["test_roc_auc"] > 0.75  # pooled over the folds, out of sample
    assert evaluation.grades["test_rows"].sum() == len(data.recent)  # promises measured on the recent period


def test_same_data_params_and_seed_give_the_same_model():
    data = _set(_world(weeks=60))

    def fit():
        return fit_and_evaluate(data, "lgbm", train=TrainParams(), evaluate=EvaluateParams(bootstrap_samples=10),
                                score=ScoreParams(grade_shares={"A": 0.1}), model_name="m")

    first, second = fit(), fit()
    np.testing.assert_array_equal(first.backtest_probability, second.backtest_probability)
    probe = data.recent[["f__x", "f__noise"]]
    np.testing.assert_array_equal(first.scorer.probability(probe), second.scorer.probability(probe))
    assert first.definition["definition_version"] == second.definition["definition_version"]
