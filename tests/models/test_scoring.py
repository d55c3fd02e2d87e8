"""Score assembly: the published row layout, best first, and which leads get reasons (the top of each
owner's queue)."""

import numpy as np
import pandas as pd

from models.scoring import SCORE_TABLE_COLUMNS, assemble_scores, leads_sales_reads

NIGHT = pd.Timestamp("2026-03-02", tz="UTC")
SCORED_AT = pd.Timestamp("2026-03-02 03:00", tz="UTC")


def _scores():
    return pd.DataFrame({
        "lead_id": [1, 2, 3, 4, 5, 6, 7],
        "probability": [0.9, 0.1, 0.5, 0.7, 0.2, 0.3, 0.3],
        "owner_id": ["ann", "ann", "bob", "ann", "bob", None, None],
    })


def test_each_owner_gets_reasons_for_their_best_leads():
    chosen = leads_sales_reads(_scores(), per_owner=2)
    # ann: 0.9 (1), 0.7 (4) but not 0.1 (2); bob: both; no owner: a queue of its own (tie broken by lead_id)
    assert _scores()["lead_id"][chosen].tolist() == [1, 3, 4, 5, 6, 7]
    assert _scores()["lead_id"][leads_sales_reads(_scores(), per_owner=1)].tolist() == [1, 3, 6]


def test_no_limit_explains_every_lead():
    assert leads_sales_reads(_scores(), per_owner=None).all()
    assert leads_sales_reads(_scores().iloc[:0], per_owner=3).dtype == np.bool_


class _FakeModel:
    """Probability = the feature x; reasons name the lead's x. Records which rows it was asked to explain."""

    def __init__(self):
        self.explained: list[float] = []

    def __call__(self, X: pd.DataFrame, reasons: bool) -> pd.DataFrame:
        out = pd.DataFrame({"probability": X["f__x"].to_numpy(), "score": (X["f__x"] * 100).astype(int).to_numpy(),
                            "grade": np.where(X["f__x"] > 0.5, "A", "B")})
        if reasons:
            self.explained += X["f__x"].tolist()
            out["reasons_positive"] = [f"x is {v}" for v in X["f__x"]]
            out["reasons_negative"] = "none"
        return out


def _queue(owners):
    return pd.DataFrame({"lead_id": [10, 11, 12], "as_of_ts": NIGHT, "owner_id": owners,
                         "company": ["Acme [/] Corp", "B", None], "source": ["web", "event", "web"]})


def test_rows_are_published_best_first_in_the_table_layout():
    model = _FakeModel()
    features = pd.DataFrame({"f__x": [0.2, 0.9, 0.6], "ignored": [1, 2, 3]})
    scores = assemble_scores(_queue(["ann", "ann", "bob"]), features, predict=model, feature_names=["f__x"],
                             model_version=4, definition_version="abc", scored_at=SCORED_AT, reasons=True,
                             reasons_per_owner=1)
    assert list(scores.columns) == SCORE_TABLE_COLUMNS
    assert scores["lead_id"].tolist() == [11, 12, 10]
    assert scores["probability"].tolist() == [0.9, 0.6, 0.2]
    assert scores["grade"].tolist() == ["A", "A", "B"]
    assert scores["company"].fillna("-").tolist() == ["B", "-", "Acme [/] Corp"]
    assert (scores["model_version"] == 4).all() and (scores["definition_version"] == "abc").all()
    assert (scores["scored_at"] == SCORED_AT).all() and (scores["as_of_ts"] == NIGHT).all()
    # ann's best (0.9) and bob's only lead (0.6) are explained; ann's second is not
    assert sorted(model.explained) == [0.6, 0.9]
    assert scores["reasons_positive"].tolist() == ["x is 0.9", "x is 0.6", ""]


def test_reasons_off_explains_nobody_and_an_empty_night_has_the_layout():
    model = _FakeModel()
    features = pd.DataFrame({"f__x": [0.2, 0.9, 0.6]})
    scores = assemble_scores(_queue(["ann", "bob", "cy"]), features, predict=model, feature_names=["f__x"],
                             model_version=1, definition_version="", scored_at=SCORED_AT, reasons=False,
                             reasons_per_owner=None)
    assert model.explained == [] and (scores["reasons_positive"] == "").all()
    empty = assemble_scores(_queue(["a", "b", "c"]).iloc[:0], features.iloc[:0], predict=model,
                            feature_names=["f__x"], model_version=1, definition_version="", scored_at=SCORED_AT,
                            reasons=True, reasons_per_owner=None)
    assert empty.empty and list(empty.columns) == SCORE_TABLE_COLUMNS


def test_reasons_for_every_lead_come_from_one_predict():
    calls = []

    def predict(X: pd.DataFrame, reasons: bool) -> pd.DataFrame:
        calls.append(reasons)
        return _FakeModel()(X, reasons)

    features = pd.DataFrame({"f__x": [0.2, 0.9, 0.6]})
    scores = assemble_scores(_queue(["ann", "ann", "bob"]), features, predict=predict, feature_names=["f__x"],
                             model_version=1, definition_version="", scored_at=SCORED_AT, reasons=True,
                             reasons_per_owner=None)
    assert calls == [True]
    assert scores["reasons_positive"].tolist() == ["x is 0.9", "x is 0.6", "x is 0.2"]
    assert (scores["reasons_negative"] == "none").all()
