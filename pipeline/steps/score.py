"""score: the open leads of one or more nights → the same features as training → champion → published scores.

Inputs: the source params.yaml describes (``pipeline.sources``), ``models:/<model_name>@<model_alias>`` and
what that version froze of its source (a flat export's column plan). Output: the ``scores`` table
(database) and ``<scores dir>/as_of=<date>/scores.parquet``, one row per open lead in the layout of
``models.scoring.SCORE_TABLE_COLUMNS``. Scoring the same as-of date again replaces that date's rows. It holds
the nightly job's publish lock while it publishes (``leadscore score`` exits 4 while another run holds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.timeutil import as_utc
from pipeline import io, publish_lock, tracking
from pipeline import sources as lead_sources
from pipeline.config import Config


@dataclass(frozen=True)
class ScoreResult:
    as_of: pd.Timestamp
    rows: int
    model_version: int
    parquet_path: Path
    grade_counts: dict[str, int]
    nights_dropped: int = 0  # old nights the retention (score.retention_days) removed


def run(config: Config, *, as_of=None, sources: Path | None = None) -> ScoreResult:
    return run_nights(config, nights=[as_of] if as_of is not None else [], sources=sources)[0]


def run_nights(config: Config, *, nights: list, sources: Path | None = None) -> list[ScoreResult]:
    """Score and publish each night in turn (default: tonight only), reading the sources and loading the
    champion once: a backfill of past nights costs the features and predictions, not a start-up per night."""
    tracking.configure()
    source = lead_sources.open_source(config, sources)
    champion = tracking.load_champion(config.registry.model_name, config.score.model_alias, source)
    results = []
    with publish_lock.hold():  # the same lock as the nightly job: one publisher at a time, whoever it is
        for as_of in [as_utc(n) for n in nights] or [source.default_as_of(champion.state)]:
            scores = champion.score(*source.open_leads(as_of, champion.state), config.score)
            published = io.write_scores(scores, as_of, retention_days=config.score.retention_days)
            results.append(ScoreResult(as_of=as_of, rows=len(scores), model_version=champion.number,
                                       parquet_path=published.path, nights_dropped=published.nights_dropped,
                                       grade_counts=scores["grade"].value_counts().sort_index().to_dict()))
    return results
