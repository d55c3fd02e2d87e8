"""Scorer: classifier contract, percentile score, grades sized from shares, the text input contract."""

from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from lightgbm.basic import _data_from_pandas
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from models.calibration import ProbabilityCalibrator
from models.classifier import fit_classifier, make_classifier
from models.families import LgbmModel
from models.scorer import build_scorer, grade_thresholds, to_model_input


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "eng__web_visit_7d": rng.poisson(1.0, n).astype(float),
        "fit__industry": pd.Categorical(rng.choice(["software", "retail", "education"], n)),
    })
    logit = -3 + 0.8 * X["eng__web_visit_7d"] + (X["fit__industry"] == "software") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def scorer():
    X_train, y_train = _frame(4000, 1)
    X_valid, y_valid = _frame(2000, 2)
    params = {"n_estimators": 50, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20}
    clf = fit_classifier(make_classifier(params, seed=0), X_train, y_train, X_valid, y_valid,
                         early_stopping_rounds=10)
    cal = ProbabilityCalibrator().fit(clf.predict_proba(X_valid)[:, 1], y_valid)
    return build_scorer(LgbmModel(booster=clf.booster_), cal, X_valid, grade_shares={"A": 0.1, "B": 0.2, "C": 0.3})


def test_make_classifier_returns_an_unfitted_estimator_with_the_given_params_and_seed():
    clf = make_classifier({"n_estimators": 10, "num_leaves": 5}, seed=1)
    assert isinstance(clf, lgb.LGBMClassifier)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    params = clf.get_params()
    assert (params["n_estimators"], params["num_leaves"], params["random_state"]) == (10, 5, 1)
    assert params["objective"] == "binary" and params["deterministic"] is True


def test_score_is_monotone_in_probability_and_within_1_99(scorer):
    p = np.linspace(0, 1, 2001)
    s = scorer.percentile_score(p)
    assert s.min() >= 1 and s.max() <= 99
    assert np.all(np.diff(s) >= 0)
    assert s[0] == 1 and s[-1] == 99


def test_grades_hold_their_share_of_the_reference_population(scorer):
    X_valid, _ = _frame(2000, 2)
    grades = pd.Series(scorer.predict(X_valid)["grade"])
    shares = grades.value_counts(normalize=True)
    # ties in a tiny two-feature model make the shares approximate
    assert shares["A"] == pytest.approx(0.1, abs=0.06)
    assert shares["A"] + shares["B"] == pytest.approx(0.3, abs=0.08)


def test_percentile_score_on_a_hand_made_reference(scorer):
    four = replace(scorer, reference_quantiles=np.array([0.1, 0.2, 0.3, 0.4]))
    # share of the reference at or below p, in whole percent rounded up, kept within 1..99
    p = np.array([0.05, 0.1, 0.15, 0.2, 0.35, 0.4, 0.9])
    assert four.percentile_score(p).tolist() == [1, 25, 25, 50, 75, 99, 99]


def test_grade_is_the_best_grade_whose_minimum_the_probability_reaches(scorer):
    graded = replace(scorer, grade_thresholds={"A": 0.5, "B": 0.2, "C": 0.1, "D": 0.0})
    p = np.array([0.9, 0.5, 0.49, 0.2, 0.15, 0.1, 0.0])
    assert graded.grade(p).tolist() == ["A", "A", "B", "B", "C", "C", "D"]


def test_grade_thresholds_on_a_known_distribution():
    p = np.arange(1000) / 1000
    t = grade_thresholds(p, {"A": 0.05, "B": 0.15, "C": 0.30})
    assert list(t) == ["A", "B", "C", "D"]
    assert t["A"] == pytest.approx(0.949, abs=0.002)
    assert t["B"] == pytest.approx(0.799, abs=0.002)
    assert t["C"] == pytest.approx(0.499, abs=0.002)
    assert t["D"] == 0.0


def test_text_input_is_cast_to_training_categories_and_unseen_values_are_missing(scorer):
    X, _ = _frame(10, 3)
    as_text = to_model_input(X, scorer.feature_names)
    assert as_text["fit__industry"].dtype == object
    direct = scorer.predict(X)
    via_text = scorer.predict(as_text)
    pd.testing.assert_frame_equal(direct, via_text)
    unseen = as_text.assign(fit__industry="aerospace")
    prepared = scorer.prepare(unseen)
    assert prepared["fit__industry"].isna().all()
    assert np.isfinite(scorer.predict(unseen)["probability"]).all()


