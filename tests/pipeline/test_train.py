"""train on a small store: --as-of learns only from what was known before the day; a flat export refuses it."""

import pandas as pd
import pytest

from pipeline import sources, tracking
from pipeline.steps import train


def test_as_of_trains_on_what_was_known_before_the_day(store):
    config = store.config(train={"min_conversions": 30})  # a small world's first fold, three months shorter
    trained = train.run(config, sources=store.sources, as_of="2026-07-01")
    _, definition = tracking.load_definition("lead-scoring", trained.model_version)
    until = pd.Timestamp(definition["learned"]["until"], tz="UTC")
    assert until <= pd.Timestamp("2026-07-01", tz="UTC") - pd.Timedelta(days=config.labels.window_days)
    assert definition["population"]["as_of"] == "2026-07-01"
    assert "Trained as of 2026-07-01" in definition["population"]["description"]
    assert trained.dataset != store.trained.dataset  # another extract, another named table
    full = pd.Timestamp(tracking.load_definition("lead-scoring", 1)[1]["learned"]["until"], tz="UTC")
    assert full > until


def test_a_flat_export_has_no_past_to_train_as_of(store):
    config = store.config(source={"kind": "flat", "converted_column": "y", "created_column": "created"})
    with pytest.raises(ValueError, match="--as-of needs the data-contract tables"):
        sources.open_source(config, store.sources, as_of=pd.Timestamp("2026-01-01", tz="UTC"))
