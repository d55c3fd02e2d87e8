"""Account history: earlier deals, other leads and customer status of the lead's account, as of each cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.history import build_history_features, history_specs

C = pd.Timestamp("2025-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
UTC_NS = "datetime64[ns, UTC]"
NAMES = [s.name for s in history_specs()]
ACCOUNT = [n for n in NAMES if n.startswith("hist__account_")]
LEAD = ["hist__lead_lost_opportunities", "hist__lead_days_since_lost_opportunity"]


def _leads(rows) -> pd.DataFrame:
    """(lead_id, account_id or None, created_ts) rows."""
    return pd.DataFrame({
        "lead_id": np.array([r[0] for r in rows], dtype="int64"),
        "account_id": pd.array([r[1] for r in rows], dtype="Int64"),
        "created_ts": pd.DatetimeIndex([r[2] for r in rows], dtype=UTC_NS),
    })


def _opps(rows) -> pd.DataFrame:
    """(lead_id, created_ts, closed_ts or None, is_won) rows."""
    return pd.DataFrame({
        "lead_id": np.array([r[0] for r in rows], dtype="int64"),
        "created_ts": pd.DatetimeIndex([r[1] for r in rows], dtype=UTC_NS),
        "closed_ts": pd.DatetimeIndex([pd.NaT if r[2] is None else r[2] for r in rows], dtype=UTC_NS),
        "is_won": np.array([r[3] for r in rows], dtype=bool),
    })


def _accounts(rows) -> pd.DataFrame:
    """(account_id, is_customer, customer_since_ts or None) rows."""
    return pd.DataFrame({
        "account_id": np.array([r[0] for r in rows], dtype="int64"),
        "is_customer": np.array([r[1] for r in rows], dtype=bool),
        "customer_since_ts": pd.DatetimeIndex([pd.NaT if r[2] is None else r[2] for r in rows], dtype=UTC_NS),
    })


def _spine(rows, index) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": np.array([r[0] for r in rows], dtype="int64"),
                         "as_of_ts": pd.DatetimeIndex([r[1] for r in rows], dtype=UTC_NS)},
                        index=pd.Index(index))


def _base():
    leads = _leads([
        (1, 10, C - 100 * DAY),   # the lead we score (account 10)
        (2, 10, C - 90 * DAY),    # won before C
        (3, 10, C - 50 * DAY),    # lost before C
        (4, 10, C - 20 * DAY),    # open opp
        (5, 10, C - 5 * DAY),     # opp open at C, won at C+5d
        (6, 10, C),               # created exactly at C: not yet a lead at C
        (7, 10, C + DAY),
        (9, 30, C - 10 * DAY),    # account 30: customer since C-1d
        (10, 40, C - 10 * DAY),   # account 40: is_customer=True today, but no history at all
        (11, 50, C - 40 * DAY),   # account 50: a deal won exactly at C
        (12, 50, C - 30 * DAY),
        (13, None, C - 10 * DAY),  # no account
    ])
    opps = _opps([
        (2, C - 80 * DAY, C - 60 * DAY, True),
        (3, C - 40 * DAY, C - 30 * DAY, False),
        (4, C - 10 * DAY, None, False),
        (5, C - 3 * DAY, C + 5 * DAY, True),
        (12, C - 20 * DAY, C, True),
        (11, C, None, False),      # the lead's own opp, opened exactly at the cutoff (still open at C)
        (13, C - 2 * DAY, None, False),
    ])
    accounts = _accounts([(10, False, None), (30, True, C - DAY), (40, True, None), (50, False, None)])
    spine = _spine([(1, C), (1, C + 10 * DAY), (9, C), (9, C - DAY), (10, C), (11, C), (13, C)],
                   index=[60, 10, 30, 20, 50, 0, 40])
    return leads, opps, accounts, spine


def test_history_hand_computed():
    """Counts of the account's earlier deals, other leads and conversions, strictly before each cutoff."""
    leads, opps, accounts, spine = _base()
    out = build_history_features(leads, opps, accounts, spine)
    expected = pd.DataFrame({
        #                                (1,C) (1,C+10d) (9,C) (9,C-1d) (10,C) (11,C) (13,C)
        "hist__account_opps_won":        [1, 2, 0, 0, 0, 0, 0],
        "hist__account_opps_lost":       [1, 1, 0, 0, 0, 0, 0],
        "hist__account_opps_open":       [2, 1, 0, 0, 0, 1, 0],  # (11,C): lead 12's deal closes at C, own opp at C
        "hist__account_other_leads_365d": [4, 6, 0, 0, 0, 1, 0],  # (1,C+10d): leads 2-7
        "hist__account_leads_converted": [1, 2, 0, 0, 0, 0, 0],
        "hist__account_is_customer":     [1, 1, 1, 0, 0, 0, 0],  # (9,C-1d): customer_since == cutoff
    }, index=spine.index)
    expected = expected.astype({s.name: s.dtype for s in history_specs() if s.name in ACCOUNT})
    pd.testing.assert_frame_equal(out[ACCOUNT], expected)
    assert (out["hist__lead_lost_opportunities"] == 0).all()  # no lead here has lost a deal of its own
    assert out["hist__lead_days_since_lost_opportunity"].isna().all()


