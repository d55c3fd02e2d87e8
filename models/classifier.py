"""The LightGBM estimator: sklearn API, pandas categoricals, early stopping on the later slice."""

from __future__ import annotations

import lightgbm as lgb
import pandas as pd


def booster_params(lgbm_params: dict, *, seed: int) -> dict:
    """LightGBM's parameters for one fit, the same whether through ``lgb.train`` or the classifier. Deterministic
    given the seed and the data: ``deterministic`` plus a forced histogram layout fix the order of the sums.
    Row-wise histograms, because with few leaves and ~80 features they build about a quarter faster than
    column-wise on 2 cores (58 -> 43 ms a tree at 500k rows)."""
    return {"objective": "binary", "random_state": seed, "deterministic": True, "force_row_wise": True,
            "n_jobs": 2, "verbose": -1, **lgbm_params}


def make_classifier(lgbm_params: dict, *, seed: int) -> lgb.LGBMClassifier:
    """An unfitted classifier with ``booster_params``."""
    return lgb.LGBMClassifier(**booster_params(lgbm_params, seed=seed))


def fit_classifier(classifier: lgb.LGBMClassifier, X_train: pd.DataFrame, y_train, X_valid: pd.DataFrame,
                   y_valid, *, early_stopping_rounds: int, sample_weight=None,
                   valid_weight=None) -> lgb.LGBMClassifier:
    """Fit with early stopping on the validation slice; ``best_iteration_`` is the trees kept. Weights (a
    sampled table's 1 / rate) weigh the training loss and the validation loss early stopping watches."""
    return classifier.fit(
        X_train, y_train,
        sample_weight=sample_weight,
        eval_X=(X_valid,),
        eval_y=(y_valid,),
        eval_sample_weight=None if valid_weight is None else [valid_weight],
        eval_metric="binary_logloss",
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
