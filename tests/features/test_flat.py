"""A flat CRM export: type inference, the frozen column plan, the label, and errors that name the column."""

import numpy as np
import pandas as pd
import pytest

from features import flat
from features.params import SourceParams


def _export(n: int = 12) -> pd.DataFrame:
    """A hand-made export: one column of every kind an export holds, a yes/no converted flag."""
    return pd.DataFrame({
        "Lead ID": [f"L{i:03d}" for i in range(n)],
        "Created Date": [f"2024-03-{i + 1:02d}" for i in range(n)],
        "employees": [10, 250, 3, 40, 1200, 7, 80, 15, 600, 33, 2, 90][:n],
        "industry": ["retail", "software", "unknown", "retail", "software", "bank", "retail", "unknown",
                     "bank", "software", "retail", "bank"][:n],
        "newsletter": ["yes", "no"] * (n // 2),
        "is_partner": [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1][:n],
        "last_visit": [f"2024-04-{i + 1:02d}" for i in range(n)],
        "email": [f"person{i}@example{i}.com" for i in range(n)],
        "country": ["DE", "DE", "FR", "FR", "US", "US", "DE", "UK", "IT", "ES", "NL", "DE"][:n],
        "region": ["emea"] * n,
        "converted": ["yes", "no", "no", "no", "yes", "no", "no", "no", "yes", "no", "no", "yes"][:n],
    })


def _params(**overrides) -> SourceParams:
    base = {"kind": "flat", "id_column": "Lead ID", "created_column": "Created Date", "converted_column": "converted",
            "max_categories": 5, "max_unique_share": 0.9}
    return SourceParams(**{**base, **overrides})


def test_types_are_inferred_per_column():
    frame = _export()
    inferred = {c: flat.infer_type(frame[c], max_categories=5)[0] for c in frame.columns}
    assert inferred == {
        "Lead ID": flat.TEXT, "Created Date": flat.DATE, "employees": flat.NUMERIC, "industry": flat.CATEGORICAL,
        "newsletter": flat.BOOLEAN, "is_partner": flat.BOOLEAN, "last_visit": flat.DATE, "email": flat.TEXT,
        "country": flat.TEXT, "region": None, "converted": flat.BOOLEAN,
    }


def test_words_are_not_taken_for_dates():
    months = pd.Series(["may", "jun", "mon", "tue", "may"])
    assert flat.infer_type(months, max_categories=10)[0] == flat.CATEGORICAL
    parsed, bad = flat.parse_dates(pd.Series(["2024-03-01", "may", None]))
    assert parsed.iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert bad.tolist() == ["may"]


def test_the_plan_buckets_wide_text_drops_unique_text_and_constant_columns():
    plan = flat.plan_columns(_export(), _params(max_unique_share=0.7))
    by_column = {c.column: c for c in plan.columns}
    assert "Lead ID" not in by_column and "converted" not in by_column and "Created Date" not in by_column
    country = by_column["country"]  # 7 distinct in 12 rows: more than max_categories 5, under 70 % of the rows
    assert country.type == flat.TEXT  # the 5 most frequent (ties by name), the rest as (other)
    assert country.levels == ("DE", "ES", "FR", "IT", "US", flat.OTHER)
    assert by_column["email"].type is None and "identifier or free text" in by_column["email"].reason
    assert by_column["region"].type is None and "single value" in by_column["region"].reason
    assert by_column["industry"].levels == ("bank", "retail", "software", "unknown")  # "unknown" stays a level
    assert plan.features == ["crm__employees", "crm__industry", "crm__newsletter", "crm__is_partner",
                             "crm__last_visit", "crm__country"]


def test_types_can_be_overridden():
    plan = flat.plan_columns(_export(), _params(types={"employees": "categorical", "is_partner": "numeric"}))
    by_column = {c.column: c for c in plan.columns}
    assert by_column["employees"].type == flat.CATEGORICAL and by_column["employees"].reason == "set in source.types"
    assert by_column["is_partner"].type == flat.NUMERIC


def test_features_label_and_keys():
    frame = _export()
    plan = flat.plan_columns(frame, _params())
    table = flat.build_flat_table(frame, plan, extract_ts=flat.extract_time(frame, plan))
    assert table["lead_id"].tolist() == frame["Lead ID"].tolist()
    assert table["row_number"].tolist() == list(range(1, 13))
    assert table[flat.LABEL].tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1]
    assert table["crm__newsletter"].tolist() == [1.0, 0.0] * 6
    assert (table["crm__last_visit"] == -31).all()  # a date becomes its age in days when the lead was created
    assert isinstance(table["crm__industry"].dtype, pd.CategoricalDtype)
    assert table["crm__employees"].dtype == float
    assert (table["as_of_ts"].dt.dayofweek == 0).all()  # the week the lead was created (starting Monday)


