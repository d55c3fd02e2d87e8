"""Exact path-dependent TreeSHAP for LightGBM models of small trees, by table look-up.

LightGBM's ``pred_contrib`` walks every tree's paths for every row (about 87 s for a 1M-lead night). The
champion's trees are tiny (``num_leaves`` 7: at most 6 internal nodes), and a row's path-dependent TreeSHAP
values in one tree depend only on its *decision vector*: which way it goes at every internal node of the tree,
including nodes off its own path. So each tree has at most 2^6 = 64 possible answers, computed once per model:

- ``phi[pattern, k]`` for the tree's distinct features, exactly from the Shapley definition: with M distinct
  features, φ_i = Σ_{S ⊆ F\\{i}} |S|!(M−|S|−1)!/M! · (f(S∪{i}) − f(S)), where f(S) = Σ_leaves value · Π_{nodes
  on the leaf's path} w(node), w = 1[the pattern goes to this child] if the node's feature is in S, else
  count(child)/count(node) (LightGBM's TreeSHAP uses data counts as cover; ``tree.cpp``);
- the expected value Σ_leaves value · count(leaf)/count(root), as LightGBM's ``Tree::ExpectedValue``.

Per row, a compiled kernel (numba, parallel over rows) decides every internal node as LightGBM's
``NumericalDecision``/``CategoricalDecision`` do, and adds each tree's table row to the row's contributions:
``pred_contrib``'s layout (one column per feature, the last the expected value), equal to it to ~1e-15.

``TreeTables.from_booster`` returns None for what this does not cover (a tree of more than ``MAX_NODES``
internal nodes, linear trees, multiclass): callers then use ``pred_contrib`` so nothing is ever wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numba
import numpy as np
import pandas as pd
from numba import prange

MAX_NODES = 8  # internal nodes per tree: 2^8 decision patterns × 2^8 feature subsets at the most
ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold: smaller magnitudes are read as 0

MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
_MISSING = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}


@dataclass
class TreeTables:
    """A model's trees as flat arrays for the kernel, and each tree's SHAP table."""

    n_features: int
    node_start: np.ndarray      # per tree: its first internal node in the node arrays
    node_count: np.ndarray      # per tree: its number of internal nodes (bit j of a pattern: node j goes left)
    feature: np.ndarray         # per node: the feature it splits on
    threshold: np.ndarray       # per node: numerical threshold
    categorical: np.ndarray     # per node: 1 for a categorical split
    missing: np.ndarray         # per node: MISSING_NONE / MISSING_ZERO / MISSING_NAN
    default_left: np.ndarray    # per node: 1 when missing values go left
    cat_start: np.ndarray       # per node: its first word in ``cat_words`` (categorical splits)
    cat_len: np.ndarray         # per node: its number of 32-bit words
    cat_words: np.ndarray       # bitsets of the categories that go left
    table_start: np.ndarray     # per tree: its first value in ``table`` (rows of ``n_tree_features`` values)
    tree_feature_start: np.ndarray  # per tree: its first entry in ``tree_features``
    tree_feature_count: np.ndarray
    tree_features: np.ndarray   # each tree's distinct features, the columns of its table
    table: np.ndarray
    expected_value: float       # the sum of the trees' expected values: the bias column
    leaf_start: np.ndarray      # per tree: its first value in ``leaf_value`` (one per decision pattern)
    leaf_value: np.ndarray      # the value of the leaf each decision pattern reaches

    @classmethod
    def from_booster(cls, booster, *, max_nodes: int = MAX_NODES) -> TreeTables | None:
        """The tables of ``booster``'s trees (those ``predict`` uses by default), or None when a tree or the
        model is outside what the tables cover."""
        dump = booster.dump_model()
        if dump.get("num_class", 1) != 1 or dump.get("num_tree_per_iteration", 1) != 1:
            return None
        return cls.from_dump(dump, max_nodes=max_nodes)

    @classmethod
    def from_dump(cls, dump: dict, *, max_nodes: int = MAX_NODES) -> TreeTables | None:
        n_features = int(dump["max_feature_idx"]) + 1
        nodes: list[dict] = []
        node_start, node_count, table_start, tf_start, tf_count = [], [], [], [], []
        tree_features: list[int] = []
        tables: list[np.ndarray] = []
        leaf_start: list[int] = []
        leaf_values: list[np.ndarray] = []
        cat_words: list[int] = []
        cat_start: list[int] = []
        cat_len: list[int] = []
        expected = 0.0
        offset = 0
        for info in dump["tree_info"]:
            root = info["tree_structure"]
            internal, leaves = _walk(root)
            if len(internal) > max_nodes or any("leaf_coeff" in leaf for leaf, _ in leaves) or info.get("is_linear"):
                return None
            internal.sort(key=lambda node: node["split_index"])
            if [node["split_index"] for node in internal] != list(range(len(internal))):
                return None
            phi, features, value = _tree_table(internal, leaves)
            leaf_start.append(sum(len(v) for v in leaf_values))
            leaf_values.append(_pattern_leaves(internal, leaves))
            expected += value
            node_start.append(len(nodes))
            node_count.append(len(internal))
            for node in internal:
                nodes.append(node)
                if node["decision_type"] == "==":
                    words = _bitset(node["threshold"])
                    cat_start.append(len(cat_words))
                    cat_len.append(len(words))
                    cat_words.extend(words)
                else:
                    if node["decision_type"] != "<=":
                        return None
                    cat_start.append(0)
                    cat_len.append(0)
            table_start.append(offset)
            offset += phi.size
            tables.append(phi.ravel())
            tf_start.append(len(tree_features))
            tf_count.append(len(features))
            tree_features.extend(features)
        as_int = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
        return cls(
            n_features=n_features, node_start=as_int(node_start), node_count=as_int(node_count),
            feature=as_int([n["split_feature"] for n in nodes]),
            threshold=np.asarray([0.0 if n["decision_type"] == "==" else float(n["threshold"]) for n in nodes],
                                 dtype=np.float64),
            categorical=as_int([n["decision_type"] == "==" for n in nodes]),
            missing=as_int([_MISSING[n.get("missing_type", "None")] for n in nodes]),
            default_left=as_int([bool(n.get("default_left", False)) for n in nodes]),
            cat_start=as_int(cat_start), cat_len=as_int(cat_len), cat_words=np.asarray(cat_words, dtype=np.uint32),
            table_start=as_int(table_start), tree_feature_start=as_int(tf_start), tree_feature_count=as_int(tf_count),
            tree_features=as_int(tree_features),
            table=np.concatenate(tables) if tables else np.zeros(0), expected_value=expected,
            leaf_start=as_int(leaf_start), leaf_value=np.concatenate(leaf_values) if leaf_values else np.zeros(0),
        )

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """``pred_contrib`` for a float64 matrix of the model's features (as LightGBM sees them: categories as
        codes, missing as NaN); column-major input is read without a copy."""
        return self.margin_and_contributions(values)[1]

    def margin(self, values: np.ndarray) -> np.ndarray:
        """``predict(raw_score=True)`` alone, bit for bit: every internal node of a tree is decided for a block of
        rows at once and the pattern picks the leaf, which on trees this small is about twice as fast as
        LightGBM's own walk of one row at a time (``make bench``)."""
        values = self._checked(values)
        margin = np.empty(values.shape[0])
        _margin_kernel(values, self.node_start, self.node_count, self.feature, self.threshold, self.categorical,
                       self.missing, self.default_left, self.cat_start, self.cat_len, self.cat_words,
                       self.leaf_start, self.leaf_value, margin)
        return margin

    def _checked(self, values: np.ndarray) -> np.ndarray:
        values = np.asfortranarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} feature columns, got shape {values.shape}")
        return values

    def margin_and_contributions(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(``predict(raw_score=True)``, ``pred_contrib``) from one walk of the trees: the margin is each
        tree's leaf value added in tree order, as LightGBM's ``PredictRaw`` adds them (the same bits)."""
        values = self._checked(values)
        out = np.empty((values.shape[0], self.n_features + 1))
        margin = np.empty(values.shape[0])
        _contrib_kernel(values, self.node_start, self.node_count, self.feature, self.threshold, self.categorical,
                        self.missing, self.default_left, self.cat_start, self.cat_len, self.cat_words,
                        self.table_start, self.tree_feature_start, self.tree_feature_count, self.tree_features,
                        self.table, self.expected_value, self.leaf_start, self.leaf_value, out, margin)
        return margin, out


def lightgbm_matrix(X: pd.DataFrame, pandas_categorical: list | None, *, dtype=np.float64) -> np.ndarray:
    """The float64 matrix LightGBM predicts on from a pandas frame (``lightgbm.basic._data_from_pandas``):
    category columns as their codes in the training categories (in order, ``pandas_categorical``), missing or
    unseen as NaN; other columns as float64 (or ``dtype``: training bins a float32 one)."""
    out = np.empty((len(X), X.shape[1]), dtype=dtype, order="F")  # column by column, as the kernel reads
    cat_index = 0
    for j, col in enumerate(X.columns):
        values = X[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            if pandas_categorical is not None and cat_index < len(pandas_categorical):
                categories = pandas_categorical[cat_index]
                if list(values.cat.categories) != list(categories):
                    values = values.cat.set_categories(categories)
            cat_index += 1
            codes = values.cat.codes.to_numpy().astype(dtype)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = values.to_numpy(dtype=dtype, na_value=np.nan)
    return out


def _walk(root: dict) -> tuple[list[dict], list[tuple[dict, list[tuple[int, bool]]]]]:
    """A tree's internal nodes, and each leaf with its path: (split_index, goes left) from the root down."""
    internal: list[dict] = []
    leaves: list[tuple[dict, list[tuple[int, bool]]]] = []
    stack = [(root, [])]
    while stack:
        node, path = stack.pop()
        if "split_index" not in node:
            leaves.append((node, path))
            continue
        internal.append(node)
        stack.append((node["right_child"], [*path, (node["split_index"], False)]))
        stack.append((node["left_child"], [*path, (node["split_index"], True)]))
    return internal, leaves


def _count(node: dict) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


def _tree_table(internal: list[dict], leaves) -> tuple[np.ndarray, list[int], float]:
    """(phi[pattern, k] for the tree's distinct features k, those features, the tree's expected value)."""
    if not internal:  # a single leaf: only the expected value
        return np.zeros((1, 0)), [], float(leaves[0][0]["leaf_value"])
    n_nodes = len(internal)
    features = sorted({int(node["split_feature"]) for node in internal})
    m = len(features)
    node_feature = np.array([features.index(int(node["split_feature"])) for node in internal])
    patterns = np.arange(1 << n_nodes)
    subsets = np.arange(1 << m)
    goes_left = (patterns[:, None] >> np.arange(n_nodes)[None, :]) & 1            # (P, N)
    in_subset = (subsets[:, None] >> node_feature[None, :]) & 1                   # (S, N)
    # each node's cover ratio to its left and right children
    by_index = {node["split_index"]: node for node in internal}
    ratio = {(j, side): _count(by_index[j][child]) / _count(by_index[j])
             for j in range(n_nodes) for side, child in ((True, "left_child"), (False, "right_child"))}
    f = np.zeros((len(subsets), len(patterns)))
    for leaf, path in leaves:
        weight = np.ones((len(subsets), len(patterns)))
        for j, left in path:
            hit = (goes_left[:, j] == (1 if left else 0)).astype(float)         # (P,)
            known = in_subset[:, j][:, None].astype(bool)                          # (S, 1)
            weight *= np.where(known, hit[None, :], ratio[(j, left)])
        f += float(leaf["leaf_value"]) * weight
    size = np.array([bin(s).count("1") for s in subsets])
    shapley = np.array([factorial(k) * factorial(m - k - 1) / factorial(m) if k < m else 0.0 for k in range(m + 1)])
    phi = np.empty((len(patterns), m))
    for i in range(m):
        without = subsets[(subsets >> i) & 1 == 0]
        phi[:, i] = shapley[size[without]] @ (f[without | (1 << i)] - f[without])
    root = next(node for node in internal if node["split_index"] == 0)
    total = _count(root)
    expected = sum(float(leaf["leaf_value"]) * (float(leaf["leaf_count"]) / total) for leaf, _ in leaves)
    return phi, features, expected


def _pattern_leaves(internal: list[dict], leaves) -> np.ndarray:
    """Per decision pattern (bit j: node j goes left), the value of the leaf the pattern reaches."""
    out = np.empty(1 << len(internal))
    for pattern in range(len(out)):
        for leaf, path in leaves:
            if all(((pattern >> j) & 1) == left for j, left in path):
                out[pattern] = float(leaf["leaf_value"])
                break
    return out


def _bitset(threshold) -> list[int]:
    """LightGBM's bitset of the categories in a dumped categorical threshold ``"a||b||c"``."""
    categories = [int(v) for v in str(threshold).split("||") if v != ""]
    words = [0] * (max(categories) // 32 + 1 if categories else 1)
    for c in categories:
        if c >= 0:
            words[c // 32] |= 1 << (c % 32)
    return words


@numba.njit(cache=True, nogil=True)
def _goes_left(fval, threshold, categorical, missing, default_left, cat_start, cat_len, cat_words):
    if categorical:  # Tree::CategoricalDecision
        if np.isnan(fval):
            return False
        code = int(fval)  # C's truncation toward zero
        if code < 0:
            return False
        word = code // 32
        if word >= cat_len:
            return False
        return (cat_words[cat_start + word] >> np.uint32(code % 32)) & np.uint32(1) == np.uint32(1)
    # Tree::NumericalDecision
    if np.isnan(fval):
        if missing == MISSING_NAN:
            return default_left == 1
        fval = 0.0
    if missing == MISSING_ZERO and -ZERO_THRESHOLD <= fval <= ZERO_THRESHOLD:
        return default_left == 1
    return fval <= threshold


BLOCK = 512  # rows a thread takes at once: their columns and sums stay in cache while every tree is added


@numba.njit(cache=True, nogil=True)
def _decision_patterns(values, lo, hi, first, count, feature, threshold, categorical, missing, default_left,
                       cat_start, cat_len, cat_words, pattern):
    """Each row's decision pattern in one tree (bit j set: internal node ``first + j`` sends it left), for rows
    ``lo:hi``, deciding node by node over a column so the common numerical case runs without branches."""
    size = hi - lo
    pattern[:size] = 0
    for j in range(count):
        node = first + j
        column = values[lo:hi, feature[node]]
        thr = threshold[node]
        if categorical[node] == 0 and missing[node] == MISSING_NONE:  # the common case, branch-free
            for i in range(size):
                fval = column[i]
                if np.isnan(fval) or (-ZERO_THRESHOLD <= fval <= ZERO_THRESHOLD):
                    fval = 0.0
                pattern[i] |= np.int64(fval <= thr) << j
        else:
            for i in range(size):
                fval = column[i]
                if -ZERO_THRESHOLD <= fval <= ZERO_THRESHOLD:  # LightGBM reads tiny values as 0
                    fval = 0.0
                if _goes_left(fval, thr, categorical[node], missing[node], default_left[node],
                              cat_start[node], cat_len[node], cat_words):
                    pattern[i] |= np.int64(1) << j


@numba.njit(cache=True, nogil=True)
def _add_tree(values, lo, hi, first, count, feature, threshold, categorical, missing, default_left, cat_start,
              cat_len, cat_words, leaves, leaf_value, pattern, raw):
    """One tree's leaf values added to rows ``lo:hi``' margins in ``raw``, their patterns left in ``pattern``."""
    _decision_patterns(values, lo, hi, first, count, feature, threshold, categorical, missing, default_left,
                       cat_start, cat_len, cat_words, pattern)
    for i in range(hi - lo):
        raw[i] += leaf_value[leaves + pattern[i]]


@numba.njit(parallel=True, cache=True, nogil=True)
def _margin_kernel(values, node_start, node_count, feature, threshold, categorical, missing, default_left,
                   cat_start, cat_len, cat_words, leaf_start, leaf_value, margin):
    n_rows = values.shape[0]
    n_blocks = (n_rows + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        lo = b * BLOCK
        hi = min(n_rows, lo + BLOCK)
        size = hi - lo
        pattern = np.empty(BLOCK, dtype=np.int64)
        raw = np.zeros(size)
        for t in range(node_start.shape[0]):
            _add_tree(values, lo, hi, node_start[t], node_count[t], feature, threshold, categorical, missing,
                      default_left, cat_start, cat_len, cat_words, leaf_start[t], leaf_value, pattern, raw)
        margin[lo:hi] = raw


@numba.njit(parallel=True, cache=True, nogil=True)
def _contrib_kernel(values, node_start, node_count, feature, threshold, categorical, missing, default_left,
                    cat_start, cat_len, cat_words, table_start, tree_feature_start, tree_feature_count,
                    tree_features, table, expected_value, leaf_start, leaf_value, out, margin):
    n_rows = values.shape[0]
    n_trees = node_start.shape[0]
    width = out.shape[1]
    n_blocks = (n_rows + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        lo = b * BLOCK
        hi = min(n_rows, lo + BLOCK)
        size = hi - lo
        pattern = np.empty(BLOCK, dtype=np.int64)
        acc = np.zeros((width, size))
        raw = np.zeros(size)
        for t in range(n_trees):
            _add_tree(values, lo, hi, node_start[t], node_count[t], feature, threshold, categorical, missing,
                      default_left, cat_start, cat_len, cat_words, leaf_start[t], leaf_value, pattern, raw)
            k_count = tree_feature_count[t]
            start = table_start[t]
            f_start = tree_feature_start[t]
            for k in range(k_count):
                target = acc[tree_features[f_start + k]]
                for i in range(size):
                    target[i] += table[start + pattern[i] * k_count + k]
        for i in range(size):
            for f in range(width - 1):
                out[lo + i, f] = acc[f, i]
            out[lo + i, width - 1] = expected_value
            margin[lo + i] = raw[i]
