"""The screens of a flat export on small hand-made frames: placeholders, identifiers, dates, leaks."""

import numpy as np
import pandas as pd
import pytest

from features import screens


def test_placeholders_become_missing_and_are_listed_per_column():
    frame = pd.DataFrame({"City": ["Pune", "Select", " select ", None, "N/A"], "Visits": [1, 2, 3, 4, 5],
                          "Source": ["ads", "--", "Unknown", "web", "web"]})
    cleaned, found = screens.clean_placeholders(frame, screens.DEFAULT_PLACEHOLDERS)
    assert cleaned["City"].tolist()[:1] == ["Pune"] and cleaned["City"].iloc[1:].isna().all()
    assert cleaned["Source"].tolist()[3:] == ["web", "web"] and cleaned["Source"].iloc[1:3].isna().all()
    assert found == {"City": [" select ", "N/A", "Select"], "Source": ["--", "Unknown"]}
    assert cleaned["Visits"].tolist() == [1, 2, 3, 4, 5]  # numbers are never placeholders
    assert frame["City"].iloc[1] == "Select"  # the input is left as it was


def test_placeholders_are_extendable():
    frame = pd.DataFrame({"Country": ["India", "not provided", "Spain"]})
    cleaned, found = screens.clean_placeholders(frame, ["not provided"])
    assert cleaned["Country"].isna().tolist() == [False, True, False] and found == {"Country": ["not provided"]}


def test_identifiers_unique_text_unique_integers_and_increasing_integers():
    n = 100
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "Lead Number": np.arange(660_000, 660_000 + n),            # unique, increasing
        "Batch": (np.arange(n) * 2) // 3 + 1,                       # increasing in row order, some repeat
        "Ref": [f"R{i:05d}" for i in rng.permutation(n)],           # unique text
        "Visits": rng.integers(0, 5, n),                            # small counts, repeat
        "Amount": rng.normal(100, 10, n),                           # unique decimals: a measurement
        "Step": np.repeat(np.arange(10), 10),                       # increasing but only 10 values: not an id
    })
    flags = {f.column: f.reason for f in screens.screen_ids(frame, frame.columns)}
    assert set(flags) == {"Lead Number", "Batch", "Ref"}
    assert "distinct integers" in flags["Lead Number"] and "distinct text" in flags["Ref"]
    assert "increase" in flags["Batch"]


def test_a_tiny_column_is_not_an_identifier():
    assert screens.id_reason(pd.Series([10, 250, 40, 1200, 7, 80])) is None


def test_dates_are_recognised_by_their_values_whatever_the_name():
    assert screens.is_date(pd.Series(["2024-03-01", "2024-03-05", None, "03/04/2024"] * 10))
    assert screens.is_date(pd.Series(["2024-03-01"] * 19 + ["soon"]))  # 95 % dates
    assert not screens.is_date(pd.Series(["2024-03-01", "soon", "later", "never"]))
    assert not screens.is_date(pd.Series(["may", "mon", "jun"]))
    assert not screens.is_date(pd.Series([20240301, 20240302]))


def _leaky_frame(n=400, seed=1):
    rng = np.random.default_rng(seed)
    y = pd.Series((rng.random(n) < 0.3).astype(int))
    status = np.where(y == 1, "Closed - won", rng.choice(["Not interested", "Ringing", "Closed - won"], n,
                                                         p=[0.6, 0.39, 0.01]))
    remark = np.where(rng.random(n) < 0.97, np.where(y == 1, "will enrol", "busy"), "busy")
    return pd.DataFrame({
        "Status": status,                                    # nearly decides: "Closed - won" converts ≥ 99 %
        "Remark": remark,                                    # an innocent name, alone ranks at AUC ≈ 0.98
        "Visits": rng.poisson(2 + y.to_numpy(), n),          # an honest signal
        "Source": rng.choice(["ads", "web", "referral"], n),
    }), y


def test_leak_screen_flags_names_near_deciding_values_and_single_column_auc():
    frame, y = _leaky_frame()
    flags = {f.column: f.reason for f in screens.screen_leaks(frame, y, frame.columns, leak_auc=0.9)}
    assert set(flags) == {"Status", "Remark"}
    assert "its name (status)" in flags["Status"] and "value 'Not interested' converts at 0.0% on" in flags["Status"]
    assert "alone it ranks the outcome at AUC 0.9" in flags["Remark"]
    assert screens.single_column_auc(frame["Visits"], y) < 0.9


def test_leak_auc_threshold_is_the_parameter():
    frame, y = _leaky_frame()
    assert not screens.screen_leaks(frame[["Visits"]], y, ["Visits"], leak_auc=0.9)
    assert [f.column for f in screens.screen_leaks(frame[["Visits"]], y, ["Visits"], leak_auc=0.55)] == ["Visits"]


def test_rare_values_do_not_make_free_text_look_leaky():
    rng = np.random.default_rng(3)
    y = pd.Series((rng.random(300) < 0.3).astype(int))
    notes = pd.Series([f"note {i}" for i in range(300)])  # every value once: perfectly 'predictive' in-sample
    assert screens.single_column_auc(notes, y) == pytest.approx(0.5)


def test_training_rows_are_the_earliest_by_created_date_else_by_row_order():
    frame = pd.DataFrame({"x": range(10)})
    assert screens.training_rows(frame, created=None, valid_share=0.2, test_share=0.2).tolist() == [0, 1, 2, 3, 4, 5]
    created = pd.Series(pd.to_datetime([f"2024-01-{d:02d}" for d in (10, 9, 8, 7, 6, 5, 4, 3, 2, 1)]))
    rows = screens.training_rows(frame, created=created, valid_share=0.2, test_share=0.2)
    assert sorted(rows.tolist()) == [4, 5, 6, 7, 8, 9]
