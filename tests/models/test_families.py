"""The three families: the points rules compute what marketing wrote; each family fits and ranks."""

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


@pytest.mark.parametrize(("family", "kind"), [("lgbm", LgbmModel), ("logreg", LogRegModel),
                                               ("points", PointsModel)])
def test_each_family_fits_and_ranks_better_than_chance(data, config, family, kind):
    from sklearn.metrics import roc_auc_score

    X_train, y_train, X_valid, y_valid = data
    params = config.train.model_copy(update={
        "points": config.train.points.model_copy(update={
            "windows_days": [7, 30], "decay": [1.0, 0.5],
            "engagement": {"web_visit": 2.0, "pricing_page_visit": 10.0},
            "fit": {"fit__seniority": {"student": -25.0}}}),
    })
    model = fit_family(family, X_train, y_train, X_valid, y_valid, params=params)
    assert isinstance(model, kind)
    assert roc_auc_score(y_valid, model.predict_raw(X_valid)) > 0.65


def test_unknown_family_is_refused(data, config):
    X_train, y_train, X_valid, y_valid = data
    with pytest.raises(ValueError, match="unknown model family"):
        fit_family("forest", X_train, y_train, X_valid, y_valid, params=config.train)
