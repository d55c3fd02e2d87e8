"""``LeadScorer.reasons`` works column-wise (a million leads in seconds); its texts are exactly those of the
row-by-row loop it replaced, kept here as the oracle, for every family on a few thousand demo leads, and on
hand-made effects with ties, zeros and features that read the same."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_reasons import demo  # noqa: F401  (the demo world's snapshots: a module fixture)

from features.specs import COUNT, DAYS, DECIMAL, NUMBER, RATIO, FeatureSpec
from models.calibration import ProbabilityCalibrator
from models.families import FAMILIES, fit_family
from models.scorer import (
    FEW_LEADS,
    LeadScorer,
    _points_texts,
    _reason_texts,
    _reason_texts_by_lead,
    build_scorer,
    effect_points,
    strongest_effects,
)


def _row_by_row(X, feature_names, effects, candidates, context, words, *, positive, negative):
    """The loop ``LeadScorer.reasons`` ran per lead before (issue 17), word for word."""
    columns = {c: X[c].to_numpy(dtype=object) for c in feature_names}
    pos_text, neg_text = [], []
    for row in range(len(X)):
        told: dict[str, float] = {}
        for idx in dict.fromkeys(candidates[row].tolist()):
            effect = effects[row, idx]
            if effect != 0:
                ctx = tuple(columns[c][row] for c in context[idx])
                text = words(idx, effect < 0, columns[feature_names[idx]][row], ctx)
                told[text] = told.get(text, 0.0) + effect
        ranked = sorted(told.items(), key=lambda item: item[1])
        pos_text.append(" · ".join(f"{t} ({effect_points(e)})" for t, e in ranked[::-1][:positive] if e > 0))
        neg_text.append(" · ".join(f"{t} ({effect_points(e)})" for t, e in ranked[:negative] if e < 0))
    return pos_text, neg_text


def _candidates(effects, positive=3, negative=2, spare=2):
    order = np.argsort(effects, axis=1, kind="stable")
    return np.concatenate([order[:, ::-1][:, :positive + spare], order[:, :negative + spare]], axis=1)


def test_hand_made_ties_zeros_and_same_words():
    rng = np.random.default_rng(0)
    n, f = 3000, 6
    X = pd.DataFrame({f"f{i}": rng.integers(0, 3, n).astype(float) for i in range(f)})
    X["f5"] = pd.Categorical(rng.choice(["a", "b", None], n), categories=["a", "b"])
    X.loc[X.index[:20], "f0"] = -0.0
    effects = rng.choice([-0.02, -0.01, 0.0, 0.01, 0.02, 0.015], size=(n, f))  # many ties and zeros

    def words(idx, against, value, ctx):  # f0 and f1 read the same; f2 reads its context f3
        if idx in (0, 1):
            return f"same {value:g}"
        return f"f{idx} {value} {'against' if against else 'for'} {ctx}"

    context = [(), (), ("f3",), (), (), ()]
    for positive, negative in ((3, 2), (1, 1), (5, 4)):
        candidates = _candidates(effects, positive, negative)
        args = (X, list(X.columns), effects, candidates, context, words)
        ours = _reason_texts(*args, positive=positive, negative=negative, catalog={})
        oracle = _row_by_row(*args, positive=positive, negative=negative)
        assert tuple(t.tolist() for t in ours) == oracle
        by_lead = _reason_texts_by_lead(*args, positive=positive, negative=negative)  # a few leads' path
        assert tuple(t.tolist() for t in by_lead) == oracle
        assert all(str(t.dtype) == str(o.dtype) for t, o in zip(by_lead, ours, strict=True))


def test_the_strongest_effects_are_the_ends_of_a_stable_sort():
    rng = np.random.default_rng(1)
    for width, largest, smallest in ((45, 5, 4), (3, 5, 4), (1, 5, 4), (10, 0, 4), (10, 5, 0)):
        effects = np.round(rng.normal(0, 1, (5000, width)), 1)  # many ties
        effects[:, ::3] = 0.0
        assert np.array_equal(strongest_effects(effects, largest, smallest),
                              _candidates(effects, largest - 2, smallest - 2) if largest >= 2 and smallest >= 2
                              else np.concatenate([np.argsort(effects, axis=1, kind="stable")[:, ::-1][:, :largest],
                                                   np.argsort(effects, axis=1, kind="stable")[:, :smallest]], axis=1))


def test_points_are_formatted_once_per_text_and_read_as_one_at_a_time():
    rng = np.random.default_rng(2)
    ties = np.array([0.0, -0.0, 0.00095, -0.00095, 0.00005, 0.0005, 0.00125, 0.000125, 0.00095000001, 0.0009499999,
                     0.0015, 0.0025, 0.0035, -0.0045, 0.00015, 0.00025])  # the edges of each precision, halves
    effects = np.concatenate([ties, rng.normal(0, 0.05, 20000), rng.normal(0, 0.0005, 20000),
                              np.round(rng.normal(0, 0.05, 20000), 3), np.round(rng.normal(0, 0.001, 20000), 4)])
    texts, position = _points_texts(effects)
    assert texts[position].tolist() == [effect_points(e) for e in effects.tolist()]
    assert len(texts) < len(effects) / 10


@pytest.mark.parametrize("kind", [DAYS, NUMBER, COUNT, RATIO, DECIMAL])
def test_values_with_one_word_key_read_the_same(kind):
    """Reasons ask for words once per key: two values may share a key only if their words are equal."""
    spec = FeatureSpec("f", "test", kind, "seen {value} days ago" if kind == DAYS else "has {value} of it")
    rng = np.random.default_rng(3)
    values = np.concatenate([np.arange(-3, 4) + 0.5, [-0.0, 0.0, -0.4, 0.4, np.nan, np.nan, 1e9 + 0.5],
                             rng.uniform(-5, 60, 5000), np.round(rng.uniform(0, 20, 2000), 1)])
    keys = spec.word_keys(values)
    words = np.array([spec.describe(v) for v in values.tolist()], dtype=object)
    for key in np.unique(keys):
        assert len(set(words[keys == key])) == 1, (kind, values[keys == key][:5])
    if kind in (DAYS, NUMBER):  # continuous values share keys: that is the point
        assert len(np.unique(keys)) < len(values) / 10


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_reads_as_the_row_loop_did(family, config, demo):  # noqa: F811
    train, valid, features, catalog = demo
    params = config.train.model_copy(update={
        "lgbm": config.train.lgbm.model_copy(update={"n_estimators": 200}), "early_stopping_rounds": 20})
    model = fit_family(family, train[features], train["label"].to_numpy(), valid[features],
                       valid["label"].to_numpy(), params=params)
    calibrator = ProbabilityCalibrator(raw_is_probability=model.raw_is_probability)
    calibrator.fit(model.predict_raw(valid[features]), valid["label"].to_numpy())
    scorer: LeadScorer = build_scorer(model, calibrator, valid[features], grade_shares={"A": 0.1, "B": 0.2},
                                      catalog=catalog)
    X = scorer.prepare(valid[features])
    out = scorer.reasons(X)
    effects = scorer.explain(X).effects
    specs = [scorer.catalog.get(c) for c in scorer.feature_names]
    typical = [None if s is None else scorer.feature_means.get(s.context[0] if s.context else n)
               for n, s in zip(scorer.feature_names, specs, strict=True)]
    context = [tuple(s.context) if s is not None and s.context else () for s in specs]

    def words(idx, against, value, ctx):
        spec = specs[idx]
        if spec is None:
            return f"{scorer.feature_names[idx]} = {value}"
        return spec.describe(value, against=against, typical=typical[idx], context=ctx)

    pos, neg = _row_by_row(X, scorer.feature_names, effects, _candidates(effects), context, words,
                           positive=3, negative=2)
    assert out["reasons_positive"].tolist() == pos
    assert out["reasons_negative"].tolist() == neg
    assert sum(bool(t) for t in pos) > len(pos) / 2
    for n in (1, FEW_LEADS):  # a lead scored on demand, worded lead by lead: the same words
        few = scorer.reasons(X.iloc[:n])
        assert few["reasons_positive"].tolist() == pos[:n] and few["reasons_negative"].tolist() == neg[:n]
        assert few["reasons_positive"].dtype == out["reasons_positive"].dtype
