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


def test_a_sampled_table_is_recorded_in_the_run_and_the_definition(store):
    """Sampling to about half the rows: the definition and the run say how; the template (the default target,
    far above this small world) was not sampled and its definition says nothing of it."""
    import mlflow

    from models.definition import render_markdown

    full_rows = int(store.trained.metrics["train_rows"])
    config = store.config(sampling={"target_rows": full_rows // 2})
    trained = train.run(config, sources=store.sources)
    _, definition = tracking.load_definition("lead-scoring", trained.model_version)
    sampling = definition["sampling"]
    assert sampling["rows_full"] == full_rows and sampling["sampled"]
    assert abs(sampling["rows_kept"] - full_rows // 2) < 0.1 * full_rows
    assert 0 < sampling["negative_rate"] < 1 and sampling["seed"] == config.sampling.seed
    assert trained.metrics["train_rows"] == sampling["rows_kept"]
    assert trained.metrics["train_rows_full"] == full_rows
    tags = mlflow.get_run(trained.run_id).data.tags
    assert tags["sampling.rows_full"] == str(full_rows) and tags["sampling.sampled"] == "True"
    assert f"{sampling['rows_kept']:,} of {full_rows:,} snapshots kept" in render_markdown(definition)
    _, template = tracking.load_definition("lead-scoring", store.trained.model_version)
    assert "sampling" not in template
    assert mlflow.get_run(store.trained.run_id).data.tags["sampling.sampled"] == "False"
    # the grades' promised rates stay rates of the full population: within the unsampled model's intervals
    unsampled = store.trained.grades.set_index("grade")
    for row in trained.grades.itertuples():
        assert row.promised_low <= unsampled.loc[row.grade, "promised_high"]
        assert row.promised_high >= unsampled.loc[row.grade, "promised_low"]
