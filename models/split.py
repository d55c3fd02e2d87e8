"""Time-ordered split of labelled snapshots: train … gap … valid … gap … test.

The gap is at least the label window, so no training label is decided by outcomes inside the period the
model is tuned or evaluated on. Random splits would put the same lead, a week apart, on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def periods(self) -> dict[str, str]:
        def span(frame: pd.DataFrame) -> str:
            return f"{frame['as_of_ts'].min():%Y-%m-%d}..{frame['as_of_ts'].max():%Y-%m-%d}"

        return {"train": span(self.train), "valid": span(self.valid), "test": span(self.test)}


def split_by_time(table: pd.DataFrame, *, test_days: int, valid_days: int, gap_days: int) -> TimeSplit:
    """Test = the last ``test_days`` of snapshots; valid ends ``gap_days`` before test starts; train likewise."""
    last = table["as_of_ts"].max()
    test_start = last - pd.Timedelta(days=test_days)
    valid_end = test_start - pd.Timedelta(days=gap_days)
    valid_start = valid_end - pd.Timedelta(days=valid_days)
    train_end = valid_start - pd.Timedelta(days=gap_days)
    ts = table["as_of_ts"]
    split = TimeSplit(
        train=table[ts <= train_end],
        valid=table[(ts > valid_start) & (ts <= valid_end)],
        test=table[ts > test_start],
    )
    for name in ("train", "valid", "test"):
        if len(getattr(split, name)) == 0:
            raise ValueError(
                f"time split leaves the {name} slice empty: the labelled snapshots span "
                f"{table['as_of_ts'].min():%Y-%m-%d}..{last:%Y-%m-%d}, which is too short for "
                f"test_days={test_days}, valid_days={valid_days} and two gaps of {gap_days} days"
            )
    return split
