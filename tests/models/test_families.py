"""The three families: the points rules compute what marketing wrote; each family fits and ranks."""

import json

import numpy as np
import pandas as pd
import pytest

from models.families import LgbmModel, LogRegModel, PointsModel, fit_family, points_score


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "eng__web_visit_7d": [1, 0, 0],
        "eng__web_visit_30d": [3, 0, 2],
        "eng__pricing_page_visit_7d": [0, 1, 0],
        "eng__pricing_page_visit_30d": [0, 1, 0],
        "fit__seniority": pd.Categorical(["vp", "student", None]),
    })


def test_points_follow_the_rules_with_decay_by_age_band():
    score = points_score(_frame(), {"web_visit": 2, "pricing_page_visit": 10}, decay=[1.0, 0.5],
                         windows_days=[7, 30], fit_points={"fit__seniority": {"vp": 15, "student": -25}})
    # lead 0: one visit in 7 days (2) + two more within 30 days at half weight (2) + vp (15)
    # lead 1: a pricing visit this week (10) + student (-25); lead 2: two older visits (2), no title
    assert score.tolist() == pytest.approx([19.0, -15.0, 2.0])


def test_points_name_the_feature_they_miss():
    with pytest.raises(ValueError, match="eng__form_submit_7d"):
        points_score(_frame(), {"form_submit": 5}, decay=[1.0], windows_days=[7], fit_points={})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({
        "eng__web_visit_7d": rng.poisson(1.0, n),
        "eng__web_visit_30d": rng.poisson(3.0, n),
        "eng__pricing_page_visit_7d": rng.poisson(0.2, n),
        "eng__pricing_page_visit_30d": rng.poisson(0.5, n),
        "fit__seniority": pd.Categorical(rng.choice(["vp", "manager", "student"], n)),
    })
    logit = -3 + 0.5 * X["eng__web_visit_7d"] + 1.0 * X["eng__pricing_page_visit_7d"] \
        - 1.5 * (X["fit__seniority"] == "student")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X.iloc[:2000], y[:2000], X.iloc[2000:], y[2000:]


def _params(config):
    """The train section with points rules for the frame's columns."""
    return config.train.model_copy(update={
        "points": config.train.points.model_copy(update={
            "windows_days": [7, 30], "decay": [1.0, 0.5],
            "engagement": {"web_visit": 2.0, "pricing_page_visit": 10.0},
            "fit": {"fit__seniority": {"student": -25.0}}}),
    })


@pytest.mark.parametrize(("family", "kind"), [("lgbm", LgbmModel), ("logreg", LogRegModel),
                                               ("points", PointsModel)])
def test_each_family_fits_and_ranks_better_than_chance(data, config, family, kind):
    from sklearn.metrics import roc_auc_score

    X_train, y_train, X_valid, y_valid = data
    params = _params(config)
    model = fit_family(family, X_train, y_train, X_valid, y_valid, params=params)
    assert isinstance(model, kind)
    assert roc_auc_score(y_valid, model.predict_raw(X_valid)) > 0.65


@pytest.mark.parametrize("family", ["lgbm", "logreg", "points"])
def test_contributions_add_up_to_the_margin_and_centre_on_the_training_rows(data, config, family):
    """One column per feature plus the bias; row sums are the margin (log-odds, or points); on the training
    rows each feature's contributions average to about 0 for logreg and points (relative to the mean); a
    category's one-hot columns are summed back into its own column."""
    from scipy.special import logit

    X_train, y_train, X_valid, y_valid = data
    params = _params(config)
    model = fit_family(family, X_train, y_train, X_valid, y_valid, params=params)
    contrib = model.contributions(X_valid)
    assert contrib.shape == (len(X_valid), X_valid.shape[1] + 1)
    raw = model.predict_raw(X_valid)
    margin = logit(raw) if model.raw_is_probability else raw
    np.testing.assert_allclose(contrib.sum(axis=1), margin, atol=1e-8)
    assert np.ptp(contrib[:, -1]) < 1e-9  # one bias: the average lead's margin
    if family != "lgbm":
        np.testing.assert_allclose(model.contributions(X_train)[:, :-1].mean(axis=0), 0, atol=1e-9)
        seniority = list(X_valid.columns).index("fit__seniority")
        assert np.abs(contrib[:, seniority]).max() > 0


def test_a_points_flag_rule_applies_to_the_flag_as_an_integer_a_float_or_text():
    rules = {"fit__free_email": {"1": -15.0}}
    for values in ([1, 0], [1.0, 0.0], ["1", "0"]):
        X = pd.DataFrame({"fit__free_email": values})
        assert points_score(X, {}, decay=[], windows_days=[], fit_points=rules).tolist() == [-15.0, 0.0]


def test_unknown_family_is_refused(data, config):
    X_train, y_train, X_valid, y_valid = data
    with pytest.raises(ValueError, match="unknown model family"):
        fit_family("forest", X_train, y_train, X_valid, y_valid, params=config.train)


