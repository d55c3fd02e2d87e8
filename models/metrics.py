"""Test metrics. scikit-learn computes them; this module only decides which ones and their names."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def classification_metrics(y_true, probability) -> dict[str, float]:
    y = np.asarray(y_true)
    p = np.asarray(probability, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("metrics need both converted and non-converted rows")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "positive_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
        "rows": float(len(y)),
        "positives": float(y.sum()),
    }


def ranking_auc(y_true, values) -> float:
    """AUC of ranking by one column, in whichever direction ranks better (for single-feature baselines)."""
    auc = roc_auc_score(np.asarray(y_true), np.nan_to_num(np.asarray(values, dtype=float), nan=-1e12))
    return float(max(auc, 1 - auc))
