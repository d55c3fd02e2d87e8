"""The report's plots: promise against reality per grade, ranking quality over time, both teams' views, drift.

Pure: frames in, matplotlib figures out (Agg backend). pipeline/steps/report embeds them in the page.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

KEPT_COLOUR, BREACH_COLOUR, PROMISE_COLOUR = "#2b6cb0", "#c53030", "#2f855a"


def promises_figure(by_night: pd.DataFrame, promises: pd.DataFrame, grade_order: list[str]):
    """One panel per grade: realized rate per matured night with its interval, the promise as a band."""
    grades = [g for g in grade_order if g in set(by_night["grade"])]
    cols = min(len(grades), 2) or 1
    rows = int(np.ceil(len(grades) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.3 * rows), dpi=100, squeeze=False)
    for ax, grade in zip(axes.flat, grades, strict=False):
        part = by_night[(by_night["grade"] == grade) & (by_night["leads"] > 0)].sort_values("as_of_ts")
        promise = promises[promises["grade"] == grade].iloc[-1]
        ax.axhspan(promise["promised_low"], promise["promised_high"], color=PROMISE_COLOUR, alpha=0.15,
                   label="promise, 95 % CI at sign-off")
        ax.axhline(promise["promised_rate"], color=PROMISE_COLOUR, lw=1.5, label="promised rate")
        colours = np.where(part["breach"], BREACH_COLOUR, KEPT_COLOUR)
        error = np.clip(np.vstack([part["realized_rate"] - part["low"], part["high"] - part["realized_rate"]]), 0, None)
        ax.errorbar(part["as_of_ts"], part["realized_rate"], yerr=error, fmt="none", ecolor="grey", capsize=3)
        ax.scatter(part["as_of_ts"], part["realized_rate"], c=colours, zorder=3, label="realized (per night)")
        ax.set_title(f"grade {grade}")
        top = max(promise["promised_high"], part["high"].max() if len(part) else 0.0)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=2 if top < 0.01 else 1))
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for ax in list(axes.flat)[len(grades):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.suptitle("Realized conversion per scored night against the promise (red: outside the promise)")
    fig.tight_layout()
    return fig


def cohorts_figure(cohorts: pd.DataFrame):
    """ROC AUC and calibration error per matured night: is the ranking holding, are probabilities honest?"""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), dpi=100)
    left.plot(cohorts["as_of_ts"], cohorts["roc_auc"], marker="o", color=KEPT_COLOUR)
    left.set_title("ROC AUC per scored night")
    left.set_ylim(0.5, 1.0)
    right.plot(cohorts["as_of_ts"], cohorts["ece"], marker="o", color=BREACH_COLOUR, label="calibration error")
    right.plot(cohorts["as_of_ts"], cohorts["conversion_rate"], marker="s", color="grey", label="conversion rate")
    right.plot(cohorts["as_of_ts"], cohorts["mean_probability"], marker="^", color=PROMISE_COLOUR,
               label="mean probability")
    right.set_title("Calibration per scored night")
    right.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1))
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def _barh(ax, labels, values, *, title: str, colour: str, percent: bool) -> None:
    y = np.arange(len(labels))
    ax.barh(y, values, color=colour)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    if percent:
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))


def _ratio_panel(ax, labels, table: pd.DataFrame) -> None:
    """Realized / expected per row with its interval, and the line where the score was exactly right."""
    y = np.arange(len(labels))
    ratio = table["realized_vs_expected"].to_numpy(dtype=float)
    low = np.nan_to_num(ratio - table["ratio_low"].to_numpy(dtype=float))
    high = np.nan_to_num(table["ratio_high"].to_numpy(dtype=float) - ratio)
    ax.errorbar(ratio, y, xerr=[low, high], fmt="o", color=PROMISE_COLOUR, ecolor="#a0aec0", capsize=3)
    ax.axvline(1.0, color="#4a5568", ls="--", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_title("realized / expected wins (matured)")
    ax.grid(alpha=0.3, axis="x")


def marketing_figure(by_channel: pd.DataFrame, quality_words: str):
    """Per channel: share of quality leads at hand-off, realized against expected wins, cost per quality lead."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100, sharey=True)
    labels = by_channel["channel"].astype(str).tolist()
    _barh(axes[0], labels, by_channel["quality_share"], title=f"share graded {quality_words} at hand-off",
          colour=KEPT_COLOUR, percent=True)
    _ratio_panel(axes[1], labels, by_channel)
    _barh(axes[2], labels, by_channel["cost_per_quality_lead"].fillna(0), title="cost per quality lead",
          colour=BREACH_COLOUR, percent=False)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)  # the table's order, top down (the panels share this axis)
    fig.tight_layout()
    return fig


def sales_figure(followed: pd.DataFrame, by_owner: pd.DataFrame, by_speed: pd.DataFrame, *, grade_order: list[str],
                 first_grade_sla_hours: float | None):
    """Follow-up latency by grade, each owner's share of top-grade leads touched in time, conversion by speed."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), dpi=100)
    grades = [g for g in grade_order if g in set(followed["grade"])]
    data = [followed.loc[followed["grade"] == g, "latency_hours"].dropna() / 24 for g in grades]
    axes[0].boxplot(data, tick_labels=grades, showfliers=False)
    axes[0].set_title("days from graded to first sales touch")
    axes[0].grid(alpha=0.3)
    first = grade_order[0]
    share = by_owner[f"{first}_within_sla_share"].fillna(0)
    _barh(axes[1], by_owner["owner_id"].astype(str).tolist(), share, colour=KEPT_COLOUR, percent=True,
          title=f"{first} leads touched within {first_grade_sla_hours:g} h" if first_grade_sla_hours
          else f"{first} leads touched in time")
    axes[1].set_xlim(0, 1)
    axes[2].bar(by_speed["speed"].astype(str), by_speed["conversion_rate"].fillna(0), color=PROMISE_COLOUR)
    axes[2].set_title("conversion by follow-up speed (matured)")
    axes[2].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=1))
    axes[2].tick_params(axis="x", labelrotation=25, labelsize=8)
    axes[2].grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def drift_figure(drift: pd.DataFrame, *, warn: float, alert: float, top: int = 15):
    """The largest population shifts (PSI) of the latest night, with the warning and alert lines."""
    part = drift.head(top)
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(part) + 1.2), dpi=100)
    colours = np.where(part["psi"] > alert, BREACH_COLOUR, np.where(part["psi"] > warn, "#dd6b20", KEPT_COLOUR))
    y = np.arange(len(part))
    ax.barh(y, part["psi"], color=colours)
    ax.set_yticks(y, part["column"], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(warn, color="#dd6b20", ls="--", lw=1, label=f"warning {warn}")
    ax.axvline(alert, color=BREACH_COLOUR, ls="--", lw=1, label=f"alert {alert}")
    ax.set_title("Population stability index against the champion's reference")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