def test_logreg_as_numbers_predicts_what_the_fitted_scikit_learn_pipeline_predicts():
    """The logistic regression is kept as its numbers and applied by numpy: on leads with a level seen too
    rarely to get its own column (pooled as infrequent), a level never seen, missing values in a column that
    had them in training (indicator) and in one that had none, it agrees with the pipeline it was read from."""
    from models.families import _as_objects, log_scaled, make_logreg

    rng = np.random.default_rng(3)
    n = 400
    X = pd.DataFrame({
        "fit__seniority": pd.Categorical(rng.choice(["vp", "manager", "student", "intern"], n, p=[.3, .4, .27, .03])),
        "eng__web_visit_7d": np.where(rng.random(n) < 0.1, np.nan, rng.poisson(2.0, n)).astype(float),
        "fit__employees": rng.lognormal(4, 1, n),
    })
    y = (rng.random(n) < 0.3).astype(int)
    pipeline = make_logreg(["fit__seniority"], ["eng__web_visit_7d", "fit__employees"], C=0.5, seed=0)
    pipeline.fit(_as_objects(log_scaled(X, ["fit__employees"])), y)
    model = LogRegModel.from_pipeline(pipeline, logged=["fit__employees"])
    assert model.categorical[0].infrequent == ["intern"] and model.indicators == [0]
    probe = pd.DataFrame({
        "fit__seniority": pd.Categorical(["vp", "intern", "ceo", None, "student"]),
        "eng__web_visit_7d": [1.0, np.nan, 3.0, 0.0, np.nan],
        "fit__employees": [50.0, 10.0, np.nan, 1e6, 200.0],
    })
    expected = pipeline.predict_proba(_as_objects(log_scaled(probe, ["fit__employees"])))[:, 1]
    np.testing.assert_allclose(model.predict_raw(probe), expected, rtol=1e-12, atol=0)
    again = LogRegModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(again.predict_raw(probe), expected, rtol=1e-12, atol=0)
    assert len(set(np.round(expected, 6))) == len(probe)  # five different leads, five different answers


def _skewed(seed, n=3000, *, log_truth):
    """A heavy-tailed amount whose effect is linear in its log (log_truth) or in the amount itself."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1.2, n)
    signal = np.log1p(amount) - 3 if log_truth else (amount - amount.mean()) / amount.std() * 2
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal * 1.5 - 1)))).astype(int)
    X = pd.DataFrame({"fit__amount": amount, "eng__visits": rng.poisson(2, n).astype(float)})
    return X.iloc[:2000], y[:2000], X.iloc[2000:], y[2000:]


@pytest.mark.parametrize("log_truth", [True, False])
def test_logreg_log_scales_a_skewed_column_only_when_that_helps_on_validation(config, log_truth):
    X_train, y_train, X_valid, y_valid = _skewed(7, log_truth=log_truth)
    model = fit_family("logreg", X_train, y_train, X_valid, y_valid, params=config.train)
    assert model.logged == (["fit__amount"] if log_truth else [])
    # a refit without validation keeps the choice it is given
    refit = fit_family("logreg", X_train, y_train, params=config.train, log_columns=model.logged)
    assert refit.logged == model.logged


def test_a_logreg_stored_before_the_choice_still_scores_as_it_did():
    """Stored models had every numeric column signed-log1p'd after imputing; their JSON has no ``logged``."""
    state = {"categorical": [], "numeric": ["a"], "medians": [1.0], "indicators": [], "means": [0.5],
             "scales": [2.0], "coef": [1.0], "intercept": 0.0}
    model = LogRegModel.from_dict(state)
    assert model.legacy_log
    expected = 1 / (1 + np.exp(-((np.log1p(3.0) - 0.5) / 2.0)))
    np.testing.assert_allclose(model.predict_raw(pd.DataFrame({"a": [3.0]})), [expected], rtol=1e-12)
    assert LogRegModel.from_dict(json.loads(json.dumps(model.to_dict()))).legacy_log


def _lgbm_params(n_estimators=40):
    from models.params import TrainParams

    return TrainParams(early_stopping_rounds=5, lgbm={"n_estimators": n_estimators, "num_leaves": 7,
                                                      "min_child_samples": 20, "learning_rate": 0.1})


def _precise(data):
    """The fixture's rows plus a column of full float64 precision (a decayed count, say) and sampling weights."""
    X_train, y_train, _, _ = data
    rng = np.random.default_rng(3)
    X = X_train.assign(eng__decayed=np.exp(rng.normal(size=len(X_train))) + X_train["eng__web_visit_7d"] / 3)
    return X, y_train, rng.choice([1.0, 2.5], len(X))


