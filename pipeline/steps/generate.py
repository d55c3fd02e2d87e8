"""generate: write the demo world (features.demo_world) as the sources a real company would hand over.

Output (parquet, one file per table in ``out``): the six source tables of the data contract (leads,
accounts, campaigns, engagement_events, sales_activities, opportunities) and ``truth``: per lead the latent
fit, intent and the true probability of ever becoming a sale, for oracle metrics.
"""

from __future__ import annotations

from pathlib import Path

from features.demo_world import World, generate_world
from features.params import GenerateParams
from pipeline import io


def run(out: Path, n_leads: int, seed: int, params: GenerateParams) -> World:
    """Simulate the world and write its tables, truth included, to ``out``."""
    world = generate_world(n_leads, seed, params)
    io.write_sources({**world.tables, "truth": world.truth}, out)
    return world
