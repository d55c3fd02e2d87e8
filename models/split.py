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


def rolling_origin_folds(table: pd.DataFrame, *, folds: int, test_days: int, valid_days: int,
                         gap_days: int) -> list[TimeSplit]:
    """``folds`` backtest folds, oldest first, each a ``split_by_time`` as it would have been run at the
    start of its test period: the latest fold tests the last ``test_days`` of snapshots, each earlier fold
    the ``test_days`` before. Every fold fits on what had matured before it (train … gap … valid … gap)."""
    last = table["as_of_ts"].max()
    out = []
    for k in reversed(range(folds)):
        end = last - pd.Timedelta(days=k * test_days)
        try:
            out.append(split_by_time(table[table["as_of_ts"] <= end], test_days=test_days, valid_days=valid_days,
                                     gap_days=gap_days))
        except ValueError as exc:
            raise ValueError(f"backtest fold {folds - k} of {folds} (test up to {end:%Y-%m-%d}): {exc}; fewer "
                             "split.backtest_folds or shorter periods fit this history") from None
    return out


def order_folds(table: pd.DataFrame, *, order: list[str], folds: int, valid_share: float,
                test_share: float) -> list[TimeSplit]:
    """Backtest folds of a flat export, oldest first: the last ``test_share`` of the rows in ``order`` cut
    into ``folds`` consecutive test blocks; each fold validates on the ``valid_share`` of rows just before
    its block and trains on everything earlier."""
    ordered = table.sort_values(order, kind="stable", ignore_index=True)
    n = len(ordered)
    n_valid, block = round(n * valid_share), round(n * test_share / folds)
    out = []
    for k in reversed(range(folds)):
        end = n - k * block
        start = end - block - n_valid
        split = TimeSplit(train=ordered.iloc[:start], valid=ordered.iloc[start:end - block],
                          test=ordered.iloc[end - block:end])
        if min(len(split.train), len(split.valid), len(split.test)) == 0:
            raise ValueError(f"{n} rows are too few for {folds} backtest folds over the last {test_share:.0%}")
        out.append(split)
    return out


def recent_period(table: pd.DataFrame, *, days: int | None = None, order: list[str] | None = None,
                  share: float | None = None) -> pd.DataFrame:
    """The most recent matured period: snapshots of the last ``days`` (a time source), or the last ``share``
    of the rows in ``order`` (a flat export). Calibration, grade thresholds and promises come from it."""
    if days is not None:
        return table[table["as_of_ts"] > table["as_of_ts"].max() - pd.Timedelta(days=days)]
    ordered = table.sort_values(order, kind="stable", ignore_index=True)
    return ordered.iloc[len(ordered) - round(len(ordered) * share):]
