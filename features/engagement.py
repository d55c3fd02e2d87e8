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

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from features.catalog import COUNT, DAYS, NUMBER, RATIO, FeatureSpec, event_phrase, window_words
from features.params import EngagementParams
from features.point_in_time import encode_entities
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

    def pair(self, codes: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(row, item, age in seconds) for every item/row pair of the same lead where the item came first.

        ``item`` is None when it is the identity (one row per lead, every item paired and in the past),
        which spares a gather of every event column on the nightly path.
        """
        item: np.ndarray | None
        if self.one_per_lead:
            present = self.count[codes] > 0
            if present.all():
                item, row = None, self.start[codes]
            else:
                item = np.flatnonzero(present)
                row = self.start[codes[item]]
        else:
            reps = self.count[codes]
            item = np.repeat(np.arange(len(codes)), reps)
            first = np.repeat(self.start[codes] - (np.cumsum(reps) - reps), reps)
            row = first + np.arange(len(item))
        age = self.cutoff[row] - (seconds if item is None else seconds[item])
        past = age > 0
        if past.all():
            return row, item, age
        kept = np.flatnonzero(past)
        return row[kept], (kept if item is None else item[kept]), age[kept]


def _distinct_per_row(row: np.ndarray, group: np.ndarray, n_rows: int) -> np.ndarray:
    """Distinct non-negative ``group`` values per row (a bitmap when it fits, else a sort)."""
    n_groups = int(group.max(initial=-1)) + 1
    if n_groups == 0:
        return np.zeros(n_rows, dtype=np.int32)
    if n_rows * n_groups <= 64_000_000:
        seen = np.zeros(n_rows * n_groups + 1, dtype=bool)
        seen[np.where(group >= 0, row * n_groups + group, n_rows * n_groups)] = True
        return seen[:-1].reshape(n_rows, n_groups).sum(axis=1, dtype=np.int32)
    has = group >= 0
    key = row[has] * n_groups + group[has]
    return np.bincount(np.unique(key) // n_groups, minlength=n_rows).astype(np.int32)


def _engagement_arrays(rows: _Rows, codes: np.ndarray, seconds: np.ndarray, stream: np.ndarray,
                       high_intent: np.ndarray, campaign: np.ndarray, channel: np.ndarray,
                       params: EngagementParams) -> dict[str, np.ndarray]:
    """The features of one chunk, in rows' lead-sorted order."""
    n_types = len(params.event_types)
    n_streams = n_types + 1  # the listed types, then everything else
    windows = _windows(params)
    w_seconds = np.array(windows, dtype=np.int64) * SECONDS_PER_DAY
    n_w = len(windows)
    n = rows.n

    row, item, age = rows.pair(codes, seconds)

    def take(values: np.ndarray) -> np.ndarray:
        return values if item is None else values[item]

    ev_stream = take(stream)
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

    for h in params.half_lives_days:
        weights = np.exp2(age * (-1.0 / (h * SECONDS_PER_DAY)))
        out[f"eng__decayed_events_hl{_hl(h)}d"] = np.bincount(row, weights=weights, minlength=n).astype(np.float64)

    hi = take(high_intent)
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

    out["eng__campaigns_touched"] = _distinct_per_row(row, take(campaign), n)
    out["eng__channels_touched"] = _distinct_per_row(row, take(channel), n)
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
    seconds = to_seconds(events["event_ts"])
    stream, high_intent = _stream_codes(events, params)
    campaign_raw, campaign_code = _campaign_codes(events, campaigns)
    columns = {"codes": ev_codes, "seconds": seconds, "stream": stream, "high_intent": high_intent,
               "campaign": campaign_raw}
    out = _build_in_chunks(row_codes, cutoff, columns, len(leads), params, campaign_code)
    return pd.DataFrame(out, index=spine.index, columns=engagement_columns(params))


def _build_in_chunks(row_codes: np.ndarray, cutoff: np.ndarray, columns: dict[str, np.ndarray], n_leads: int,
                     params: EngagementParams, campaign_code) -> dict[str, np.ndarray]:
    """Split leads into contiguous blocks of about ``chunk_pairs`` (event, row) pairs and build each block.

    Blocks keep every temporary array small (cache-sized, reused by the allocator instead of fresh pages)
    and make peak memory a function of the block, not of the table.
    """
    ev_codes = columns["codes"]
    ev_count = np.bincount(ev_codes, minlength=n_leads)
    row_count = np.bincount(row_codes, minlength=n_leads)
    work = np.cumsum(ev_count * row_count + row_count)
    chunk_of_lead = (np.maximum(work, 1) - 1) // params.chunk_pairs
    n_chunks = int(chunk_of_lead[-1]) + 1 if n_leads else 1
    key_dtype = np.uint16 if n_chunks < 2**16 else np.int64  # 16-bit keys sort by radix, in linear time

    def grouped(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chunk = chunk_of_lead[codes] if n_leads else np.zeros(len(codes), dtype=np.int64)
        order = np.argsort(chunk.astype(key_dtype), kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(chunk, minlength=n_chunks))])
        return order, bounds

    ev_order, ev_bounds = grouped(ev_codes)
    ev_sorted = {k: v[ev_order] for k, v in columns.items()} if n_chunks > 1 else columns
    row_order, row_bounds = grouped(row_codes)
    first_lead = np.searchsorted(chunk_of_lead, np.arange(n_chunks), side="left")

    def build(c: int) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        r = row_order[row_bounds[c]:row_bounds[c + 1]]
        if len(r) == 0 and n_leads:
            return None
        e = slice(ev_bounds[c], ev_bounds[c + 1])
        lo = first_lead[c] if n_leads else 0
        hi = first_lead[c + 1] if c + 1 < n_chunks else n_leads
        rows = _Rows(row_codes[r] - lo, cutoff[r], hi - lo)
        part = {k: v[e] for k, v in ev_sorted.items()}
        campaign, channel = campaign_code(part["campaign"])
        arrays = _engagement_arrays(rows, part["codes"] - lo, part["seconds"], part["stream"], part["high_intent"],
                                    campaign, channel, params)
        return r[rows.order], arrays

    out: dict[str, np.ndarray] = {}
    # numpy releases the GIL in its array loops, so blocks run side by side on the machine's cores;
    # results are written to fixed positions, so the order blocks finish in does not matter.
    with ThreadPoolExecutor(max_workers=min(params.threads, n_chunks)) as pool:
        for result in pool.map(build, range(n_chunks)):
            if result is None:
                continue
            positions, arrays = result
            for name, values in arrays.items():
                if name not in out:
                    out[name] = np.empty(len(row_codes), dtype=values.dtype)
                out[name][positions] = values
    return out


