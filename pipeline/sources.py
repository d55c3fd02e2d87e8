"""Where leads come from: one ``LeadSource`` interface, one implementation per kind of source.

A source loads and validates its data (strictly for training; the data contract can also quarantine bad
rows for the nightly job), builds its training table and the open leads of a night with their features,
and describes itself for the quality-lead definition. Steps hold a ``LeadSource`` and never ask which
kind it is: the data-contract folder (six tables, snapshots every week) and the flat CRM export (one row
per lead, a column plan frozen into the model version) are the two kinds today; a SQL database or a
Spark engine slots in as another implementation. ``open_source`` is the one place that picks the kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import Protocol

import pandas as pd

from features import flat
from features.as_of import tables_known_before
from features.catalog import build_catalog
from features.coverage import population_words, spine_coverage
from features.labels import label_column
from features.schema import CheckedSources, check_sources
from features.segments import describe, segment_lead_ids
from features.spine import build_spine, data_end
from features.training_table import (
    TrainingTableBlocks,
    build_feature_table,
    build_training_table,
    feature_columns,
    finish_training_table,
)
from models.split import RecentRule, order_folds, rolling_origin_folds
from models.training import InsufficientData, TrainingSet, check_sufficiency
from pipeline import io
from pipeline.config import Config

TRAINING_TABLE = "training_table"
MILESTONE_WORDS = {"won": "a won deal", "opportunity_created": "a sales opportunity"}


class LeadSource(Protocol):
    kind: str
    state_artifact: str | None  # where a model version keeps what scoring needs to rebuild its features

    @property
    def tables(self) -> dict[str, pd.DataFrame]: ...  # as loaded and validated, for lineage fingerprints

    def table_params(self) -> dict: ...  # the params that shape the training table (its cache key)

    def build_training_table(self) -> pd.DataFrame: ...  # in memory: the blocks concatenated and finished

    def training_table_blocks(self) -> Iterable[pd.DataFrame]: ...  # as built, to be written as they come

    def finish_training_table(self, blocks: pd.DataFrame) -> pd.DataFrame: ...  # the blocks, read back, as the table

    def training_set(self, table: pd.DataFrame) -> TrainingSet: ...

    def state(self) -> dict | None: ...  # frozen into the model version at training (``state_artifact``)

    def feature_catalog(self) -> list: ...

    def default_as_of(self, state: dict | None) -> pd.Timestamp: ...  # 'tonight' for the data we were given

    def open_leads(self, as_of: pd.Timestamp, state: dict | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(queue context: ``models.scoring.QUEUE_COLUMNS``, their features) of the leads open at ``as_of``."""
        ...


