"""What sales said of the leads marketing handed over: each lead's current disposition, per campaign and grade.

Pure: frames in, a frame out. A rep may record several dispositions of a lead over time; the latest stands, so each
lead counts once. The grade is the one the lead was handed over with (the caller's hand-off frame, e.g.
``models.views.first_hand_offs``), not the one the rep saw when recording: marketing is judged on what it delivered.
"""

from __future__ import annotations

import pandas as pd

from models.views import NO_CAMPAIGN


def current_dispositions(feedback: pd.DataFrame) -> pd.DataFrame:
    """One row per lead: its latest disposition (by ``created_at``, then ``id`` where there is one)."""
    order = [c for c in ("created_at", "id") if c in feedback.columns]
    latest = feedback.sort_values(order, kind="stable") if order else feedback
    return latest.drop_duplicates("lead_id", keep="last").reset_index(drop=True)


def _campaign_names(leads: pd.DataFrame, campaigns: pd.DataFrame | None) -> pd.Series:
    """Lead id (text) → its first campaign's name (else its id; ``NO_CAMPAIGN`` where it has none)."""
    ids = leads["first_campaign_id"]
    whole = ids.dropna()
    names = (ids.astype("Int64") if pd.api.types.is_float_dtype(ids) and (whole == whole.round()).all()
             else ids).astype("string")  # a numeric id column with gaps reads as floats: 7, not 7.0
    if campaigns is not None and len(campaigns) and "name" in campaigns.columns:
        named = campaigns.set_index("campaign_id")["name"].reindex(ids).to_numpy()
        names = pd.Series(named, index=ids.index, dtype="string").fillna(names)
    return pd.Series(names.fillna(NO_CAMPAIGN).to_numpy(), index=leads["lead_id"].astype(str).to_numpy())


def dispositions_by_campaign(feedback: pd.DataFrame, handed: pd.DataFrame, leads: pd.DataFrame,
                             campaigns: pd.DataFrame | None, *, dispositions: list[str],
                             grade_order: list[str]) -> pd.DataFrame:
    """Per campaign and hand-off grade: leads handed over, how many have feedback, and the share of those with
    each disposition ("sales marked 14 % of this webinar's A leads as not a fit").

    ``feedback``: lead_id, disposition (+ created_at / id to find each lead's latest); ``handed``: one row per lead,
    lead_id and grade at hand-off; ``leads``: lead_id, first_campaign_id; ``campaigns``: campaign_id, name (None or
    empty: campaigns shown by id). Lead ids are compared as text (a CRM's ids are integers in one table and text in
    another). Columns: campaign, grade, leads, with_feedback, feedback_share, then ``share_<disposition>`` for each
    of ``dispositions`` (NaN where no lead has feedback). Rows: campaigns by name, grades in ``grade_order``.
    """
    frame = pd.DataFrame({"lead_id": handed["lead_id"].astype(str).to_numpy(),
                          "grade": handed["grade"].astype(str).to_numpy()})
    frame["campaign"] = _campaign_names(leads, campaigns).reindex(frame["lead_id"]).fillna(NO_CAMPAIGN).to_numpy()
    current = current_dispositions(feedback.assign(lead_id=feedback["lead_id"].astype(str)))
    frame["disposition"] = current.set_index("lead_id")["disposition"].reindex(frame["lead_id"]).to_numpy()

    table = frame.groupby(["campaign", "grade"], sort=False).agg(leads=("lead_id", "size"),
                                                                 with_feedback=("disposition", "count"))
    counts = pd.crosstab([frame["campaign"], frame["grade"]], frame["disposition"]).reindex(
        index=table.index, columns=dispositions, fill_value=0)
    given = table["with_feedback"].where(table["with_feedback"] > 0)
    table["feedback_share"] = table["with_feedback"] / table["leads"]
    for disposition in dispositions:
        table[f"share_{disposition}"] = counts[disposition] / given
    rank = {g: i for i, g in enumerate(grade_order)}
    table = table.reset_index()
    table = table.assign(_rank=table["grade"].map(rank).fillna(len(rank))).sort_values(
        ["campaign", "_rank", "grade"], kind="stable").drop(columns="_rank")
    return table.reset_index(drop=True)