def _stream_codes(events: pd.DataFrame, params: EngagementParams) -> tuple[np.ndarray, np.ndarray]:
    """Per event: its stream (position in ``event_types``, or one past it for the rest), and high intent.

    Both come from one lookup table over (event type, form detail), so each event costs one gather.
    """
    type_code, types = _codes_with_names(events["event_type"])
    listed = {t: k for k, t in enumerate(params.event_types)}
    high = params.high_intent
    if "detail" in events.columns:
        detail_code, details = _codes_with_names(events["detail"])
    else:
        detail_code, details = np.zeros(len(events), dtype=np.int64), [None]
    stream_table = np.array([[listed.get(t, len(listed)) for _ in details] for t in types], dtype=np.int64)
    high_table = np.array([[t in high.event_types or (t == high.form_event_type and d in high.form_details)
                            for d in details] for t in types], dtype=bool)
    cell = type_code * len(details) + detail_code
    return stream_table.ravel()[cell], high_table.ravel()[cell]


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


def _campaign_codes(events: pd.DataFrame, campaigns: pd.DataFrame | None):
    """Per event a raw campaign key, and a function turning a block of keys into (campaign, channel) codes.

    Codes are -1 where unknown. A campaign the campaigns table lacks still counts as a campaign (of
    unknown channel). Integer ids keep the lookup inside each block, so it runs on the block threads.
    """
    n = len(events)
    none = np.full(n, -1, dtype=np.int64)
    if "campaign_id" not in events.columns:
        return none, lambda raw: (raw, raw)
    ids = events["campaign_id"]
    if campaigns is None or "channel" not in campaigns.columns:
        codes = pd.factorize(ids, use_na_sentinel=True)[0].astype(np.int64)
        return codes, lambda raw: (raw, np.full(len(raw), -1, dtype=np.int64))
    campaign_ids = pd.Index(campaigns["campaign_id"])
    channel_codes = np.append(pd.factorize(campaigns["channel"], use_na_sentinel=True)[0].astype(np.int64), -1)
    n_known = len(campaign_ids)
    integer = pd.api.types.is_integer_dtype(ids.dtype) and pd.api.types.is_integer_dtype(campaign_ids.dtype)
    if integer and n_known:
        keys = campaign_ids.to_numpy(dtype=np.int64)
        lo, hi = int(keys.min()), int(keys.max())
        if hi - lo < 4 * n_known + 1024:
            table = np.full(hi - lo + 1, -1, dtype=np.int64)
            table[keys - lo] = np.arange(n_known)
            missing = np.iinfo(np.int64).min
            raw = ids.to_numpy(dtype=np.int64, na_value=missing)

            def code(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                offset = block - lo
                inside = (offset >= 0) & (offset <= hi - lo)
                campaign = np.where(inside, table[np.where(inside, offset, 0)], -1)
                # ids the table lacks: a code of their own, past the known ones
                unknown = (campaign < 0) & (block != missing)
                if unknown.any():
                    campaign[unknown] = n_known + np.unique(block[unknown], return_inverse=True)[1]
                return campaign, channel_codes[np.where(campaign < n_known, campaign, -1)]

            return raw, code
    campaign = campaign_ids.get_indexer(ids)
    unknown = (campaign < 0) & ids.notna().to_numpy()
    if unknown.any():
        campaign[unknown] = n_known + pd.factorize(ids[unknown])[0]
    return campaign, lambda raw: (raw, channel_codes[np.where(raw < n_known, raw, -1)])
