"""CRM history of the lead and its account, as of each snapshot: what happened before, never current state.

Columns (``hist__``): the account's earlier opportunities won and lost, open ones, other leads from the
same account and how many of them converted, and whether the account was already a customer. "Already a
customer" comes from ``accounts.customer_since_ts`` or a won opportunity closed before the cutoff; the
current-state flag ``accounts.is_customer`` is never used, because it is set *after* the sale we predict.

The lead's own earlier lost opportunities (``hist__lead_…``) tell the model a lead is *recycled*: back in
the queue after sales lost its deal (features.spine keeps such leads), and how long ago that was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.point_in_time import EventIndex, encode_entities, time_offset
from features.specs import COUNT, DAYS, FLAG, FeatureSpec
from features.timeutil import SECONDS_PER_DAY, to_seconds


def history_specs(recent_leads_days: int = 365) -> list[FeatureSpec]:
    s = "history"
    return [
        FeatureSpec("hist__account_opps_won", s, COUNT, "the company has won {value} earlier deals with us",
                    one="the company has won one earlier deal with us",
                    zero="the company has no earlier won deal with us"),
        FeatureSpec("hist__account_opps_lost", s, COUNT, "the company has {value} earlier lost deals",
                    one="the company has one earlier lost deal", zero="the company has no earlier lost deal"),
        FeatureSpec("hist__account_opps_open", s, COUNT, "the company has {value} deals open with sales",
                    one="the company has one deal open with sales", zero="the company has no deal open with sales"),
        FeatureSpec(f"hist__account_other_leads_{recent_leads_days}d", s, COUNT,
                    f"{{value}} other people from the company became leads in the last {recent_leads_days} days",
                    one=f"one other person from the company became a lead in the last {recent_leads_days} days",
                    zero=f"nobody else from the company became a lead in the last {recent_leads_days} days"),
        FeatureSpec("hist__account_leads_converted", s, COUNT,
                    "{value} other leads from the company became customers",
                    one="one other lead from the company became a customer",
                    zero="no other lead from the company became a customer"),
        FeatureSpec("hist__account_is_customer", s, FLAG, "the company is already a customer",
                    zero="the company is not yet a customer"),
        FeatureSpec("hist__lead_lost_opportunities", s, COUNT, "sales lost {value} earlier deals with this lead",
                    one="sales lost one earlier deal with this lead", zero="no earlier lost deal with this lead"),
        FeatureSpec("hist__lead_days_since_lost_opportunity", s, DAYS,
                    "sales lost a deal with this lead {value} days ago", missing="no earlier lost deal"),
    ]


def _keyed(table: pd.DataFrame, key: str, column: str) -> pd.Series:
    """``table.set_index(key)[column]`` without copying the table's other columns (a lead scored on demand, or a
    million leads, pays for one column)."""
    return pd.Series(table[column].array, index=pd.Index(table[key].array, name=key), name=column)


def _lead_history(leads: pd.DataFrame, opportunities: pd.DataFrame, spine: pd.DataFrame,
                  offset: int) -> dict[str, np.ndarray]:
    """The lead's own lost opportunities closed strictly before each cutoff (is_won read only once closed)."""
    lead_index = pd.Index(leads["lead_id"])
    codes = encode_entities(lead_index, spine["lead_id"])
    closed = opportunities["closed_ts"].notna().to_numpy()
    lost = closed & ~opportunities["is_won"].fillna(False).astype(bool).to_numpy()
    opp_codes = np.where(lost, encode_entities(lead_index, opportunities["lead_id"]), -1)
    index = EventIndex(opp_codes, to_seconds(opportunities["closed_ts"]), offset)
    cutoff = to_seconds(spine["as_of_ts"])
    known = codes >= 0
    count = np.where(known, index.count_between(np.maximum(codes, 0), np.full(len(cutoff), offset), cutoff), 0)
    last = np.where(known, index.last_before(np.maximum(codes, 0), cutoff), np.nan)
    return {"hist__lead_lost_opportunities": count, "hist__lead_days_since_lost_opportunity":
            (cutoff - last) / SECONDS_PER_DAY}