def test_other_leads_are_counted_over_their_window_only():
    """Window [as_of - N days, as_of): the lead itself is not "another lead", whether or not it is inside."""
    leads, opps, accounts, spine = _base()
    sixty = build_history_features(leads, opps, accounts, spine, recent_leads_days=60)
    # (1,C): leads 3, 4, 5 (lead 1 itself is 100 days old); (1,C+10d): 3 (exactly at the window's start), 4-7
    assert sixty["hist__account_other_leads_60d"].tolist() == [3, 5, 0, 0, 0, 1, 0]
    thirty_five = build_history_features(leads, opps, accounts, spine, recent_leads_days=35)
    # (11,C): lead 12 (30 days old) counts; lead 11 itself (40 days old) is outside and not subtracted
    assert thirty_five["hist__account_other_leads_35d"].tolist() == [2, 4, 0, 0, 0, 1, 0]


def test_dtypes_follow_the_catalogue():
    """Counts int32, the customer flag int8."""
    out = build_history_features(*_base())
    for spec in history_specs():
        assert str(out[spec.name].dtype) == spec.dtype, spec.name


def test_current_is_customer_flag_is_never_used():
    """is_customer is set after the sale we predict: flipping it on every account changes nothing."""
    leads, opps, accounts, spine = _base()
    before = build_history_features(leads, opps, accounts, spine)
    flipped = accounts.assign(is_customer=~accounts["is_customer"])
    pd.testing.assert_frame_equal(build_history_features(leads, opps, flipped, spine), before)
    assert before.loc[50, "hist__account_is_customer"] == 0  # account 40: is_customer=True, no history


def test_customer_since_alone_makes_a_customer():
    """customer_since_ts before the cutoff is enough, with no won deal on record."""
    leads, opps, accounts, spine = _base()
    out = build_history_features(leads, opps, accounts, spine)
    assert out.loc[30, "hist__account_is_customer"] == 1
    assert out.loc[30, "hist__account_opps_won"] == 0


def test_without_accounts_table_only_won_deals_make_a_customer():
    """No accounts extract: is_customer falls back to won deals closed before the cutoff."""
    leads, opps, _, spine = _base()
    out = build_history_features(leads, opps, None, spine)
    assert out["hist__account_is_customer"].tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert out["hist__account_opps_won"].tolist() == [1, 2, 0, 0, 0, 0, 0]


def test_lead_without_account_gets_zeros():
    """No account: nothing to look back on, so zeros (not NaN, and not its own opportunity)."""
    leads, opps, accounts, spine = _base()
    out = build_history_features(leads, opps, accounts, spine)
    assert (out.loc[40, ACCOUNT] == 0).all()
    no_column = leads.drop(columns="account_id")
    out = build_history_features(no_column, opps, accounts, spine)
    assert (out[ACCOUNT] == 0).all().all()
    assert list(out.columns) == NAMES
    for spec in history_specs():
        assert str(out[spec.name].dtype) == spec.dtype, spec.name


