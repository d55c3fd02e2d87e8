"""A scorer is data: written as text files (JSON, LightGBM's model text) and read back by this code, every
family scores identically (probabilities, scores, grades and reasons), and nothing in the files is a pickle."""

import json

import numpy as np
import pandas as pd
import pytest

from features.specs import FeatureSpec
from models.calibration import ProbabilityCalibrator
from models.families import FAMILIES, LgbmModel, LogRegModel, PointsModel, fit_family
from models.scorer import ArtifactFormatError, LeadScorer, build_scorer, to_model_input

# web visits in 7 and 30 days, pricing-page visits in 7 and 30 days, seniority, employees, converted
ROWS = [
    (3, 5, 1, 2, "vp", 250.0, 1),
    (0, 1, 0, 0, "student", None, 0),
    (1, 4, 0, 1, "manager", 40.0, 0),
    (4, 6, 2, 2, "vp", 1200.0, 1),
    (0, 0, 0, 0, None, 15.0, 0),
    (2, 2, 0, 0, "manager", None, 0),
    (5, 9, 1, 3, "director", 800.0, 1),
    (0, 2, 0, 0, "student", 5.0, 0),
    (1, 1, 1, 1, "manager", 300.0, 1),
    (0, 3, 0, 1, "vp", 60.0, 0),
    (2, 7, 0, 2, "director", None, 0),
    (6, 8, 3, 4, "manager", 90.0, 1),
]
# The same leads with the other outcome: no feature separates buyers perfectly, so probabilities are not 0 or 1.
FLIPPED = [(*row[:-1], 1 - row[-1]) for row in ROWS[::3]]
COLUMNS = ["eng__web_visit_7d", "eng__web_visit_30d", "eng__pricing_page_visit_7d", "eng__pricing_page_visit_30d",
           "fit__seniority", "fit__employees"]
CATALOG = {
    "eng__web_visit_7d": FeatureSpec("eng__web_visit_7d", "engagement", "count", "visited the website {value} times"),
    "fit__seniority": FeatureSpec("fit__seniority", "fit", "category", "job level is {value}", missing="no job level"),
}


def _frame(rows) -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame([r[:-1] for r in rows], columns=COLUMNS)
    for col in COLUMNS[:4]:
        X[col] = X[col].astype(float)
    X["fit__employees"] = X["fit__employees"].astype(float)
    X["fit__seniority"] = pd.Categorical(X["fit__seniority"], categories=["director", "manager", "student", "vp"])
    return X, np.array([r[-1] for r in rows])


def _params(config):
    return config.train.model_copy(update={
        "lgbm": config.train.lgbm.model_copy(update={"n_estimators": 30, "num_leaves": 4, "min_child_samples": 2,
                                                     "subsample": 1.0, "colsample_bytree": 1.0}),
        "early_stopping_rounds": 5,
        "points": config.train.points.model_copy(update={
            "windows_days": [7, 30], "decay": [1.0, 0.5],
            "engagement": {"web_visit": 2.0, "pricing_page_visit": 10.0},
            "fit": {"fit__seniority": {"vp": 15.0, "student": -25.0}}}),
    })


def _scorer(family: str, config, calibration: str = "sigmoid") -> LeadScorer:
    X_train, y_train = _frame(ROWS * 3 + FLIPPED * 2)
    X_valid, y_valid = _frame(ROWS[6:] + FLIPPED + ROWS[:6])
    model = fit_family(family, X_train, y_train, X_valid, y_valid, params=_params(config))
    calibrator = ProbabilityCalibrator(method=calibration, raw_is_probability=model.raw_is_probability)
    calibrator.fit(model.predict_raw(X_valid), y_valid)
    scorer = build_scorer(model, calibrator, X_valid, grade_shares={"A": 0.25, "B": 0.25, "C": 0.25},
                          catalog=CATALOG)
    scorer.definition_version = "def-1"
    return scorer


