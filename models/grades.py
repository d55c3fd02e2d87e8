"""Grades sized to what sales can work, and the promise each grade makes.

Sales states its weekly capacity per grade ("we can call 200 A leads a week"). On the validation slice
we know how many leads are open in a typical week, so capacity becomes a share of the open population,
and the share becomes a probability threshold. The thresholds are frozen into the model version. Each
grade then promises, measured on the later test slice, a conversion rate (with a Wilson 95 % interval)
and an expected weekly volume — the numbers the monitor later holds the model to.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def shares_from_capacity(capacity_per_week: dict[str, int], weekly_open_leads: float) -> dict[str, float]:
    """Leads per week per grade → share of the weekly open population, best grade first."""
    if weekly_open_leads <= 0:
        raise ValueError("no open leads per week to size grades against")
    shares = {g: c / weekly_open_leads for g, c in capacity_per_week.items()}
    if sum(shares.values()) >= 1:
        raise ValueError(
            f"sales capacity ({sum(capacity_per_week.values()):,} leads a week over the graded tiers) covers "
            f"every open lead ({weekly_open_leads:,.0f} a week): lower score.grade_capacity_per_week")
    return shares


def weekly_volume(as_of: pd.Series) -> float:
    """Mean number of snapshot rows per as-of date (the open leads scored each week)."""
    return float(as_of.value_counts().mean()) if len(as_of) else 0.0


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def effective_counts(converted, leads=None) -> tuple[float, float]:
    """(conversions, rows) shrunk by the design effect of repeated leads, for a binomial interval.

    A lead open for weeks is one row per night, and its nights convert together (the same deal closes in
    all their windows): counted as independent rows, an interval is too narrow. The ratio estimator's
    variance over leads (clusters) against the plain binomial variance is the design effect; dividing both
    counts by it keeps the rate and gives the interval the width the leads justify. Without ``leads``, or
    when every lead appears once, nothing changes."""
    y = np.asarray(converted, dtype=float)
    n, k = float(len(y)), float(y.sum())
    if leads is None or n < 2 or k in (0.0, n):
        return k, n
    frame = pd.DataFrame({"lead": np.asarray(leads), "y": y}).groupby("lead", sort=False)["y"].agg(["sum", "size"])
    clusters = len(frame)
    if clusters < 2:
        return k, n
    p = k / n
    clustered = clusters / (clusters - 1) * float(((frame["sum"] - p * frame["size"]) ** 2).sum()) / n ** 2
    design_effect = max(1.0, clustered / (p * (1 - p) / n))
    return k / design_effect, n / design_effect


def grade_promises(thresholds: dict[str, float], probability: np.ndarray, converted: np.ndarray,
                   as_of: pd.Series, grade_of, leads=None) -> pd.DataFrame:
    """Per grade: threshold, share, expected weekly volume, promised conversion rate and its interval (over
    ``leads`` when given: a lead seen on several nights is one cluster, see ``effective_counts``)."""
    grades = np.asarray(grade_of(probability))
    y = np.asarray(converted, dtype=float)
    lead_ids = None if leads is None else np.asarray(leads)
    weeks = max(pd.Series(as_of).nunique(), 1)
    rows = []
    for g, threshold in thresholds.items():
        mask = grades == g
        n, k = int(mask.sum()), float(y[mask].sum())
        low, high = wilson_interval(*effective_counts(y[mask], None if lead_ids is None else lead_ids[mask]))
        rows.append({
            "grade": g, "min_probability": threshold, "share": n / max(len(y), 1), "weekly_volume": n / weeks,
            "promised_rate": k / n if n else float("nan"), "promised_low": low, "promised_high": high,
            "test_rows": n, "test_conversions": int(k),
        })
    return pd.DataFrame(rows)
