"""Campaign engagement as of each snapshot: what the lead did, how much, how recently, how it is trending.

Columns (``eng__``): events per type over each window; all events per window; days since the last event
of each type and of any type; time-decayed engagement per half-life; high-intent signals (pricing-page
visits, demo or contact-sales form fills) per window and days since the last one; the trend (recent days
against the days before); distinct campaigns and channels touched so far.
A window of ``w`` days is ``[as_of_ts - w, as_of_ts)``: only events strictly before the cutoff count.

How it is computed, and why it is fast: snapshot rows of one lead are made contiguous by one cheap sort
of the spine; then a compiled kernel (numba) makes a single pass over the events, visiting for each the
rows of its lead and updating every feature of the rows whose cutoff it precedes. The work is the number
of (event, row) pairs — for nightly scoring, one per event — with no sort of the events and no per-lead
Python loop. Leads are processed in blocks of about ``chunk_pairs`` pairs on ``threads`` threads, so
memory follows the block, not the table.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pandas as pd

from features.params import EngagementParams
from features.point_in_time import encode_entities
from features.specs import COUNT, DAYS, NUMBER, RATIO, FeatureSpec, event_words, window_words
from features.timeutil import SECONDS_PER_DAY, to_seconds


def _hl(h: float) -> str:
    return f"{h:g}".replace(".", "_")


def _windows(params: EngagementParams) -> list[int]:
    """Every window the builder must count, the published ones and those the trend needs."""
    trend = params.trend
    needed = {*params.windows_days, *params.high_intent.windows_days, trend.recent_days,
              trend.recent_days + trend.baseline_days}
    return sorted(needed)


def _decay_window(h: float, windows: list[int]) -> int:
    """The published window a half-life's engagement is told with: the shortest at least as long."""
    longer = [w for w in sorted(windows) if w >= h]
    return longer[0] if longer else max(windows)


