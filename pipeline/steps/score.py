"""score: tonight's open leads → the same features as training → champion → published scores.

Inputs: the source tables (or, with ``source.kind: flat``, the CRM export); ``models:/<model_name>@<model_alias>``.
Output: the ``scores`` table (database) and ``<scores dir>/as_of=<date>/scores.parquet``, one row per open
lead: lead_id, as_of_ts, probability, score, grade, model_version, definition_version, owner_id, company,
source, reasons_positive, reasons_negative, scored_at.
Open leads of the data contract are those the spine holds at the as-of date; of a flat export, the rows that
have not converted, built with the column plan frozen into the champion (owner, company and source stay empty).
Scoring the same as-of date again replaces that date's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from features import flat
from features.spine import build_spine, data_end
from features.timeutil import as_utc
from features.training_table import build_feature_table
from models.scorer import to_model_input
from pipeline import io, tracking
from pipeline.config import Config
from pipeline.steps.train import FLAT_PLAN_ARTIFACT


@dataclass(frozen=True)
class ScoreResult:
    as_of: pd.Timestamp
    rows: int
    model_version: int
    parquet_path: Path
    grade_counts: dict[str, int]


def default_as_of(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """Midnight after the latest timestamp in the sources: 'tonight' for the extract we were given."""
    return data_end(tables).floor("D") + pd.Timedelta(days=1)


def build_scores(tables: dict[str, pd.DataFrame], config: Config, model, model_version: int,
                 as_of: pd.Timestamp, definition_version: str = "") -> pd.DataFrame:
    spine, features = build_open_lead_features(tables, config, as_of)
    return score_features(tables, spine, features, config, model, model_version, definition_version)


def build_open_lead_features(tables: dict[str, pd.DataFrame], config: Config,
                             as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads open at ``as_of`` (the spine) and their point-in-time features, as in training."""
    spine = build_spine(tables["leads"], tables["opportunities"], pd.DatetimeIndex([as_of]),
                        max_lead_age_days=config.spine.max_lead_age_days)
    return spine, build_feature_table(tables, spine, config.features)


def score_features(tables: dict[str, pd.DataFrame], spine: pd.DataFrame, features: pd.DataFrame, config: Config,
                   model, model_version: int, definition_version: str = "") -> pd.DataFrame:
    """The published rows, best first: the champion's numbers, queue context, and reasons where sales reads."""
    leads = tables["leads"].set_index("lead_id")
    context = leads.reindex(spine["lead_id"])
    company = pd.Series(None, index=spine.index, dtype=object)
    if "accounts" in tables and "name" in tables["accounts"].columns and "account_id" in leads.columns:
        names_by_account = tables["accounts"].set_index("account_id")["name"]
        company = pd.Series(names_by_account.reindex(context["account_id"]).array, index=spine.index)
    # `.array` keeps each column's own dtype: to_numpy() would box a million timestamps and strings
    queue = pd.DataFrame({
        "lead_id": spine["lead_id"].array,
        "as_of_ts": spine["as_of_ts"].array,
        "owner_id": context["owner_id"].array if "owner_id" in context else None,
        "company": company.array,
        "source": context["source"].array,
    })
    return score_rows(queue, features, config, model, model_version, definition_version)


def score_rows(queue: pd.DataFrame, features: pd.DataFrame, config: Config, model, model_version: int,
               definition_version: str = "") -> pd.DataFrame:
    """``queue`` (lead_id, as_of_ts, owner_id, company, source; one row per lead, aligned with ``features``)
    with the champion's probability, score, grade and, for the leads sales reads, reasons; best first."""
    names = model.metadata.get_input_schema().input_names()
    X = to_model_input(features, names)
    predictions = (model.predict(X, params={"reasons": False})
                   if len(features) else pd.DataFrame(columns=["probability", "score", "grade"]))
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
    scores["scored_at"] = pd.Timestamp.now(tz="UTC").floor("s")
    if config.score.reasons and len(scores):
        explain = leads_sales_reads(scores, config.score.reasons_per_owner)
        reasons = model.predict(X[explain], params={"reasons": True})
        for col in ("reasons_positive", "reasons_negative"):
            if col in reasons.columns:
                scores.loc[explain, col] = reasons[col].astype(str).to_numpy()
    return scores.sort_values(["probability", "lead_id"], ascending=[False, True], ignore_index=True)


