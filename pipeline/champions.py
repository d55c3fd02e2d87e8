"""The champions a night is scored with: the global model's and, when params.yaml declares segments, each
segment's (``<model_name>--<segment>@champion``).

Each lead is scored by its segment's champion (``features.segments.assign_segments``; a lead matching two
segments fails the night); the leads of no segment, and those of a segment without a champion (never trained,
refused by the sufficiency gate, or not promoted yet), by the global champion, with the reason in the result.
Every row is stamped with the segment whose model scored it (null: the global model). Used by ``score`` and
``nightly``, which differ only in how they check a champion's sign-off (``check``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.segments import assign_segments
from models.scoring import combine_scores
from pipeline import tracking
from pipeline.config import Config
from pipeline.sources import LeadSource

Check = Callable[[Config, tracking.Champion], tracking.Champion]


@dataclass
class Champions:
    main: tracking.Champion                                               # the global model's
    segments: dict[str, tracking.Champion] = field(default_factory=dict)  # segment → its champion
    fallbacks: dict[str, str] = field(default_factory=dict)               # segment → why the global model scores it

    def configs(self, config: Config) -> list[tuple[Config, tracking.Champion]]:
        """(the config of each model, its champion): the global one first."""
        return [(config, self.main)] + [(config.for_segment(name), c) for name, c in self.segments.items()]


def load(config: Config, source: LeadSource) -> Champions:
    """The global champion (required) and every segment's that exists; check their sign-off with :func:`checked`."""
    alias = config.score.model_alias
    champions = Champions(main=tracking.load_champion(config.registry.model_name, alias, source))
    for segment in config.segments:
        seg = config.for_segment(segment.name)
        try:
            champion = tracking.load_champion(seg.registry.model_name, alias, source, segment=segment.name)
        except LookupError:
            refused = tracking.refusal_of(seg)
            champions.fallbacks[segment.name] = (
                refused or  # the sufficiency gate's words, naming the segment
                f"segment {segment.name} has no champion ({seg.registry.model_name}@{alias}: train it with "
                f"`leadscore train --segment {segment.name}`, then sign and promote it with --segment): its leads "
                "are scored by the global model")
            continue
        champions.segments[segment.name] = champion
    return champions


def checked(champions: Champions, config: Config, check: Check) -> Champions:
    """Each champion passed through ``check`` (the sign-off record; it raises, or returns the champion stamped)."""
    return Champions(main=check(config, champions.main),
                     segments={name: check(config.for_segment(name), c) for name, c in champions.segments.items()},
                     fallbacks=dict(champions.fallbacks))


def scored_by_segment(champions: Champions, scores: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Segment → its champion's version and the rows it scored tonight."""
    counts = scores["segment"].value_counts()
    return {name: {"version": c.number, "rows": int(counts.get(name, 0))} for name, c in champions.segments.items()}


def score(champions: Champions, config: Config, queue: pd.DataFrame, features: pd.DataFrame,
          tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every open lead scored once, by its segment's champion or the global one; best first."""
    if not config.segments:
        return champions.main.score(queue, features, config.score)
    assigned = assign_segments(tables["leads"], tables.get("accounts"), config.segments)
    names = assigned.reindex(queue["lead_id"].array).to_numpy()
    queue, features = queue.reset_index(drop=True), features.reset_index(drop=True)
    by_global = ~np.isin(names, list(champions.segments))
    parts = [champions.main.score(queue[by_global].reset_index(drop=True),
                                  features[by_global].reset_index(drop=True), config.score)]
    for name, champion in champions.segments.items():
        mine = names == name
        parts.append(champion.score(queue[mine].reset_index(drop=True), features[mine].reset_index(drop=True),
                                    config.for_segment(name).score))
    scores = combine_scores(parts)
    if len(scores) != len(queue):  # every open lead once: never a dropped or doubled row
        raise RuntimeError(f"scoring by segment produced {len(scores)} rows for {len(queue)} open leads")
    return scores
