"""Campaign engagement as of each snapshot: what the lead did, how much, how recently, how it is trending.

Columns (``eng__``): events per type over each window; all events per window; days since the last event
of each type and of any type; time-decayed engagement per half-life; high-intent signals (pricing-page
visits, demo or contact-sales form fills) per window and days since the last one; the trend (recent days
against the days before); distinct campaigns and channels touched so far.
A window of ``w`` days is ``[as_of_ts - w, as_of_ts)``: only events strictly before the cutoff count.

How it is computed, and why it is fast: every event is paired with the spine rows of its lead (snapshot
rows of one lead are contiguous after one cheap sort of the spine), its age at each cutoff is a
subtraction, and all windows fall out of a single ``bincount`` over (row, event stream, age bucket)
followed by a cumulative sum over buckets. No per-lead Python loop and no sort of the events. For
nightly scoring (one row per lead) the pairing is the identity, so cost is linear in events; leads are
processed in chunks (``chunk_leads``) so memory follows the chunk, not the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalog import COUNT, DAYS, NUMBER, RATIO, FeatureSpec, event_phrase, window_words
from features.params import EngagementParams
from features.timeutil import SECONDS_PER_DAY, to_seconds


def _hl(h: float) -> str:
    return f"{h:g}".replace(".", "_")


def _windows(params: EngagementParams) -> list[int]:
    """Every window the builder must count, the published ones and those the trend needs."""
    trend = params.trend
    needed = {*params.windows_days, *params.high_intent.windows_days, trend.recent_days,
              trend.recent_days + trend.baseline_days}
    return sorted(needed)


def engagement_specs(params: EngagementParams) -> list[FeatureSpec]:
    s = "engagement"
    specs = []
    for t in params.event_types:
        counted, _ = event_phrase(t)
        specs += [FeatureSpec(f"eng__{t}_{w}d", s, COUNT, f"{counted} {window_words(w)}")
                  for w in params.windows_days]
    specs += [FeatureSpec(f"eng__events_{w}d", s, COUNT, f"engaged {{value}} times {window_words(w)}")
              for w in params.windows_days]
    for t in params.event_types:
        _, once = event_phrase(t)
        specs.append(FeatureSpec(f"eng__days_since_last_{t}", s, DAYS, f"last {once} {{value}} days ago",
                                 missing=f"never {once}"))
    specs.append(FeatureSpec("eng__days_since_last_event", s, DAYS, "last engaged {value} days ago",
                             missing="has never engaged"))
    specs += [FeatureSpec(f"eng__decayed_events_hl{_hl(h)}d", s, NUMBER,
                          f"recent engagement of {{value}} events, weighted by a {h:g}-day half-life")
              for h in params.half_lives_days]
    specs += [FeatureSpec(f"eng__high_intent_{w}d", s, COUNT,
                          f"showed {{value}} buying signals (pricing page, demo or contact request) {window_words(w)}")
              for w in params.high_intent.windows_days]
    specs.append(FeatureSpec("eng__days_since_last_high_intent", s, DAYS, "last buying signal {value} days ago",
                             missing="no buying signal yet"))
    r, b = params.trend.recent_days, params.trend.baseline_days
    specs.append(FeatureSpec(f"eng__trend_{r}d_vs_{b}d", s, RATIO,
                             f"engaging {{value}}x as much in the last {r} days as in the {b} days before"))
    specs += [
        FeatureSpec("eng__campaigns_touched", s, COUNT, "engaged with {value} different campaigns"),
        FeatureSpec("eng__channels_touched", s, COUNT, "engaged through {value} different channels"),
    ]
    return specs


def engagement_columns(params: EngagementParams) -> list[str]:
    return [s.name for s in engagement_specs(params)]


class _Rows:
    """Spine rows grouped by lead: rows of lead code ``c`` are ``start[c] : start[c] + count[c]``."""

    def __init__(self, codes: np.ndarray, cutoff: np.ndarray, n_leads: int):
        self.order = np.argsort(codes, kind="stable")
        self.cutoff = cutoff[self.order]
        self.count = np.bincount(codes, minlength=n_leads)
        self.start = np.cumsum(self.count) - self.count
        self.n = len(codes)
        self.one_per_lead = bool(self.count.max(initial=0) <= 1)

    def pair(self, codes: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, item, age in seconds) for every item/row pair of the same lead where the item came first."""
        if self.one_per_lead:
            keep = np.flatnonzero(self.count[codes] > 0)
            item = keep
            row = self.start[codes[keep]]
        else:
            reps = self.count[codes]
            item = np.repeat(np.arange(len(codes)), reps)
            first = np.repeat(self.start[codes] - (np.cumsum(reps) - reps), reps)
            row = first + np.arange(len(item))
        age = self.cutoff[row] - seconds[item]
        past = age > 0
        return row[past], item[past], age[past]


