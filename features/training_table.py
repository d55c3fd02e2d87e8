"""Spine + point-in-time features (+ labels for training): the one path shared by training and scoring."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import build_catalog
from features.engagement import build_engagement_features
from features.fit import build_fit_features, float32_exact_columns
from features.history import build_history_features
from features.labels import build_labels, label_column
from features.params import FeatureParams, LabelParams, SamplingParams, SpineParams
from features.sales import build_sales_features
from features.sampling import WEIGHT_COLUMN, negative_rate, sample_snapshots, sampling_summary
from features.spine import build_spine, data_end, snapshot_dates

KEY_COLUMNS = ["lead_id", "as_of_ts"]
ROW_ORDER = ["as_of_ts", "lead_id"]  # the training table's rows, stably sorted


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


def _training_dates(tables: dict[str, pd.DataFrame], labels: LabelParams,
                    spine: SpineParams) -> tuple[pd.DatetimeIndex, pd.Timestamp]:
    end = data_end(tables)
    return training_dates(tables["leads"]["created_ts"].min(), end, labels, spine), end


def training_dates(first_created: pd.Timestamp, end: pd.Timestamp, labels: LabelParams,
                   spine: SpineParams) -> pd.DatetimeIndex:
    """The snapshot dates of a training table: every cadence date from the first lead on whose label window has
    fully elapsed by ``end`` (the sources' latest timestamp)."""
    return snapshot_dates(first_created, end - pd.Timedelta(days=labels.window_days), spine.cadence_days)


def count_snapshots(tables: dict[str, pd.DataFrame], dates: pd.DatetimeIndex, end: pd.Timestamp, *,
                    labels: LabelParams, spine: SpineParams, block_leads: int) -> tuple[int, int]:
    """(converting, other) snapshots of ``tables``' leads: what fixes the negative sampling rate. Counts of parts
    of the leads add up to the whole's."""
    target = label_column(labels.window_days)
    positives = negatives = 0
    for leads_block in _lead_blocks(tables["leads"], block_leads):
        y = _labelled_block(tables, leads_block, dates, end, labels, spine)[target].to_numpy()
        positives += int(y.sum())
        negatives += int(len(y) - y.sum())
    return positives, negatives


@dataclass(frozen=True)
class TrainingPlan:
    """What every block of one training table shares, decided from all the sources: the snapshot dates and the
    data end, the negative sampling rate and the float32 columns. An engine that builds the table in pieces (Spark
    partitions) decides it once and gives it to each piece."""

    dates: pd.DatetimeIndex
    end: pd.Timestamp
    rate: float
    narrow: tuple[str, ...]


def build_training_spine(tables: dict[str, pd.DataFrame], *, labels: LabelParams,
                         spine: SpineParams) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Snapshots of open leads on every cadence date whose label window has fully elapsed."""
    dates, end = _training_dates(tables, labels, spine)
    snapshots = build_spine(tables["leads"], tables["opportunities"], dates,
                            max_lead_age_days=spine.max_lead_age_days)
    return snapshots, end


def _lead_blocks(leads: pd.DataFrame, block_leads: int) -> list[pd.DataFrame]:
    return [leads.iloc[start:start + block_leads] for start in range(0, max(len(leads), 1), block_leads)]


def _labelled_block(tables, leads_block, dates, end, labels: LabelParams, spine: SpineParams) -> pd.DataFrame:
    snapshots = build_spine(leads_block, tables["opportunities"], dates, max_lead_age_days=spine.max_lead_age_days)
    return build_labels(snapshots, tables["opportunities"], window_days=labels.window_days,
                        milestone=labels.milestone, observed_until=end)


def _sorted_categories(table: pd.DataFrame) -> pd.DataFrame:
    """Each category column's categories sorted as one build sorts them (``features.fit._category``): the union of
    the blocks' categories, in the order one build of every row would give them the same codes."""
    changes = {}
    for col in table.columns:
        values = table[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            levels = sorted(values.cat.categories, key=str)
            if list(values.cat.categories) != levels:
                changes[col] = values.cat.reorder_categories(levels)
    return table.assign(**changes) if changes else table


def _unify_categories(blocks: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Each category column with the union of the blocks' categories, sorted as one build sorts them
    (``features.fit._category``), so the concatenation is what one build of every row would give."""
    if len(blocks) < 2:
        return blocks
    columns = [c for c in blocks[0].columns if isinstance(blocks[0][c].dtype, pd.CategoricalDtype)]
    for col in columns:
        levels = sorted(set().union(*(set(b[col].cat.categories) for b in blocks)), key=str)
        blocks = [b.assign(**{col: b[col].cat.set_categories(levels)}) for b in blocks]
    return blocks


class TrainingTableBlocks:
    """The training table as it is built: an iterable of blocks of ``sampling.block_leads`` leads, each with its
    kept rows' features, label and ``sample_weight``, in the block's own row order and categories, so a writer
    can store each block as it comes and never hold the table twice (``finish_training_table`` puts the stored
    rows in the table's order). At least one block is yielded (empty when no snapshot is open). Once every block
    was yielded, ``attrs["sampling"]`` says how the table was sampled (``features.sampling.sampling_summary``).

    Two passes over the leads: the first counts each block's converting and other snapshots (spine and labels
    only) to fix the negative rate, the second samples each block before its features are built, so only the
    kept rows ever get features."""

    def __init__(self, tables: dict[str, pd.DataFrame], *, labels: LabelParams, spine: SpineParams,
                 features: FeatureParams, sampling: SamplingParams | None = None, plan: TrainingPlan | None = None):
        """``plan``: the dates, rate and float32 columns decided from all the sources, when ``tables`` hold only
        some of the leads (with everything their features read); None decides them from ``tables``."""
        self.tables, self.labels, self.spine, self.features = tables, labels, spine, features
        self.sampling = sampling or SamplingParams(target_rows=None)
        self.plan = plan
        self.attrs: dict = {}

    def __iter__(self) -> Iterator[pd.DataFrame]:
        tables, labels, spine, sampling = self.tables, self.labels, self.spine, self.sampling
        self.attrs = {}
        target = label_column(labels.window_days)
        blocks = _lead_blocks(tables["leads"], sampling.block_leads)
        if self.plan is not None:
            dates, end, rate, narrow = self.plan.dates, self.plan.end, self.plan.rate, list(self.plan.narrow)
        else:
            dates, end = _training_dates(tables, labels, spine)
            positives = negatives = 0
            if sampling.negative_rate is None and sampling.target_rows is not None:
                positives, negatives = count_snapshots(tables, dates, end, labels=labels, spine=spine,
                                                       block_leads=sampling.block_leads)
            rate = negative_rate(sampling, positives, negatives)
            narrow = float32_exact_columns(tables.get("accounts"), self.features.fit)
        narrow = {c: np.float32 for c in narrow}
        full = kept_rows = kept_positives = 0
        yielded = False
        for leads_block in blocks:
            labelled = _labelled_block(tables, leads_block, dates, end, labels, spine)
            full += len(labelled)
            kept = sample_snapshots(labelled, target, rate=rate, seed=sampling.seed).reset_index(drop=True)
            del labelled
            if kept.empty and (yielded or leads_block is not blocks[-1]):
                continue  # a block with no open snapshot adds nothing (the last one stands for an empty table)
            part = build_feature_table(tables, kept, self.features)
            part[target] = kept[target].to_numpy()
            part[WEIGHT_COLUMN] = kept[WEIGHT_COLUMN].to_numpy()
            del kept
            part = part.astype(narrow)  # the same numbers in half the memory (float32_exact_columns)
            kept_rows += len(part)
            kept_positives += int(part[target].sum())
            yielded = True
            yield part
            del part
        self.attrs = {"sampling": sampling_summary(rate, kept_rows, full, kept_positives, sampling)}


def finish_training_table(table: pd.DataFrame, attrs: dict | None = None) -> pd.DataFrame:
    """The blocks of ``TrainingTableBlocks``, concatenated in their order (in memory, or as written and read
    back), as the training table: categories in one build's order, rows sorted by (as_of_ts, lead_id); a
    finished table comes out as it went in, and rows already in order are not copied. ``attrs``: the blocks'
    (how the table was sampled)."""
    table = _sorted_categories(table).sort_values(ROW_ORDER, kind="stable", ignore_index=True)
    if attrs:
        table.attrs.update(attrs)
    return table


def build_training_table(tables: dict[str, pd.DataFrame], *, labels: LabelParams, spine: SpineParams,
                         features: FeatureParams, sampling: SamplingParams | None = None) -> pd.DataFrame:
    """Labelled snapshots with their features, sorted by (as_of_ts, lead_id), sampled by ``sampling``
    (``features.sampling``; None keeps every snapshot) with their ``sample_weight``: ``TrainingTableBlocks``
    concatenated in memory and finished. How the table was sampled is in ``table.attrs["sampling"]`` (kept
    with the parquet file)."""
    blocks = TrainingTableBlocks(tables, labels=labels, spine=spine, features=features, sampling=sampling)
    built = _unify_categories(list(blocks))
    table = pd.concat(built, ignore_index=True)
    del built
    return finish_training_table(table, blocks.attrs)
