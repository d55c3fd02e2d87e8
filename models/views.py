"""The same numbers for both teams: marketing judged on quality leads per campaign, sales on follow-up.

Pure: frames in, frames out. The unit is the **hand-off**: each scored lead once, on the first night it
reached its best grade (the moment marketing delivered it at that quality, and sales was asked to act).
- marketing: per campaign, channel and lead source: leads, share graded A or B (quality leads), realized
  conversion on matured hand-offs, and campaign cost per quality lead where the cost is known;
- sales: the wait from the hand-off to the first sales activity after it, by grade and by owner; the
  share touched within each grade's SLA; conversion by follow-up speed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NO_CAMPAIGN = "(no campaign)"


def hand_offs(scores: pd.DataFrame, *, grade_order: list[str]) -> pd.DataFrame:
    """One row per lead: the first night it was scored in its best grade (``grade_order`` best first).

    ``scores``: lead_id, as_of_ts, grade, plus any columns to carry (probability, owner_id, source,
    converted — the latter NaN where that night's window has not elapsed).
    """
    rank = {g: i for i, g in enumerate(grade_order)}
    ranked = scores.assign(_rank=scores["grade"].map(rank).fillna(len(rank)))
    ranked = ranked.sort_values(["lead_id", "_rank", "as_of_ts"], kind="stable")
    return ranked.drop_duplicates("lead_id").drop(columns="_rank").reset_index(drop=True)


def _quality_table(frame: pd.DataFrame, key: str, quality_grades: list[str]) -> pd.DataFrame:
    g = frame.assign(quality=frame["grade"].isin(quality_grades),
                     matured=frame["converted"].notna(),
                     won=frame["converted"].fillna(0).astype(float))
    table = g.groupby(key, dropna=False, sort=True).agg(
        leads=("lead_id", "size"), quality_leads=("quality", "sum"),
        matured_leads=("matured", "sum"), conversions=("won", "sum"))
    table["quality_share"] = table["quality_leads"] / table["leads"]
    table["conversion_rate"] = table["conversions"] / table["matured_leads"].where(table["matured_leads"] > 0)
    return table.astype({"quality_leads": "int64", "matured_leads": "int64", "conversions": "int64"})


def marketing_view(handed: pd.DataFrame, leads: pd.DataFrame, campaigns: pd.DataFrame | None, *,
                   quality_grades: list[str]) -> dict[str, pd.DataFrame]:
    """Tables by ``campaign``, ``channel`` and ``source``, best quality share first.

    Cost per quality lead = the campaign's cost / its quality leads among the hand-offs reported; a
    channel's cost is the sum over its campaigns that delivered a lead here. Leads without a campaign,
    and campaigns without a cost, have no cost per quality lead.
    """
    frame = handed.drop(columns=[c for c in ("source",) if c in handed.columns]).merge(
        leads[["lead_id", "source", "first_campaign_id"]], on="lead_id", how="left")
    if campaigns is not None and len(campaigns):
        info = campaigns.set_index("campaign_id")
        ids = frame["first_campaign_id"]
        frame["campaign"] = info["name"].reindex(ids).to_numpy() if "name" in info else ids.astype("string")
        frame["channel"] = info["channel"].reindex(ids).to_numpy()
        cost = (info["cost"] if "cost" in info else pd.Series(np.nan, index=info.index)).astype(float)
    else:
        frame["campaign"], frame["channel"] = None, None
        cost = pd.Series(dtype=float)
    frame["campaign"] = frame["campaign"].fillna(NO_CAMPAIGN)
    frame["channel"] = frame["channel"].fillna(NO_CAMPAIGN)

    by_campaign = _quality_table(frame, "campaign", quality_grades)
    delivered = frame.dropna(subset=["first_campaign_id"]).drop_duplicates("first_campaign_id")
    campaign_cost = pd.Series(cost.reindex(delivered["first_campaign_id"]).to_numpy(),
                              index=delivered["campaign"].to_numpy())
    by_campaign["channel"] = frame.drop_duplicates("campaign").set_index("campaign")["channel"]
    by_campaign["cost"] = campaign_cost.reindex(by_campaign.index)

    by_channel = _quality_table(frame, "channel", quality_grades)
    channel_cost = pd.Series(cost.reindex(delivered["first_campaign_id"]).to_numpy(),
                             index=delivered["channel"].to_numpy())
    by_channel["cost"] = channel_cost.groupby(level=0).sum(min_count=1).reindex(by_channel.index)

    for table in (by_campaign, by_channel):
        table["cost_per_quality_lead"] = table["cost"] / table["quality_leads"].where(table["quality_leads"] > 0)
    by_source = _quality_table(frame, "source", quality_grades)
    order = ["quality_share", "leads"]
    return {name: t.sort_values(order, ascending=False).reset_index()
            for name, t in (("campaign", by_campaign), ("channel", by_channel), ("source", by_source))}


def follow_up(handed: pd.DataFrame, activities: pd.DataFrame | None, *,
              observed_until: pd.Timestamp) -> pd.DataFrame:
    """The hand-offs with ``first_touch_ts`` (first sales activity strictly after the night),
    ``latency_hours`` (NaN when untouched) and ``observed_hours`` (how long we could have seen a touch)."""
    out = handed.sort_values("as_of_ts", kind="stable").reset_index(drop=True)
    if activities is None or activities.empty:
        out["first_touch_ts"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    else:
        touches = activities[["lead_id", "activity_ts"]].dropna().sort_values("activity_ts", kind="stable")
        touches = touches.rename(columns={"activity_ts": "first_touch_ts"})
        left = out.assign(_key=out["as_of_ts"].astype("datetime64[ns, UTC]"))
        right = touches.assign(_key=touches["first_touch_ts"].astype("datetime64[ns, UTC]"))
        out = pd.merge_asof(left, right, on="_key", by="lead_id", direction="forward",
                            allow_exact_matches=False).drop(columns="_key")
    out["latency_hours"] = (out["first_touch_ts"] - out["as_of_ts"]).dt.total_seconds() / 3600
    out["observed_hours"] = (observed_until - out["as_of_ts"]).dt.total_seconds() / 3600
    return out


def _within(frame: pd.DataFrame, sla_hours: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(judged, within): judged when the SLA window elapsed or the lead was touched; within if in time."""
    touched_in_time = frame["latency_hours"] <= sla_hours
    judged = touched_in_time | (frame["observed_hours"] >= sla_hours)
    return judged & sla_hours.notna(), touched_in_time & sla_hours.notna()


def speed_labels(bucket_hours: list[int]) -> list[str]:
    def words(h: float) -> str:
        return f"{h / 24:g} d" if h % 24 == 0 else f"{h:g} h"

    edges = [0, *bucket_hours]
    labels = [f"≤ {words(bucket_hours[0])}"]
    labels += [f"{words(a)}–{words(b)}" for a, b in zip(edges[1:-1], edges[2:], strict=True)]
    return [*labels, f"> {words(bucket_hours[-1])} or never"]


def sales_view(followed: pd.DataFrame, *, sla_hours_by_grade: dict[str, float], grade_order: list[str],
               speed_bucket_hours: list[int]) -> dict[str, pd.DataFrame]:
    """Tables ``by_grade``, ``by_owner`` and ``by_speed`` from :func:`follow_up`'s frame.

    Only hand-offs whose SLA window has elapsed (or that were touched) count towards SLA shares;
    conversion by speed uses matured hand-offs, "never" meaning no touch until the data end.
    """
    sla = followed["grade"].map(sla_hours_by_grade).astype(float)
    judged, within = _within(followed, sla)
    f = followed.assign(touched=followed["latency_hours"].notna(), judged=judged, within=within,
                        won=followed["converted"].astype(float), matured=followed["converted"].notna())

    def summary(g: pd.DataFrame) -> pd.Series:
        n_judged = int(g["judged"].sum())
        matured = g[g["matured"]]
        return pd.Series({
            "leads": len(g), "touched_share": g["touched"].mean(),
            "median_latency_hours": g["latency_hours"].median(),
            "p90_latency_hours": g["latency_hours"].quantile(0.9),
            "sla_judged": n_judged,
            "within_sla_share": g["within"].sum() / n_judged if n_judged else np.nan,
            "matured_leads": len(matured),
            "conversion_rate": matured["won"].mean() if len(matured) else np.nan,
        })

    by_grade = f.groupby("grade", sort=False).apply(summary, include_groups=False)
    by_grade = by_grade.reindex([g for g in grade_order if g in by_grade.index]).reset_index()
    by_grade["sla_hours"] = by_grade["grade"].map(sla_hours_by_grade)

    first = grade_order[0]
    owners = f.groupby("owner_id", sort=True).apply(summary, include_groups=False)
    top = f[f["grade"] == first].groupby("owner_id").apply(summary, include_groups=False)
    owners[f"{first}_leads"] = top["leads"].reindex(owners.index).fillna(0).astype(int)
    owners[f"{first}_median_latency_hours"] = top["median_latency_hours"].reindex(owners.index)
    owners[f"{first}_within_sla_share"] = top["within_sla_share"].reindex(owners.index)
    by_owner = owners.sort_values("median_latency_hours").reset_index()

    labels = speed_labels(speed_bucket_hours)
    edges = [-np.inf, *speed_bucket_hours, np.inf]
    matured = f[f["matured"]]
    latency = matured["latency_hours"].fillna(np.inf)
    bucket = pd.cut(latency, edges, labels=labels, right=True)
    by_speed = (matured.assign(speed=bucket).groupby("speed", observed=False)["won"]
                .agg(leads="size", conversions="sum").reset_index())
    by_speed["conversion_rate"] = by_speed["conversions"] / by_speed["leads"].where(by_speed["leads"] > 0)
    by_speed["conversions"] = by_speed["conversions"].astype("int64")
    return {"by_grade": by_grade, "by_owner": by_owner, "by_speed": by_speed}
