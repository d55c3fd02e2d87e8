"""Test metrics. scikit-learn computes what it can; this module decides which ones, and their names.

- discrimination: ROC AUC (with a bootstrap 95 % interval), PR AUC;
- probability quality: log loss, Brier, expected calibration error (equal-count bins, because with a
  few percent of conversions equal-width bins put nearly every lead in the first bin);
- what sales feels: lift and capture rate in the top k % of the ranking, conversion by grade.
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


def expected_calibration_error(y_true, probability, *, bins: int = 10) -> float:
    """Σ (share of rows in bin) · |mean predicted − observed rate|, over equal-count bins."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    order = np.argsort(p, kind="stable")
    ece = 0.0
    for part in np.array_split(order, bins):
        if len(part):
            ece += len(part) / len(p) * abs(p[part].mean() - y[part].mean())
    return float(ece)


def reliability_table(y_true, probability, *, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against the observed rate, per equal-count bin."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    order = np.argsort(p, kind="stable")
    rows = [{"bin": i, "rows": len(part), "predicted": p[part].mean(), "observed": y[part].mean()}
            for i, part in enumerate(np.array_split(order, bins)) if len(part)]
    return pd.DataFrame(rows)


def top_share_metrics(y_true, probability, share: float) -> tuple[float, float]:
    """(lift, capture rate) among the top ``share`` of rows by probability."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    k = max(1, int(round(share * len(p))))
    top = np.argsort(-p, kind="stable")[:k]
    base = y.mean()
    lift = y[top].mean() / base if base > 0 else float("nan")
    capture = y[top].sum() / y.sum() if y.sum() > 0 else float("nan")
    return float(lift), float(capture)


def bootstrap_auc_interval(y_true, probability, *, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ROC AUC over bootstrap resamples of the test rows."""
    y, p = np.asarray(y_true), np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            aucs.append(roc_auc_score(y[idx], p[idx]))
    alpha = (1 - level) / 2
    return float(np.quantile(aucs, alpha)), float(np.quantile(aucs, 1 - alpha))


def classification_metrics(y_true, probability, *, n_boot: int = 0, seed: int = 0) -> dict[str, float]:
    y, p = _check(y_true, probability)
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
