"""The data contract: validate_sources canonicalises good loads and names every problem in bad ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.schema import (
    QUARANTINED_ACCOUNT,
    QUARANTINED_LEAD,
    QUARANTINED_OPPORTUNITY,
    REJECT_COLUMNS,
    SourceError,
    TooManyRejects,
    check_sources,
    reject_warnings,
    validate_sources,
)

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


# --- quarantine: check_sources keeps the good rows and gives every bad one a reason -------------

NOW = pd.Timestamp("2025-03-01", tz="UTC")


def _world() -> dict[str, pd.DataFrame]:
    """Valid sources with every table, small enough to reason about row by row."""
    tables = _valid()
    tables["accounts"] = pd.DataFrame({"account_id": np.array([5, 6], dtype="int64"), "employees": [40, 900]})
    tables["leads"]["account_id"] = np.array([5, 6, 5], dtype="int64")
    tables["engagement_events"] = pd.DataFrame({
        "lead_id": np.array([1, 2, 2, 3], dtype="int64"),
        "event_ts": ["2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"],
        "event_type": ["web_visit", "email_open", "web_visit", "email_click"],
    })
    tables["opportunities"]["amount"] = [1000.0, 250.0]
    return tables


EVENT_TYPES = ["web_visit", "email_open", "email_click"]


def _quarantine(tables):
    return check_sources(tables, now=NOW, event_types=EVENT_TYPES)


def _only_reject(checked, table):
    rows = checked.rejects[checked.rejects["table_name"] == table]
    assert len(rows) == 1, checked.rejects
    return rows.iloc[0]


def test_clean_sources_have_no_rejects():
    checked = _quarantine(_world())
    assert checked.rejects.empty
    assert list(checked.rejects.columns) == REJECT_COLUMNS
    assert {t: len(f) for t, f in checked.tables.items()} == {t: len(f) for t, f in _world().items()}


def test_null_id_is_quarantined_with_its_row_number_counted_from_1_as_a_spreadsheet_does():
    tables = _world()
    tables["engagement_events"]["lead_id"] = pd.array([1, None, 2, 3], dtype="Int64")
    checked = _quarantine(tables)
    reject = _only_reject(checked, "engagement_events")
    assert (reject["row_number"], reject["column_name"], reject["reason"]) == (2, "lead_id", "are null")
    assert len(checked.tables["engagement_events"]) == 3


def test_duplicate_ids_quarantine_every_copy_and_what_hangs_off_them():
    """Which of two rows with one lead_id is right cannot be known: both go, and so do that lead's events."""
    tables = _world()
    tables["leads"]["lead_id"] = np.array([1, 2, 2], dtype="int64")
    tables["opportunities"]["lead_id"] = np.array([1, 1], dtype="int64")
    checked = _quarantine(tables)
    leads = checked.rejects[checked.rejects["table_name"] == "leads"]
    assert leads["row_number"].tolist() == [2, 3]
    assert set(leads["reason"]) == {"share a duplicated lead_id"}
    events = checked.rejects[checked.rejects["reason"] == QUARANTINED_LEAD]
    assert events["table_name"].tolist() == ["engagement_events"] * 2 and events["row_key"].tolist() == ["2", "2"]
    assert checked.tables["leads"]["lead_id"].tolist() == [1]


def test_timestamps_in_the_future_are_quarantined():
    tables = _world()
    tables["engagement_events"].loc[3, "event_ts"] = "2025-06-01"
    reject = _only_reject(_quarantine(tables), "engagement_events")
    assert (reject["column_name"], reject["value"]) == ("event_ts", "2025-06-01")
    assert reject["reason"].startswith("are in the future (after 2025-03-01")


def test_unknown_event_types_are_quarantined_not_ignored():
    tables = _world()
    tables["engagement_events"].loc[0, "event_type"] = "web_vist"
    reject = _only_reject(_quarantine(tables), "engagement_events")
    assert (reject["column_name"], reject["value"], reject["row_key"]) == ("event_type", "web_vist", "1")
    assert "event_type" in reject["reason"]


def test_events_for_unknown_leads_are_quarantined():
    tables = _world()
    tables["engagement_events"]["lead_id"] = np.array([1, 2, 9, 3], dtype="int64")
    reject = _only_reject(_quarantine(tables), "engagement_events")
    assert (reject["row_number"], reject["row_key"], reject["reason"]) == (
        3, "9", "reference a lead that is not in leads")


def test_negative_amount_quarantines_the_opportunity_and_leaves_its_lead_unscored():
    """Without its opportunity a won lead would look open and be scored: the lead is held back too."""
    tables = _world()
    tables["opportunities"]["amount"] = [-1000.0, 250.0]
    checked = _quarantine(tables)
    opp = _only_reject(checked, "opportunities")
    assert (opp["column_name"], opp["reason"], opp["value"]) == ("amount", "are negative", "-1000.0")
    lead = _only_reject(checked, "leads")
    assert (lead["row_key"], lead["reason"]) == ("1", QUARANTINED_OPPORTUNITY)
    assert set(checked.rejects.loc[checked.rejects["table_name"] == "engagement_events", "row_key"]) == {"1"}


