"""The engagement features in DuckDB SQL: the benchmark's second peer (``make bench``), next to pandas.

What a data scientist would write instead of a kernel: join each spine row to its lead's events before the
cutoff, then one ``GROUP BY`` with a filtered aggregate per feature. Same definitions as
``features.engagement`` (a window of ``w`` days is ``[as_of_ts - w, as_of_ts)``; event types not listed
count in the totals only; high intent is a listed type or a form fill with a listed detail; campaigns and
channels are counted distinct, a campaign missing from the campaigns table has no channel). Checked equal
to the project's builder before it is timed (``bench_features.check_same_features``) and by
``tests/benchmarks/test_duckdb_engagement.py``, so the peer cannot drift.

A benchmark dependency only (``pip install -e '.[dev]'``): leadscore itself never imports DuckDB.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from features.engagement import engagement_columns
from features.params import EngagementParams

_US_PER_DAY = 86_400 * 1_000_000


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_quote(v) for v in values) + ")" if values else "(NULL)"


def _decayed_name(h: float) -> str:
    return "eng__decayed_events_hl" + f"{h:g}".replace(".", "_") + "d"


def engagement_sql(params: EngagementParams, *, has_detail: bool, has_campaign: bool) -> str:
    """One query over tables ``spine`` (row, lead_id, as_of_ts), ``events`` and ``campaigns``."""
    age = "age_us"
    within = {w: f"{age} <= {w * _US_PER_DAY}" for w in {*params.windows_days, *params.high_intent.windows_days,
                                                         params.trend.recent_days,
                                                         params.trend.recent_days + params.trend.baseline_days}}
    hi = params.high_intent
    high = f"event_type IN {_in(hi.event_types)}"
    if has_detail and hi.form_details:
        high = f"({high} OR (event_type = {_quote(hi.form_event_type)} AND detail IN {_in(hi.form_details)}))"
    cols = []
    for t in params.event_types:
        cols += [f"count(*) FILTER (WHERE event_type = {_quote(t)} AND {within[w]}) AS \"eng__{t}_{w}d\""
                 for w in params.windows_days]
    cols += [f"count(*) FILTER (WHERE {within[w]}) AS \"eng__events_{w}d\"" for w in params.windows_days]
    cols += [f"min({age}) FILTER (WHERE event_type = {_quote(t)}) / {_US_PER_DAY}.0 AS \"eng__days_since_last_{t}\""
             for t in params.event_types]
    cols.append(f"min({age}) / {_US_PER_DAY}.0 AS eng__days_since_last_event")
    cols += [f"coalesce(sum(pow(2.0, -{age} / ({h!r} * {_US_PER_DAY}.0))), 0) AS \"{_decayed_name(h)}\""
             for h in params.half_lives_days]
    cols += [f"count(*) FILTER (WHERE {high} AND {within[w]}) AS \"eng__high_intent_{w}d\"" for w in hi.windows_days]
    cols.append(f"min({age}) FILTER (WHERE {high}) / {_US_PER_DAY}.0 AS eng__days_since_last_high_intent")
    r, b = params.trend.recent_days, params.trend.baseline_days
    cols.append(f"(count(*) FILTER (WHERE {within[r]}) + 0.5) / (count(*) FILTER (WHERE {age} > {r * _US_PER_DAY} "
                f"AND {within[r + b]}) * {r / b!r} + 0.5) AS \"eng__trend_{r}d_vs_{b}d\"")
    if has_campaign:
        cols.append("count(DISTINCT campaign_id) AS eng__campaigns_touched")
        cols.append("count(DISTINCT channel) AS eng__channels_touched")
    else:
        cols += ["0 AS eng__campaigns_touched", "0 AS eng__channels_touched"]
    detail = "e.detail" if has_detail else "NULL AS detail"
    campaign = "e.campaign_id, c.channel" if has_campaign else "NULL AS campaign_id, NULL AS channel"
    join_campaigns = "LEFT JOIN campaigns c ON c.campaign_id = e.campaign_id" if has_campaign else ""
    return f"""
        WITH pairs AS (
            SELECT s.row, e.event_type, {detail},
                   {campaign}, epoch_us(s.as_of_ts) - epoch_us(e.event_ts) AS {age}
            FROM spine s
            JOIN events e ON e.lead_id = s.lead_id AND e.event_ts < s.as_of_ts
            {join_campaigns}
        ), features AS (
            SELECT row, {", ".join(cols)}
            FROM pairs GROUP BY row
        )
        SELECT f.* EXCLUDE (row)
        FROM spine s LEFT JOIN features f ON f.row = s.row
        ORDER BY s.row
    """


def duckdb_reference(events: pd.DataFrame, spine: pd.DataFrame, params: EngagementParams,
                     campaigns: pd.DataFrame | None = None, *,
                     connection: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """The engagement features of every spine row, aligned on the spine's index (as the builder returns
    them). The pandas frames are scanned in place by DuckDB; ``connection`` reuses one (default: a new
    in-memory database)."""
    con = connection or duckdb.connect()
    has_campaign = "campaign_id" in events.columns and campaigns is not None and "channel" in campaigns.columns
    sql = engagement_sql(params, has_detail="detail" in events.columns, has_campaign=has_campaign)
    con.register("spine", pd.DataFrame({"row": np.arange(len(spine), dtype=np.int64),
                                        "lead_id": spine["lead_id"].to_numpy(),
                                        "as_of_ts": spine["as_of_ts"].reset_index(drop=True)}))
    con.register("events", events)
    if has_campaign:
        con.register("campaigns", campaigns[["campaign_id", "channel"]])
    try:
        out = con.execute(sql).df()
    finally:
        for name in ("spine", "events", "campaigns"):
            con.unregister(name)
    out.index = spine.index
    # a spine row without events before its cutoff has no group: its counts are 0, its trend (0 + ½) / (0 + ½)
    r, b = params.trend.recent_days, params.trend.baseline_days
    filled = {c: 0 for c in out.columns if not c.startswith("eng__days_since_last")} | {f"eng__trend_{r}d_vs_{b}d": 1.0}
    return out.fillna(filled)[engagement_columns(params)]