def build_history_features(leads: pd.DataFrame, opportunities: pd.DataFrame, accounts: pd.DataFrame | None,
                           spine: pd.DataFrame, recent_leads_days: int = 365) -> pd.DataFrame:
    """History features for every spine row, aligned on the spine's index. Leads without an account get 0.

    Other leads of the company are counted over a window: an all-time count only grows as the CRM ages,
    so tonight's leads would always look unlike the ones the model learned from."""
    specs = history_specs(recent_leads_days)
    names = [s.name for s in specs]
    dtypes = {s.name: s.dtype for s in specs}
    offset = time_offset(spine["as_of_ts"], leads["created_ts"], opportunities["created_ts"])
    own = _lead_history(leads, opportunities, spine, offset)
    if "account_id" not in leads.columns:
        frame = pd.DataFrame(0, index=spine.index, columns=names[:-2])
        return pd.concat([frame, pd.DataFrame(own, index=spine.index)], axis=1).astype(dtypes)[names]
    account_of = _keyed(leads, "lead_id", "account_id")
    accounts_index = pd.Index(account_of.dropna().unique())
    spine_acc = accounts_index.get_indexer(account_of.reindex(spine["lead_id"]).to_numpy())
    cutoff = to_seconds(spine["as_of_ts"])
    opp_acc = accounts_index.get_indexer(account_of.reindex(opportunities["lead_id"]).to_numpy())
    won = opportunities["is_won"].fillna(False).astype(bool).to_numpy() & opportunities["closed_ts"].notna().to_numpy()
    lost = ~won & opportunities["closed_ts"].notna().to_numpy()
    closed_s = to_seconds(opportunities["closed_ts"])
    created_s = to_seconds(opportunities["created_ts"])

    def before(codes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        index = EventIndex(codes, seconds, offset)
        return index.count_between(np.maximum(spine_acc, 0), np.full(len(cutoff), offset), cutoff)

    out = {
        "hist__account_opps_won": before(np.where(won, opp_acc, -1), closed_s),
        "hist__account_opps_lost": before(np.where(lost, opp_acc, -1), closed_s),
        "hist__account_opps_open": before(opp_acc, created_s)
        - before(np.where(won | lost, opp_acc, -1), closed_s),
    }
    lead_acc = accounts_index.get_indexer(leads["account_id"].to_numpy())
    window_start = cutoff - recent_leads_days * SECONDS_PER_DAY
    recent = EventIndex(lead_acc, to_seconds(leads["created_ts"]), offset).count_between(
        np.maximum(spine_acc, 0), window_start, cutoff)
    own_created = to_seconds(_keyed(leads, "lead_id", "created_ts").reindex(spine["lead_id"]))
    out[names[3]] = recent - ((own_created >= window_start) & (own_created < cutoff))
    first_win = (opportunities.loc[won].groupby("lead_id")["closed_ts"].min())
    out["hist__account_leads_converted"] = before(
        accounts_index.get_indexer(account_of.reindex(first_win.index).to_numpy()), to_seconds(first_win))
    customer = out["hist__account_opps_won"] > 0
    if accounts is not None and "customer_since_ts" in accounts.columns and len(accounts_index):
        since = _keyed(accounts, "account_id", "customer_since_ts").reindex(accounts_index)
        since_s = to_seconds(since)
        has = since.notna().to_numpy()
        customer |= has[np.maximum(spine_acc, 0)] & (since_s[np.maximum(spine_acc, 0)] < cutoff)
    out["hist__account_is_customer"] = customer.astype(np.int8)
    no_account = spine_acc < 0
    out = {name: np.where(no_account, 0, values) for name, values in out.items()}
    out.update(own)  # one frame from arrays, in their dtypes: a lead scored on demand pays no frame operations
    return pd.DataFrame({name: np.asarray(out[name]).astype(dtypes[name], copy=False) for name in names},
                        index=spine.index)
