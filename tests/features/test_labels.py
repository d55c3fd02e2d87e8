"""Labels: did the lead reach the milestone in (as_of_ts, as_of_ts + window]?"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.labels import build_labels, label_column

A = pd.Timestamp("2025-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
SEC = pd.Timedelta(seconds=1)
WINDOW = 30
OBSERVED_UNTIL = A + 7 * DAY + WINDOW * DAY  # the (2, A+7d) snapshot's window ends exactly here


@pytest.fixture
def spine(ids):
    """Non-default index so the tests also see that surviving rows keep theirs."""
    as_of = [A - DAY, A, A, A + 7 * DAY, A, A, A, A, A, A, A + 8 * DAY]
    index = pd.Index(range(100, 111))
    return pd.DataFrame(
        {"lead_id": ids(1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9),
         "as_of_ts": pd.Series(as_of, dtype="datetime64[ns, UTC]", index=index)},
        index=index,
    )


@pytest.fixture
def opportunities(ids):
    ts = "datetime64[ns, UTC]"
    return pd.DataFrame({
        "lead_id": ids(1, 2, 3, 4, 5, 6, 8, 99),
        "created_ts": pd.Series([A - 20 * DAY, A + 3 * DAY, A + 10 * DAY, A + 2 * DAY, A + 31 * DAY,
                                 A - 5 * DAY, A - 40 * DAY, A], dtype=ts),
        "closed_ts": pd.Series([A, A + WINDOW * DAY, A + WINDOW * DAY + SEC, A + 5 * DAY, pd.NaT,
                                A + SEC, A - DAY, A + DAY], dtype=ts),
        "is_won": [True, True, True, False, True, True, True, True],
    })


def _label(spine, opportunities, milestone="won", window=WINDOW, observed_until=OBSERVED_UNTIL):
    return build_labels(spine, opportunities, window_days=window, milestone=milestone,
                        observed_until=observed_until)


def test_won_labels_hand_computed(spine, opportunities):
    """1 iff a won, closed opportunity closes in (as_of, as_of + window]: exactly at as_of → 0,
    exactly at the window end → 1, one second later → 0, lost → 0, won without a close date → 0,
    before as_of → 0, another lead's win → 0."""
    out = _label(spine, opportunities)
    expected = pd.Series([1, 0, 1, 1, 0, 0, 0, 1, 0, 0], index=pd.Index(range(100, 110)),
                         name="converted_within_30d")
    pd.testing.assert_series_equal(out["converted_within_30d"], expected, check_dtype=False)
    assert pd.api.types.is_integer_dtype(out["converted_within_30d"])


def test_opportunity_created_milestone_uses_created_ts(spine, opportunities):
    """The milestone 'opportunity_created' looks at created_ts, whatever the outcome."""
    out = _label(spine, opportunities, milestone="opportunity_created")
    #                     (1,A-1) (1,A) (2,A) (2,A+7) (3,A) (4,A) (5,A) (6,A) (7,A) (8,A)
    assert out["converted_within_30d"].tolist() == [0, 0, 1, 0, 1, 1, 0, 0, 0, 0]


def test_snapshots_whose_window_has_not_elapsed_are_dropped(spine, opportunities):
    """A window ending after observed_until is unknown, not negative: the row goes; a window ending
    exactly at observed_until is kept."""
    out = _label(spine, opportunities)
    assert 110 not in out.index  # (9, A+8d): window ends one day after observed_until
    assert 103 in out.index      # (2, A+7d): window ends exactly at observed_until
    pd.testing.assert_frame_equal(out[["lead_id", "as_of_ts"]], spine.loc[100:109])

    earlier = _label(spine, opportunities, observed_until=OBSERVED_UNTIL - SEC)
    assert 103 not in earlier.index
    assert len(earlier) == 9


@pytest.mark.parametrize("window", [7, 90])
def test_label_column_is_named_after_the_window(spine, opportunities, window):
    """Downstream code finds the label by name: ``converted_within_<window>d``."""
    out = _label(spine, opportunities, window=window, observed_until=A + 365 * DAY)
    assert label_column(window) == f"converted_within_{window}d"
    assert list(out.columns) == ["lead_id", "as_of_ts", f"converted_within_{window}d"]


def test_window_length_matters(spine, opportunities):
    """A 7-day window misses the win 30 days out that a 30-day window catches."""
    out = _label(spine, opportunities, window=7)
    assert out.loc[102, "converted_within_7d"] == 0  # (2, A): won at A+30d
    assert out.loc[107, "converted_within_7d"] == 1  # (6, A): won at A+1s


def test_input_spine_is_not_mutated(spine, opportunities):
    """build_labels returns a new frame; the caller's spine and opportunities are untouched."""
    spine_before, opps_before = spine.copy(), opportunities.copy()
    _label(spine, opportunities)
    pd.testing.assert_frame_equal(spine, spine_before)
    pd.testing.assert_frame_equal(opportunities, opps_before)


def test_is_won_with_missing_values_counts_as_not_won(spine, opportunities):
    """A nullable is_won (open opportunity) is not a win, even with a close date in the window."""
    opps = opportunities.copy()
    opps["is_won"] = pd.array([True, None, True, False, True, True, True, True], dtype="boolean")
    out = _label(spine, opps)
    assert out.loc[102, "converted_within_30d"] == 0
    assert out.loc[100, "converted_within_30d"] == 1


def test_unknown_milestone_raises(spine, opportunities):
    """A typo in params.yaml must fail loudly, not silently label everything 0."""
    with pytest.raises(ValueError, match="unknown milestone"):
        _label(spine, opportunities, milestone="closed")


def test_no_opportunities_gives_all_zero(spine, opportunities):
    """An empty opportunities table is a valid world: every elapsed snapshot is a negative."""
    out = _label(spine, opportunities.iloc[:0])
    assert len(out) == 10
    assert np.all(out["converted_within_30d"].to_numpy() == 0)
