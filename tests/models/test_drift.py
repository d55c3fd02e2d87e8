"""Population stability: quiet on the same population, loud on a shifted one."""

import numpy as np
import pandas as pd
import pytest

from models.drift import build_reference, population_counts, population_stability, psi, stability_from_counts


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


def test_counts_of_parts_add_up_to_the_whole_populations_psi():
    """The Spark engine counts each partition's rows per bin and adds them: the PSI must be the whole's."""
    rng = np.random.default_rng(2)
    ref = build_reference(_frame(rng, 10_000), rng.random(10_000))
    tonight, probability = _frame(rng, 3_001, shift=1.0, mix=("software", "retail", "aerospace")), rng.random(3_001)
    tonight.loc[:99, "eng__web_visit_30d"] = np.nan
    whole = population_stability(ref, tonight, probability)
    parts = [population_counts(ref, tonight.iloc[a:b], probability[a:b]) for a, b in ((0, 1_000), (1_000, 3_001))]
    summed = {col: parts[0][col] + parts[1][col] for col in parts[0]}
    pd.testing.assert_frame_equal(stability_from_counts(ref, summed, len(tonight)), whole)
    assert set(whole["column"]) == {"eng__web_visit_30d", "fit__industry", "probability"}
