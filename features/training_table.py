"""Spine + point-in-time features (+ labels for training): the one path shared by training and scoring."""

from __future__ import annotations

import pandas as pd

from features.catalog import build_catalog
from features.engagement import build_engagement_features
from features.fit import build_fit_features
from features.history import build_history_features
from features.labels import build_labels, label_column
from features.params import FeatureParams, LabelParams, SpineParams
from features.sales import build_sales_features
from features.spine import build_spine, data_end, snapshot_dates

KEY_COLUMNS = ["lead_id", "as_of_ts"]


def build_feature_table(tables: dict[str, pd.DataFrame], spine: pd.DataFrame, features) -> pd.DataFrame:
    """``spine`` joined with every builder's columns; ``features`` is the params.yaml features section."""
    parts = [
        spine[KEY_COLUMNS],
        build_fit_features(tables["leads"], tables.get("accounts"), spine, features.fit,
                           campaigns=tables.get("campaigns")),
        build_engagement_features(tables.get("engagement_events"), spine, features.engagement,
                                  campaigns=tables.get("campaigns")),
    ]
    if features.history:
        parts.append(build_history_features(tables["leads"], tables["opportunities"], tables.get("accounts"), spine,
                                            features.history_recent_leads_days))
    if "sales_activities" in tables:
        parts.append(build_sales_features(tables["sales_activities"], spine, features.sales_touches))
    return pd.concat(parts, axis=1)


def feature_columns(table: pd.DataFrame, features: FeatureParams | None = None) -> list[str]:
    """The model's inputs: every built feature column, less those the catalogue keeps out of the model."""
    excluded = set()
    if features is not None:
        excluded = {s.name for s in build_catalog(features) if not s.in_model}
    return [c for c in table.columns if "__" in c and c not in excluded]


def build_training_spine(tables: dict[str, pd.DataFrame], *, labels: LabelParams,
                         spine: SpineParams) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Snapshots of open leads on every cadence date whose label window has fully elapsed."""
    end = data_end(tables)
    last = end - pd.Timedelta(days=labels.window_days)
    dates = snapshot_dates(tables["leads"]["created_ts"].min(), last, spine.cadence_days)
    snapshots = build_spine(tables["leads"], tables["opportunities"], dates,
                            max_lead_age_days=spine.max_lead_age_days)
    return snapshots, end


def build_training_table(tables: dict[str, pd.DataFrame], *, labels: LabelParams, spine: SpineParams,
                         features: FeatureParams) -> pd.DataFrame:
    """Labelled snapshots with their features, sorted by (as_of_ts, lead_id)."""
    snapshots, end = build_training_spine(tables, labels=labels, spine=spine)
    labelled = build_labels(snapshots, tables["opportunities"], window_days=labels.window_days,
                            milestone=labels.milestone, observed_until=end)
    table = build_feature_table(tables, labelled.reset_index(drop=True), features)
    table[label_column(labels.window_days)] = labelled[label_column(labels.window_days)].to_numpy()
    return table