def test_no_opportunities_at_all():
    """An empty opportunities table: deal counts 0, other leads still counted."""
    leads, opps, accounts, spine = _base()
    out = build_history_features(leads, opps.iloc[:0], accounts, spine)
    assert (out[["hist__account_opps_won", "hist__account_opps_lost", "hist__account_opps_open",
                 "hist__account_leads_converted"]] == 0).all().all()
    assert out["hist__account_other_leads_365d"].tolist() == [4, 6, 0, 0, 0, 1, 0]
    assert out["hist__account_is_customer"].tolist() == [0, 0, 1, 0, 0, 0, 0]


def test_inputs_are_not_mutated():
    """The builder must not touch the caller's tables."""
    tables = _base()
    copies = [t.copy() for t in tables]
    build_history_features(*tables)
    for frame, copy in zip(tables, copies, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_later_history_changes_nothing():
    """Point in time: deals opened/closed, leads created and customer_since at or after the cutoff move nothing."""
    leads, opps, accounts, spine = _base()
    at_c = spine[spine["as_of_ts"] <= C]
    before = build_history_features(leads, opps, accounts, at_c)
    more_leads = pd.concat([_leads([(20, 10, C), (21, 30, C + DAY), (22, 40, C), (23, 50, C + 3 * DAY)]), leads],
                           ignore_index=True)
    more_opps = pd.concat([_opps([
        (20, C, C, True),                          # won exactly at the cutoff
        (21, C + DAY, C + 2 * DAY, True),
        (22, C, C + DAY, False),
        (23, C + 3 * DAY, None, False),
        (2, C, C + 9 * DAY, True),                 # a second deal of a known lead, opened at C
    ]), opps], ignore_index=True)
    # Lead 4's open deal closes at C (lost) and lead 5's is already won at C: neither is before the cutoff.
    more_opps.loc[more_opps["lead_id"] == 4, "closed_ts"] = C
    more_accounts = accounts.copy()
    more_accounts.loc[more_accounts["account_id"] == 40, "customer_since_ts"] = C
    more_accounts.loc[more_accounts["account_id"] == 50, "customer_since_ts"] = C + DAY
    after = build_history_features(more_leads, more_opps, more_accounts, at_c)
    pd.testing.assert_frame_equal(after, before)


@pytest.mark.parametrize("shift", [pd.Timedelta(0), pd.Timedelta(seconds=-1)])
def test_a_deal_won_one_second_before_the_cutoff_counts(shift):
    """The boundary itself: won at C is not known at C; won one second earlier is."""
    leads = _leads([(1, 10, C - 30 * DAY), (2, 10, C - 20 * DAY)])
    opps = _opps([(2, C - 10 * DAY, C + shift, True)])
    out = build_history_features(leads, opps, None, _spine([(1, C)], index=[0])).iloc[0]
    known = int(shift < pd.Timedelta(0))
    assert out["hist__account_opps_won"] == known
    assert out["hist__account_leads_converted"] == known
    assert out["hist__account_is_customer"] == known
    assert out["hist__account_opps_open"] == 1 - known


def test_batch_where_no_lead_has_an_account():
    """Scoring a batch of leads none of which has an account gives zeros (an earlier version raised IndexError:
    the customer_since lookup indexed an empty account array)."""
    leads = _leads([(1, None, C - 10 * DAY), (2, None, C - 5 * DAY)])
    opps = _opps([(2, C - 2 * DAY, None, False)])
    accounts = _accounts([(10, True, C - 100 * DAY)])
    out = build_history_features(leads, opps, accounts, _spine([(1, C)], index=[0]))
    assert (out[ACCOUNT + LEAD[:1]] == 0).all().all()
    assert out[LEAD[1]].isna().all()


# --- the lead's own earlier deals (recycled leads) -------------------------------------------------

def _recycled():
    """Lead 1 (account 10) with deals lost, won, open and closing at the cutoff; lead 2 of the same account."""
    leads = _leads([(1, 10, C - 200 * DAY), (2, 10, C - 100 * DAY), (3, None, C - 50 * DAY)])
    opps = _opps([
        (1, C - 150 * DAY, C - 30 * DAY, False),   # lost 30 days before C
        (1, C - 120 * DAY, C - 60 * DAY, False),   # lost 60 days before C
        (1, C - 20 * DAY, C, False),               # lost exactly at C: not known at C
        (1, C - 5 * DAY, C + 5 * DAY, True),       # still open at C (is_won not read yet)
        (2, C - 50 * DAY, C - 40 * DAY, True),     # won: not a lost deal
        (3, C - 40 * DAY, C - 10 * DAY - pd.Timedelta(hours=12), False),  # no account; lost 10.5 days before C
    ])
    spine = _spine([(1, C), (1, C + 10 * DAY), (1, C - 45 * DAY), (2, C), (3, C), (1, C - 300 * DAY)],
                   index=[5, 4, 3, 2, 1, 0])
    return leads, opps, spine


def test_lead_lost_opportunities_hand_computed():
    """Lost deals closed strictly before the cutoff; days since the latest of them (missing when none)."""
    leads, opps, spine = _recycled()
    out = build_history_features(leads, opps, None, spine)
    assert out["hist__lead_lost_opportunities"].tolist() == [2, 3, 1, 0, 1, 0]  # (1,C+10d): C's loss too; the
    days = out["hist__lead_days_since_lost_opportunity"].tolist()               # deal closed at C+5d was won
    assert days[0] == 30 and days[2] == 15 and days[4] == 10.5
    assert days[1] == 10  # the deal lost exactly at C, ten days before
    assert np.isnan(days[3]) and np.isnan(days[5])
    assert out.loc[1, ACCOUNT].eq(0).all()  # lead 3 has no account, but its own history counts


def test_lead_lost_opportunities_no_opportunities_at_all():
    leads, opps, spine = _recycled()
    out = build_history_features(leads, opps.iloc[:0], None, spine)
    assert (out["hist__lead_lost_opportunities"] == 0).all()
    assert out["hist__lead_days_since_lost_opportunity"].isna().all()


def test_lead_history_ignores_the_future():
    """Perturb the future: deals that close at or after the cutoff may flip outcome or move, and deals may be
    added after it, without changing any lead feature of any spine row at the cutoff."""
    leads, opps, spine = _recycled()
    at_c = spine[spine["as_of_ts"] <= C]
    before = build_history_features(leads, opps, None, at_c)
    cutoff = opps["lead_id"].map(dict.fromkeys(leads["lead_id"], C))
    future = opps["closed_ts"].isna() | (opps["closed_ts"] >= cutoff)
    later = opps.copy()
    later.loc[future, "is_won"] = ~later.loc[future, "is_won"]
    later.loc[future, "closed_ts"] = later.loc[future, "closed_ts"] + 3 * DAY
    later = pd.concat([later, _opps([(1, C, C, False), (2, C + DAY, C + 2 * DAY, False), (3, C, None, False)])],
                      ignore_index=True)
    after = build_history_features(leads, later, None, at_c)
    pd.testing.assert_frame_equal(after[LEAD], before[LEAD])


@pytest.mark.parametrize("seed", range(5))
def test_lead_history_matches_a_loop_oracle(seed):
    """Random deals on and around the cutoffs: the vectorised count and recency equal a loop over deals."""
    rng = np.random.default_rng(seed)
    leads = _leads([(k, None, C - 400 * DAY) for k in range(1, 9)])
    n = 30
    created = [C - int(rng.integers(0, 200)) * DAY for _ in range(n)]
    closed = [None if rng.random() < 0.2 else c + int(rng.integers(0, 60)) * DAY
              + pd.Timedelta(seconds=int(rng.choice([0, 0, -1, 1]))) for c in created]
    opps = _opps([(int(rng.integers(1, 9)), c, e, bool(rng.random() < 0.3))
                  for c, e in zip(created, closed, strict=True)])
    cutoffs = [C - int(rng.integers(0, 150)) * DAY for _ in range(20)]
    spine = _spine([(int(rng.integers(1, 10)), t) for t in cutoffs], index=range(20))  # lead 9 is unknown
    out = build_history_features(leads, opps, None, spine)
    for i, row in spine.iterrows():
        lost = [o.closed_ts for o in opps.itertuples()
                if o.lead_id == row.lead_id and pd.notna(o.closed_ts) and o.closed_ts < row.as_of_ts and not o.is_won]
        assert out.loc[i, "hist__lead_lost_opportunities"] == len(lost)
        days = out.loc[i, "hist__lead_days_since_lost_opportunity"]
        if lost:
            assert days == (row.as_of_ts - max(lost)) / DAY
        else:
            assert np.isnan(days)
