"""The data contract: validate_sources canonicalises good loads and names every problem in bad ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import SourceError, validate_sources

UTC_NS = "datetime64[ns, UTC]"


def _valid() -> dict[str, pd.DataFrame]:
    """Minimal valid sources: timestamps as ISO strings (with and without offset) and naive datetimes."""
    return {
        "leads": pd.DataFrame({
            "lead_id": np.array([1, 2, 3], dtype="int64"),
            "created_ts": ["2025-01-01T10:00:00Z", "2025-01-02 00:00:00+02:00", "2025-01-03"],
            "source": ["web", "ads", "web"],
        }),
        "opportunities": pd.DataFrame({
            "lead_id": np.array([1, 3], dtype="int64"),
            "created_ts": pd.to_datetime(["2025-01-05 09:00", "2025-01-06 12:30"]),  # naive
            "closed_ts": pd.to_datetime(["2025-02-01", None]),  # an open opportunity has no close
            "is_won": [True, False],
        }),
    }


def _problems(tables) -> list[str]:
    with pytest.raises(SourceError) as info:
        validate_sources(tables)
    assert str(info.value).startswith("source data breaks the contract")
    return info.value.problems


def test_valid_minimal_sources_pass_with_canonical_timestamps():
    """ISO strings are parsed (offsets converted), naive datetimes taken as UTC, all ns UTC."""
    out = validate_sources(_valid())
    assert set(out) == {"leads", "opportunities"}  # optional tables may be absent
    leads, opps = out["leads"], out["opportunities"]
    for col in (leads["created_ts"], opps["created_ts"], opps["closed_ts"]):
        assert str(col.dtype) == UTC_NS
    assert leads["created_ts"].tolist() == [pd.Timestamp("2025-01-01 10:00", tz="UTC"),
                                            pd.Timestamp("2025-01-01 22:00", tz="UTC"),
                                            pd.Timestamp("2025-01-03", tz="UTC")]
    assert opps["created_ts"].tolist() == [pd.Timestamp("2025-01-05 09:00", tz="UTC"),
                                           pd.Timestamp("2025-01-06 12:30", tz="UTC")]
    assert pd.isna(opps["closed_ts"].iloc[1])


def test_non_utc_aware_timestamps_are_converted():
    """A tz-aware column in another zone keeps the instant and becomes UTC."""
    tables = _valid()
    tables["leads"]["created_ts"] = pd.Series(
        pd.to_datetime(["2025-01-01 12:00"] * 3).tz_localize("Europe/Berlin"))
    out = validate_sources(tables)
    assert str(out["leads"]["created_ts"].dtype) == UTC_NS
    assert out["leads"]["created_ts"].iloc[0] == pd.Timestamp("2025-01-01 11:00", tz="UTC")


def test_inputs_are_not_mutated():
    """Validation returns converted copies; the caller's frames keep their original dtypes."""
    tables = _valid()
    validate_sources(tables)
    assert tables["leads"]["created_ts"].iloc[0] == "2025-01-01T10:00:00Z"
    assert tables["opportunities"]["created_ts"].dt.tz is None


def test_optional_tables_are_validated_when_present():
    """Optional tables, when given, are returned with canonical dtypes too."""
    tables = _valid()
    tables["engagement_events"] = pd.DataFrame({
        "lead_id": np.array([1, 2], dtype="int64"),
        "event_ts": ["2025-01-03T08:00:00Z", "2025-01-04T08:00:00Z"],
        "event_type": ["web_visit", "email_open"],
    })
    tables["accounts"] = pd.DataFrame({"account_id": np.array([5], dtype="int64"), "employees": [12.0]})
    out = validate_sources(tables)
    assert str(out["engagement_events"]["event_ts"].dtype) == UTC_NS
    assert set(out) == {"leads", "opportunities", "engagement_events", "accounts"}


def test_nullable_float_ids_become_integers():
    """CSV loads turn an id column with blanks into float; it comes back as nullable integers."""
    tables = _valid()
    tables["leads"]["account_id"] = [10.0, np.nan, 11.0]
    tables["accounts"] = pd.DataFrame({"account_id": np.array([10, 11], dtype="int64")})
    out = validate_sources(tables)
    assert str(out["leads"]["account_id"].dtype) == "Int64"
    assert out["leads"]["account_id"].tolist()[::2] == [10, 11]


# --- every class of bad input: a SourceError naming table, column and row count -----------------

def _drop_table(name):
    def change(t):
        del t[name]
    return change


def _set(table, column, values):
    def change(t):
        t[table][column] = values
    return change


def _drop_column(table, column):
    def change(t):
        t[table] = t[table].drop(columns=column)
    return change


def _add(table, frame):
    def change(t):
        t[table] = frame
    return change


def _duplicate_leads(t):
    t["leads"] = pd.DataFrame({"lead_id": np.array([1, 1, 1, 3], dtype="int64"),
                               "created_ts": ["2025-01-01"] * 4, "source": ["web"] * 4})


