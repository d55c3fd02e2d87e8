"""Grades sized to what sales can work, and the promise each grade makes.

Sales states its weekly capacity per grade ("we can call 200 A leads a week"). On the validation slice
we know how many leads are open in a typical week, so capacity becomes a share of the open population,
and the share becomes a probability threshold. The thresholds are frozen into the model version. Each
grade then promises, measured on the later test slice, a conversion rate (with a Wilson 95 % interval)
and an expected weekly volume — the numbers the monitor later holds the model to.

A grade's rate also moves from one period to the next (a campaign that brought keen leads ends, a few
late buyers land in the rest grade), more than sampling explains. The backtest measures that: each fold's
period graded as the recipe would have graded it. The promise's interval adds that between-period spread
(``between_period_variance``) to its sampling interval, so it says where a future period's rate lands,
not only how precisely the most recent period was measured.

On a sampled training table (``features.sampling``: every conversion kept, other snapshots kept at a rate
and weighted 1 / rate) every count here is a weighted count: shares, weekly volumes and rates are those of
the full population. The interval then uses the effective sample size of the weighted, clustered rate
(``effective_counts``): fewer rows were observed than the weights stand for, and the interval says so.
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


def weekly_volume(as_of: pd.Series, sample_weight=None) -> float:
    """Mean number of snapshot rows per as-of date (the open leads scored each week; weighted, the rows of
    the full table the sampled ones stand for)."""
    if sample_weight is None:
        return float(as_of.value_counts().mean()) if len(as_of) else 0.0
    per_date = pd.Series(np.asarray(sample_weight, dtype=float)).groupby(np.asarray(as_of), sort=False).sum()
    return float(per_date.mean()) if len(per_date) else 0.0


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _weighted_effective_counts(y: np.ndarray, w: np.ndarray, leads) -> tuple[float, float]:
    """(conversions, rows) of a weighted, clustered rate as a binomial of the same rate and variance.

    The rate is p = Σwy / Σw. Its linearised (ratio-estimator) variance over clusters c (leads; each row its own
    cluster without ``leads``) is C/(C−1) · Σ_c (Σ_{i∈c} w_i (y_i − p))² / (Σw)²; the effective number of rows is
    p(1−p) / that variance, never more than Kish's (Σw)² / Σw² (what the weights alone allow). With every weight
    1 this is ``effective_counts`` of the unweighted rows. A Wilson interval on these counts is the usual
    effective-sample-size Wilson interval for survey proportions (Korn & Graubard 1998)."""
    total = float(w.sum())
    kish = total ** 2 / float((w ** 2).sum())
    p = float((w * y).sum()) / total
    if p in (0.0, 1.0):
        return p * kish, kish
    resid = w * (y - p)
    if leads is None:
        sums, clusters = resid, len(y)
    else:
        sums = pd.Series(resid).groupby(np.asarray(leads), sort=False).sum().to_numpy()
        clusters = len(sums)
    if clusters < 2:
        return p * kish, kish
    variance = clusters / (clusters - 1) * float((sums ** 2).sum()) / total ** 2
    n_eff = min(kish, p * (1 - p) / variance) if variance > 0 else kish
    return p * n_eff, n_eff


def effective_counts(converted, leads=None, sample_weight=None) -> tuple[float, float]:
    """(conversions, rows) shrunk by the design effect of repeated leads, for a binomial interval.

    A lead open for weeks is one row per night, and its nights convert together (the same deal closes in
    all their windows): counted as independent rows, an interval is too narrow. The ratio estimator's
    variance over leads (clusters) against the plain binomial variance is the design effect; dividing both
    counts by it keeps the rate and gives the interval the width the leads justify. Without ``leads``, or
    when every lead appears once, nothing changes. With ``sample_weight`` (not all 1), the weighted version
    (``_weighted_effective_counts``)."""
    y = np.asarray(converted, dtype=float)
    if sample_weight is not None and len(y) and not np.all(np.asarray(sample_weight) == 1.0):
        return _weighted_effective_counts(y, np.asarray(sample_weight, dtype=float), leads)
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


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def between_period_variance(counts: list[tuple[float, float]]) -> float:
    """DerSimonian–Laird estimate of how much a rate's log-odds varies between periods beyond sampling.

    ``counts``: (conversions, rows) per period, already shrunk for repeated leads (``effective_counts``).
    Each period's empirical log-odds, with 0.5 added to both cells so an empty period still counts, is
    weighted by its sampling precision; the spread left once sampling is accounted for is the between-period
    variance (0 when the periods agree as well as their sizes allow, or when fewer than two have rows)."""
    usable = [(k, n) for k, n in counts if n > 0]
    if len(usable) < 2:
        return 0.0
    y = np.array([math.log((k + 0.5) / (n - k + 0.5)) for k, n in usable])
    w = np.array([1 / (1 / (k + 0.5) + 1 / (n - k + 0.5)) for k, n in usable])
    mean = float((w * y).sum() / w.sum())
    q = float((w * (y - mean) ** 2).sum())
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    return max(0.0, (q - (len(usable) - 1)) / c) if c > 0 else 0.0


def widen_interval(low: float, high: float, n: float, k: float, spread: float, z: float = 1.96) -> tuple[float, float]:
    """A Wilson interval widened on the log-odds scale by a between-period variance ``spread``: each side's
    half-width h becomes sqrt(h² + z²·spread) around the Wilson centre. ``spread`` 0 gives Wilson back; a bound
    at 0 or 1 stays there."""
    if spread <= 0 or n <= 0 or math.isnan(low):
        return low, high
    p = k / n
    centre = _logit((p + z * z / (2 * n)) / (1 + z * z / n))
    extra = z * z * spread
    out_low = 0.0 if low <= 0 else _expit(centre - math.sqrt((centre - _logit(low)) ** 2 + extra))
    out_high = 1.0 if high >= 1 else _expit(centre + math.sqrt((_logit(high) - centre) ** 2 + extra))
    return out_low, out_high


def grade_outcomes(grades, converted, leads=None, sample_weight=None) -> pd.DataFrame:
    """Per grade of one period: rows, conversions, and both shrunk by repeated leads (``effective_counts``);
    weighted (``rows`` the rows stood for, ``rate`` the weighted rate) with ``sample_weight``."""
    frame = pd.DataFrame({"grade": np.asarray(grades), "y": np.asarray(converted, dtype=float),
                          "lead": np.arange(len(grades)) if leads is None else np.asarray(leads),
                          "w": 1.0 if sample_weight is None else np.asarray(sample_weight, dtype=float)})
    weighted = sample_weight is not None
    rows = []
    for g, part in frame.groupby("grade", sort=True):
        w = part["w"].to_numpy() if weighted else None
        k_eff, n_eff = effective_counts(part["y"].to_numpy(), part["lead"].to_numpy(), sample_weight=w)
        rate = float(np.average(part["y"], weights=w)) if weighted else float(part["y"].mean())
        rows.append({"grade": g, "rows": round(float(w.sum())) if weighted else len(part),
                     "conversions": int(part["y"].sum()),
                     "rate": rate, "effective_conversions": k_eff, "effective_rows": n_eff})
    return pd.DataFrame(rows, columns=["grade", "rows", "conversions", "rate", "effective_conversions",
                                       "effective_rows"])


def period_spreads(outcomes: pd.DataFrame) -> dict[str, float]:
    """Between-period variance per grade from ``grade_outcomes`` of several periods (a ``period`` column)."""
    return {g: between_period_variance(list(zip(part["effective_conversions"], part["effective_rows"], strict=True)))
            for g, part in outcomes.groupby("grade", sort=True)}


def grade_promises(thresholds: dict[str, float], probability: np.ndarray, converted: np.ndarray,
                   as_of: pd.Series, grade_of, leads=None, spreads: dict[str, float] | None = None,
                   sample_weight=None) -> pd.DataFrame:
    """Per grade: threshold, share, expected weekly volume, promised conversion rate and its interval (over
    ``leads`` when given: a lead seen on several nights is one cluster, see ``effective_counts``; widened by
    the grade's between-period variance in ``spreads`` when given, see ``widen_interval``). With
    ``sample_weight``, shares, volumes, rates and rows are weighted (``test_rows``: the rows stood for;
    ``sampled_rows``: the rows observed) and the interval uses the weighted effective counts."""
    grades = np.asarray(grade_of(probability))
    y = np.asarray(converted, dtype=float)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if w is not None and np.all(w == 1.0):
        w = None
    lead_ids = None if leads is None else np.asarray(leads)
    weeks = max(pd.Series(as_of).nunique(), 1)
    rows = []
    for g, threshold in thresholds.items():
        mask = grades == g
        n, k = int(mask.sum()), float(y[mask].sum())
        k_eff, n_eff = effective_counts(y[mask], None if lead_ids is None else lead_ids[mask],
                                        sample_weight=None if w is None else w[mask])
        spread = (spreads or {}).get(g, 0.0)
        low, high = widen_interval(*wilson_interval(k_eff, n_eff), n_eff, k_eff, spread)
        if w is None:
            rows.append({
                "grade": g, "min_probability": threshold, "share": n / max(len(y), 1), "weekly_volume": n / weeks,
                "promised_rate": k / n if n else float("nan"), "promised_low": low, "promised_high": high,
                "test_rows": n, "test_conversions": int(k), "period_spread": spread,
            })
            continue
        wn, wk = float(w[mask].sum()), float((w[mask] * y[mask]).sum())
        rows.append({
            "grade": g, "min_probability": threshold, "share": wn / max(float(w.sum()), 1e-300),
            "weekly_volume": wn / weeks, "promised_rate": wk / wn if n else float("nan"), "promised_low": low,
            "promised_high": high, "test_rows": round(wn), "test_conversions": int(k), "period_spread": spread,
            "sampled_rows": n,
        })
    return pd.DataFrame(rows)
