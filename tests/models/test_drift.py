"""Population stability: quiet on the same population, loud on a shifted one."""

import numpy as np
import pandas as pd
import pytest

from models.drift import build_reference, population_stability, psi


def _frame(rng, n, shift=0.0, mix=("software", "retail")):
    return pd.DataFrame({
        "eng__web_visit_30d": rng.poisson(2.0 + shift, n).astype(float),
        "fit__industry": pd.Categorical(rng.choice(mix, n)),
    })


def test_psi_of_identical_shares_is_zero_and_grows_with_the_gap():
    assert psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    assert psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.9, 0.1])


def test_drift_flags_a_shifted_feature_and_stays_quiet_on_an_unshifted_one():
    rng = np.random.default_rng(0)
    reference_rows = _frame(rng, 20_000)
    ref = build_reference(reference_rows, rng.random(20_000))
    tonight = _frame(rng, 5_000, shift=3.0)
    table = population_stability(ref, tonight, rng.random(5_000)).set_index("column")["psi"]
    assert table["eng__web_visit_30d"] > 0.25
    assert table["fit__industry"] < 0.1
    assert table["probability"] < 0.1


def test_unseen_categories_and_missing_values_count_as_drift():
    rng = np.random.default_rng(1)
    ref = build_reference(_frame(rng, 10_000), rng.random(10_000))
    tonight = _frame(rng, 2_000, mix=("aerospace",))
    tonight.loc[:999, "eng__web_visit_30d"] = np.nan
    table = population_stability(ref, tonight, rng.random(2_000)).set_index("column")["psi"]
    assert table["fit__industry"] > 1.0
    assert table["eng__web_visit_30d"] > 0.25
