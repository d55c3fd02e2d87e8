"""Test metrics. scikit-learn computes what it can; this module decides which ones, and their names.

- discrimination: ROC AUC (with a bootstrap 95 % interval), PR AUC;
- probability quality: log loss, Brier, expected calibration error (equal-count bins, because with a
  few percent of conversions equal-width bins put nearly every lead in the first bin);
- what sales feels: lift and capture rate in the top k % of the ranking, conversion by grade.

Every metric takes an optional ``sample_weight``: a training table whose non-converting snapshots were
sampled (``features.sampling``) weights each kept one by 1 / rate, and the weighted metric estimates the
metric on the full table. None (or all weights 1) computes exactly what the unweighted code computed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

#: metric name → True when higher is better (used by the comparison and the promotion gates)
HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "log_loss": False, "brier": False, "ece": False,
                    "lift_at_5pct": True, "lift_at_10pct": True, "lift_at_20pct": True,
                    "capture_at_5pct": True, "capture_at_10pct": True, "capture_at_20pct": True}


def _check(y_true, probability) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int)
    p = np.asarray(probability, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("metrics need both converted and non-converted rows")
    return y, p


def as_weights(sample_weight, n: int | None = None) -> np.ndarray | None:
    """The weights as floats, or None when there are none or all are 1 (the unweighted code path)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=float)
    if n is not None and len(w) != n:
        raise ValueError(f"sample_weight has {len(w)} values for {n} rows")
    return None if np.all(w == 1.0) else w


def weighted_quantile(values, q, sample_weight=None):
    """``np.quantile`` of ``values``; with weights, the inverted weighted CDF (each row counts ``weight`` times)."""
    w = as_weights(sample_weight, len(np.asarray(values)))
    if w is None:
        return np.quantile(values, q)
    return np.quantile(np.asarray(values, dtype=float), q, weights=w, method="inverted_cdf")


def _bins(p: np.ndarray, w: np.ndarray | None, bins: int) -> list[np.ndarray]:
    """Row positions of equal-count bins by probability (equal total weight, with weights)."""
    order = np.argsort(p, kind="stable")
    if w is None:
        return np.array_split(order, bins)
    cumulative = np.cumsum(w[order])
    edges = np.searchsorted(cumulative, cumulative[-1] * np.arange(1, bins) / bins, side="left")
    return np.split(order, edges)


