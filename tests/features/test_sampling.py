"""Sampling the training table: positives all kept, negatives by a seeded per-row hash, weights 1 / rate;
built in blocks of leads with the same rows and values as one build; validated params."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.params import SamplingParams
from features.sampling import keep_uniform, negative_rate, sample_snapshots
from features.training_table import build_training_table


def _snapshots(n_leads=400, weeks=30, seed=0):
    rng = np.random.default_rng(seed)
    nights = pd.date_range("2025-01-06", periods=weeks, freq="7D", tz="UTC")
    frame = pd.DataFrame({"lead_id": np.repeat(np.arange(n_leads) + 1000, weeks),
                          "as_of_ts": np.tile(nights, n_leads)})
    frame["y"] = (rng.random(len(frame)) < 0.05).astype(np.int8)
    return frame


def test_the_draw_depends_on_the_row_and_the_seed_only():
    rows = _snapshots()
    u = pd.Series(keep_uniform(rows["lead_id"], rows["as_of_ts"], 7), index=rows.index)
    shuffled = rows.sample(frac=1, random_state=3)
    part = shuffled.iloc[:777]
    assert np.array_equal(keep_uniform(part["lead_id"], part["as_of_ts"], 7), u.loc[part.index].to_numpy())
    assert ((u >= 0) & (u < 1)).all()
    assert abs(u.mean() - 0.5) < 0.01 and abs((u < 0.1).mean() - 0.1) < 0.01  # uniform enough
    other = keep_uniform(rows["lead_id"], rows["as_of_ts"], 8)
    assert not np.array_equal(other, u.to_numpy())
    # the same lead on two nights, two nights of the same lead: independent draws
    assert u.nunique() == len(u)


def test_every_positive_stays_and_kept_negatives_carry_one_over_the_rate():
    rows = _snapshots()
    kept = sample_snapshots(rows, "y", rate=0.2, seed=1)
    assert kept.index.isin(rows.index).all()
    assert kept["y"].sum() == rows["y"].sum()
    assert (kept.loc[kept["y"] == 1, "sample_weight"] == 1.0).all()
    assert np.allclose(kept.loc[kept["y"] == 0, "sample_weight"], 5.0)
    negatives = (rows["y"] == 0).sum()
    assert abs((kept["y"] == 0).sum() / negatives - 0.2) < 0.02
    # weighted counts estimate the full table's
    assert abs(kept["sample_weight"].sum() / len(rows) - 1) < 0.05
    assert sample_snapshots(rows, "y", rate=1.0, seed=1)["sample_weight"].eq(1.0).all()
    assert len(sample_snapshots(rows, "y", rate=1.0, seed=1)) == len(rows)


def test_the_rate_is_given_or_derived_from_the_target():
    assert negative_rate(SamplingParams(target_rows=1000), 100, 800) == 1.0          # fits: no sampling
    assert negative_rate(SamplingParams(target_rows=1000), 100, 9000) == pytest.approx(900 / 9000)
    assert negative_rate(SamplingParams(target_rows=1000), 600, 9000) == pytest.approx(600 / 9000)  # >= positives
    assert negative_rate(SamplingParams(target_rows=1000, negative_rate=0.5), 100, 9000) == 0.5   # given wins
    assert negative_rate(SamplingParams(target_rows=None), 100, 10 ** 9) == 1.0


def test_sampling_params_are_validated():
    with pytest.raises(ValidationError):
        SamplingParams(target_rows=1000, bogus=1)
    with pytest.raises(ValidationError):
        SamplingParams(negative_rate=0.0)
    with pytest.raises(ValidationError):
        SamplingParams(negative_rate=1.5)
    with pytest.raises(ValidationError):
        SamplingParams(block_leads=0)


def test_params_yaml_rejects_an_unknown_sampling_key(repo_root):
    import yaml

    from pipeline.config import ConfigError, parse_config

    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    assert parse_config(raw).sampling == SamplingParams(**raw["sampling"])
    raw["sampling"]["negative_rte"] = 0.1
    with pytest.raises((ConfigError, ValidationError), match="negative_rte"):
        parse_config(raw)


@pytest.fixture(scope="module")
def world_tables():
    from features.demo_world import generate_world
    from features.schema import validate_sources
    from pipeline.config import load_config

    config = load_config()
    world = generate_world(1200, 3, config.generate)
    return config, validate_sources(world.tables)


def _build(world_tables, sampling):
    config, tables = world_tables
    return build_training_table(tables, labels=config.labels, spine=config.spine, features=config.features,
                                sampling=sampling)


def test_blocks_of_leads_build_the_table_one_build_would(world_tables):
    whole = _build(world_tables, SamplingParams(target_rows=None, block_leads=10 ** 6))
    blocked = _build(world_tables, SamplingParams(target_rows=None, block_leads=250))
    pd.testing.assert_frame_equal(blocked, whole)
    assert whole["sample_weight"].eq(1.0).all()
    assert whole.attrs["sampling"]["sampled"] is False
    assert whole.attrs["sampling"]["rows_full"] == len(whole)
    # a target above the table's size samples nothing
    pd.testing.assert_frame_equal(_build(world_tables, SamplingParams(target_rows=len(whole) + 1)), whole)


def test_a_sampled_table_keeps_the_same_rows_whatever_the_blocks_with_the_full_tables_values(world_tables):
    whole = _build(world_tables, SamplingParams(target_rows=None, block_leads=10 ** 6))
    target = len(whole) // 4
    a = _build(world_tables, SamplingParams(target_rows=target, block_leads=10 ** 6))
    b = _build(world_tables, SamplingParams(target_rows=target, block_leads=300))
    pd.testing.assert_frame_equal(a, b)
    info = a.attrs["sampling"]
    assert info["sampled"] and info["rows_full"] == len(whole) and info["rows_kept"] == len(a)
    assert abs(len(a) - target) < 0.1 * target
    label = "converted_within_90d"
    assert a[label].sum() == whole[label].sum()                           # every conversion kept
    assert abs(a["sample_weight"].sum() / len(whole) - 1) < 0.05           # weights stand for the full table
    # each kept row carries exactly the features it has in the full table (point in time, row by row)
    keyed = whole.set_index(["lead_id", "as_of_ts"])
    kept = a.set_index(["lead_id", "as_of_ts"])
    numeric = [c for c in kept.columns if "__" in c and not isinstance(kept[c].dtype, pd.CategoricalDtype)]
    pd.testing.assert_frame_equal(kept[numeric], keyed.loc[kept.index, numeric])
    categorical = [c for c in kept.columns if isinstance(kept[c].dtype, pd.CategoricalDtype)]
    assert categorical
    pd.testing.assert_frame_equal(kept[categorical].astype(object), keyed.loc[kept.index, categorical].astype(object))