BAD = {
    "missing leads": (_drop_table("leads"), ["leads:", "missing", "mandatory"]),
    "missing opportunities": (_drop_table("opportunities"), ["opportunities:", "missing", "mandatory"]),
    "missing required column": (_drop_column("leads", "source"),
                                ["leads.source", "required column is missing", "3 rows"]),
    "missing opportunity column": (_drop_column("opportunities", "is_won"),
                                   ["opportunities.is_won", "required column is missing", "2 rows"]),
    "numeric created_ts": (_set("leads", "created_ts", [1, 2, 3]),
                           ["leads.created_ts", "expected timestamps", "int64", "3 rows"]),
    "text employees": (_add("accounts", pd.DataFrame({"account_id": np.array([5, 6], dtype="int64"),
                                                      "employees": ["many", "few"]})),
                       ["accounts.employees", "expected numbers", "2 rows"]),
    "text is_won": (_set("opportunities", "is_won", ["yes", "no"]),
                    ["opportunities.is_won", "expected booleans", "2 rows"]),
    "numeric source": (_set("leads", "source", [1, 2, 3]), ["leads.source", "expected text", "3 rows"]),
    # "01/02/2025" is a date to dateutil but ambiguous, and not ISO 8601: rejected too.
    "unparseable timestamps": (_set("leads", "created_ts", ["2025-01-01", "yesterday", "01/02/2025"]),
                               ["leads.created_ts", "2 rows", "not parseable"]),
    "fractional ids": (_set("leads", "lead_id", [1.0, 2.5, 3.0]), ["leads.lead_id", "1 rows", "fractional"]),
    "null lead_id": (_set("leads", "lead_id", [1.0, np.nan, 3.0]), ["leads.lead_id", "1 rows", "null"]),
    "null text lead_id": (_set("leads", "lead_id", ["a", None, "c"]), ["leads.lead_id", "1 rows", "null"]),
    "null created_ts": (_set("leads", "created_ts", ["2025-01-01", None, None]),
                        ["leads.created_ts", "2 rows", "null"]),
    "null opportunity created_ts": (_set("opportunities", "created_ts", pd.to_datetime([None, "2025-01-02"])),
                                    ["opportunities.created_ts", "1 rows", "null"]),
    "duplicated lead_id": (_duplicate_leads, ["leads.lead_id", "3 rows", "duplicated"]),
    "events for unknown leads": (
        _add("engagement_events", pd.DataFrame({"lead_id": np.array([1, 7, 8], dtype="int64"),
                                                "event_ts": ["2025-01-03"] * 3,
                                                "event_type": ["web_visit"] * 3})),
        ["engagement_events.lead_id", "2 rows", "not in leads"]),
    "opportunity for unknown lead": (_set("opportunities", "lead_id", np.array([1, 9], dtype="int64")),
                                     ["opportunities.lead_id", "1 rows", "not in leads"]),
    "lead with unknown account": (
        lambda t: (_set("leads", "account_id", [5.0, 6.0, np.nan])(t),
                   _add("accounts", pd.DataFrame({"account_id": np.array([5], dtype="int64")}))(t)),
        ["leads.account_id", "1 rows", "not in accounts"]),
    "unknown table": (_add("contacts", pd.DataFrame({"x": [1]})), ["contacts:", "unknown table"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_raises_source_error_naming_table_column_and_rows(case):
    """Whoever owns the extract must be able to fix it from the message alone."""
    change, fragments = BAD[case]
    tables = _valid()
    change(tables)
    problems = _problems(tables)
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0], (fragment, problems[0])


def test_null_ids_are_not_reported_as_duplicates():
    """Two leads with no id are a null problem, not a duplicate-key problem: the extract owner would
    go hunting for a lead_id shared by two rows that does not exist."""
    tables = _valid()
    tables["leads"]["lead_id"] = [1.0, np.nan, np.nan]
    assert _problems(tables) == ["leads.lead_id: 2 rows are null"]


def test_several_problems_are_all_reported():
    """One run lists every contract breach, not just the first, each on its own line."""
    tables = _valid()
    tables["leads"] = tables["leads"].drop(columns="source")
    tables["opportunities"]["created_ts"] = [1, 2]
    tables["accounts"] = pd.DataFrame({"account_id": np.array([5], dtype="int64"), "employees": ["x"]})
    tables["engagement_events"] = pd.DataFrame({"lead_id": np.array([1], dtype="int64"),
                                                "event_ts": ["not a time"], "event_type": ["web_visit"]})
    tables["contacts"] = pd.DataFrame({"x": [1]})
    problems = _problems(tables)
    expected = ["leads.source", "opportunities.created_ts", "accounts.employees",
                "engagement_events.event_ts", "contacts:"]
    assert len(problems) == len(expected), problems
    for name in expected:
        assert sum(p.startswith(name) for p in problems) == 1, (name, problems)


def test_missing_both_mandatory_tables_reports_both():
    """An empty extract names both mandatory tables."""
    problems = _problems({})
    assert sorted(p.split(":")[0] for p in problems) == ["leads", "opportunities"]