def test_missing_feature_column_is_named(scorer):
    X, _ = _frame(5, 4)
    with pytest.raises(ValueError, match="eng__web_visit_7d"):
        scorer.predict(X.drop(columns=["eng__web_visit_7d"]))


def test_reasons_name_real_features_with_the_leads_own_values(scorer):
    from features.specs import CATEGORY, COUNT, FeatureSpec

    scorer = replace(scorer, catalog={  # a copy: the module's scorer stays as built
        "eng__web_visit_7d": FeatureSpec("eng__web_visit_7d", "engagement", COUNT,
                                         "visited the website {value} times in the last 7 days"),
        "fit__industry": FeatureSpec("fit__industry", "fit", CATEGORY, "the company is in {value}"),
    })
    X = pd.DataFrame({"eng__web_visit_7d": [6.0, 0.0],
                      "fit__industry": pd.Categorical(["software", "education"],
                                                      categories=["education", "retail", "software"])})
    out = scorer.predict(X, reasons=True)
    hot, cold = out.iloc[0], out.iloc[1]
    assert "visited the website 6 times in the last 7 days" in hot["reasons_positive"]
    assert "the company is in software" in hot["reasons_positive"]
    assert "visited the website 0 times in the last 7 days" in cold["reasons_negative"]
    assert "the company is in education" in cold["reasons_negative"]
    assert out.loc[0, "probability"] > out.loc[1, "probability"]



def _awkward(scorer) -> pd.DataFrame:
    """Text with unseen and missing values, nullable numbers, shuffled columns and an index of its own."""
    X, _ = _frame(500, 3)
    text = to_model_input(X, scorer.feature_names)
    text.loc[text.index[:20], "fit__industry"] = "aerospace"
    text.loc[text.index[20:40], "fit__industry"] = None
    text["eng__web_visit_7d"] = X["eng__web_visit_7d"].astype("Float64")
    text.loc[text.index[40:45], "eng__web_visit_7d"] = pd.NA
    return text[text.columns[::-1]].set_index(pd.Index(np.arange(len(text)) * 3 + 1))


@pytest.mark.parametrize("as_categories", [False, True])
def test_the_matrix_predict_scores_from_is_what_lightgbm_makes_of_the_prepared_frame(scorer, as_categories):
    frame = _awkward(scorer)
    if as_categories:  # another category list than the training one, and integer counts
        frame = frame.assign(fit__industry=pd.Categorical(frame["fit__industry"], categories=["retail", "x"]),
                             eng__web_visit_7d=frame["eng__web_visit_7d"].fillna(0).astype("int32"))
    theirs = _data_from_pandas(scorer.prepare(frame), "auto", "auto", scorer.model.booster.pandas_categorical)[0]
    np.testing.assert_array_equal(scorer.model_matrix(frame), theirs)  # NaN where LightGBM has NaN, else identical
    assert scorer._reads_matrix()
    out = scorer.predict(frame)
    raw = scorer.model.booster.predict(scorer.prepare(frame))
    assert scorer._raw_by_blocks(frame, block_rows=64).tobytes() == raw.tobytes()  # 7 full blocks and a short one
    expected = scorer.calibrator.transform(raw)
    assert out.index.equals(frame.index) and out["probability"].to_numpy().tobytes() == expected.tobytes()
    np.testing.assert_array_equal(out["score"].to_numpy(), scorer.percentile_score(expected))
    np.testing.assert_array_equal(out["grade"].to_numpy(), scorer.grade(expected))
    with_reasons = scorer.predict(frame, reasons=True)  # through the prepared frame, for the reasons
    pd.testing.assert_frame_equal(with_reasons[list(out.columns)], out, check_exact=True)


def test_a_model_whose_categories_are_not_the_scorers_scores_through_the_frame(scorer):
    other = replace(scorer, categories={"fit__industry": ["software", "retail", "education"]})  # not sorted
    assert not other._reads_matrix()  # LightGBM's own category list wins there, as it always did
    frame = _awkward(scorer)
    expected = other.calibrator.transform(other.model.booster.predict(other.prepare(frame)))
    assert other.predict(frame)["probability"].to_numpy().tobytes() == expected.tobytes()
    with pytest.raises(ValueError, match="eng__web_visit_7d"):
        scorer.model_matrix(frame.drop(columns=["eng__web_visit_7d"]))
