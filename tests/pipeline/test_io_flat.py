"""Reading a flat CRM export: the delimiter is sniffed, a folder must hold exactly one export."""

import pandas as pd
import pytest

from pipeline import io


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path, sep):
    frame = pd.DataFrame({"id": [1, 2, 3], "name": ["a b", "c", "d"], "y": ["yes", "no", "no"]})
    path = tmp_path / "export.csv"
    frame.to_csv(path, sep=sep, index=False)
    assert io.sniff_delimiter(path) == sep
    pd.testing.assert_frame_equal(io.read_flat_source(path), frame, check_dtype=False)


def test_a_folder_must_hold_exactly_one_export(tmp_path):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "one.csv", index=False)
    assert io.flat_source_path(tmp_path) == tmp_path / "one.csv"
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(FileNotFoundError, match="exactly one .csv or .parquet export.*one.csv, two.csv"):
        io.flat_source_path(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.flat_source_path(tmp_path / "missing.csv")