def _first_touches(codes: np.ndarray, seconds: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lead code, first time) of each distinct (lead, group) pair; group < 0 is ignored."""
    has = group >= 0
    if not has.any():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    key = codes[has].astype(np.int64) * (int(group.max()) + 1) + group[has]
    first = pd.Series(seconds[has]).groupby(key, sort=False).min()
    n_groups = int(group.max()) + 1
    return (first.index.to_numpy() // n_groups), first.to_numpy()


def _engagement_arrays(rows: _Rows, codes: np.ndarray, seconds: np.ndarray, stream: np.ndarray,
                       high_intent: np.ndarray, touches: list[tuple[np.ndarray, np.ndarray]],
                       params: EngagementParams) -> dict[str, np.ndarray]:
    """The features of one chunk, in rows' lead-sorted order."""
    n_types = len(params.event_types)
    n_streams = n_types + 1  # the listed types, then everything else
    windows = _windows(params)
    w_seconds = np.array(windows, dtype=np.int64) * SECONDS_PER_DAY
    n_w = len(windows)
    n = rows.n

    row, item, age = rows.pair(codes, seconds)
    ev_stream = stream[item]
    bucket = np.searchsorted(w_seconds, age, side="left")  # age <= windows[j]  ⟺  bucket <= j
    cells = np.bincount((row * n_streams + ev_stream) * (n_w + 1) + bucket, minlength=n * n_streams * (n_w + 1))
    within = cells.reshape(n, n_streams, n_w + 1).cumsum(axis=2)[:, :, :n_w]  # [row, stream, window]
    total = within.sum(axis=1)
    col = {w: j for j, w in enumerate(windows)}

    out: dict[str, np.ndarray] = {}
    for k, t in enumerate(params.event_types):
        for w in params.windows_days:
            out[f"eng__{t}_{w}d"] = within[:, k, col[w]].astype(np.int32)
    for w in params.windows_days:
        out[f"eng__events_{w}d"] = total[:, col[w]].astype(np.int32)

    youngest = np.full(n * n_streams, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(youngest, row * n_streams + ev_stream, age)
    youngest = youngest.reshape(n, n_streams)

    def days(seconds_ago: np.ndarray) -> np.ndarray:
        return np.where(seconds_ago == np.iinfo(np.int64).max, np.nan, seconds_ago / SECONDS_PER_DAY)

    for k, t in enumerate(params.event_types):
        out[f"eng__days_since_last_{t}"] = days(youngest[:, k])
    out["eng__days_since_last_event"] = days(youngest.min(axis=1))

    age_days = age / SECONDS_PER_DAY
    for h in params.half_lives_days:
        out[f"eng__decayed_events_hl{_hl(h)}d"] = np.bincount(row, weights=np.exp2(-age_days / h), minlength=n)

    hi = high_intent[item]
    hi_row, hi_age = row[hi], age[hi]
    hi_windows = np.array(params.high_intent.windows_days, dtype=np.int64) * SECONDS_PER_DAY
    for w, w_s in zip(params.high_intent.windows_days, hi_windows, strict=True):
        out[f"eng__high_intent_{w}d"] = np.bincount(hi_row[hi_age <= w_s], minlength=n).astype(np.int32)
    hi_youngest = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(hi_youngest, hi_row, hi_age)
    out["eng__days_since_last_high_intent"] = days(hi_youngest)

    r, b = params.trend.recent_days, params.trend.baseline_days
    recent = total[:, col[r]]
    before = total[:, col[r + b]] - recent
    out[f"eng__trend_{r}d_vs_{b}d"] = (recent + 0.5) / (before * (r / b) + 0.5)

    for name, (t_codes, t_seconds) in zip(("eng__campaigns_touched", "eng__channels_touched"), touches, strict=True):
        t_row, _, _ = rows.pair(t_codes, t_seconds)
        out[name] = np.bincount(t_row, minlength=n).astype(np.int32)
    return out


def build_engagement_features(events: pd.DataFrame | None, spine: pd.DataFrame, params: EngagementParams,
                              campaigns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Engagement features for every spine row, aligned on the spine's index (no columns if no events)."""
    if events is None:
        return pd.DataFrame(index=spine.index)
    names = engagement_columns(params)
    leads = pd.Index(pd.unique(spine["lead_id"]))
    row_codes = leads.get_indexer(spine["lead_id"])
    cutoff = to_seconds(spine["as_of_ts"])
    ev_codes = leads.get_indexer(events["lead_id"])
    mine = np.flatnonzero(ev_codes >= 0)
    events = events.iloc[mine]
    ev_codes = ev_codes[mine]
    seconds = to_seconds(events["event_ts"])
    types = events["event_type"].astype("object").to_numpy()
    stream = pd.Categorical(types, categories=params.event_types).codes.astype(np.int64)
    stream[stream < 0] = len(params.event_types)
    high = params.high_intent
    high_intent = np.isin(types, high.event_types)
    if "detail" in events.columns:
        high_intent |= (types == high.form_event_type) & events["detail"].isin(high.form_details).to_numpy()
    campaign, channel = _campaign_codes(events, campaigns)

    parts = []
    chunk = params.chunk_leads
    for lo in range(0, max(len(leads), 1), chunk):
        hi = lo + chunk
        r_sel = np.flatnonzero((row_codes >= lo) & (row_codes < hi))
        e_sel = np.flatnonzero((ev_codes >= lo) & (ev_codes < hi)) if len(leads) > chunk else slice(None)
        c_codes = ev_codes[e_sel] - lo
        rows = _Rows(row_codes[r_sel] - lo, cutoff[r_sel], min(chunk, len(leads) - lo) if len(leads) else 0)
        touches = [_first_touches(c_codes, seconds[e_sel], campaign[e_sel]),
                   _first_touches(c_codes, seconds[e_sel], channel[e_sel])]
        arrays = _engagement_arrays(rows, c_codes, seconds[e_sel], stream[e_sel], high_intent[e_sel], touches,
                                    params)
        frame = pd.DataFrame(arrays, columns=names)
        frame.index = spine.index[r_sel[rows.order]]
        parts.append(frame)
    return pd.concat(parts).loc[spine.index] if len(parts) > 1 else parts[0].loc[spine.index]


def _campaign_codes(events: pd.DataFrame, campaigns: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of each event's campaign and of that campaign's channel (-1 when unknown)."""
    none = np.full(len(events), -1, dtype=np.int64)
    if "campaign_id" not in events.columns:
        return none, none
    campaign = pd.factorize(events["campaign_id"], use_na_sentinel=True)[0].astype(np.int64)
    if campaigns is None or "channel" not in campaigns.columns:
        return campaign, none
    channel_of = campaigns.set_index("campaign_id")["channel"]
    channel = pd.factorize(channel_of.reindex(events["campaign_id"]).to_numpy(), use_na_sentinel=True)[0]
    return campaign, channel.astype(np.int64)
