"""The plots people look at: ROC, precision–recall, reliability, cumulative gains, feature importance.

Pure: arrays in, matplotlib figures out (the Agg backend; no screen needed). pipeline/ logs them to MLflow.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from models.metrics import reliability_table


def _figure(title: str):
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def roc_figure(y, p, *, label: str = "model"):
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = _figure("ROC curve (test)")
    ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    return fig


def precision_recall_figure(y, p):
    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = _figure("Precision–recall (test)")
    ax.plot(recall, precision)
    ax.axhline(np.mean(y), ls="--", color="grey", label=f"base rate {np.mean(y):.1%}")
    ax.set_xlabel("recall: share of conversions found")
    ax.set_ylabel("precision: conversion rate of those called")
    ax.legend()
    return fig


def reliability_figure(y, p, *, bins: int = 10, sample_weight=None):
    table = reliability_table(y, p, bins=bins, sample_weight=sample_weight)
    fig, ax = _figure("Reliability: promised vs observed (test)")
    top = max(table["predicted"].max(), table["observed"].max()) * 1.1 or 1.0
    ax.plot([0, top], [0, top], ls="--", color="grey", label="perfect calibration")
    ax.plot(table["predicted"], table["observed"], marker="o", label="equal-count bins")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed conversion rate")
    ax.legend()
    return fig


def gains_figure(y, p):
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    captured = np.concatenate([[0], np.cumsum(y[order]) / max(y.sum(), 1)])
    contacted = np.linspace(0, 1, len(captured))
    fig, ax = _figure("Cumulative gains (test)")
    ax.plot(contacted, captured, label="model")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="random order")
    ax.set_xlabel("share of leads worked, best first")
    ax.set_ylabel("share of conversions captured")
    ax.legend(loc="lower right")
    return fig


def importance_figure(importance: pd.DataFrame, column: str, *, top: int = 20, title: str):
    data = importance.sort_values(column, ascending=False).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(data) + 1.2), dpi=100)
    ax.barh(data["feature"], data[column])
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def close(fig) -> None:
    plt.close(fig)
