"""The same numbers for both teams, held against what the score expected of each.

Pure: frames in, frames out. Two units:

- the **hand-off** (the ledger's unit): each scored lead once, on the first night it was scored, with the grade
  and probability it had then. Its probability is the conversion the score *expected*; a matured hand-off's
  outcome is what happened. Counting a lead at its first night (not its best one) gives every channel one
  chance per lead, however long its leads stay open.
- the **escalation** (follow-up's unit): each lead once, on the first night it reached its best grade, the
  moment sales was asked to act at that grade; its SLA runs from that night.

Marketing (campaign, channel, source) and sales (owner, grade) get the same ledger: leads handed over, quality
leads (a quality grade at hand-off), expected wins and realized wins over the matured hand-offs, the realized rate
with its binomial interval, and realized / expected with the same interval scaled (a ratio under 1 means fewer
wins than the score expected of those very leads). Cost per quality lead attributes a campaign's whole cost to
every lead it brought over its life (the leads table, scored or not): cost ÷ (lifetime leads × quality share at
hand-off), so a campaign that ran for two years is not divided by only the leads of the nights reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.monitoring import binomial_interval

NO_CAMPAIGN = "(no campaign)"
LEDGER_COLUMNS = ["leads", "quality_leads", "quality_share", "quality_low", "quality_high", "matured_leads",
                  "expected_wins", "realized_wins",
                  "realized_rate", "realized_low", "realized_high", "expected_rate", "realized_vs_expected",
                  "ratio_low", "ratio_high"]


def first_hand_offs(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per lead: its first scored night, with whatever ``scores`` carries (grade, probability, owner_id,
    source, converted — NaN where that night's window has not elapsed)."""
    ordered = scores.sort_values(["lead_id", "as_of_ts"], kind="stable")
    return ordered.drop_duplicates("lead_id").reset_index(drop=True)


def escalations(scores: pd.DataFrame, *, grade_order: list[str]) -> pd.DataFrame:
    """One row per lead: the first night it was scored in its best grade (``grade_order`` best first)."""
    rank = {g: i for i, g in enumerate(grade_order)}
    ranked = scores.assign(_rank=scores["grade"].map(rank).fillna(len(rank)))
    ranked = ranked.sort_values(["lead_id", "_rank", "as_of_ts"], kind="stable")
    return ranked.drop_duplicates("lead_id").drop(columns="_rank").reset_index(drop=True)


def ledger(frame: pd.DataFrame, key: str, *, quality_grades: list[str], interval: str = "wilson",
           confidence: float = 0.95) -> pd.DataFrame:
    """Expected against realized per ``key`` over hand-offs (lead_id, grade, probability, converted), indexed by
    ``key``. Expected wins sum the probabilities of the *matured* hand-offs, so both sides count the same leads."""
    matured = frame["converted"].notna()
    g = frame.assign(quality=frame["grade"].isin(quality_grades), matured=matured,
                     won=frame["converted"].where(matured, 0).astype(float),
                     expected=frame["probability"].astype(float).where(matured, 0.0))
    table = g.groupby(key, dropna=False, sort=True).agg(
        leads=("lead_id", "size"), quality_leads=("quality", "sum"), matured_leads=("matured", "sum"),
        expected_wins=("expected", "sum"), realized_wins=("won", "sum"))
    table = table.astype({"quality_leads": "int64", "matured_leads": "int64", "realized_wins": "int64"})
    table["quality_share"] = table["quality_leads"] / table["leads"]
    shares = [binomial_interval(int(k), int(m), method=interval, confidence=confidence)
              for k, m in zip(table["quality_leads"], table["leads"], strict=True)]
    table["quality_low"] = [b[0] for b in shares]
    table["quality_high"] = [b[1] for b in shares]
    n = table["matured_leads"].where(table["matured_leads"] > 0)
    table["realized_rate"] = table["realized_wins"] / n
    bounds = [binomial_interval(int(k), int(m), method=interval, confidence=confidence) if m > 0 else (np.nan, np.nan)
              for k, m in zip(table["realized_wins"], table["matured_leads"], strict=True)]
    table["realized_low"] = [b[0] for b in bounds]
    table["realized_high"] = [b[1] for b in bounds]
    table["expected_rate"] = table["expected_wins"] / n
    scale = 1 / table["expected_rate"].where(table["expected_rate"] > 0)
    table["realized_vs_expected"] = table["realized_rate"] * scale
    table["ratio_low"] = table["realized_low"] * scale
    table["ratio_high"] = table["realized_high"] * scale
    return table[LEDGER_COLUMNS]


