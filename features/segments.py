"""Segment models: which leads belong to which segment (pure: frames in, frames out).

A segment (``features.params.SegmentParams``) is a filter on the lead's own columns (``leads.<column>``) and on its
account's (``accounts.<column>``): a lead belongs to it when, in every column the filter names, its value is one of
the listed values. A lead belongs to at most one segment; the leads of no segment are scored by the global model.

Overlaps are refused twice: when params load (:func:`overlap_problems`, on the declared values: two segments can
both match one lead unless some column they both filter lists no value in common), and on the data
(:func:`assign_segments` raises when a lead matches two filters, which the declared check rules out unless the data
holds a value the check cannot see, e.g. a lead's and an account's column compared under one name).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from features.params import SegmentParams

SEGMENT_COLUMN = "segment"  # the scores' column: the segment whose model scored the row (null: the global model)


class SegmentError(ValueError):
    """The segments cannot be applied to these tables: a filter column is missing, or a lead matches two."""


def overlap_problems(segments: Sequence[SegmentParams]) -> list[str]:
    """The pairs of segments one lead could match, by their declared filters, in words."""
    problems = []
    for i, a in enumerate(segments):
        for b in segments[i + 1:]:
            shared = set(a.filter) & set(b.filter)
            separating = [c for c in shared if not _values(a.filter[c]) & _values(b.filter[c])]
            if separating:
                continue
            why = ("they filter no column in common" if not shared else
                   "every column both filter has values in common: " + "; ".join(
                       f"{c} {sorted(_values(a.filter[c]) & _values(b.filter[c]))}" for c in sorted(shared)))
            problems.append(f"segments {a.name!r} and {b.name!r} can both match one lead ({why}); a lead must match "
                            "at most one segment: make the filters exclusive on some column")
    return problems


def _values(values: Iterable) -> set[str]:
    """Declared values compared as the data's text would be (``1`` and ``"1"`` are one value)."""
    return {str(v).lower() if isinstance(v, bool) else str(v) for v in values}


def describe(segment: SegmentParams) -> str:
    """The filter in words: ``leads.country in [DE, FR] and accounts.industry in [software]``."""
    return " and ".join(f"{column} in [{', '.join(str(v) for v in values)}]"
                        for column, values in segment.filter.items())


def lead_attributes(leads: pd.DataFrame, accounts: pd.DataFrame | None,
                    segments: Sequence[SegmentParams]) -> pd.DataFrame:
    """One row per lead (index ``lead_id``), one column per filter column the segments name (``leads.country``,
    ``accounts.industry``: the lead's account's value, missing for a lead without an account)."""
    columns = sorted({c for s in segments for c in s.filter})
    out = pd.DataFrame(index=pd.Index(leads["lead_id"].array, name="lead_id"))
    for column in columns:
        table, name = column.split(".", 1)
        if table == "leads":
            if name not in leads.columns:
                raise SegmentError(f"segment filter column {column}: the leads table has no column {name!r} "
                                   f"(it has {', '.join(map(str, leads.columns))})")
            out[column] = leads[name].array
            continue
        if accounts is None or "account_id" not in leads.columns:
            raise SegmentError(f"segment filter column {column}: the sources have no accounts table, or leads "
                               "have no account_id to find the account by")
        if name not in accounts.columns:
            raise SegmentError(f"segment filter column {column}: the accounts table has no column {name!r} "
                               f"(it has {', '.join(map(str, accounts.columns))})")
        by_account = accounts.drop_duplicates("account_id").set_index("account_id")[name]
        out[column] = by_account.reindex(leads["account_id"]).array
    return out


def assign_segments(leads: pd.DataFrame, accounts: pd.DataFrame | None,
                    segments: Sequence[SegmentParams]) -> pd.Series:
    """Each lead's segment name (index ``lead_id``; None: no segment, the global model). A lead matching two
    segments is an error naming both and the first leads concerned: nothing is assigned, no row is dropped."""
    attributes = lead_attributes(leads, accounts, segments)
    assigned = np.full(len(attributes), None, dtype=object)
    for segment in segments:
        mask = np.ones(len(attributes), dtype=bool)
        for column, values in segment.filter.items():
            mask &= _as_text(attributes[column]).isin(_values(values)).to_numpy()
        clash = mask & (assigned != None)  # noqa: E711 — elementwise on an object array
        if clash.any():
            ids = ", ".join(map(str, attributes.index[clash][:5]))
            others = ", ".join(sorted(set(assigned[clash])))
            raise SegmentError(f"{int(clash.sum())} lead(s) match both segment {segment.name!r} and {others} "
                               f"(lead_id {ids}{', …' if clash.sum() > 5 else ''}): a lead must match at most one "
                               "segment; make the filters exclusive")
        assigned[mask] = segment.name
    return pd.Series(assigned, index=attributes.index, dtype=object, name=SEGMENT_COLUMN)


def _as_text(values: pd.Series) -> pd.Series:
    """A column as the text its declared values are compared with (missing stays missing: it matches nothing)."""
    return values.astype(object).map(
        lambda v: None if pd.isna(v) else str(v).lower() if isinstance(v, bool) else str(v))


def segment_lead_ids(leads: pd.DataFrame, accounts: pd.DataFrame | None, segment: SegmentParams,
                     segments: Sequence[SegmentParams] = ()) -> pd.Index:
    """The lead ids of one segment (checked against the other ``segments`` for overlaps on the data)."""
    assigned = assign_segments(leads, accounts, list(segments) or [segment])
    return assigned.index[(assigned == segment.name).to_numpy()]


def model_rows(scores: pd.DataFrame, segment: str | None) -> pd.Series:
    """Which published rows one model scored: the segment's (``segment``), or the global model's (None: rows
    without a segment, including every row published before segments existed)."""
    stamped = scores[SEGMENT_COLUMN] if SEGMENT_COLUMN in scores.columns else pd.Series(None, index=scores.index)
    return stamped.eq(segment).fillna(False) if segment is not None else stamped.isna()


def model_buyers(buyers: pd.DataFrame, leads: pd.DataFrame, accounts: pd.DataFrame | None,
                 segments: Sequence[SegmentParams], segment: str | None, scores: pd.DataFrame) -> pd.DataFrame:
    """The buyer pairs (lead_id, as_of_ts) one model answers for, to count its coverage, night by night: a segment's
    own leads on the nights its champion scored (``scores``' ``segment`` column says which); for the global model,
    every other pair (leads of no segment, and a segment's leads on nights its champion did not score them)."""
    if not segments:
        return buyers
    assigned = assign_segments(leads, accounts, segments)
    tagged = buyers.assign(**{SEGMENT_COLUMN: assigned.reindex(buyers["lead_id"].array).to_numpy()})
    scored = scores[["as_of_ts", SEGMENT_COLUMN]].dropna().drop_duplicates()
    by_segment_model = tagged.merge(scored, on=["as_of_ts", SEGMENT_COLUMN], how="left",
                                    indicator=True)["_merge"].eq("both").to_numpy()
    mine = (by_segment_model & (tagged[SEGMENT_COLUMN] == segment).to_numpy()) if segment is not None \
        else ~by_segment_model
    return buyers[mine].reset_index(drop=True)
