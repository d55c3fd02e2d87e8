"""Fit features: lead and account attributes, and the lead's age, for every spine row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.fit import build_fit_features

C = pd.Timestamp("2025-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
UTC_NS = "datetime64[ns, UTC]"
SPINE_INDEX = pd.Index([7, 3, 5, 1, 9])
KW = {"lead_categorical": ["source", "country"], "account_categorical": ["industry"],
      "account_numeric": ["employees"]}


@pytest.fixture
def leads(ids):
    return pd.DataFrame({
        "lead_id": ids(1, 2, 3, 4),
        "created_ts": pd.Series([C - 10 * DAY, C - DAY / 2, C - 3 * DAY, C - 20 * DAY], dtype=UTC_NS),
        "source": ["web", "partner", "web", "event"],
        "country": ["DE", None, "FR", "DE"],
        # Validated sources carry nullable ids as Int64; 77 matches no account.
        "account_id": pd.array([10, 20, None, 77], dtype="Int64"),
    })


@pytest.fixture
def accounts(ids):
    return pd.DataFrame({
        "account_id": ids(10, 20, 30),
        "industry": ["software", "retail", "finance"],
        "employees": ids(50, 1200, 7),
    })


@pytest.fixture
def spine(ids):
    """Non-default index, leads out of order, one lead twice."""
    as_of = pd.Series([C, C, C, C + 7 * DAY, C], dtype=UTC_NS, index=SPINE_INDEX)
    return pd.DataFrame({"lead_id": pd.Series(ids(2, 1, 3, 1, 4), index=SPINE_INDEX), "as_of_ts": as_of})


def test_fit_hand_computed(leads, accounts, spine):
    """Each spine row gets its own lead's attributes and its account's, aligned on the spine index."""
    out = build_fit_features(leads, accounts, spine, **KW)
    assert list(out.columns) == ["fit__source", "fit__country", "fit__account_industry",
                                 "fit__account_employees", "lead__age_days"]
    pd.testing.assert_index_equal(out.index, SPINE_INDEX)

    def values(col):
        return [None if pd.isna(v) else v for v in out[col].astype(object)]

    assert values("fit__source") == ["partner", "web", "web", "web", "event"]
    assert values("fit__country") == [None, "DE", "FR", "DE", "DE"]
    assert values("fit__account_industry") == ["retail", "software", None, "software", None]
    np.testing.assert_array_equal(out["fit__account_employees"].to_numpy(),
                                  [1200.0, 50.0, np.nan, 50.0, np.nan])
    np.testing.assert_allclose(out["lead__age_days"].to_numpy(), [0.5, 10.0, 3.0, 17.0, 20.0])


def test_fit_dtypes(leads, accounts, spine):
    """Categories as pandas category (what LightGBM needs), numbers as float, no NaN category."""
    out = build_fit_features(leads, accounts, spine, **KW)
    for col in ("fit__source", "fit__country", "fit__account_industry"):
        assert isinstance(out[col].dtype, pd.CategoricalDtype), col
        assert not out[col].cat.categories.isna().any(), col
    assert set(out["fit__source"].cat.categories) == {"event", "partner", "web"}
    assert set(out["fit__country"].cat.categories) == {"DE", "FR"}
    assert "retail" in out["fit__account_industry"].cat.categories
    assert out["fit__account_employees"].dtype == np.float64
    assert out["lead__age_days"].dtype == np.float64


def test_lead_without_account_gets_missing_values(leads, accounts, spine):
    """No account (null account_id, or an id absent from accounts) → missing, never another account's."""
    out = build_fit_features(leads, accounts, spine, **KW)
    for idx in (5, 9):  # lead 3 (null account), lead 4 (account 77 unknown)
        assert pd.isna(out.loc[idx, "fit__account_industry"])
        assert np.isnan(out.loc[idx, "fit__account_employees"])


def test_float_account_ids_with_nan_join_too(leads, accounts, spine):
    """CSV-read leads can hold account_id as float with NaN; the join must still match 10.0 to 10."""
    leads = leads.assign(account_id=leads["account_id"].astype("Float64").astype(float))
    out = build_fit_features(leads, accounts, spine, **KW)
    np.testing.assert_array_equal(out["fit__account_employees"].to_numpy(),
                                  [1200.0, 50.0, np.nan, 50.0, np.nan])


def test_account_columns_absent_without_accounts_table(leads, spine):
    """accounts is optional: without it, lead columns and age only."""
    out = build_fit_features(leads, None, spine, **KW)
    assert list(out.columns) == ["fit__source", "fit__country", "lead__age_days"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lead_categorical": ["job_title"]}, "leads.job_title"),
    ({"account_categorical": ["segment"]}, "accounts.segment"),
    ({"account_numeric": ["annual_revenue"]}, "accounts.annual_revenue"),
])
def test_named_column_missing_raises(leads, accounts, spine, kwargs, message):
    """A column params.yaml names but the table lacks is a configuration error naming table.column."""
    with pytest.raises(ValueError, match=message):
        build_fit_features(leads, accounts, spine, **{**KW, **kwargs})


def test_spine_lead_not_in_leads_raises(leads, accounts, spine):
    """A spine row whose lead is unknown cannot get features; silently using row -1 would be wrong."""
    bad = spine.copy()
    bad.loc[3, "lead_id"] = 42
    with pytest.raises(ValueError, match="1 rows name a lead that is not in leads"):
        build_fit_features(leads, accounts, bad, **KW)


def test_inputs_are_not_mutated(leads, accounts, spine):
    """The builder must not touch the caller's tables."""
    before = leads.copy(), accounts.copy(), spine.copy()
    build_fit_features(leads, accounts, spine, **KW)
    for frame, copy in zip((leads, accounts, spine), before, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_later_lead_does_not_change_existing_rows(leads, accounts, spine, ids):
    """Point in time: a lead created after as_of (with a new source and account) added to the leads
    table, even first, leaves every existing spine row's features unchanged."""
    before = build_fit_features(leads, accounts, spine, **KW)
    newcomer = pd.DataFrame({
        "lead_id": ids(5),
        "created_ts": pd.Series([C + 30 * DAY], dtype=UTC_NS),
        "source": ["webinar"], "country": ["US"],
        "account_id": pd.array([30], dtype="Int64"),
    })
    more_leads = pd.concat([newcomer, leads], ignore_index=True)
    after = build_fit_features(more_leads, accounts, spine, **KW)
    pd.testing.assert_frame_equal(after, before)


def test_empty_accounts_table(leads, spine):
    """An accounts extract with no rows (every lead without an account) gives missing account values."""
    empty = pd.DataFrame({"account_id": pd.Series([], dtype="int64"),
                          "industry": pd.Series([], dtype=object),
                          "employees": pd.Series([], dtype="float64")})
    leads = leads.assign(account_id=pd.array([None] * 4, dtype="Int64"))
    out = build_fit_features(leads, empty, spine, **KW)
    assert out["fit__account_industry"].isna().all()
    assert out["fit__account_employees"].isna().all()
