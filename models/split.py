"""Time-ordered split of labelled snapshots: train … gap … valid … gap … test.

The gap is at least the label window, so no training label is decided by outcomes inside the period the
model is tuned or evaluated on. Random splits would put the same lead, a week apart, on both sides.
A flat CRM export (one row per lead, no snapshots) is split by position instead: by created date when
it has one, else by row order (``split_by_order``).
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
            if frame["as_of_ts"].notna().any():
                return f"{frame['as_of_ts'].min():%Y-%m-%d}..{frame['as_of_ts'].max():%Y-%m-%d}"
            return f"rows {frame['row_number'].min()}..{frame['row_number'].max()}"  # a flat export without dates

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


def split_by_order(table: pd.DataFrame, *, order: list[str], valid_share: float, test_share: float) -> TimeSplit:
    """train … valid … test by position after a stable sort on ``order``: the last ``test_share`` of the rows
    are the test slice, the ``valid_share`` before them the validation slice. No gap: a flat export's label
    is the lead's outcome, not a window after a snapshot, so no training label looks into a later slice."""
    ordered = table.sort_values(order, kind="stable", ignore_index=True)
    n = len(ordered)
    n_test, n_valid = round(n * test_share), round(n * valid_share)
    split = TimeSplit(train=ordered.iloc[:n - n_test - n_valid], valid=ordered.iloc[n - n_test - n_valid:n - n_test],
                      test=ordered.iloc[n - n_test:])
    for name in ("train", "valid", "test"):
        if len(getattr(split, name)) == 0:
            raise ValueError(f"splitting {n} rows by {', '.join(order)} leaves the {name} slice empty")
    return split
