"""The table TreeSHAP equals LightGBM's own ``pred_contrib`` on every row: numeric, categorical and missing
values, a feature split twice on one path, tiny values, unseen categories, one-leaf trees; and it steps aside
(``None``, so ``pred_contrib`` is used) for trees it does not cover."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.families import LgbmModel, family_from_artifacts, family_to_artifacts
from models.treeshap import TreeTables, lightgbm_matrix


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    x1 = rng.integers(0, 5, n).astype(float)
    x1[rng.random(n) < 0.15] = np.nan                       # missing → NaN handling
    x2 = np.where(rng.random(n) < 0.3, 0.0, rng.exponential(size=n))  # zeros (missing_type Zero)
    colour = pd.Categorical(rng.choice(["red", "green", "blue", "grey", "pink", None], n),
                            categories=["red", "green", "blue", "grey", "pink"])
    x4 = rng.uniform(-1, 1, n)
    logit = 1.5 * np.sin(3 * x0) + np.nan_to_num(x1, nan=2) * 0.4 - x2 + (np.asarray(colour) == "blue") * 1.2 + x4
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x0": x0, "x1": x1, "x2": x2, "colour": colour, "x4": x4}), y


def _train(params: dict, X: pd.DataFrame, y, rounds: int = 60) -> lgb.Booster:
    base = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.1, "min_data_in_leaf": 5,
            "min_data_per_group": 5, "cat_smooth": 1, "verbose": -1, "seed": 1, "num_threads": 1}
    return lgb.train({**base, **params}, lgb.Dataset(X, y), num_boost_round=rounds)


def _check(booster: lgb.Booster, X: pd.DataFrame) -> float:
    tables = TreeTables.from_booster(booster)
    assert tables is not None
    margin, ours = tables.margin_and_contributions(lightgbm_matrix(X, booster.pandas_categorical))
    theirs = booster.predict(X, pred_contrib=True)
    assert ours.shape == theirs.shape
    diff = float(np.max(np.abs(ours - theirs)))
    assert diff <= 1e-9, diff
    # the same walk gives the margin bit for bit, so a night that explains every lead predicts once
    np.testing.assert_array_equal(margin, booster.predict(X, raw_score=True))
    # and so does the walk that only predicts, row blocks of every size included (BLOCK = 512)
    matrix = lightgbm_matrix(X, booster.pandas_categorical)
    np.testing.assert_array_equal(tables.margin(matrix), margin)
    np.testing.assert_array_equal(tables.margin(matrix[:1]), margin[:1])
    return diff


@pytest.mark.parametrize("params", [
    {},
    {"use_missing": True, "zero_as_missing": True},           # missing_type Zero
    {"max_cat_to_onehot": 8},                                 # one-vs-rest categorical splits
    {"max_depth": 6, "num_leaves": 7, "min_data_in_leaf": 2},  # chains: a feature split twice on a path
])
def test_table_treeshap_equals_pred_contrib(params):
    X, y = _frame(3000, 0)
    booster = _train(params, X, y)
    X_new, _ = _frame(2000, 1)
    X_new.loc[X_new.index[:5], "x0"] = [1e-40, -1e-40, 0.0, np.nan, np.inf]   # tiny, zero, missing, infinite
    _check(booster, X_new)


def test_a_feature_split_twice_on_one_path():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 10, 4000)
    X = pd.DataFrame({"x": x, "z": rng.normal(size=4000)})
    y = ((x > 2) & (x < 4) | (x > 7)).astype(int)  # needs nested splits on x
    booster = _train({"min_data_in_leaf": 2}, X, y, rounds=20)
    dump = booster.dump_model()

    def repeats(node, seen=()):
        if "split_index" not in node:
            return False
        f = node["split_feature"]
        return f in seen or repeats(node["left_child"], (*seen, f)) or repeats(node["right_child"], (*seen, f))

    assert any(repeats(tree["tree_structure"]) for tree in dump["tree_info"])
    _check(booster, X)


def test_unseen_categories_and_one_leaf_trees():
    X, y = _frame(500, 4)
    booster = _train({"min_data_in_leaf": 200, "num_leaves": 3}, X, y, rounds=30)  # late trees: one leaf
    X_new = X.copy()
    X_new["colour"] = pd.Categorical(np.resize(["pink", "teal", None, "red"], len(X)),
                                     categories=["pink", "teal", "red"])  # other order, an unseen level
    _check(booster, X_new)


def test_big_trees_and_linear_trees_fall_back_to_pred_contrib():
    X, y = _frame(2000, 5)
    big = _train({"num_leaves": 31, "min_data_in_leaf": 5}, X, y, rounds=5)
    assert TreeTables.from_booster(big) is None
    numeric = X.drop(columns="colour")
    linear = _train({"linear_tree": True}, numeric, y, rounds=5)
    assert TreeTables.from_booster(linear) is None
    model = LgbmModel(booster=big)
    assert np.array_equal(model.contributions(X), big.predict(X, pred_contrib=True))
    matrix = lightgbm_matrix(X, big.pandas_categorical)
    np.testing.assert_array_equal(model.predict_matrix(matrix), big.predict(X))


def test_the_lgbm_family_uses_the_tables_and_rebuilds_them_from_its_text():
    X, y = _frame(3000, 6)
    model = LgbmModel(booster=_train({}, X, y))
    expected = model.booster.predict(X, pred_contrib=True)
    assert np.max(np.abs(model.contributions(X) - expected)) <= 1e-9
    rebuilt = family_from_artifacts("lgbm", family_to_artifacts(model))
    assert np.max(np.abs(rebuilt.contributions(X) - expected)) <= 1e-9
    assert "_tables" not in family_to_artifacts(model)


def test_the_lgbm_family_predicts_with_its_own_bits_while_it_explains():
    X, y = _frame(3000, 0)
    model = LgbmModel(booster=_train({}, X, y))
    X_new, _ = _frame(500, 2)
    raw, contrib = model.raw_and_contributions(X_new)
    np.testing.assert_array_equal(raw, model.predict_raw(X_new))
    np.testing.assert_array_equal(contrib, model.contributions(X_new))


def test_the_lgbm_family_predicts_a_matrix_with_lightgbms_bits_from_the_compiled_walk():
    X, y = _frame(3000, 0)
    model = LgbmModel(booster=_train({"zero_as_missing": True}, X, y))
    X_new, _ = _frame(1500, 3)
    matrix = lightgbm_matrix(X_new, model.booster.pandas_categorical)
    assert model._shap_tables() is not None  # the compiled walk, not LightGBM's, is what runs
    np.testing.assert_array_equal(model.predict_matrix(matrix), model.booster.predict(X_new))
    np.testing.assert_array_equal(model.predict_matrix(np.ascontiguousarray(matrix)), model.booster.predict(X_new))