def build_flat_scores(frame: pd.DataFrame, plan: flat.FlatPlan, config: Config, model, model_version: int,
                      as_of: pd.Timestamp, definition_version: str = "") -> pd.DataFrame:
    """Scores for the rows of a CRM export that have not converted, on the champion's frozen column plan."""
    table = flat.build_flat_table(frame, plan, extract_ts=flat.extract_time(frame, plan))
    open_leads = table[table[flat.LABEL] == 0].reset_index(drop=True)
    queue = pd.DataFrame({"lead_id": open_leads["lead_id"], "as_of_ts": as_of, "owner_id": None, "company": None,
                          "source": None})
    return score_rows(queue, open_leads, config, model, model_version, definition_version)


def default_flat_as_of(frame: pd.DataFrame, plan: flat.FlatPlan) -> pd.Timestamp:
    """Midnight after the export's latest date; today's midnight (UTC) for an export without dates."""
    latest = flat.extract_time(frame, plan)
    if latest is None:
        return pd.Timestamp.now(tz="UTC").floor("D")
    return latest.floor("D") + pd.Timedelta(days=1)


def check_source_kind(config: Config, mv) -> None:
    """A version trained on one source kind cannot score the other: its features are not built there."""
    kind = (mv.tags or {}).get("source_kind", "contract")
    if kind != config.source.kind:
        raise ValueError(f"{config.registry.model_name} version {mv.version} was trained on a {kind} source, but "
                         f"params.yaml says source.kind: {config.source.kind}")


def load_flat_plan(config: Config, mv) -> flat.FlatPlan:
    """The column plan the model version was trained with, to build the same features from a new export."""
    check_source_kind(config, mv)
    return flat.FlatPlan.from_dict(mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/{FLAT_PLAN_ARTIFACT}"))


def leads_sales_reads(scores: pd.DataFrame, per_owner: int | None) -> np.ndarray:
    """Which leads get reasons: each owner's best ``per_owner`` of the night (leads without an owner count
    as one queue), or every lead when ``per_owner`` is None. Exact TreeSHAP for a million-lead night
    takes minutes; for the queue tops sales actually reads, a fraction of a second."""
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


def run(config: Config, *, as_of=None, sources: Path | None = None) -> ScoreResult:
    return run_nights(config, nights=[as_of] if as_of is not None else [], sources=sources)[0]


def run_nights(config: Config, *, nights: list, sources: Path | None = None) -> list[ScoreResult]:
    """Score and publish each night in turn (default: tonight only), reading the sources and loading the
    champion once: a backfill of past nights costs the features and predictions, not a start-up per night."""
    tracking.configure()
    if config.source.kind == "flat":
        frame = io.read_flat_source(sources)
        model, mv = tracking.load_by_alias(config.registry.model_name, config.score.model_alias)
        plan = load_flat_plan(config, mv)
        nights = [as_utc(n) for n in nights] or [default_flat_as_of(frame, plan)]

        def build(as_of: pd.Timestamp) -> pd.DataFrame:
            return build_flat_scores(frame, plan, config, model, int(mv.version), as_of,
                                     definition_version=(mv.tags or {}).get("definition_version", ""))
    else:
        tables = io.read_sources(sources)
        nights = [as_utc(n) for n in nights] or [default_as_of(tables)]
        model, mv = tracking.load_by_alias(config.registry.model_name, config.score.model_alias)
        check_source_kind(config, mv)

        def build(as_of: pd.Timestamp) -> pd.DataFrame:
            return build_scores(tables, config, model, int(mv.version), as_of,
                                definition_version=(mv.tags or {}).get("definition_version", ""))
    results = []
    for as_of in nights:
        scores = build(as_of)
        path = io.write_scores(scores, as_of)
        results.append(ScoreResult(as_of=as_of, rows=len(scores), model_version=int(mv.version), parquet_path=path,
                                   grade_counts=scores["grade"].value_counts().sort_index().to_dict()))
    return results