def test_a_fit_on_rows_taken_from_a_binned_history_is_the_fit_on_those_rows_in_its_bins(data):
    from models.families import LgbmRows, fit_lgbm

    X, y, w = _precise(data)
    params = _lgbm_params()
    history = LgbmRows.from_frame(X, y, w, params=params)
    mask = np.arange(len(X)) % 3 != 0
    taken = fit_lgbm(history.take(mask), params=params)
    direct = fit_lgbm(LgbmRows.from_frame(X[mask], y[mask], w[mask], params=params, reference=history), params=params)
    assert taken.booster.model_to_string() == direct.booster.model_to_string()
    assert list(history.take(mask).index) == list(X.index[mask])


def test_an_early_stopped_fit_on_binned_rows_is_reproducible_and_keeps_the_frames_categories(data):
    from models.families import LgbmRows, fit_lgbm

    X, y, w = _precise(data)
    params = _lgbm_params(n_estimators=500)
    history = LgbmRows.from_frame(X, y, w, params=params)
    early = np.arange(len(X)) < 1500

    def fit():
        return fit_lgbm(history.take(early), history.take(~early), params=params)

    first, second = fit(), fit()
    assert 0 < first.booster.best_iteration < 500 and first.booster.num_trees() == first.booster.best_iteration
    assert first.booster.model_to_string() == second.booster.model_to_string()
    assert first.booster.feature_name() == list(X.columns)
    assert first.category_levels == [list(X["fit__seniority"].cat.categories)]


def test_a_model_binned_in_float32_scores_the_float64_frame_as_it_learned_it(data):
    """Bin boundaries lie midway between float32 values, so a float64 value and its float32 rounding fall on the
    same side of every split: the model trained on the float32 matrix scores the float64 frame exactly as the
    rounded one."""
    X, y, w = _precise(data)
    model = fit_family("lgbm", X, y, params=_lgbm_params(), sample_weight=w)
    rounded = X.assign(eng__decayed=X["eng__decayed"].astype(np.float32).astype(np.float64))
    assert not np.array_equal(rounded["eng__decayed"], X["eng__decayed"])  # the column really loses digits
    np.testing.assert_array_equal(model.predict_raw(X), model.predict_raw(rounded))


def test_a_training_table_with_its_whole_numbers_in_float32_trains_the_same_models_and_scorer(config):
    """The training table keeps the float64 columns float32 holds exactly (``features.fit.float32_exact_columns``)
    in float32: the same numbers in half the memory, so the same LightGBM model text (and logistic regression),
    the same scorer, which scores tonight's float64 frame exactly as the one trained from float64 columns."""
    from features.catalog import model_features
    from features.demo_world import generate_world
    from features.labels import label_column
    from features.schema import validate_sources
    from features.spine import build_spine, data_end
    from features.training_table import build_feature_table, build_training_table
    from models.calibration import ProbabilityCalibrator
    from models.scorer import build_scorer

    tables = validate_sources(generate_world(1500, 11, config.generate).tables)
    narrow = build_training_table(tables, labels=config.labels, spine=config.spine, features=config.features)
    float32 = [c for c in narrow.columns if narrow[c].dtype == np.float32]
    assert float32 == ["fit__account_employees"] and narrow[float32[0]].notna().any()
    wide = narrow.astype(dict.fromkeys(float32, np.float64))
    features, label = model_features(config.features), label_column(config.labels.window_days)
    nights = np.sort(narrow["as_of_ts"].unique())
    cut = nights[int(len(nights) * 0.7)]
    params = config.train.model_copy(update={"lgbm": config.train.lgbm.model_copy(update={"n_estimators": 300})})
    tonight = data_end(tables).floor("D") + pd.Timedelta(days=1)
    spine = build_spine(tables["leads"], tables["opportunities"], pd.DatetimeIndex([tonight]),
                        max_lead_age_days=config.spine.max_lead_age_days)
    nightly = build_feature_table(tables, spine, config.features)[features]
    assert nightly["fit__account_employees"].dtype == np.float64 and len(nightly) > 100

    def trained(table, family):
        early, recent = table[table["as_of_ts"] < cut], table[table["as_of_ts"] >= cut]
        model = fit_family(family, early[features], early[label], recent[features], recent[label], params=params)
        calibrator = ProbabilityCalibrator(method="isotonic").fit(model.predict_raw(recent[features]), recent[label])
        return model, build_scorer(model, calibrator, recent[features], grade_shares={"A": 0.1, "B": 0.2, "C": 0.3})

    for family in ("lgbm", "logreg"):
        (model32, scorer32), (model64, scorer64) = trained(narrow, family), trained(wide, family)
        if family == "lgbm":
            assert 0 < model32.booster.num_trees() < 300  # early-stopped: the validation slice counted the same
            assert model32.booster.model_to_string() == model64.booster.model_to_string()
        assert scorer32.to_artifacts() == scorer64.to_artifacts()
        np.testing.assert_array_equal(scorer32.probability(nightly), scorer64.probability(nightly))