def test_the_frozen_plan_scores_a_later_export_on_the_same_features():
    frame = _export()
    plan = flat.FlatPlan.from_dict(flat.plan_columns(frame, _params()).to_dict())
    later = frame.head(3).assign(country=["DE", "NL", None], industry=["retail", "mining", None])
    features = flat.build_flat_features(later, plan, extract_ts=None)
    assert features["crm__country"].astype(object).tolist()[:2] == ["DE", flat.OTHER]
    assert pd.isna(features["crm__country"].iloc[2])
    assert features["crm__industry"].astype(object).tolist()[0] == "retail"
    assert pd.isna(features["crm__industry"].iloc[1])  # an unseen category is missing, not a new level
    by_column = {c.column: c for c in plan.columns}
    assert list(features["crm__country"].cat.categories) == list(by_column["country"].levels)


def test_without_a_created_date_dates_age_at_the_extract_time_and_the_id_is_the_row_number():
    frame = _export().drop(columns=["Lead ID", "Created Date"])
    plan = flat.plan_columns(frame, _params(id_column=None, created_column=None))
    extract = flat.extract_time(frame, plan)
    assert extract == pd.Timestamp("2024-04-12", tz="UTC")
    table = flat.build_flat_table(frame, plan, extract_ts=extract)
    assert table["lead_id"].tolist() == list(range(1, 13))
    assert table["as_of_ts"].isna().all()
    assert table["crm__last_visit"].tolist() == [float(11 - i) for i in range(12)]


def test_a_converted_date_marks_conversions():
    frame = _export().assign(won_at=[None, "2024-05-02", None, None] * 3)
    label = flat.build_label(frame, _params(converted_column=None, converted_date_column="won_at"))
    assert label.tolist() == [0, 1, 0, 0] * 3


def _error(frame: pd.DataFrame, params: SourceParams, min_conversions: int = 1) -> str:
    with pytest.raises(flat.FlatSourceError) as info:
        flat.validate_flat_source(frame, params, min_conversions=min_conversions)
    return str(info.value)


def test_error_missing_id_column_names_it_and_shows_the_columns():
    message = _error(_export().drop(columns="Lead ID"), _params())
    assert "id_column 'Lead ID' is not a column of the export" in message
    assert "'Created Date', 'employees', 'industry'" in message


def test_error_duplicate_ids_names_the_column_and_the_ids():
    frame = _export()
    frame.loc[[3, 7], "Lead ID"] = "L001"
    message = _error(frame, _params())
    assert "id column 'Lead ID': 3 rows share their id with another row, e.g. 'L001'" in message


def test_error_converted_column_that_is_not_binary():
    frame = _export()
    frame.loc[[2, 5, 6], "converted"] = ["maybe", "pending", "maybe"]
    message = _error(frame, _params())
    assert "converted column 'converted' is not binary: 3 rows hold 'maybe', 'pending'" in message


def test_error_unparseable_dates_names_the_column_and_shows_examples():
    frame = _export()
    frame.loc[[1, 4], "Created Date"] = ["31/31/2024", "yesterday"]
    message = _error(frame, _params())
    assert "date column 'Created Date': 2 rows are not parseable dates, e.g. '31/31/2024', 'yesterday'" in message