def _probe() -> pd.DataFrame:
    """Text input as the pyfunc receives it, with a level no training row had and missing values."""
    X, _ = _frame(ROWS + [(9, 9, 4, 4, "intern", None, 0), (0, 0, 0, 0, None, None, 0)])
    return to_model_input(X, COLUMNS)


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_scorer_read_back_from_its_files_scores_identically(family, calibration, config):
    scorer = _scorer(family, config, calibration)
    files = scorer.to_artifacts()
    assert all(isinstance(text, str) for text in files.values())
    again = LeadScorer.from_artifacts(files, feature_spec=FeatureSpec)
    assert type(again.model) is type(scorer.model)
    probe = _probe()
    expected = scorer.predict(probe, reasons=True)
    pd.testing.assert_frame_equal(again.predict(probe, reasons=True), expected, check_exact=True)
    np.testing.assert_array_equal(again.raw_probability(probe), scorer.raw_probability(probe))
    assert list(again.grade_thresholds.items()) == list(scorer.grade_thresholds.items())
    np.testing.assert_array_equal(again.reference_quantiles, scorer.reference_quantiles)
    assert again.drift_reference == scorer.drift_reference
    assert again.catalog == scorer.catalog and again.feature_names == scorer.feature_names
    assert again.categories == scorer.categories and again.definition_version == "def-1"
    assert again.to_artifacts() == files  # written again, the same bytes


def test_lgbm_reasons_survive_the_round_trip_in_words(config):
    scorer = _scorer("lgbm", config)
    again = LeadScorer.from_artifacts(scorer.to_artifacts(), feature_spec=FeatureSpec)
    reasons = again.predict(_probe(), reasons=True)
    assert (reasons["reasons_positive"] != "").any()  # the round trip is not vacuous: there are reasons to compare
    np.testing.assert_array_equal(again.model.contributions(again.prepare(_probe())),
                                  scorer.model.contributions(scorer.prepare(_probe())))


def test_an_early_stopped_booster_keeps_only_its_best_trees_and_predicts_the_same(config):
    """LightGBM predicts with the best iteration when a booster has one; the model text keeps exactly those trees."""
    scorer = _scorer("lgbm", config)
    assert scorer.model.booster.num_trees() > 5
    scorer.model.booster.best_iteration = 3
    again = LeadScorer.from_artifacts(scorer.to_artifacts(), feature_spec=FeatureSpec)
    assert again.model.booster.num_trees() == 3
    probe = scorer.prepare(_probe())
    np.testing.assert_array_equal(again.model.predict_raw(probe), scorer.model.predict_raw(probe))
    assert not np.array_equal(scorer.model.booster.predict(probe, num_iteration=-1), scorer.model.predict_raw(probe))


def test_each_family_writes_its_own_data_and_no_pickle(config):
    written = {family: _scorer(family, config).to_artifacts() for family in FAMILIES}
    assert set(written["lgbm"]) == {"scorer.json", "reference.json", "catalog.json", "lgbm_model.txt"}
    assert written["lgbm"]["lgbm_model.txt"].startswith("tree\n")  # LightGBM's own model text
    assert "pandas_categorical:" in written["lgbm"]["lgbm_model.txt"]
    assert set(written["logreg"]) == {"scorer.json", "reference.json", "catalog.json", "logreg.json"}
    logreg = json.loads(written["logreg"]["logreg.json"])
    assert len(logreg["coef"]) == len(logreg["means"]) + sum(
        len(c["levels"]) + bool(c["infrequent"]) for c in logreg["categorical"])
    assert json.loads(written["points"]["points.json"])["fit_points"] == {"fit__seniority": {"vp": 15.0,
                                                                                           "student": -25.0}}
    for files in written.values():
        for name, text in files.items():
            if name.endswith(".json"):
                json.loads(text)  # every JSON file parses as JSON
            assert "\x80" not in text and "cloudpickle" not in text  # no pickle protocol header, no pickled class


def test_families_are_rebuilt_as_their_own_kind(config):
    kinds = {"lgbm": LgbmModel, "logreg": LogRegModel, "points": PointsModel}
    for family in FAMILIES:
        again = LeadScorer.from_artifacts(_scorer(family, config).to_artifacts(), feature_spec=FeatureSpec)
        assert isinstance(again.model, kinds[family])
        assert json.loads(again.to_artifacts()["scorer.json"])["family"] == family


def test_files_that_are_not_a_scorer_are_refused(config):
    files = _scorer("points", config).to_artifacts()
    with pytest.raises(ArtifactFormatError, match="no scorer.json"):
        LeadScorer.from_artifacts({k: v for k, v in files.items() if k != "scorer.json"}, feature_spec=FeatureSpec)
    other = {**json.loads(files["scorer.json"]), "format_version": 99}
    with pytest.raises(ArtifactFormatError, match="format version 99"):
        LeadScorer.from_artifacts({**files, "scorer.json": json.dumps(other)}, feature_spec=FeatureSpec)
    with pytest.raises(ArtifactFormatError, match="not a leadscore scorer"):
        LeadScorer.from_artifacts({**files, "scorer.json": json.dumps({"format": "other"})}, feature_spec=FeatureSpec)
