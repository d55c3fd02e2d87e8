"""Training refuses data it cannot learn or be judged on, with messages that say what to do."""

import pandas as pd
import pytest

from models.split import TimeSplit
from models.training import InsufficientData, check_sufficiency


def _split(train_pos: int, valid_pos: int, test_pos: int) -> TimeSplit:
    def part(n_pos: int, day: str) -> pd.DataFrame:
        return pd.DataFrame({"as_of_ts": pd.Timestamp(day, tz="UTC"), "y": [1] * n_pos + [0] * 50})

    return TimeSplit(train=part(train_pos, "2025-01-06"), valid=part(valid_pos, "2025-06-02"),
                     test=part(test_pos, "2025-12-01"))


def test_enough_conversions_pass():
    check_sufficiency(_split(100, 5, 5), "y", min_conversions=100)


def test_too_few_training_conversions_are_refused_with_the_numbers():
    with pytest.raises(InsufficientData, match=r"holds 99 converted snapshots; train.min_conversions is 100"):
        check_sufficiency(_split(99, 5, 5), "y", min_conversions=100)


@pytest.mark.parametrize("empty", ["valid", "test"])
def test_a_slice_without_conversions_is_refused(empty):
    counts = {"valid": 5, "test": 5, empty: 0}
    with pytest.raises(InsufficientData, match=f"the {empty} slice .* holds no conversions"):
        check_sufficiency(_split(100, counts["valid"], counts["test"]), "y", min_conversions=100)