def test_error_too_few_conversions_shows_the_count_and_the_values():
    message = _error(_export(), _params(), min_conversions=100)
    assert "converted column 'converted': 4 conversions in 12 rows; train.min_conversions is 100" in message
    assert "'no' (8), 'yes' (4)" in message


def test_examples_show_at_most_five_values():
    assert flat.examples(list("abcdefg")) == "'a', 'b', 'c', 'd', 'e' … (7 distinct)"
    assert flat.examples(np.array([1, 1, 2])) == "1, 2"


def test_a_valid_export_passes_with_exactly_the_conversions_it_needs_and_fails_with_one_fewer():
    frame = _export()
    assert flat.build_label(frame, _params()).sum() == 4
    assert flat.validate_flat_source(frame, _params(), min_conversions=4) is None
    assert "4 conversions in 12 rows; train.min_conversions is 5" in _error(frame, _params(), min_conversions=5)


def test_the_proposed_column_map():
    frame = _export().rename(columns={"last_visit": "status_changed"}).assign(call_duration=range(12))
    proposal = flat.propose_column_map(frame, max_categories=5)
    assert proposal.id_column == "Lead ID"
    assert proposal.created_column == "Created Date"
    assert proposal.converted_column == "converted"
    assert proposal.leaky == ("status_changed", "call_duration")
    assert proposal.types["industry"][0] == flat.CATEGORICAL and "Lead ID" not in proposal.types
    assert proposal.notes == ()


def test_the_proposal_says_when_the_row_number_is_the_id_and_row_order_the_split():
    frame = _export().drop(columns=["Lead ID", "Created Date", "last_visit", "email"]).rename(
        columns={"converted": "y"})
    proposal = flat.propose_column_map(frame)
    assert proposal.id_column is None and proposal.created_column is None and proposal.converted_column == "y"
    assert any("row number" in n for n in proposal.notes) and any("row order" in n for n in proposal.notes)
    with pytest.raises(flat.FlatSourceError, match="no converted column found"):
        flat.propose_column_map(frame.drop(columns="y"))


def test_catalog_words_come_from_column_names():
    frame = _export()
    plan = flat.plan_columns(frame, _params())
    specs = {s.name: s for s in flat.flat_catalog(plan)}
    assert specs["crm__industry"].describe("retail") == "industry is retail"
    assert specs["crm__employees"].describe(4.857) == "employees is 4.857"
    assert specs["crm__newsletter"].describe(1.0) == "newsletter: yes"
    assert specs["crm__newsletter"].describe(0.0) == "newsletter: no"
    assert specs["crm__last_visit"].describe(12.0) == "last_visit 12 days before the lead was created"
    assert specs["crm__employees"].describe(float("nan")) == "employees is empty"


def test_short_dates_are_read_in_the_order_their_values_tell():
    day_first = pd.Series(["05/01/2026", "31/01/2026", None, "2026-02-03"])
    parsed, bad = flat.parse_dates(day_first)
    assert flat.day_first_of(day_first) is True and bad.empty
    assert parsed.dt.strftime("%Y-%m-%d").tolist()[:2] == ["2026-01-05", "2026-01-31"]
    assert parsed.iloc[3] == pd.Timestamp("2026-02-03", tz="UTC")  # year first stays year-month-day
    month_first = pd.Series(["05/01/2026", "01/31/2026"])
    assert flat.day_first_of(month_first) is False
    assert flat.parse_dates(month_first)[0].iloc[0] == pd.Timestamp("2026-05-01", tz="UTC")
    ambiguous = pd.Series(["05/01/2026", "06.02.2026"])
    assert flat.day_first_of(ambiguous) is None
    assert flat.parse_dates(ambiguous, day_first=True)[0].iloc[1] == pd.Timestamp("2026-02-06", tz="UTC")
    assert flat.day_first_of(pd.Series(["13/01/2026", "01/13/2026"])) is None  # the values disagree
