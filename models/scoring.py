"""Score assembly: a night's open leads and their features → the published rows sales reads, best first.

Pure: the model arrives as a ``predict(X, reasons)`` callable (the MLflow pyfunc in production, a
``LeadScorer`` in tests), the clock as ``scored_at``. The row layout here is the contract of the
``scores`` table and of the parquet copy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from models.scorer import to_model_input

QUEUE_COLUMNS = ["lead_id", "as_of_ts", "owner_id", "company", "source"]
SCORE_TABLE_COLUMNS = ["lead_id", "as_of_ts", "probability", "score", "grade", "model_version", "definition_version",
                       "owner_id", "company", "source", "reasons_positive", "reasons_negative", "scored_at", "segment"]

Predict = Callable[[pd.DataFrame, bool], pd.DataFrame]


def assemble_scores(queue: pd.DataFrame, features: pd.DataFrame, *, predict: Predict, feature_names: list[str],
                    model_version: int, definition_version: str, scored_at: pd.Timestamp, reasons: bool,
                    reasons_per_owner: int | None, segment: str | None = None) -> pd.DataFrame:
    """``queue`` (``QUEUE_COLUMNS``; one row per lead, aligned with ``features``) with the model's probability,
    score, grade and, for the leads sales reads, reasons; best first. ``segment``: the segment whose model scored
    the rows (``features.segments``; None, the global model), stamped on each."""
    X = to_model_input(features, feature_names)
    everyone = reasons and reasons_per_owner is None and len(features) > 0
    # reasons for every lead: one pass predicts and explains (a second predict would cost seconds a 1M-lead night)
    predictions = (predict(X, everyone) if len(features) else pd.DataFrame(columns=["probability", "score", "grade"]))
    # `.array` keeps each column's own dtype: to_numpy() would box a million timestamps and strings
    scores = pd.DataFrame({
        "lead_id": queue["lead_id"].array,
        "as_of_ts": queue["as_of_ts"].array,
        "probability": predictions["probability"].to_numpy(dtype=float),
        "score": predictions["score"].to_numpy(dtype="int64"),
        "grade": predictions["grade"].astype(str).to_numpy(),
        "model_version": model_version,
        "definition_version": definition_version,
        "owner_id": queue["owner_id"].array,
        "company": queue["company"].array,
        "source": queue["source"].array,
        "reasons_positive": "",
        "reasons_negative": "",
    })
    scores["as_of_ts"] = pd.to_datetime(scores["as_of_ts"], utc=True)
    scores["scored_at"] = scored_at
    scores["segment"] = pd.Series(segment, index=scores.index, dtype=object)
    if everyone:
        for col in ("reasons_positive", "reasons_negative"):
            if col in predictions.columns:
                scores[col] = predictions[col].astype(str).array  # Arrow strings stay Arrow strings
    elif reasons and len(scores):
        explain = leads_sales_reads(scores, reasons_per_owner)
        explained = predict(X[explain], True)
        for col in ("reasons_positive", "reasons_negative"):
            if col in explained.columns:
                scores.loc[explain, col] = explained[col].astype(str).to_numpy()
    return scores.sort_values(["probability", "lead_id"], ascending=[False, True], ignore_index=True)


def combine_scores(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One night's rows scored by several models (the global one and each segment's): one table, best first.
    Probabilities are calibrated in every model, so one order across them is meaningful."""
    scores = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    return scores.sort_values(["probability", "lead_id"], ascending=[False, True], ignore_index=True)


def leads_sales_reads(scores: pd.DataFrame, per_owner: int | None) -> np.ndarray:
    """Which leads get reasons: each owner's best ``per_owner`` of the night (leads without an owner count
    as one queue), or every lead when ``per_owner`` is None. Exact TreeSHAP for a million-lead night
    is a few seconds with ``models.treeshap``; a team may still keep reasons to the queue tops sales reads."""
    if per_owner is None:
        return np.ones(len(scores), dtype=bool)
    owner, _ = pd.factorize(scores["owner_id"], use_na_sentinel=False)
    order = np.lexsort((scores["lead_id"].to_numpy(), -scores["probability"].to_numpy(), owner))
    grouped = owner[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if len(order) else np.array([], dtype=int)
    rank_in_sorted = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    chosen = np.zeros(len(order), dtype=bool)
    chosen[order] = rank_in_sorted < per_owner
    return chosen
