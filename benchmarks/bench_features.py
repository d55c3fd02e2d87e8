"""Engagement feature build: throughput and peak memory, against two peers measured in the same run: a plain
pandas-groupby reference and the same features in DuckDB SQL (``duckdb_engagement.py``).

Run by ``make bench``. Events are generated for the benchmark (never stored), chunk by chunk, the way a
nightly job streams them from storage: each chunk holds the events of a block of leads, and the builder
sees one chunk at a time. Every configuration runs in its own process so its peak RSS is its own.
Printed figures are ratios against the reference measured in the same run; nothing here is a test.

    python benchmarks/bench_features.py                 # the full benchmark (1M leads; 10M and 50M events)
    python benchmarks/bench_features.py --leads 100000 --sizes 1000000 5000000   # a quicker look

Both peers are checked equal to the project's builder (every column, to 1e-9) before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from duckdb_engagement import duckdb_reference  # noqa: E402  (beside this file)

from features.engagement import build_engagement_features  # noqa: E402
from features.params import EngagementParams  # noqa: E402
from pipeline.config import load_config  # noqa: E402

AS_OF = pd.Timestamp("2026-06-01", tz="UTC")
SPAN_DAYS = 365
CHUNK_EVENTS = 5_000_000
N_CAMPAIGNS = 60
CHANNELS = np.array(["email", "paid_search", "paid_social", "webinar", "trade_show", "partner"])


def engagement_params() -> EngagementParams:
    return load_config(Path(__file__).resolve().parents[1] / "params.yaml").features.engagement


def campaigns_table() -> pd.DataFrame:
    return pd.DataFrame({"campaign_id": np.arange(1, N_CAMPAIGNS + 1, dtype=np.int64),
                         "channel": CHANNELS[np.arange(N_CAMPAIGNS) % len(CHANNELS)]})


def event_chunks(n_leads: int, n_events: int, params: EngagementParams, seed: int = 0):
    """Yield (events, spine) for blocks of leads, about CHUNK_EVENTS events each."""
    per_lead = n_events / n_leads
    leads_per_chunk = max(1, int(CHUNK_EVENTS / per_lead))
    types = np.array([*params.event_types, "unlisted_type"])
    rng = np.random.default_rng(seed)
    for lo in range(0, n_leads, leads_per_chunk):
        hi = min(n_leads, lo + leads_per_chunk)
        lead_ids = np.arange(lo, hi, dtype=np.int64) + 1
        counts = rng.poisson(per_lead, hi - lo)
        lead = np.repeat(lead_ids, counts)
        n = len(lead)
        age_s = rng.integers(-3 * 86_400, SPAN_DAYS * 86_400, n)  # a few events after the cutoff too
        events = pd.DataFrame({
            "lead_id": lead,
            "event_ts": AS_OF - pd.to_timedelta(age_s, unit="s"),
            "event_type": pd.Categorical.from_codes(rng.integers(0, len(types), n), categories=types),
            "detail": pd.Categorical.from_codes(rng.integers(0, 3, n),
                                                categories=["demo_request", "contact_sales", "newsletter"]),
            "campaign_id": pd.array(np.where(rng.random(n) < 0.5, rng.integers(1, N_CAMPAIGNS + 1, n), 0),
                                    dtype="Int64"),
        })
        events.loc[events["campaign_id"] == 0, "campaign_id"] = pd.NA
        spine = pd.DataFrame({"lead_id": lead_ids, "as_of_ts": AS_OF})
        yield events, spine


def pandas_reference(events: pd.DataFrame, spine: pd.DataFrame, params: EngagementParams,
                     campaigns: pd.DataFrame) -> pd.DataFrame:
    """The same engagement features the way most teams write them: merge, filter, groupby."""
    s = spine.reset_index(names="row")
    pairs = s.merge(events, on="lead_id", how="inner")
    pairs["age_days"] = (pairs["as_of_ts"] - pairs["event_ts"]).dt.total_seconds() / 86_400
    pairs = pairs[pairs["age_days"] > 0]
    types = pairs["event_type"].astype(str).where(pairs["event_type"].astype(str).isin(params.event_types), "~other")
    pairs = pairs.assign(event_type=types)
    out = pd.DataFrame(index=s["row"])
    for w in params.windows_days:
        inside = pairs[pairs["age_days"] <= w]
        counts = inside.groupby(["row", "event_type"]).size().unstack(fill_value=0)
        for t in params.event_types:
            out[f"eng__{t}_{w}d"] = counts.get(t, pd.Series(dtype=float)).reindex(out.index, fill_value=0)
        out[f"eng__events_{w}d"] = inside.groupby("row").size().reindex(out.index, fill_value=0)
    last = pairs.groupby(["row", "event_type"])["age_days"].min().unstack()
    for t in params.event_types:
        out[f"eng__days_since_last_{t}"] = last.get(t, pd.Series(dtype=float)).reindex(out.index)
    out["eng__days_since_last_event"] = pairs.groupby("row")["age_days"].min().reindex(out.index)
    for h in params.half_lives_days:
        weights = np.exp2(-pairs["age_days"] / h)
        out[f"eng__decayed_events_hl{h:g}d"] = weights.groupby(pairs["row"]).sum().reindex(out.index, fill_value=0)
    hi = params.high_intent
    is_hi = pairs["event_type"].isin(hi.event_types) | (
        (pairs["event_type"] == hi.form_event_type) & pairs["detail"].astype(str).isin(hi.form_details))
    hi_pairs = pairs[is_hi]
    for w in hi.windows_days:
        out[f"eng__high_intent_{w}d"] = (hi_pairs[hi_pairs["age_days"] <= w].groupby("row").size()
                                         .reindex(out.index, fill_value=0))
    out["eng__days_since_last_high_intent"] = hi_pairs.groupby("row")["age_days"].min().reindex(out.index)
    r, b = params.trend.recent_days, params.trend.baseline_days
    recent = pairs[pairs["age_days"] <= r].groupby("row").size().reindex(out.index, fill_value=0)
    before = pairs[(pairs["age_days"] > r) & (pairs["age_days"] <= r + b)].groupby("row").size()
    before = before.reindex(out.index, fill_value=0)
    out[f"eng__trend_{r}d_vs_{b}d"] = (recent + 0.5) / (before * (r / b) + 0.5)
    with_campaign = pairs.dropna(subset=["campaign_id"])
    out["eng__campaigns_touched"] = with_campaign.groupby("row")["campaign_id"].nunique().reindex(
        out.index, fill_value=0)
    channel = with_campaign["campaign_id"].map(campaigns.set_index("campaign_id")["channel"])
    out["eng__channels_touched"] = channel.groupby(with_campaign["row"]).nunique().reindex(out.index, fill_value=0)
    return out


def run_worker(engine: str, n_leads: int, n_events: int) -> dict:
    params = engagement_params()
    campaigns = campaigns_table()
    built = seconds = 0.0
    total_events = 0
    outputs = []
    connection = duckdb.connect() if engine == "duckdb" else None  # one in-memory database, as a notebook has
    for events, spine in event_chunks(n_leads, n_events, params):
        total_events += len(events)
        started = time.perf_counter()
        if engine == "ours":
            frame = build_engagement_features(events, spine, params, campaigns=campaigns)
        elif engine == "duckdb":
            frame = duckdb_reference(events, spine, params, campaigns, connection=connection)
        else:
            frame = pandas_reference(events, spine, params, campaigns)
        seconds += time.perf_counter() - started
        outputs.append(frame)
        built += len(spine)
    result = pd.concat(outputs, ignore_index=True)
    return {
        "engine": engine, "leads": int(built), "events": total_events, "seconds": seconds,
        "events_per_s": total_events / seconds, "leads_per_s": built / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "columns": result.shape[1],
    }


def check_same_features() -> None:
    """Every engine must compute the same thing, or the comparison is meaningless."""
    params = engagement_params()
    campaigns = campaigns_table()
    events, spine = next(event_chunks(2_000, 100_000, params, seed=5))
    ours = build_engagement_features(events, spine, params, campaigns=campaigns)
    for name, ref in (("pandas", pandas_reference(events, spine, params, campaigns)),
                      ("duckdb", duckdb_reference(events, spine, params, campaigns))):
        assert sorted(ref.columns) == sorted(ours.columns), (name, set(ref.columns) ^ set(ours.columns))
        assert ref.index.equals(ours.index), name
        ref = ref[ours.columns]
        for col in ours.columns:
            np.testing.assert_allclose(ours[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-9, atol=1e-9,
                                       err_msg=f"{name}: {col}")


def spawn(engine: str, leads: int, events: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", engine, "--leads", str(leads), "--events",
                          str(events)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--reference-size", type=int, default=None,
                        help="events for the pandas reference (default: the smallest size)")
    parser.add_argument("--worker", choices=["ours", "pandas", "duckdb"])
    parser.add_argument("--events", type=int)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.leads, args.events)))
        return

    check_same_features()
    print("engines agree on every engagement feature (2,000 leads, 100,000 events): ours, pandas, DuckDB")
    ref_size = args.reference_size or min(args.sizes)
    reference = spawn("pandas", args.leads, ref_size)
    duck = spawn("duckdb", args.leads, ref_size)
    ours = [spawn("ours", args.leads, n) for n in args.sizes]
    rows = [reference, duck, *ours]
    print(f"\nEngagement features ({reference['columns']} columns) for {args.leads:,} leads, "
          f"events streamed in chunks of ~{CHUNK_EVENTS:,}; DuckDB {duckdb.__version__} on its default threads "
          f"(one per core), ours on params' threads, pandas on one")
    print(f"{'engine':<8} {'events':>12} {'seconds':>8} {'events/s':>12} {'leads/s':>10} {'peak RSS':>10}"
          f" {'speed vs pandas':>16} {'vs DuckDB':>10}")
    for r in rows:
        print(f"{r['engine']:<8} {r['events']:>12,} {r['seconds']:>8.2f} {r['events_per_s']:>12,.0f} "
              f"{r['leads_per_s']:>10,.0f} {r['peak_rss_mb']:>8,.0f}MB "
              f"{r['events_per_s'] / reference['events_per_s']:>15.1f}x "
              f"{r['events_per_s'] / duck['events_per_s']:>9.1f}x")
    small, large = ours[0], ours[-1]
    print(f"\npeak RSS at {large['events']:,} events / at {small['events']:,} events: "
          f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x (target <= 1.5x)")
    print(f"throughput at {large['events']:,} events: {large['events_per_s'] / 1e6:.1f}M events/s "
          f"(target >= 10M/s on 2 cores)")


if __name__ == "__main__":
    main()
