"""Fit: who the lead is and which company it comes from, as of each snapshot.

Columns: ``fit__<lead column>`` and ``fit__account_<account column>`` for the columns params.yaml names
(categories as pandas ``category``, numbers as float); seniority and department parsed from the job
title with the ordered rules in params.yaml; the company-size band; a free-email-domain flag; the channel
of the lead's first campaign; and ``lead__age_days``. Lead and account attributes are taken as known from
the lead's creation (the spine only holds leads created before the cutoff); CRM *history* of the account
lives in ``features.history``.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

from features.params import FitParams
from features.specs import (
    CATEGORY,
    COUNTRY_LABELS,
    DAYS,
    DEPARTMENT_LABELS,
    FLAG,
    NUMBER,
    SENIORITY_LABELS,
    SOURCE_LABELS,
    FeatureSpec,
)
from features.timeutil import SECONDS_PER_DAY, to_seconds

_WORDS = {
    "source": "came in through {value}",
    "country": "is based in {value}",
    "industry": "the company is in {value}",
    "employees": "works at a company of {value} employees",
    "annual_revenue": "works at a company with {value} annual revenue",
    "country_account": "the company is based in {value}",
}


CHANNEL_LABELS = {"email": "an email campaign", "paid_search": "a paid search campaign",
                  "paid_social": "a paid social campaign", "webinar": "a webinar", "trade_show": "a trade show",
                  "content_syndication": "syndicated content", "partner": "a partner campaign"}
# Built-in words for the codes of a column (params.yaml's features.labels adds to and overrides them)
_LABELS = {"country": COUNTRY_LABELS, "source": SOURCE_LABELS}


def _labels(column: str) -> tuple:
    return tuple(_LABELS.get(column, {}).items())


def fit_specs(params: FitParams) -> list[FeatureSpec]:
    s = "fit"
    specs = [FeatureSpec(f"fit__{c}", s, CATEGORY, _WORDS.get(c, f"{c}: {{value}}"), missing=f"{c} unknown",
                         labels=_labels(c))
             for c in params.lead_categorical]
    specs += [FeatureSpec(f"fit__account_{c}", s, CATEGORY,
                          _WORDS.get(f"{c}_account", _WORDS.get(c, f"company {c}: {{value}}")),
                          missing=f"company {c} unknown", labels=_labels(c)) for c in params.account_categorical]
    specs += [FeatureSpec(f"fit__account_{c}", s, NUMBER, _WORDS.get(c, f"company {c}: {{value}}"),
                          missing=f"company {c} unknown") for c in params.account_numeric]
    if params.seniority_rules:
        specs.append(FeatureSpec("fit__seniority", s, CATEGORY, "job title reads as {value}",
                                 missing="no job title", labels=tuple(SENIORITY_LABELS.items())))
    if params.department_rules:
        specs.append(FeatureSpec("fit__department", s, CATEGORY, "works in {value}",
                                 missing="no job title", labels=tuple(DEPARTMENT_LABELS.items())))
    specs += [
        FeatureSpec("fit__company_size_band", s, CATEGORY, "company of {value} employees",
                    missing="company size unknown"),
        FeatureSpec("fit__free_email", s, FLAG, "signed up with a free email address",
                    zero="signed up with a work email address"),
        FeatureSpec("fit__first_campaign_channel", s, CATEGORY, "first came through {value}",
                    missing="not from a campaign", labels=tuple(CHANNEL_LABELS.items())),
        FeatureSpec("lead__age_days", "lead", DAYS, "became a lead {value} days ago"),
    ]
    return specs


def _category(values) -> pd.Series:
    """A categorical with its categories sorted, so the same values give the same codes on every night.

    Works on the distinct values only: a million leads carry a few hundred sources or countries. A few rows (a lead
    scored on demand) are coded in a loop: microseconds, where each Series operation costs more."""
    if len(values) <= 64:
        values = list(values)
        present = sorted({v for v in values if not pd.isna(v)}, key=str)
        position = {v: i for i, v in enumerate(present)}
        codes = np.array([-1 if pd.isna(v) else position[v] for v in values], dtype=np.int64)
        return pd.Series(pd.Categorical.from_codes(codes, dtype=_small_dtype(tuple(present))))
    codes, uniques = pd.factorize(pd.Series(values))
    uniques = list(uniques)
    order = sorted(range(len(uniques)), key=lambda i: str(uniques[i]))
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = np.where(codes >= 0, rank[np.maximum(codes, 0)] if len(uniques) else -1, -1)
    return pd.Series(pd.Categorical.from_codes(codes, categories=[uniques[i] for i in order]))


@functools.lru_cache(maxsize=4096)
def _small_dtype(categories: tuple) -> pd.CategoricalDtype:
    """The dtype of a few rows' categories, built once: building one checks its categories (about 0.1 ms, per
    column of every lead scored on demand)."""
    return pd.CategoricalDtype(list(categories))


@functools.lru_cache(maxsize=16)
def _compiled_rules(rules: tuple[tuple[str, str], ...]) -> list[tuple[str, re.Pattern]]:
    return [(label, re.compile(pattern, re.IGNORECASE)) for label, pattern in rules]


def classify_titles(titles: pd.Series, rules: dict[str, str]) -> pd.Series:
    """The first rule label whose pattern matches each title (case-insensitive); None when none does.

    The rules run once per distinct title, not once per lead."""
    codes, uniques = pd.factorize(titles)
    if len(uniques) <= 64:  # a lead scored on demand: a loop costs microseconds where each Series op costs more
        compiled = _compiled_rules(tuple(rules.items()))
        labels = np.array([next((label for label, rule in compiled if rule.search(str(title))), None)
                           for title in uniques], dtype=object)
    else:
        distinct = pd.Series(uniques, dtype=object).astype(str)
        found = pd.Series(None, index=distinct.index, dtype=object)
        for label, pattern in rules.items():
            hit = distinct.str.contains(re.compile(pattern, re.IGNORECASE), regex=True) & found.isna()
            found[hit] = label
        labels = found.to_numpy(dtype=object)
    out = np.full(len(titles), None, dtype=object)
    out[codes >= 0] = labels[codes[codes >= 0]]
    return pd.Series(out, index=titles.index, dtype=object)


def size_bands(employees: np.ndarray, bounds: list[int]) -> np.ndarray:
    """Labels like '1-9', '10-49', …, '5000+' from exclusive upper bounds (None where unknown)."""
    edges = [1, *bounds]
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)] + [f"{edges[-1]}+"]
    idx = np.searchsorted(np.array(bounds), employees, side="right")
    return np.where(np.isnan(employees), None, np.array(labels, dtype=object)[np.minimum(idx, len(labels) - 1)])


FLOAT32_EXACT = 2 ** 24  # every integer of at most this magnitude is a float32, exactly


def float32_exact_columns(accounts: pd.DataFrame | None, params: FitParams) -> list[str]:
    """The float64 fit columns float32 holds exactly on every row, whatever the rows: the account numbers
    (``fit__account_<col>``) whose values in the accounts table are all whole and within ±2**24 (a lead's value is
    one of them, or missing). Decided from the source, so every block of a table decides alike. (Counts and flags
    are integers already; ages, days since and decayed counts are fractional: float32 would round them.)"""
    if accounts is None:
        return []
    out = []
    for col in params.account_numeric:
        if col not in accounts.columns:
            continue
        values = pd.to_numeric(accounts[col], errors="coerce").to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        if np.all(values == np.round(values)) and np.all(np.abs(values) <= FLOAT32_EXACT):
            out.append(f"fit__account_{col}")
    return out


def build_fit_features(leads: pd.DataFrame, accounts: pd.DataFrame | None, spine: pd.DataFrame,
                       params: FitParams, campaigns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fit features for every spine row, aligned on the spine's index."""
    lead_rows = pd.Index(leads["lead_id"]).get_indexer(spine["lead_id"])
    if (lead_rows < 0).any():
        raise ValueError(f"spine: {int((lead_rows < 0).sum())} rows name a lead that is not in leads")
    lead = leads.iloc[lead_rows].reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    for col in params.lead_categorical:
        if col not in leads.columns:
            raise ValueError(f"leads.{col}: named in features.fit.lead_categorical but missing from leads")
        out[f"fit__{col}"] = _category(lead[col])

    account = _account_rows(lead, accounts, [*params.account_categorical, *params.account_numeric])
    for col in params.account_categorical:
        out[f"fit__account_{col}"] = _category(account[col])
    for col in params.account_numeric:
        out[f"fit__account_{col}"] = pd.to_numeric(account[col], errors="coerce").astype(float)

    titles = lead["job_title"] if "job_title" in lead.columns else pd.Series(None, index=lead.index, dtype=object)
    if params.seniority_rules:
        out["fit__seniority"] = _category(classify_titles(titles, params.seniority_rules))
    if params.department_rules:
        out["fit__department"] = _category(classify_titles(titles, params.department_rules))
    employees = (pd.to_numeric(account["employees"], errors="coerce").to_numpy(dtype=float)
                 if "employees" in account.columns else np.full(len(lead), np.nan))
    out["fit__company_size_band"] = _category(size_bands(employees, params.company_size_bands))
    if "email_domain" in lead.columns:
        domain = lead["email_domain"].astype("object").str.lower().str.strip()
        free = domain.isin([d.lower() for d in params.free_email_domains]).to_numpy()
    else:
        free = np.zeros(len(lead), dtype=bool)
    out["fit__free_email"] = pd.Series(free.astype(np.int8))
    channel = pd.Series(None, index=lead.index, dtype=object)
    if campaigns is not None and "first_campaign_id" in lead.columns:
        # Positions, not reindex: pandas' reindex of a RangeIndex-like id index fails when the first id is missing
        # (a night, or one lead, whose first lead came from no campaign).
        position = pd.Index(campaigns["campaign_id"]).get_indexer(lead["first_campaign_id"])
        names = campaigns["channel"].to_numpy(dtype=object)
        channel = pd.Series(np.where(position >= 0, names[np.maximum(position, 0)] if len(names) else None, None),
                            index=lead.index, dtype=object)
    out["fit__first_campaign_channel"] = _category(channel)
    created = to_seconds(lead["created_ts"])
    out["lead__age_days"] = pd.Series((to_seconds(spine["as_of_ts"]) - created) / SECONDS_PER_DAY)
    # from the columns' arrays, in the catalogue's order: no index to align, no reordering copy
    return pd.DataFrame({s.name: out[s.name].array for s in fit_specs(params)}, index=spine.index)


def _account_rows(lead: pd.DataFrame, accounts: pd.DataFrame | None, wanted: list[str]) -> pd.DataFrame:
    """The account row of each lead (all-missing when the lead has none or the table is absent)."""
    columns = sorted({*wanted, "employees"})
    if accounts is None or "account_id" not in lead.columns:
        return pd.DataFrame({c: pd.Series([None] * len(lead), dtype=object) for c in columns})
    for col in wanted:
        if col not in accounts.columns:
            raise ValueError(f"accounts.{col}: named in features.fit but missing from accounts")
    present = [c for c in columns if c in accounts.columns]
    at = pd.Index(accounts["account_id"]).get_indexer(lead["account_id"].to_numpy())  # -1: no account, or unknown
    return pd.DataFrame({c: accounts[c].array.take(at, allow_fill=True) for c in present})
