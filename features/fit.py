"""Fit: who the lead is and which company it comes from, as of each snapshot.

Columns: ``fit__<lead column>`` and ``fit__account_<account column>`` for the columns params.yaml names
(categories as pandas ``category``, numbers as float), and ``lead__age_days``. Lead and account
attributes are taken as known from the lead's creation; the spine only holds leads created before the
cutoff. (Account attributes that change over time need a history table: see the features issue.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.timeutil import SECONDS_PER_DAY, to_seconds


def _category(values: pd.Series) -> pd.Series:
    values = values.astype("object").where(values.notna(), None)
    cats = sorted({v for v in values if v is not None}, key=str)
    return pd.Series(pd.Categorical(values, categories=cats))


def build_fit_features(leads: pd.DataFrame, accounts: pd.DataFrame | None, spine: pd.DataFrame, *,
                       lead_categorical: list[str], account_categorical: list[str],
                       account_numeric: list[str]) -> pd.DataFrame:
    """Fit features for every spine row, aligned on the spine's index."""
    lead_rows = pd.Index(leads["lead_id"]).get_indexer(spine["lead_id"])
    if (lead_rows < 0).any():
        raise ValueError(f"spine: {int((lead_rows < 0).sum())} rows name a lead that is not in leads")
    out: dict[str, pd.Series] = {}
    for col in lead_categorical:
        if col not in leads.columns:
            raise ValueError(f"leads.{col}: named in features.fit.lead_categorical but missing from leads")
        out[f"fit__{col}"] = _category(leads[col].iloc[lead_rows].reset_index(drop=True))
    wanted = [*account_categorical, *account_numeric]
    if accounts is not None and wanted and "account_id" in leads.columns:
        for col in wanted:
            if col not in accounts.columns:
                raise ValueError(f"accounts.{col}: named in features.fit but missing from accounts")
        acc_rows = pd.Index(accounts["account_id"]).get_indexer(leads["account_id"].iloc[lead_rows])
        has_acc = acc_rows >= 0
        if len(accounts) == 0:
            accounts = pd.DataFrame({c: pd.Series([None]) for c in accounts.columns})
        for col in account_categorical:
            vals = accounts[col].astype("object").to_numpy()[np.maximum(acc_rows, 0)]
            out[f"fit__account_{col}"] = _category(pd.Series(np.where(has_acc, vals, None)))
        for col in account_numeric:
            vals = accounts[col].to_numpy(dtype=float, na_value=np.nan)[np.maximum(acc_rows, 0)]
            out[f"fit__account_{col}"] = pd.Series(np.where(has_acc, vals, np.nan))
    created = to_seconds(leads["created_ts"])[lead_rows]
    out["lead__age_days"] = pd.Series((to_seconds(spine["as_of_ts"]) - created) / SECONDS_PER_DAY)
    frame = pd.DataFrame(out)
    frame.index = spine.index
    return frame