def test_unparseable_values_are_quarantined_row_by_row():
    tables = _world()
    tables["engagement_events"].loc[1, "event_ts"] = "yesterday"
    tables["accounts"]["employees"] = ["40", "lots"]
    checked = _quarantine(tables)
    event = checked.rejects[checked.rejects["column_name"] == "event_ts"].squeeze()
    assert (event["row_number"], event["value"]) == (2, "yesterday") and "not parseable timestamps" in event["reason"]
    account = _only_reject(checked, "accounts")
    assert (account["row_key"], account["reason"]) == ("6", "are not parseable numbers")
    assert checked.tables["accounts"]["employees"].tolist() == [40.0]
    # The lead of the quarantined account is held back (its firmographics would be wrong), and its events.
    lead = _only_reject(checked, "leads")
    assert (lead["row_key"], lead["reason"]) == ("2", QUARANTINED_ACCOUNT)
    assert checked.rejects.loc[checked.rejects["reason"] == QUARANTINED_LEAD, "row_number"].tolist() == [3]


def test_a_missing_column_is_still_an_error_not_a_quarantine():
    tables = _world()
    tables["engagement_events"] = tables["engagement_events"].drop(columns="event_type")
    with pytest.raises(SourceError, match="engagement_events.event_type: required column is missing"):
        _quarantine(tables)


def test_reject_counts_give_the_share_per_table():
    tables = _world()
    tables["engagement_events"].loc[0, "event_type"] = "unknown"
    counts = _quarantine(tables).reject_counts()
    assert counts.loc["engagement_events", ["kept", "rejects", "rows"]].tolist() == [3, 1, 4]
    assert counts.loc["engagement_events", "share"] == 0.25
    assert counts.loc["leads", "rejects"] == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["null_lead", "future", "type", "orphan", "dup_lead", "neg"]),
                          st.integers(0, 3)), max_size=6))
def test_nothing_is_dropped_silently(corruptions):
    """Whatever goes wrong, every input row is either kept or in the rejects, exactly once."""
    tables = _world()
    events, leads = tables["engagement_events"], tables["leads"]
    events["lead_id"] = events["lead_id"].astype("Int64")
    for kind, i in corruptions:
        if kind == "null_lead":
            events.loc[i, "lead_id"] = None
        elif kind == "future":
            events.loc[i, "event_ts"] = "2030-01-01"
        elif kind == "type":
            events.loc[i, "event_type"] = "telepathy"
        elif kind == "orphan":
            events.loc[i, "lead_id"] = 99
        elif kind == "dup_lead":
            leads.loc[i % 3, "lead_id"] = leads.loc[(i + 1) % 3, "lead_id"]
        else:
            tables["opportunities"].loc[i % 2, "amount"] = -5.0
    checked = _quarantine(tables)
    for name, frame in tables.items():
        rejected = checked.rejects[checked.rejects["table_name"] == name]["row_number"]
        assert rejected.is_unique
        assert len(checked.tables[name]) + len(rejected) == len(frame), name


def test_owner_ids_exported_as_integers_are_read_as_text_ids():
    """CRMs often export the owner as a number: it is an identifier, matched and shown, never counted."""
    tables = _world()
    tables["leads"]["owner_id"] = np.array([7, 7, 12], dtype="int64")
    tables["sales_activities"] = pd.DataFrame({"lead_id": [1, 2], "activity_ts": ["2025-01-05", "2025-01-06"],
                                               "activity_type": ["call", "email"], "owner_id": [7.0, np.nan]})
    checked = _quarantine(tables)
    assert checked.rejects.empty
    assert checked.tables["leads"]["owner_id"].tolist() == ["7", "7", "12"]
    owners = checked.tables["sales_activities"]["owner_id"]
    assert owners.iloc[0] == "7" and pd.isna(owners.iloc[1])


def test_a_fractional_owner_id_is_quarantined_and_a_boolean_one_refused():
    tables = _world()
    tables["leads"]["owner_id"] = [7.0, 7.5, 12.0]
    reject = _only_reject(_quarantine(tables), "leads")
    assert (reject["row_number"], reject["column_name"]) == (2, "owner_id") and "fractional" in reject["reason"]
    tables["leads"]["owner_id"] = [True, False, True]
    with pytest.raises(SourceError, match="leads.owner_id: expected text or integer ids"):
        _quarantine(tables)


def test_quarantine_warnings_count_rows_as_whole_numbers():
    tables = _world()
    tables["engagement_events"]["lead_id"] = pd.array([1, None, 2, 3], dtype="Int64")
    (warning,) = reject_warnings(_quarantine(tables), max_share=0.5)
    assert warning.startswith("quarantined 1 of 4 engagement_events rows (lead_id: 1 rows are null)")
    with pytest.raises(TooManyRejects, match=r"engagement_events: 1 of 4 rows quarantined \(25.0% > 10.0%"):
        reject_warnings(_quarantine(tables), max_share=0.1)