class ContractSource:
    """The six tables of the data contract: weekly snapshots of open leads, labels after each night."""

    kind = "contract"
    state_artifact = None

    def __init__(self, config: Config, location: Path | None = None, *,
                 tables: dict[str, pd.DataFrame] | None = None, as_of: pd.Timestamp | None = None):
        """``tables``: already loaded and checked (the nightly job's quarantined tables, a benchmark's world);
        otherwise read from ``location`` and held strictly to the contract on first use. ``as_of``: only what
        was known strictly before that moment (``features.as_of``), to rebuild what was deployed then."""
        self.config, self.location, self.as_of = config, location, as_of
        if tables is not None:
            self.tables = tables

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        tables = io.read_sources(self.location)
        return tables if self.as_of is None else tables_known_before(tables, self.as_of)

    def table_params(self) -> dict:
        c = self.config
        return {"labels": c.labels.model_dump(mode="json"), "spine": c.spine.model_dump(mode="json"),
                "features": c.features.model_dump(mode="json", exclude={"labels"}),  # words do not change the table
                "sampling": c.sampling.model_dump(mode="json")}

    def build_training_table(self) -> pd.DataFrame:
        c = self.config
        return build_training_table(self.tables, labels=c.labels, spine=c.spine, features=c.features,
                                    sampling=c.sampling)

    def training_table_blocks(self) -> TrainingTableBlocks:
        c = self.config
        return TrainingTableBlocks(self.tables, labels=c.labels, spine=c.spine, features=c.features,
                                   sampling=c.sampling)

    def finish_training_table(self, blocks: pd.DataFrame) -> pd.DataFrame:
        return finish_training_table(blocks)

    def training_set(self, table: pd.DataFrame) -> TrainingSet:
        """The training set of the config's model: for a segment (``config.for_segment``), the snapshots of that
        segment's leads only, out of the one training table every model shares (features such as the account's
        other leads are built on all leads); its coverage is counted on the segment's buyers."""
        c = self.config
        leads = self.tables["leads"]
        if c.segment is not None:
            ids = segment_lead_ids(leads, self.tables.get("accounts"), c.segment, c.segments)
            table = table[table["lead_id"].isin(ids)].reset_index(drop=True)
            leads = leads[leads["lead_id"].isin(ids)]
        target = label_column(c.labels.window_days)
        folds = rolling_origin_folds(table, folds=c.split.backtest_folds, test_days=c.split.test_days,
                                     gap_days=c.split.gap_days)
        features = feature_columns(table, c.features)
        catalog = {spec.name: spec for spec in build_catalog(c.features) if spec.name in features}
        label = {"milestone": c.labels.milestone, "window_days": c.labels.window_days, "column": target,
                 "milestone_words": MILESTONE_WORDS[c.labels.milestone]}
        population = {"cadence_days": c.spine.cadence_days, "max_lead_age_days": c.spine.max_lead_age_days,
                      **(cover := spine_coverage(table, leads, self.tables["opportunities"],
                                                 window_days=c.labels.window_days, milestone=c.labels.milestone)),
                      "description": population_words(c.spine.max_lead_age_days, c.spine.cadence_days,
                                                      c.labels.window_days, cover)}
        if self.as_of is not None:
            population["as_of"] = f"{self.as_of:%Y-%m-%d}"
            population["description"] += (f" Trained as of {self.as_of:%Y-%m-%d}, on what was known before "
                                          "that day.")
        if c.segment is not None:
            population["segment"] = {"name": c.segment.name, "leads": len(leads),
                                     "filter": {k: list(v) for k, v in c.segment.filter.items()}}
            population["description"] = (f"Segment {c.segment.name} ({describe(c.segment)}; {len(leads):,} leads): "
                                         + population["description"])
        data = TrainingSet(table=table, folds=folds,
                           recent_rule=RecentRule(days=c.split.valid_days, gap_days=c.split.gap_days),
                           features=features, target=target, label=label, population=population, catalog=catalog,
                           truth=io.read_truth(self.location), sampling=table.attrs.get("sampling"))
        try:
            check_sufficiency(data, min_conversions=c.train.min_conversions)
        except InsufficientData as exc:
            if c.segment is None:
                raise
            raise InsufficientData(f"segment {c.segment.name!r} ({describe(c.segment)}) is refused: {exc} Its leads "
                                   "are scored by the global model.") from None
        return data

    def state(self) -> dict | None:
        return None

    def feature_catalog(self) -> list:
        return build_catalog(self.config.features)

    def default_as_of(self, state: dict | None = None) -> pd.Timestamp:
        """Midnight after the latest timestamp in the sources: 'tonight' for the extract we were given."""
        return data_end(self.tables).floor("D") + pd.Timedelta(days=1)

    def open_leads(self, as_of: pd.Timestamp, state: dict | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        tables = self.tables
        spine = build_spine(tables["leads"], tables["opportunities"], pd.DatetimeIndex([as_of]),
                            max_lead_age_days=self.config.spine.max_lead_age_days)
        features = build_feature_table(tables, spine, self.config.features)
        leads = tables["leads"]
        # positions, not set_index/reindex: the same rows, and a lead scored on demand pays no index building
        rows = pd.Index(leads["lead_id"]).get_indexer(spine["lead_id"])  # every spine lead is in leads
        company = pd.array([None] * len(spine), dtype=object)
        if "accounts" in tables and "name" in tables["accounts"].columns and "account_id" in leads.columns:
            accounts = tables["accounts"]
            at = pd.Index(accounts["account_id"]).get_indexer(leads["account_id"].array.take(rows))
            company = accounts["name"].array.take(at, allow_fill=True)  # -1 (no account, or an unknown one): missing
        queue = pd.DataFrame({
            "lead_id": spine["lead_id"].array,
            "as_of_ts": spine["as_of_ts"].array,
            "owner_id": leads["owner_id"].array.take(rows) if "owner_id" in leads.columns else None,
            "company": company,
            "source": leads["source"].array.take(rows),
        })
        return queue, features


class FlatSource:
    """One CRM export, one row per lead: typed by a column plan, split by created date or row order."""

    kind = "flat"
    state_artifact = "source/flat_plan.json"

    def __init__(self, config: Config, location: Path | None = None):
        self.config, self.location = config, location

    @cached_property
    def frame(self) -> pd.DataFrame:
        return flat.clean(io.read_flat_source(self.location), self.config.source)  # placeholders → missing

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"crm_export": self.frame}

    @cached_property
    def plan(self) -> flat.FlatPlan:
        """The column plan of this export, as training infers it (validated first)."""
        flat.validate_flat_source(self.frame, self.config.source, min_conversions=self.config.train.min_conversions)
        return flat.plan_columns(self.frame, self.config.source)

    def table_params(self) -> dict:
        return {"source": self.config.source.model_dump(mode="json")}

    def build_training_table(self) -> pd.DataFrame:
        return flat.build_flat_table(self.frame, self.plan, extract_ts=flat.extract_time(self.frame, self.plan))

    def training_table_blocks(self) -> list[pd.DataFrame]:
        return [self.build_training_table()]  # one row per lead: one block

    def finish_training_table(self, blocks: pd.DataFrame) -> pd.DataFrame:
        return blocks

    def training_set(self, table: pd.DataFrame) -> TrainingSet:
        params, plan = self.config.source, self.plan
        order = [flat.CREATED, flat.ROW_NUMBER] if plan.created_column else [flat.ROW_NUMBER]
        folds = order_folds(table, order=order, folds=self.config.split.backtest_folds, test_share=params.test_share)
        warnings = [f"column {c.column!r} {c.reason}" for c in plan.columns if c.type is None]
        if plan.created_column is None:
            tested = ", ".join(fold.periods()["test"] for fold in folds)
            warnings.insert(0, f"no created-date column (source.created_column): the backtest follows row order — "
                               f"folds tested on {tested} — a time order only if the export is sorted by date; no "
                               "gap is needed, each label is the lead's own outcome")
        column = plan.converted_column or plan.converted_date_column
        label = {"milestone": "converted", "window_days": None, "column": flat.LABEL,
                 "milestone_words": f"a conversion (`{column}` in the CRM export)"}
        population = {"description": "Every lead of the CRM export that has not converted yet (one row per lead). "
                                     "Trained on all rows of the export, converted or not, split by "
                                     + ("created date." if plan.created_column else "row order."),
                      "dated": plan.created_column is not None}  # without dates, no weeks in the wording
        rule = RecentRule(order=tuple(order), share=params.valid_share)
        data = TrainingSet(table=table, folds=folds, recent_rule=rule, features=plan.features, target=flat.LABEL,
                           label=label, population=population, catalog={s.name: s for s in flat.flat_catalog(plan)},
                           warnings=tuple(warnings))
        check_sufficiency(data, min_conversions=self.config.train.min_conversions)
        return data

    def state(self) -> dict | None:
        return self.plan.to_dict()

    def feature_catalog(self) -> list:
        return flat.flat_catalog(flat.plan_columns(self.frame, self.config.source))

    def default_as_of(self, state: dict | None = None) -> pd.Timestamp:
        """Midnight after the export's latest date; today's midnight (UTC) for an export without dates."""
        plan = flat.FlatPlan.from_dict(state) if state is not None else self.plan
        latest = flat.extract_time(self.frame, plan)
        if latest is None:
            return pd.Timestamp.now(tz="UTC").floor("D")
        return latest.floor("D") + pd.Timedelta(days=1)

    def open_leads(self, as_of: pd.Timestamp, state: dict | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The rows that have not converted, built with the plan frozen into the model (``state``)."""
        plan = flat.FlatPlan.from_dict(state) if state is not None else self.plan
        table = flat.build_flat_table(self.frame, plan, extract_ts=flat.extract_time(self.frame, plan))
        open_rows = table[table[flat.LABEL] == 0].reset_index(drop=True)
        queue = pd.DataFrame({"lead_id": open_rows["lead_id"], "as_of_ts": as_of, "owner_id": None,
                              "company": None, "source": None})
        return queue, open_rows


def open_source(config: Config, location: Path | None = None, *, as_of: pd.Timestamp | None = None) -> LeadSource:
    """The source params.yaml describes, read (lazily) from ``location`` or $LEADSCORE_SOURCES; with ``as_of``,
    only what was known strictly before it."""
    if config.source.kind == "flat":
        if as_of is not None:
            raise ValueError("--as-of needs the data-contract tables: a flat export is one row per lead as it is "
                             "now, with no record of what was known on an earlier day")
        return FlatSource(config, location)
    return ContractSource(config, location, as_of=as_of)


def load_contract_tables(config: Config, location: Path | None) -> dict[str, pd.DataFrame]:
    """The nightly job's tables as stored (unchecked): it runs on the data-contract tables only."""
    if config.source.kind != "contract":
        raise ValueError("leadscore nightly runs on the data-contract tables (drift needs their snapshots); "
                         "score a flat CRM export with `leadscore score`")
    return io.load_sources(location)


def open_quarantined_source(config: Config, location: Path | None, *, now: pd.Timestamp,
                            tables: dict[str, pd.DataFrame] | None = None) -> tuple[LeadSource, CheckedSources]:
    """The nightly job's source: bad rows quarantined with their reason instead of failing the night (``tables``:
    already loaded by :func:`load_contract_tables`)."""
    tables = load_contract_tables(config, location) if tables is None else tables
    checked = check_sources(tables, now=now, event_types=config.features.engagement.event_types)
    return ContractSource(config, location, tables=checked.tables), checked


def training_table_key(source: LeadSource) -> str:
    """The named training table's key: the sources' content fingerprint and the params that built it."""
    digest = hashlib.sha256()
    for name, fp in io.fingerprint(source.tables).items():
        digest.update(f"{name}:{fp['rows']}:{fp['sha256']};".encode())
    params = hashlib.sha256(json.dumps({"kind": source.kind, **source.table_params()}, sort_keys=True,
                                       default=str).encode()).hexdigest()
    return f"{digest.hexdigest()[:16]}-{params[:12]}"


def load_training_table(source: LeadSource, *,
                        build: Callable[[], Iterable[pd.DataFrame]] | None = None) -> tuple[pd.DataFrame, str]:
    """(the training table, its dataset name): read back when these sources and params built it before,
    else built block by block, each block written as it comes (``io.write_dataset_blocks``: the name holds the
    whole table or none), then read back once, so compare, tune and promote never rebuild what train built and
    every step trains on the table as stored. ``build``: the blocks from another engine (``--engine spark``)
    instead of ``source.training_table_blocks()``; the same table under the same name."""
    key = training_table_key(source)
    table = io.read_dataset(TRAINING_TABLE, key)
    if table is None:
        io.write_dataset_blocks(build() if build else source.training_table_blocks(), TRAINING_TABLE, key)
        table = io.read_dataset(TRAINING_TABLE, key)
    return source.finish_training_table(table), f"{TRAINING_TABLE}/{key}"