def marketing_view(handed: pd.DataFrame, leads: pd.DataFrame, campaigns: pd.DataFrame | None, *,
                   quality_grades: list[str], interval: str = "wilson",
                   confidence: float = 0.95) -> dict[str, pd.DataFrame]:
    """Ledger tables by ``campaign``, ``channel`` and ``source`` (from :func:`first_hand_offs`), most leads first.

    Cost (campaigns with a cost only): ``lifetime_leads`` = every lead in ``leads`` the campaign brought, scored
    or not; ``cost_per_lead`` = cost ÷ lifetime leads; ``cost_per_quality_lead`` = cost per lead ÷ quality share
    at hand-off. A channel pools its campaigns that handed a lead over: Σ cost ÷ Σ (lifetime leads × quality
    share). Leads without a campaign and campaigns without a cost have no cost.
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
    common = {"quality_grades": quality_grades, "interval": interval, "confidence": confidence}

    by_campaign = ledger(frame, "campaign", **common)
    delivered = frame.dropna(subset=["first_campaign_id"]).drop_duplicates("first_campaign_id")
    lifetime = leads["first_campaign_id"].dropna().value_counts()
    per_campaign = pd.DataFrame({
        "campaign": delivered["campaign"].to_numpy(), "channel": delivered["channel"].to_numpy(),
        "cost": cost.reindex(delivered["first_campaign_id"]).to_numpy(),
        "lifetime_leads": lifetime.reindex(delivered["first_campaign_id"]).fillna(0).to_numpy(dtype="int64"),
    }).set_index("campaign")
    per_campaign["quality_share"] = by_campaign["quality_share"].reindex(per_campaign.index)
    per_campaign["lifetime_quality"] = per_campaign["lifetime_leads"] * per_campaign["quality_share"]
    by_campaign["channel"] = frame.drop_duplicates("campaign").set_index("campaign")["channel"]
    for col in ("cost", "lifetime_leads"):
        by_campaign[col] = per_campaign[col].reindex(by_campaign.index)
    by_campaign["cost_per_lead"] = by_campaign["cost"] / by_campaign["lifetime_leads"].where(
        by_campaign["lifetime_leads"] > 0)
    by_campaign["cost_per_quality_lead"] = by_campaign["cost_per_lead"] / by_campaign["quality_share"].where(
        by_campaign["quality_share"] > 0)

    by_channel = ledger(frame, "channel", **common)
    costed = per_campaign.dropna(subset=["cost"])
    pooled = costed.groupby("channel").agg(cost=("cost", "sum"), lifetime_leads=("lifetime_leads", "sum"),
                                           lifetime_quality=("lifetime_quality", "sum"))
    for col in ("cost", "lifetime_leads"):
        by_channel[col] = pooled[col].reindex(by_channel.index)
    by_channel["cost_per_lead"] = by_channel["cost"] / by_channel["lifetime_leads"].where(
        by_channel["lifetime_leads"] > 0)
    quality = pooled["lifetime_quality"].reindex(by_channel.index)
    by_channel["cost_per_quality_lead"] = by_channel["cost"] / quality.where(quality > 0)

    by_source = ledger(frame, "source", **common)
    order = ["quality_share", "leads"]
    return {name: t.sort_values(order, ascending=False, kind="stable").reset_index()
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


def sales_view(followed: pd.DataFrame, handed: pd.DataFrame, *, sla_hours_by_grade: dict[str, float],
               grade_order: list[str], speed_bucket_hours: list[int], quality_grades: list[str],
               interval: str = "wilson", confidence: float = 0.95) -> dict[str, pd.DataFrame]:
    """Tables ``by_grade``, ``by_owner`` and ``by_speed``.

    ``handed`` (:func:`first_hand_offs`) gives each owner's and each hand-off grade's ledger; ``followed``
    (:func:`follow_up` over :func:`escalations`) the follow-up: only escalations whose SLA window has elapsed (or
    that were touched) count towards SLA shares; conversion by speed uses matured escalations, "never" meaning no
    touch until the data end. In ``by_grade`` the ledger columns count leads by the grade they were handed over
    in, the follow-up columns (prefixed ``reached_``, ``touched_share``, latency, SLA) by the best grade reached.
    """
    sla = followed["grade"].map(sla_hours_by_grade).astype(float)
    judged, within = _within(followed, sla)
    f = followed.assign(touched=followed["latency_hours"].notna(), judged=judged, within=within,
                        won=followed["converted"].astype(float), matured=followed["converted"].notna())

    def summary(g: pd.DataFrame) -> pd.Series:
        n_judged = int(g["judged"].sum())
        return pd.Series({
            "reached_leads": len(g), "touched_share": g["touched"].mean(),
            "median_latency_hours": g["latency_hours"].median(),
            "p90_latency_hours": g["latency_hours"].quantile(0.9),
            "sla_judged": n_judged,
            "within_sla_share": g["within"].sum() / n_judged if n_judged else np.nan,
        })

    common = {"quality_grades": quality_grades, "interval": interval, "confidence": confidence}
    follow = f.groupby("grade", sort=False).apply(summary, include_groups=False)
    by_grade = ledger(handed, "grade", **common).join(follow, how="outer")
    by_grade = by_grade.reindex([g for g in grade_order if g in by_grade.index])
    by_grade = by_grade.fillna({"leads": 0, "reached_leads": 0}).astype({"leads": "int64", "reached_leads": "int64"})
    by_grade = by_grade.rename_axis("grade").reset_index()
    by_grade["sla_hours"] = by_grade["grade"].map(sla_hours_by_grade)

    first = grade_order[0]
    owners = ledger(handed, "owner_id", **common)
    follow_owner = f.groupby("owner_id", sort=True).apply(summary, include_groups=False)
    top = f[f["grade"] == first].groupby("owner_id").apply(summary, include_groups=False)
    owners["median_latency_hours"] = follow_owner["median_latency_hours"].reindex(owners.index)
    owners[f"{first}_leads"] = top["reached_leads"].reindex(owners.index).fillna(0).astype(int)
    owners[f"{first}_median_latency_hours"] = top["median_latency_hours"].reindex(owners.index)
    owners[f"{first}_within_sla_share"] = top["within_sla_share"].reindex(owners.index)
    by_owner = owners.sort_values(["realized_vs_expected", "leads"], ascending=[True, False],
                                  kind="stable").rename_axis("owner_id").reset_index()

    labels = speed_labels(speed_bucket_hours)
    edges = [-np.inf, *speed_bucket_hours, np.inf]
    matured = f[f["matured"]]
    latency = matured["latency_hours"].fillna(np.inf)
    bucket = pd.cut(latency, edges, labels=labels, right=True)
    by_speed = (matured.assign(speed=bucket).groupby("speed", observed=False)["won"]
                .agg(leads="size", conversions="sum").reset_index())
    by_speed["conversion_rate"] = by_speed["conversions"] / by_speed["leads"].where(by_speed["leads"] > 0)
    by_speed["conversions"] = by_speed["conversions"].astype("int64")
    bounds = [binomial_interval(int(k), int(n), method=interval, confidence=confidence) if n else (np.nan, np.nan)
              for k, n in zip(by_speed["conversions"], by_speed["leads"], strict=True)]
    by_speed["conversion_low"] = [b[0] for b in bounds]
    by_speed["conversion_high"] = [b[1] for b in bounds]
    return {"by_grade": by_grade, "by_owner": by_owner, "by_speed": by_speed}
