"""Population stability: does tonight's population look like the one the model was checked on?

The reference is frozen into the model version at training time (the validation slice): per numeric
feature its decile edges and the share of rows in each bin, per category feature the share of each level.
PSI = Σ (actual − expected) · ln(actual / expected), with a small floor so empty bins stay finite.
Rules of thumb used in credit scoring and lead scoring alike: below 0.1 stable, 0.1–0.25 shifting,
above 0.25 shifted.

A reference from a sampled training table (``features.sampling``) is weighted: each row counts its weight, so
the reference describes the full population the nightly job scores, not the sample enriched in conversions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_FLOOR = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_reference(values: pd.Series, bins: int = 10, weights: np.ndarray | None = None) -> dict:
    """Decile edges (distinct) and the share of rows per bin, missing values as a bin of their own."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    present = ~np.isnan(v)
    q = np.linspace(0, 1, bins + 1)[1:-1]
    if not present.any():
        edges = np.array([])
    elif weights is None:
        edges = np.unique(np.quantile(v[present], q))
    else:
        edges = np.unique(np.quantile(v[present], q, weights=weights[present], method="inverted_cdf"))
    return {"kind": "numeric", "edges": edges.tolist(), "expected": numeric_shares(v, edges, weights).tolist()}


def numeric_shares(values, edges, weights: np.ndarray | None = None) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    idx = np.where(np.isnan(v), len(edges) + 1, np.searchsorted(np.asarray(edges), v, side="right"))
    if weights is not None:
        return np.bincount(idx.astype(np.int64), weights=weights, minlength=len(edges) + 2) / max(weights.sum(), 1e-300)
    counts = np.bincount(idx.astype(np.int64), minlength=len(edges) + 2)
    return counts / max(len(v), 1)


def category_reference(values: pd.Series, weights: np.ndarray | None = None) -> dict:
    text = values.astype("object").where(values.notna(), "(missing)").astype(str)
    if weights is None:
        shares = text.value_counts(normalize=True)
    else:
        shares = pd.Series(weights).groupby(text.to_numpy()).sum().sort_values(ascending=False, kind="stable")
        shares = shares / shares.sum()
    return {"kind": "category", "levels": shares.index.tolist(), "expected": shares.to_numpy().tolist()}


def category_shares(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Shares of the reference levels, plus one slot for levels the reference never saw."""
    text = values.astype("object").where(values.notna(), "(missing)").astype(str)
    counts = text.value_counts()
    known = np.array([counts.get(level, 0) for level in levels], dtype=float)
    unseen = len(text) - known.sum()
    return np.append(known, unseen) / max(len(text), 1)


def build_reference(X: pd.DataFrame, probability: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """``weights``: the rows' sampling weights (None: each row once)."""
    w = None if weights is None else np.asarray(weights, dtype=float)
    ref = {}
    for col in X.columns:
        if isinstance(X[col].dtype, pd.CategoricalDtype) or X[col].dtype == object:
            ref[col] = category_reference(X[col], weights=w)
        else:
            ref[col] = numeric_reference(X[col], weights=w)
    ref["probability"] = numeric_reference(pd.Series(probability), weights=w)
    return ref


def population_stability(reference: dict, X: pd.DataFrame, probability: np.ndarray) -> pd.DataFrame:
    """PSI of every referenced column (features and the probability), highest first."""
    return stability_from_counts(reference, population_counts(reference, X, probability), len(X))


def population_counts(reference: dict, X: pd.DataFrame, probability: np.ndarray) -> dict[str, np.ndarray]:
    """Rows per reference bin (level) of every referenced column: counts of parts of a population add up to the
    whole's, so a population scored in pieces (the Spark engine's partitions) gets the same PSI."""
    frame = X.assign(probability=np.asarray(probability, dtype=float))
    counts = {}
    for col, ref in reference.items():
        if col not in frame.columns:
            continue
        if ref["kind"] == "numeric":
            counts[col] = numeric_shares(pd.to_numeric(frame[col], errors="coerce"), ref["edges"]) * len(frame)
        else:
            counts[col] = category_shares(frame[col], ref["levels"]) * len(frame)
    return {col: np.rint(c).astype(np.int64) for col, c in counts.items()}


def stability_from_counts(reference: dict, counts: dict[str, np.ndarray], rows: int) -> pd.DataFrame:
    """PSI per column from :func:`population_counts` of ``rows`` rows (summed over parts), highest first."""
    out = []
    for col, ref in reference.items():
        if col not in counts:
            continue
        expected = np.asarray(ref["expected"]) if ref["kind"] == "numeric" else np.append(ref["expected"], 0.0)
        out.append({"column": col, "psi": psi(expected, np.asarray(counts[col], dtype=float) / max(rows, 1))})
    return pd.DataFrame(out, columns=["column", "psi"]).sort_values("psi", ascending=False, ignore_index=True)


def drift_warnings(drift: pd.DataFrame, *, warn: float, alert: float) -> list[str]:
    """One line per column whose PSI is above the warning level; ALERT above the alert level."""
    out = []
    for row in drift.itertuples():
        if row.psi > alert:
            out.append(f"ALERT drift in {row.column}: PSI {row.psi:.3f} > {alert}")
        elif row.psi > warn:
            out.append(f"drift in {row.column}: PSI {row.psi:.3f} > {warn}")
    return out
