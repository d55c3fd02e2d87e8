"""The named training table: built block by block, each block written as it comes, read back once; what is read
back is the table one build in memory gives, and a second load reads it rather than building it again."""

import pandas as pd
import pytest

from features.params import SamplingParams
from pipeline import io, sources


@pytest.fixture(scope="module")
def world(config):
    from features.demo_world import generate_world
    from features.schema import validate_sources

    return validate_sources(generate_world(1200, 3, config.generate).tables)


@pytest.mark.parametrize("sampling", [SamplingParams(target_rows=None, block_leads=100),
                                      SamplingParams(target_rows=6000, block_leads=300)])
def test_the_training_table_written_block_by_block_reads_back_as_built_in_memory(config, world, sampling, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("LEADSCORE_DATASETS_DIR", str(tmp_path))
    source = sources.ContractSource(config.model_copy(update={"sampling": sampling}), tables=world)
    blocks = list(source.training_table_blocks())
    categorical = [c for c in blocks[0].columns if isinstance(blocks[0][c].dtype, pd.CategoricalDtype)]
    assert len(blocks) > 2 and any(len({tuple(b[c].cat.categories) for b in blocks}) > 1 for c in categorical)
    built = source.build_training_table()
    table, name = sources.load_training_table(source)
    pd.testing.assert_frame_equal(table, built)
    assert table.attrs == built.attrs and table.attrs["sampling"]["rows_kept"] == len(table)
    assert (tmp_path / f"{name}.parquet").exists() and len(list(tmp_path.rglob("*.tmp"))) == 0

    def rebuild(self):
        raise AssertionError("the training table was built again")

    monkeypatch.setattr(sources.ContractSource, "training_table_blocks", rebuild)
    again, same = sources.load_training_table(source)
    assert same == name
    pd.testing.assert_frame_equal(again, built)
    assert again.attrs == built.attrs


def test_a_table_written_whole_before_reads_back_as_it_was(config, world, tmp_path, monkeypatch):
    """Tables written in one piece (before tables were written block by block) are read back unchanged."""
    monkeypatch.setenv("LEADSCORE_DATASETS_DIR", str(tmp_path))
    source = sources.ContractSource(config.model_copy(update={"sampling": SamplingParams(target_rows=6000)}),
                                    tables=world)
    built = source.build_training_table()
    io.write_dataset(built, sources.TRAINING_TABLE, sources.training_table_key(source))
    table, _ = sources.load_training_table(source)
    pd.testing.assert_frame_equal(table, built)
    assert table.attrs == built.attrs