def expected_calibration_error(y_true, probability, *, bins: int = 10, sample_weight=None) -> float:
    """Σ (share of rows in bin) · |mean predicted − observed rate|, over equal-count bins (weighted: shares,
    means and bins by weight)."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    w = as_weights(sample_weight, len(p))
    ece = 0.0
    for part in _bins(p, w, bins):
        if len(part):
            if w is None:
                ece += len(part) / len(p) * abs(p[part].mean() - y[part].mean())
            else:
                ww = w[part]
                ece += ww.sum() / w.sum() * abs(np.average(p[part], weights=ww) - np.average(y[part], weights=ww))
    return float(ece)


def reliability_table(y_true, probability, *, bins: int = 10, sample_weight=None) -> pd.DataFrame:
    """Mean predicted probability against the observed rate, per equal-count bin (weighted: ``rows`` is the
    bin's weight, the rows it stands for)."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    w = as_weights(sample_weight, len(p))
    if w is None:
        rows = [{"bin": i, "rows": len(part), "predicted": p[part].mean(), "observed": y[part].mean()}
                for i, part in enumerate(_bins(p, w, bins)) if len(part)]
    else:
        rows = [{"bin": i, "rows": float(w[part].sum()), "predicted": np.average(p[part], weights=w[part]),
                 "observed": np.average(y[part], weights=w[part])}
                for i, part in enumerate(_bins(p, w, bins)) if len(part)]
    return pd.DataFrame(rows)


def top_share_metrics(y_true, probability, share: float, sample_weight=None) -> tuple[float, float]:
    """(lift, capture rate) among the top ``share`` of rows by probability (by weight, with weights)."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    w = as_weights(sample_weight, len(p))
    if w is not None:
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(w[order])
        top = order[:max(1, int(np.searchsorted(cumulative, share * cumulative[-1], side="left")) + 1)]
        base = np.average(y, weights=w)
        lift = np.average(y[top], weights=w[top]) / base if base > 0 else float("nan")
        capture = (w[top] * y[top]).sum() / (w * y).sum() if (w * y).sum() > 0 else float("nan")
        return float(lift), float(capture)
    k = max(1, int(round(share * len(p))))
    top = np.argsort(-p, kind="stable")[:k]
    base = y.mean()
    lift = y[top].mean() / base if base > 0 else float("nan")
    capture = y[top].sum() / y.sum() if y.sum() > 0 else float("nan")
    return float(lift), float(capture)


def bootstrap_auc_interval(y_true, probability, *, n_boot: int, seed: int, level: float = 0.95,
                           sample_weight=None) -> tuple[float, float]:
    """Percentile interval of ROC AUC over bootstrap resamples of the test rows (weighted AUC of each resample
    with weights: the sampled rows are resampled, each keeping its weight)."""
    y, p = np.asarray(y_true), np.asarray(probability, dtype=float)
    w = as_weights(sample_weight, len(p))
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            aucs.append(roc_auc_score(y[idx], p[idx], sample_weight=None if w is None else w[idx]))
    alpha = (1 - level) / 2
    return float(np.quantile(aucs, alpha)), float(np.quantile(aucs, 1 - alpha))


def classification_metrics(y_true, probability, *, n_boot: int = 0, seed: int = 0,
                           sample_weight=None) -> dict[str, float]:
    y, p = _check(y_true, probability)
    w = as_weights(sample_weight, len(p))
    if w is not None:
        return _weighted_metrics(y, p, w, n_boot=n_boot, seed=seed)
    metrics = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
        "positive_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
        "rows": float(len(y)),
        "positives": float(y.sum()),
    }
    for share in (0.05, 0.10, 0.20):
        lift, capture = top_share_metrics(y, p, share)
        metrics[f"lift_at_{int(share * 100)}pct"] = lift
        metrics[f"capture_at_{int(share * 100)}pct"] = capture
    if n_boot:
        low, high = bootstrap_auc_interval(y, p, n_boot=n_boot, seed=seed)
        metrics["roc_auc_low"], metrics["roc_auc_high"] = low, high
    return metrics


def conversion_by_grade(y_true, grades) -> pd.DataFrame:
    """Rows, conversions and conversion rate per grade, best grade first."""
    frame = pd.DataFrame({"grade": np.asarray(grades), "converted": np.asarray(y_true, dtype=float)})
    table = frame.groupby("grade", sort=True)["converted"].agg(rows="size", conversions="sum", rate="mean")
    table["share"] = table["rows"] / table["rows"].sum()
    return table.reset_index()


def _weighted_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray, *, n_boot: int, seed: int) -> dict[str, float]:
    """``classification_metrics`` on a sampled table: each row counts ``w`` times. ``rows`` and ``positives``
    are the weighted counts (the rows of the full table they stand for); ``sampled_rows`` the rows scored."""
    metrics = {
        "roc_auc": float(roc_auc_score(y, p, sample_weight=w)),
        "pr_auc": float(average_precision_score(y, p, sample_weight=w)),
        "brier": float(brier_score_loss(y, p, sample_weight=w)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1], sample_weight=w)),
        "ece": expected_calibration_error(y, p, sample_weight=w),
        "positive_rate": float(np.average(y, weights=w)),
        "mean_probability": float(np.average(p, weights=w)),
        "rows": float(w.sum()),
        "positives": float((w * y).sum()),
        "sampled_rows": float(len(y)),
    }
    for share in (0.05, 0.10, 0.20):
        lift, capture = top_share_metrics(y, p, share, sample_weight=w)
        metrics[f"lift_at_{int(share * 100)}pct"] = lift
        metrics[f"capture_at_{int(share * 100)}pct"] = capture
    if n_boot:
        low, high = bootstrap_auc_interval(y, p, n_boot=n_boot, seed=seed, sample_weight=w)
        metrics["roc_auc_low"], metrics["roc_auc_high"] = low, high
    return metrics


def ranking_auc(y_true, values) -> float:
    """AUC of ranking by one column, in whichever direction ranks better (for single-feature baselines)."""
    auc = roc_auc_score(np.asarray(y_true), np.nan_to_num(np.asarray(values, dtype=float), nan=-1e12))
    return float(max(auc, 1 - auc))


def _fast_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by ranks (ties share their mean rank), the Mann–Whitney statistic; NaN without both classes."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = pd.Series(p).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def paired_auc_difference(y_true, p_a, p_b, groups=None, *, n_boot: int, seed: int,
                          level: float = 0.95) -> tuple[float, float, float]:
    """(AUC(a) − AUC(b), low, high): the difference on all rows and its paired percentile bootstrap interval.

    Paired: each resample scores both models on the same rows, so what the rows share (an easy week, a few
    obvious buyers) cancels out of the difference. ``groups`` (e.g. the lead id, when a lead has a row on
    several nights) resamples whole groups instead of rows: rows of one group are not independent, and
    resampling them one by one would make the interval too narrow. Resamples holding one class only are
    skipped.
    """
    y = np.asarray(y_true).astype(int)
    a, b = np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)
    if not (len(y) == len(a) == len(b)):
        raise ValueError("y_true, p_a and p_b must have the same length")
    if len(np.unique(y)) < 2:
        raise ValueError("an AUC difference needs both converted and non-converted rows")
    diff = _fast_auc(y, a) - _fast_auc(y, b)
    if groups is None:
        codes = np.arange(len(y))
    else:
        codes = pd.factorize(pd.Series(np.asarray(groups)), use_na_sentinel=False)[0]
    n_groups = int(codes.max()) + 1
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_groups))
    sizes = np.bincount(codes, minlength=n_groups)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        drawn = rng.integers(0, n_groups, n_groups)
        # the rows of every drawn group, once per draw
        counts = sizes[drawn]
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        idx = order[np.repeat(starts[drawn], counts) + within]
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        diffs.append(_fast_auc(yy, a[idx]) - _fast_auc(yy, b[idx]))
    if not diffs:
        return float(diff), float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(diff), float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1 - alpha))
