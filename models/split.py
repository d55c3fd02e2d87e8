"""Time-ordered cuts of labelled snapshots: the backtest's folds and a history's most recent period.

Every gap is at least the label window, so no label a model learns from is decided by outcomes inside the
period it is judged or calibrated on. Random splits would put the same lead, a week apart, on both sides.
A flat CRM export (one row per lead, no snapshots) is cut by position instead: by created date when it
has one, else by row order (``order_folds``, ``RecentRule(order=…)``). ``split_by_time`` is the single
train … valid … test split the benchmark keeps as a stale reference.
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
        return {"train": span_words(self.train), "valid": span_words(self.valid), "test": span_words(self.test)}


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


@dataclass(frozen=True)
class Fold:
    """One backtest fold: everything that had matured before its period, and the period itself."""

    history: pd.DataFrame
    test: pd.DataFrame

    def periods(self) -> dict[str, str]:
        return {"history": span_words(self.history), "test": span_words(self.test)}


def span_words(frame: pd.DataFrame) -> str:
    if frame["as_of_ts"].notna().any():
        return f"{frame['as_of_ts'].min():%Y-%m-%d}..{frame['as_of_ts'].max():%Y-%m-%d}"
    return f"rows {frame['row_number'].min()}..{frame['row_number'].max()}"  # a flat export without dates


@dataclass(frozen=True)
class RecentRule:
    """How the most recent matured period is cut from a history: the last ``days`` of snapshots, with the
    rows that early-stop a model ending ``gap_days`` before it (a time source); or the last ``share`` of the
    rows in ``order``, every earlier row before it (a flat export, whose labels do not look ahead)."""

    days: int | None = None
    gap_days: int = 0
    order: tuple[str, ...] = ()
    share: float | None = None

    def cut(self, history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the rows a model early-stopped on the recent period may learn from, the recent period)."""
        if self.days is not None:
            start = history["as_of_ts"].max() - pd.Timedelta(days=self.days)
            ts = history["as_of_ts"]
            return history[ts <= start - pd.Timedelta(days=self.gap_days)], history[ts > start]
        ordered = history.sort_values(list(self.order), kind="stable")
        n_recent = round(len(ordered) * self.share)
        return ordered.iloc[:len(ordered) - n_recent], ordered.iloc[len(ordered) - n_recent:]


def rolling_origin_folds(table: pd.DataFrame, *, folds: int, test_days: int, gap_days: int) -> list[Fold]:
    """``folds`` backtest folds, oldest first: the latest tests the last ``test_days`` of snapshots, each
    earlier one the ``test_days`` before; each fold's history is every snapshot at least ``gap_days`` (>= the
    label window) before its period, so every label it learns from was known when the period began."""
    last, ts = table["as_of_ts"].max(), table["as_of_ts"]
    out = []
    for k in reversed(range(folds)):
        end = last - pd.Timedelta(days=k * test_days)
        start = end - pd.Timedelta(days=test_days)
        fold = Fold(history=table[ts <= start - pd.Timedelta(days=gap_days)], test=table[(ts > start) & (ts <= end)])
        if fold.history.empty or fold.test.empty:
            raise ValueError(f"backtest fold {folds - k} of {folds} (testing {start:%Y-%m-%d}..{end:%Y-%m-%d}) has "
                             f"no {'history' if fold.test.size else 'snapshots'}: the labelled snapshots span "
                             f"{ts.min():%Y-%m-%d}..{last:%Y-%m-%d}; fewer split.backtest_folds or shorter "
                             "periods fit this history")
        out.append(fold)
    return out


def order_folds(table: pd.DataFrame, *, order: list[str], folds: int, test_share: float) -> list[Fold]:
    """Backtest folds of a flat export, oldest first: the last ``test_share`` of the rows in ``order`` cut
    into ``folds`` consecutive test blocks; each fold's history is every row before its block."""
    ordered = table.sort_values(order, kind="stable", ignore_index=True)
    n = len(ordered)
    block = round(n * test_share / folds)
    out = []
    for k in reversed(range(folds)):
        end = n - k * block
        fold = Fold(history=ordered.iloc[:end - block], test=ordered.iloc[end - block:end])
        if fold.history.empty or fold.test.empty:
            raise ValueError(f"{n} rows are too few for {folds} backtest folds over the last {test_share:.0%}")
        out.append(fold)
    return out
