"""The benchmark's DuckDB peer computes the project's engagement features, so `make bench` compares like with like.

A tiny world with the edges that matter: several cutoffs per lead, an event exactly at a cutoff and one exactly a
window before it, unlisted event types, form fills with and without a high-intent detail, campaigns missing from
the campaigns table or not given, a lead without events, and an event-type category list lacking a listed type.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("duckdb", reason="duckdb is a benchmark dependency (pip install -e '.[dev]'); not installed")

from benchmarks.duckdb_engagement import duckdb_reference  # noqa: E402
from features.engagement import build_engagement_features  # noqa: E402
from pipeline.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
C = pd.Timestamp("2026-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)


def _params():
    return load_config(ROOT / "params.yaml").features.engagement


def _campaigns() -> pd.DataFrame:
    return pd.DataFrame({"campaign_id": np.arange(1, 6, dtype=np.int64),
                         "channel": ["email", "webinar", "email", "partner", "paid_search"]})


def _world(seed: int, *, categorical: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    params = _params()
    rng = np.random.default_rng(seed)
    n = 400
    types = [*params.event_types[:-1], "unlisted_type"]  # the last listed type never happens here
    lead = rng.integers(1, 30, n)
    age_s = rng.integers(-5 * 86_400, 200 * 86_400, n)
    events = pd.DataFrame({
        "lead_id": lead.astype(np.int64),
        "event_ts": C - pd.to_timedelta(age_s, unit="s"),
        "event_type": rng.choice(types, n),
        "detail": rng.choice(["demo_request", "contact_sales", "newsletter", None], n),
        "campaign_id": pd.array(np.where(rng.random(n) < 0.6, rng.integers(1, 8, n), 0), dtype="Int64"),
    })
    events.loc[events["campaign_id"] == 0, "campaign_id"] = pd.NA  # no campaign; ids 6 and 7: not in the table
    edges = pd.DataFrame({"lead_id": np.array([3, 3, 3, 4], dtype=np.int64),
                          "event_ts": [C, C - 7 * DAY, C - 30 * DAY, C - 90 * DAY],  # at the cutoff, on window edges
                          "event_type": [params.high_intent.form_event_type] * 2 + [params.event_types[0]] * 2,
                          "detail": ["demo_request", "demo_request", None, None],
                          "campaign_id": pd.array([1, 2, pd.NA, 7], dtype="Int64")})
    events = pd.concat([events, edges], ignore_index=True)
    if categorical:
        events["event_type"] = events["event_type"].astype("category")
        events["detail"] = events["detail"].astype("category")
    spine = pd.DataFrame({
        "lead_id": np.array([*range(1, 31), 3, 3, 4, 31], dtype=np.int64),  # lead 31 has no events
        "as_of_ts": [C] * 30 + [C - 7 * DAY, C + 10 * DAY, C - 60 * DAY, C],
    }, index=pd.Index(np.arange(34) * 7 + 5))  # not a RangeIndex: rows must come back on the spine's own index
    return events, spine


@pytest.mark.parametrize("categorical", [True, False])
def test_duckdb_reference_equals_the_builder_on_a_tiny_world(categorical):
    params = _params()
    events, spine = _world(3, categorical=categorical)
    ours = build_engagement_features(events, spine, params, campaigns=_campaigns())
    peer = duckdb_reference(events, spine, params, _campaigns())
    assert list(peer.columns) == list(ours.columns)
    assert peer.index.equals(ours.index)
    for col in ours.columns:
        np.testing.assert_allclose(peer[col].to_numpy(float), ours[col].to_numpy(float), rtol=1e-9, atol=1e-9,
                                   err_msg=col)
    assert ours["eng__events_180d"].gt(0).sum() > 20 and ours.loc[spine["lead_id"].eq(31).to_numpy()].iloc[0].fillna(
        0).eq(0).drop("eng__trend_7d_vs_30d").all()


def test_duckdb_reference_without_campaigns_counts_none():
    params = _params()
    events, spine = _world(4, categorical=False)
    ours = build_engagement_features(events.drop(columns=["campaign_id"]), spine, params)
    peer = duckdb_reference(events.drop(columns=["campaign_id"]), spine, params)
    pd.testing.assert_frame_equal(peer.astype(float), ours.astype(float), rtol=1e-9, atol=1e-9)