def engagement_specs(params: EngagementParams) -> list[FeatureSpec]:
    s = "engagement"
    specs = []
    for t in params.event_types:
        counted, _, one, none = event_words(t)
        specs += [FeatureSpec(f"eng__{t}_{w}d", s, COUNT, f"{counted} {window_words(w)}",
                              zero=f"{none} {window_words(w)}", one=f"{one} {window_words(w)}" if one else "")
                  for w in params.windows_days]
    specs += [FeatureSpec(f"eng__events_{w}d", s, COUNT, f"engaged {{value}} times {window_words(w)}",
                          zero=f"has not engaged {window_words(w)}")
              for w in params.windows_days]
    for t in params.event_types:
        _, once, _, _ = event_words(t)
        specs.append(FeatureSpec(f"eng__days_since_last_{t}", s, DAYS, f"last {once} {{value}} days ago",
                                 missing=f"never {once}"))
    specs.append(FeatureSpec("eng__days_since_last_event", s, DAYS, "last engaged {value} days ago",
                             missing="has never engaged"))
    # Time-decayed engagement (each event weighs exp(-ln 2 · age / h)): recent events, the latest counting
    # most. Told with what it is made of: the events of the matching window and the most recent one.
    specs += [FeatureSpec(f"eng__decayed_events_hl{_hl(h)}d", s, NUMBER,
                          f"engaged {{value}} times {window_words(w)}, the most recent counting most",
                          missing="has never engaged",
                          context=(f"eng__events_{w}d", "eng__days_since_last_event"))
              for h in params.half_lives_days for w in [_decay_window(h, params.windows_days)]]
    specs += [FeatureSpec(f"eng__high_intent_{w}d", s, COUNT,
                          f"showed {{value}} buying signals (pricing page, demo or contact request) {window_words(w)}",
                          one=f"showed one buying signal (pricing page, demo or contact request) {window_words(w)}",
                          zero=f"no buying signal (pricing page, demo or contact request) {window_words(w)}")
              for w in params.high_intent.windows_days]
    specs.append(FeatureSpec("eng__days_since_last_high_intent", s, DAYS, "last buying signal {value} days ago",
                             missing="no buying signal yet"))
    r, b = params.trend.recent_days, params.trend.baseline_days
    specs.append(FeatureSpec(f"eng__trend_{r}d_vs_{b}d", s, RATIO,
                             f"engaging {{value}}x as much in the last {r} days as in the {b} days before"))
    specs += [
        FeatureSpec("eng__campaigns_touched", s, COUNT, "engaged with {value} different campaigns",
                    one="engaged with one campaign", zero="has not engaged with any campaign"),
        FeatureSpec("eng__channels_touched", s, COUNT, "engaged through {value} different channels",
                    one="engaged through one channel", zero="has not engaged through any channel"),
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


@numba.njit(cache=True, nogil=True, fastmath=True)
def _aggregate(ev_code, ev_seconds, ev_type, ev_detail, ev_campaign_key,         # per event
               stream_of, high_of, campaign_lo, campaign_of, channel_of,           # lookup tables
               lead_lo, lead_hi, lead_start, lead_count, row_cutoff,               # this block's leads and rows
               w_seconds, hi_w_seconds, half_life_seconds, n_streams, n_campaigns, n_channels):
    """One pass over (event, row) pairs of the same lead where the event came first.

    Each event of a lead in ``[lead_lo, lead_hi)`` visits the snapshot rows of its lead (contiguous after
    the rows were grouped by lead), so the work is the number of pairs: for nightly scoring, one per event.
    Events of other leads are skipped, which lets blocks share the event arrays without sorting them.
    """
    n_rows = row_cutoff.shape[0]
    n_w, n_hi, n_h = w_seconds.shape[0], hi_w_seconds.shape[0], half_life_seconds.shape[0]
    never = np.iinfo(np.int64).max
    # feature-major layouts: each output column is one contiguous row of these arrays
    within = np.zeros((n_streams, n_w, n_rows), dtype=np.int32)
    youngest = np.full((n_streams, n_rows), never, dtype=np.int64)
    decayed = np.zeros((n_h, n_rows), dtype=np.float64)
    high = np.zeros((n_hi, n_rows), dtype=np.int32)
    high_youngest = np.full(n_rows, never, dtype=np.int64)
    campaign_bits = np.zeros((n_rows, (n_campaigns + 63) // 64), dtype=np.uint64)  # a bitset per row
    channel_bits = np.zeros((n_rows, (n_channels + 63) // 64), dtype=np.uint64)
    rates = np.log(2.0) / half_life_seconds
    for e in range(ev_code.shape[0]):
        code = ev_code[e] - lead_lo
        if code < 0 or ev_code[e] >= lead_hi:
            continue
        s = stream_of[ev_type[e], ev_detail[e]]
        is_high = high_of[ev_type[e], ev_detail[e]]
        k = ev_campaign_key[e] - campaign_lo
        campaign = campaign_of[k] if 0 <= k < campaign_of.shape[0] else -1
        channel = channel_of[campaign] if campaign >= 0 else -1
        for r in range(lead_start[code], lead_start[code] + lead_count[code]):
            age = row_cutoff[r] - ev_seconds[e]
            if age <= 0:
                continue
            for j in range(n_w):
                if age <= w_seconds[j]:
                    within[s, j, r] += 1
            if age < youngest[s, r]:
                youngest[s, r] = age
            for h in range(n_h):
                decayed[h, r] += np.exp(-rates[h] * age)
            if is_high:
                for j in range(n_hi):
                    if age <= hi_w_seconds[j]:
                        high[j, r] += 1
                if age < high_youngest[r]:
                    high_youngest[r] = age
            if campaign >= 0:
                campaign_bits[r, campaign >> 6] |= np.uint64(1) << np.uint64(campaign & 63)
            if channel >= 0:
                channel_bits[r, channel >> 6] |= np.uint64(1) << np.uint64(channel & 63)
    return within, youngest, decayed, high, high_youngest, campaign_bits, channel_bits


def _engagement_arrays(rows: _Rows, lead_lo: int, lead_hi: int, events: dict[str, np.ndarray],
                       n_campaigns: int, n_channels: int, params: EngagementParams) -> dict[str, np.ndarray]:
    """The features of one block of leads, in rows' lead-sorted order."""
    n_streams = len(params.event_types) + 1  # the listed types, then everything else
    windows = _windows(params)
    col = {w: j for j, w in enumerate(windows)}
    within, youngest, decayed, high, high_youngest, campaigns, channels = _aggregate(
        events["codes"], events["seconds"], events["type"], events["detail"], events["campaign_key"],
        events["stream_of"], events["high_of"], events["campaign_lo"], events["campaign_of"], events["channel_of"],
        lead_lo, lead_hi, rows.start, rows.count, rows.cutoff,
        np.array(windows, dtype=np.int64) * SECONDS_PER_DAY,
        np.array(params.high_intent.windows_days, dtype=np.int64) * SECONDS_PER_DAY,
        np.array(params.half_lives_days, dtype=np.float64) * SECONDS_PER_DAY,
        n_streams, n_campaigns, n_channels)
    total = within.sum(axis=0)  # [window, row]

    def days(seconds_ago: np.ndarray) -> np.ndarray:
        return np.where(seconds_ago == np.iinfo(np.int64).max, np.nan, seconds_ago / SECONDS_PER_DAY)

    out: dict[str, np.ndarray] = {}
    for k, t in enumerate(params.event_types):
        for w in params.windows_days:
            out[f"eng__{t}_{w}d"] = within[k, col[w]]
    for w in params.windows_days:
        out[f"eng__events_{w}d"] = total[col[w]].astype(np.int32)
    for k, t in enumerate(params.event_types):
        out[f"eng__days_since_last_{t}"] = days(youngest[k])
    out["eng__days_since_last_event"] = days(youngest.min(axis=0))
    for j, h in enumerate(params.half_lives_days):
        out[f"eng__decayed_events_hl{_hl(h)}d"] = decayed[j]
    for j, w in enumerate(params.high_intent.windows_days):
        out[f"eng__high_intent_{w}d"] = high[j]
    out["eng__days_since_last_high_intent"] = days(high_youngest)
    r, b = params.trend.recent_days, params.trend.baseline_days
    recent = total[col[r]]
    before = total[col[r + b]] - recent
    out[f"eng__trend_{r}d_vs_{b}d"] = (recent + 0.5) / (before * (r / b) + 0.5)
    out["eng__campaigns_touched"] = np.bitwise_count(campaigns).sum(axis=1, dtype=np.int32)
    out["eng__channels_touched"] = np.bitwise_count(channels).sum(axis=1, dtype=np.int32)
    return out


def build_engagement_features(events: pd.DataFrame | None, spine: pd.DataFrame, params: EngagementParams,
                              campaigns: pd.DataFrame | None = None) -> pd.DataFrame:
    """Engagement features for every spine row, aligned on the spine's index (no columns if no events)."""
    if events is None:
        return pd.DataFrame(index=spine.index)
    leads = pd.Index(pd.unique(spine["lead_id"]))
    row_codes = encode_entities(leads, spine["lead_id"])
    cutoff = to_seconds(spine["as_of_ts"])
    ev_codes = encode_entities(leads, events["lead_id"])
    mine = np.flatnonzero(ev_codes >= 0)
    if len(mine) < len(events):
        events, ev_codes = events.iloc[mine], ev_codes[mine]
    columns = {"codes": ev_codes, "seconds": to_seconds(events["event_ts"]),
               **_stream_tables(events, params), **_campaign_tables(events, campaigns)}
    out = _build_in_chunks(row_codes, cutoff, columns, len(leads), params)
    return pd.DataFrame(out, index=spine.index, columns=engagement_columns(params))


def _build_in_chunks(row_codes: np.ndarray, cutoff: np.ndarray, events: dict[str, np.ndarray], n_leads: int,
                     params: EngagementParams) -> dict[str, np.ndarray]:
    """Split leads into contiguous blocks of about ``chunk_pairs`` (event, row) pairs and build each block.

    Blocks run side by side on ``threads`` threads (the kernel releases the GIL), share the event arrays
    (each skips other blocks' leads, so events are never sorted or copied) and bound peak memory.
    """
    ev_count = np.bincount(events["codes"], minlength=n_leads)
    row_count = np.bincount(row_codes, minlength=n_leads)
    work = np.cumsum(ev_count * row_count + row_count)
    total = int(work[-1]) if n_leads else 0
    per_round = params.threads * params.chunk_pairs  # whole rounds keep every thread busy
    n_blocks = max(1, min(n_leads, params.threads * max(1, -(-total // per_round))))
    # lead-code boundaries of equal work
    bounds = np.searchsorted(work, np.arange(1, n_blocks) * (total / n_blocks), side="left") + 1
    bounds = np.unique(np.concatenate([[0], bounds, [n_leads]]))
    row_order = np.argsort(row_codes, kind="stable")
    row_bounds = np.searchsorted(row_codes[row_order], bounds, side="left")
    n_campaigns = int(events["campaign_of"].max(initial=-1)) + 1
    n_channels = int(events["channel_of"].max(initial=-1)) + 1

    def build(b: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        r = row_order[row_bounds[b]:row_bounds[b + 1]]
        rows = _Rows(row_codes[r] - lo, cutoff[r], hi - lo)
        return r[rows.order], _engagement_arrays(rows, lo, hi, events, n_campaigns, n_channels, params)

    out: dict[str, np.ndarray] = {}
    # Results are written to fixed positions, so the order blocks finish in does not matter.
    n_built = len(bounds) - 1
    with contextlib.ExitStack() as stack:  # one block (a lead scored on demand): built here, no thread started
        pool = (stack.enter_context(ThreadPoolExecutor(max_workers=min(params.threads, n_built)))
                if n_built > 1 else None)
        for positions, arrays in (pool.map if pool else map)(build, range(n_built)):
            if len(positions) and positions[-1] - positions[0] == len(positions) - 1 and \
                    (np.diff(positions) == 1).all():
                positions = slice(positions[0], positions[-1] + 1)  # the spine was already in lead order
            for name, values in arrays.items():
                if name not in out:
                    out[name] = np.empty(len(row_codes), dtype=values.dtype)
                out[name][positions] = values
    if not out:  # no leads at all: the kernel still defines the columns and their dtypes
        rows = _Rows(np.zeros(0, dtype=np.int64), cutoff[:0], 0)
        out = _engagement_arrays(rows, 0, 0, events, n_campaigns, n_channels, params)
    return out


def _stream_tables(events: pd.DataFrame, params: EngagementParams) -> dict[str, np.ndarray]:
    """Per event its type and form-detail codes, and the tables the kernel reads the stream (position in
    ``event_types``, or one past it for the rest) and the high-intent flag from."""
    type_code, types = _codes_with_names(events["event_type"])
    listed = {t: k for k, t in enumerate(params.event_types)}
    high = params.high_intent
    if "detail" in events.columns:
        detail_code, details = _codes_with_names(events["detail"])
    else:
        detail_code, details = np.zeros(len(events), dtype=np.int64), [None]
    stream_of = np.array([[listed.get(t, len(listed)) for _ in details] for t in types], dtype=np.int64)
    high_of = np.array([[t in high.event_types or (t == high.form_event_type and d in high.form_details)
                         for d in details] for t in types], dtype=np.bool_)
    return {"type": type_code, "detail": detail_code, "stream_of": stream_of.reshape(len(types), len(details)),
            "high_of": high_of.reshape(len(types), len(details))}


def _codes_with_names(values: pd.Series) -> tuple[np.ndarray, list]:
    """Dense codes (missing values get a code of their own) and the value behind each code."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        names = list(values.cat.categories)
        if (codes < 0).any():
            codes = np.where(codes < 0, len(names), codes)
        return codes.astype(np.int64, copy=False), [*names, None]
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), [None if pd.isna(u) else u for u in uniques]


def _campaign_tables(events: pd.DataFrame, campaigns: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Per event a campaign key, and the tables the kernel turns keys into campaign and channel codes.

    Integer campaign ids that all belong to the campaigns table are looked up inside the kernel (no pass
    over the events here). Otherwise codes are computed here: a campaign the table lacks still counts as
    a campaign, of unknown channel. Codes are -1 where unknown.
    """
    none = np.full(len(events), -1, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if "campaign_id" not in events.columns:
        return {"campaign_key": none, "campaign_lo": 0, "campaign_of": empty, "channel_of": empty}
    ids = events["campaign_id"]
    if campaigns is None or "channel" not in campaigns.columns:
        codes = pd.factorize(ids, use_na_sentinel=True)[0].astype(np.int64)
        n = int(codes.max(initial=-1)) + 1
        return {"campaign_key": codes, "campaign_lo": 0, "campaign_of": np.arange(n, dtype=np.int64),
                "channel_of": np.full(n, -1, dtype=np.int64)}
    campaign_ids = pd.Index(campaigns["campaign_id"])
    n_known = len(campaign_ids)
    channel_codes = pd.factorize(campaigns["channel"], use_na_sentinel=True)[0].astype(np.int64)
    integer = pd.api.types.is_integer_dtype(ids.dtype) and pd.api.types.is_integer_dtype(campaign_ids.dtype)
    if integer and n_known:
        keys = campaign_ids.to_numpy(dtype=np.int64)
        lo, hi = int(keys.min()), int(keys.max())
        if hi - lo < 4 * n_known + 1024:
            table = np.full(hi - lo + 1, -1, dtype=np.int64)
            table[keys - lo] = np.arange(n_known)
            raw = ids.to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min)
            present = raw[raw != np.iinfo(np.int64).min]
            dense = (table >= 0).all()
            if len(present) == 0 or (dense and present.min() >= lo and present.max() <= hi):
                return {"campaign_key": raw, "campaign_lo": lo, "campaign_of": table, "channel_of": channel_codes}
    codes = campaign_ids.get_indexer(ids).astype(np.int64)
    unknown = (codes < 0) & ids.notna().to_numpy()
    if unknown.any():
        codes[unknown] = n_known + pd.factorize(ids[unknown])[0]
    n = int(codes.max(initial=-1)) + 1
    channel_of = np.concatenate([channel_codes, np.full(max(n - n_known, 0), -1, dtype=np.int64)])
    return {"campaign_key": codes, "campaign_lo": 0, "campaign_of": np.arange(n, dtype=np.int64),
            "channel_of": channel_of}
