"""The feature catalogue against a real training table: same columns, same order, same dtypes, readable words."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.catalog import build_catalog, model_features
from features.demo_world import generate_world
from features.fit import float32_exact_columns
from features.schema import validate_sources
from features.specs import FeatureSpec
from features.training_table import build_training_table, feature_columns

PREFIX = {"engagement": "eng__", "fit": "fit__", "lead": "lead__", "history": "hist__", "sales": "sales__"}


@pytest.fixture(scope="module")
def tables(config) -> dict[str, pd.DataFrame]:
    return validate_sources(generate_world(400, 3, config.generate).tables)


@pytest.fixture(scope="module")
def table(config, tables) -> pd.DataFrame:
    return build_training_table(tables, labels=config.labels, spine=config.spine, features=config.features)


@pytest.fixture(scope="module")
def catalog(config) -> list[FeatureSpec]:
    return build_catalog(config.features)


def test_catalogue_names_exactly_the_feature_columns_in_order(table, catalog):
    """No column the catalogue does not describe, no spec without a column, and the same order."""
    assert len(table) > 0
    built = [c for c in table.columns if "__" in c]
    assert [s.name for s in catalog] == built
    assert len({s.name for s in catalog}) == len(catalog)


def test_dtypes_match_the_catalogue(config, tables, table, catalog):
    """int32 counts, float64 days/numbers/ratios, int8 flags, category: what the model is trained on; the training
    table keeps the float64 numbers float32 holds exactly (whole account numbers) in float32."""
    exact = float32_exact_columns(tables["accounts"], config.features.fit)
    assert exact == ["fit__account_employees"]
    expected = {s.name: "float32" if s.name in exact else s.dtype for s in catalog}
    wrong = {s.name: (str(table[s.name].dtype), expected[s.name]) for s in catalog
             if str(table[s.name].dtype) != expected[s.name]}
    assert wrong == {}
    assert {s.kind for s in catalog} == {"count", "days", "category", "number", "flag", "ratio"}


def test_every_description_renders_for_a_real_value_and_for_nan(table, catalog):
    """Reasons shown to sales come from describe(): never empty, never a leftover {value} slot."""
    for spec in catalog:
        present = table[spec.name].dropna()
        assert len(present), f"{spec.name}: no value in the demo table to render"
        for value in (present.iloc[0], present.iloc[-1], np.nan, None):
            text = spec.describe(value)
            assert isinstance(text, str) and text.strip(), (spec.name, value)
            assert "{value}" not in text and "{" not in text, (spec.name, value, text)


def test_names_carry_their_source_prefix(catalog):
    """eng__, fit__, lead__, hist__, sales__: the prefix says which builder (and table) a column comes from."""
    for spec in catalog:
        assert spec.name.startswith(PREFIX[spec.source]), spec.name
    assert {s.source for s in catalog} == set(PREFIX)


def test_windowed_names_end_in_their_window(config, catalog):
    """Every window in params.yaml yields names ending in _<w>d whose words name the same window."""
    eng, sales = config.features.engagement, config.features.sales_touches
    windowed = {f"eng__{t}_{w}d": w for t in eng.event_types for w in eng.windows_days}
    windowed |= {f"eng__events_{w}d": w for w in eng.windows_days}
    windowed |= {f"eng__high_intent_{w}d": w for w in eng.high_intent.windows_days}
    windowed |= {f"sales__touches_{w}d": w for w in sales.windows_days}
    windowed |= {f"hist__account_other_leads_{config.features.history_recent_leads_days}d":
                 config.features.history_recent_leads_days}
    by_name = {s.name: s for s in catalog}
    for name, w in windowed.items():
        assert name in by_name, name
        words = "in the last day" if w == 1 else f"in the last {w} days"
        assert words in by_name[name].description, name
    # and no other count claims a window it does not have
    for spec in catalog:
        if spec.kind == "count" and "in the last" in spec.description:
            assert spec.name in windowed, spec.name


def test_sales_touches_stay_out_of_the_model_by_default(config, table, catalog):
    """Touches measure sales effort, not lead quality: monitoring columns only."""
    assert config.features.sales_touches.use_in_model is False
    sales = [s for s in catalog if s.source == "sales"]
    assert sales and not any(s.in_model for s in sales)
    assert all(s.in_model for s in catalog if s.source != "sales")
    inputs = model_features(config.features)
    assert not any(n.startswith("sales__") for n in inputs)
    assert feature_columns(table, config.features) == inputs


@pytest.mark.parametrize(("spec", "value", "text"), [
    (FeatureSpec("x__n", "engagement", "count", "visited {value} times"), 3.0, "visited 3 times"),
    (FeatureSpec("x__d", "engagement", "days", "{value} days ago", missing="never"), 2.6, "3 days ago"),
    (FeatureSpec("x__d", "engagement", "days", "{value} days ago", missing="never"), math.nan, "never"),
    (FeatureSpec("x__m", "fit", "number", "{value} staff"), 12500.0, "12,500 staff"),
    (FeatureSpec("x__r", "engagement", "ratio", "{value}x as much"), 2.0, "2.0x as much"),
    (FeatureSpec("x__f", "fit", "flag", "free email"), 1, "free email"),
    (FeatureSpec("x__f", "fit", "flag", "free email"), 0, "free email: no"),
    (FeatureSpec("x__f", "fit", "flag", "a customer", zero="not yet a customer"), 0, "not yet a customer"),
    (FeatureSpec("x__c", "fit", "category", "from {value}"), "DE", "from DE"),
    (FeatureSpec("x__c", "fit", "category", "from {value}", labels=(("DE", "Germany"),)), "DE", "from Germany"),
    (FeatureSpec("x__c", "fit", "category", "came through {value}"), "paid_search", "came through paid search"),
    (FeatureSpec("x__c", "fit", "category", "from {value}"), None, "from unknown"),
    (FeatureSpec("x__n", "engagement", "count", "visited {value} times"), 1, "visited once"),
    (FeatureSpec("x__n", "engagement", "count", "visited {value} times"), 2, "visited twice"),
    (FeatureSpec("x__n", "engagement", "count", "visited {value} times", zero="has not visited"), 0, "has not visited"),
    (FeatureSpec("x__n", "engagement", "count", "filled in {value} forms", one="filled in one form"), 1,
     "filled in one form"),
    (FeatureSpec("x__d", "engagement", "days", "{value} days ago"), 0.2, "today"),
    (FeatureSpec("x__d", "engagement", "days", "{value} days ago"), 1.1, "1 day ago"),
    (FeatureSpec("x__d", "engagement", "days", "last_visit {value} days before"), 1.0, "last_visit 1 day before"),
])
def test_describe_formats_by_kind(spec, value, text):
    """Counts as integers ("once", "twice"), days rounded ("today", "1 day ago"), numbers with separators,
    ratios to one decimal, flags in words of their own, categories by their labels."""
    assert spec.describe(value) == text


def test_a_reason_against_says_only_when_the_count_is_below_the_average_lead():
    spec = FeatureSpec("x__n", "engagement", "count", "opened campaign emails {value} times in the last 30 days")
    assert spec.describe(7, against=True, typical=12.0) == "opened campaign emails only 7 times in the last 30 days"
    assert spec.describe(7, against=True, typical=3.0) == "opened campaign emails 7 times in the last 30 days"
    assert spec.describe(7, typical=12.0) == "opened campaign emails 7 times in the last 30 days"


def test_decayed_engagement_reads_as_events_in_its_window_and_the_latest(catalog):
    spec = {s.name: s for s in catalog}["eng__decayed_events_hl7d"]
    assert spec.context == ("eng__events_7d", "eng__days_since_last_event")
    assert spec.describe(2.4, context=(4, 2.0)) == "engaged 4 times in the last 7 days, most recently 2 days ago"
    assert spec.describe(0.01, context=(0, 45.0)) == "has not engaged in the last 7 days (last time 45 days ago)"
    assert spec.describe(0.0, context=(0, np.nan)) == "has never engaged"
    assert spec.describe(1.0, against=True, typical=3.0, context=(1, 0.3)) == (
        "engaged only once in the last 7 days, most recently today")
