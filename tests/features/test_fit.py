"""Fit features: lead and account attributes, title rules, size band, free email, first channel, lead age."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.fit import _category, build_fit_features, classify_titles, fit_specs, size_bands
from features.params import FitParams

C = pd.Timestamp("2025-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
UTC_NS = "datetime64[ns, UTC]"
SPINE_INDEX = pd.Index([7, 3, 5, 1, 9])
BOUNDS = [10, 50, 200, 1000, 5000]

PARAMS = FitParams(
    lead_categorical=["source", "country"],
    account_categorical=["industry"],
    account_numeric=["employees"],
    company_size_bands=BOUNDS,
    free_email_domains=["gmail.com", "Web.DE"],
    # Ordered: "VP Sales Lead" matches vp and manager; vp is listed first and wins.
    seniority_rules={"vp": r"\b(?:vp|vice president)\b", "manager": r"\b(?:manager|lead)\b", "individual": "."},
    department_rules={"sales": r"\bsales\b", "it": r"\bit\b"},
)


@pytest.fixture
def leads(ids):
    return pd.DataFrame({
        "lead_id": ids(1, 2, 3, 4),
        "created_ts": pd.Series([C - 10 * DAY, C - DAY / 2, C - 3 * DAY, C - 20 * DAY], dtype=UTC_NS),
        "source": pd.Series(["web", "partner", None, "event"], dtype="str"),
        "country": pd.Series(["DE", None, "FR", "DE"], dtype="str"),
        # Validated sources carry nullable ids as Int64; 77 matches no account, 999 no campaign.
        "account_id": pd.array([10, 20, None, 77], dtype="Int64"),
        "first_campaign_id": pd.array([100, None, 101, 999], dtype="Int64"),
        "job_title": pd.Series(["VP Sales Lead", None, "IT manager", "Intern"], dtype="str"),
        "email_domain": pd.Series(["GMAIL.com", "acme.com", " web.de ", None], dtype="str"),
    })


@pytest.fixture
def accounts(ids):
    return pd.DataFrame({
        "account_id": ids(10, 20, 30),
        "industry": pd.Series(["software", "retail", "finance"], dtype="str"),
        "employees": ids(9, 5000, 7),
    })


@pytest.fixture
def campaigns(ids):
    return pd.DataFrame({"campaign_id": ids(100, 101, 102),
                         "channel": pd.Series(["email", "paid_social", "events"], dtype="str")})


@pytest.fixture
def spine(ids):
    """Non-default index, leads out of order, lead 1 twice."""
    return pd.DataFrame({"lead_id": ids(2, 1, 3, 1, 4),
                         "as_of_ts": pd.DatetimeIndex([C, C, C, C + 7 * DAY, C], dtype=UTC_NS)},
                        index=SPINE_INDEX)


def _build(leads, accounts, spine, campaigns, params=PARAMS):
    return build_fit_features(leads, accounts, spine, params, campaigns=campaigns)


def _values(out: pd.DataFrame, col: str) -> list:
    return [None if pd.isna(v) else v for v in out[col].astype(object)]


def test_fit_hand_computed(leads, accounts, spine, campaigns):
    """Each spine row gets its own lead's attributes and its account's, aligned on the spine index."""
    out = _build(leads, accounts, spine, campaigns)
    assert list(out.columns) == [s.name for s in fit_specs(PARAMS)] == [
        "fit__source", "fit__country", "fit__account_industry", "fit__account_employees", "fit__seniority",
        "fit__department", "fit__company_size_band", "fit__free_email", "fit__first_campaign_channel",
        "lead__age_days"]
    pd.testing.assert_index_equal(out.index, SPINE_INDEX)
    # rows: lead 2, 1, 3, 1 (a week later), 4
    assert _values(out, "fit__source") == ["partner", "web", None, "web", "event"]
    assert _values(out, "fit__country") == [None, "DE", "FR", "DE", "DE"]
    assert _values(out, "fit__account_industry") == ["retail", "software", None, "software", None]
    np.testing.assert_array_equal(out["fit__account_employees"].to_numpy(), [5000.0, 9.0, np.nan, 9.0, np.nan])
    assert _values(out, "fit__seniority") == [None, "vp", "manager", "vp", "individual"]
    assert _values(out, "fit__department") == [None, "sales", "it", "sales", None]
    assert _values(out, "fit__company_size_band") == ["5000+", "1-9", None, "1-9", None]
    assert out["fit__free_email"].tolist() == [0, 1, 1, 1, 0]
    assert _values(out, "fit__first_campaign_channel") == [None, "email", "paid_social", "email", None]
    np.testing.assert_allclose(out["lead__age_days"].to_numpy(), [0.5, 10.0, 3.0, 17.0, 20.0])


def test_fit_dtypes_follow_the_catalogue(leads, accounts, spine, campaigns):
    """Categories as pandas category without a NaN category, numbers and days float64, flags int8."""
    out = _build(leads, accounts, spine, campaigns)
    for spec in fit_specs(PARAMS):
        assert str(out[spec.name].dtype) == spec.dtype, spec.name
        if spec.kind == "category":
            assert not out[spec.name].cat.categories.isna().any(), spec.name
    assert list(out["fit__source"].cat.categories) == ["event", "partner", "web"]
    assert list(out["fit__country"].cat.categories) == ["DE", "FR"]


def test_account_join_uses_account_id_not_position(leads, accounts, spine, campaigns):
    """Shuffling the accounts table changes nothing: rows are joined by account_id."""
    shuffled = accounts.iloc[[2, 0, 1]].set_axis([50, 60, 70])
    pd.testing.assert_frame_equal(_build(leads, shuffled, spine, campaigns), _build(leads, accounts, spine, campaigns))


def test_lead_without_account_gets_missing_values(leads, accounts, spine, campaigns):
    """No account (null account_id, or an id absent from accounts) → missing, never another account's."""
    out = _build(leads, accounts, spine, campaigns)
    for idx in (5, 9):  # lead 3 (null account), lead 4 (account 77 unknown)
        assert pd.isna(out.loc[idx, "fit__account_industry"])
        assert np.isnan(out.loc[idx, "fit__account_employees"])
        assert pd.isna(out.loc[idx, "fit__company_size_band"])


def test_float_ids_with_nan_join_too(leads, accounts, spine, campaigns):
    """CSV-read leads can hold ids as float with NaN; the joins must still match 10.0 to 10."""
    floats = leads.assign(account_id=leads["account_id"].astype("Float64").astype(float),
                          first_campaign_id=leads["first_campaign_id"].astype("Float64").astype(float))
    pd.testing.assert_frame_equal(_build(floats, accounts, spine, campaigns), _build(leads, accounts, spine, campaigns))


def test_without_accounts_or_campaigns_tables(leads, spine):
    """Both tables are optional: same columns, account values and first channel all missing."""
    out = _build(leads, None, spine, None)
    assert list(out.columns) == [s.name for s in fit_specs(PARAMS)]
    for col in ("fit__account_industry", "fit__account_employees", "fit__company_size_band",
                "fit__first_campaign_channel"):
        assert out[col].isna().all(), col
    assert _values(out, "fit__source") == ["partner", "web", None, "web", "event"]


def test_empty_accounts_table(leads, spine, campaigns, accounts):
    """An accounts extract with no rows gives missing account values, not an error."""
    out = _build(leads, accounts.iloc[:0], spine, campaigns)
    assert out["fit__account_industry"].isna().all()
    assert out["fit__account_employees"].isna().all()
    assert out["fit__company_size_band"].isna().all()
    assert out["fit__free_email"].tolist() == [0, 1, 1, 1, 0]


def test_classify_titles_first_match_wins_and_no_title_is_missing():
    """Rules are tried in order, case-insensitively; no title, or no rule matching, gives None."""
    titles = pd.Series(["Head of Sales", "SALES MANAGER", "vp engineering", None, "", "Chief of Staff"],
                       index=[3, 1, 2, 0, 5, 4], dtype="str")
    rules = {"director": r"\b(?:director|head of)\b", "manager": r"\bmanager\b", "vp": r"\bvp\b"}
    out = classify_titles(titles, rules)
    pd.testing.assert_index_equal(out.index, titles.index)
    assert [None if pd.isna(v) else v for v in out] == ["director", "manager", "vp", None, None, None]
    reordered = classify_titles(pd.Series(["Head of Sales Manager"]), {"manager": r"manager", "director": r"head of"})
    assert reordered.tolist() == ["manager"]


def test_titles_read_the_same_one_lead_at_a_time_as_in_a_night(config):
    """A few titles are matched by a loop, many by pandas' string methods: the labels are the same."""
    rng = np.random.default_rng(0)
    words = ["Head of", "Sales", "VP", "vp.", "Chief", "Technology", "Officer", "Director", "Manager", "IT",
             "Intern", "Student", "Analyst", "Senior", "Marketing", "Founder", "CEO", "Ingénieur", "(acting)", "of"]
    titles = pd.Series([" ".join(rng.choice(words, rng.integers(1, 4))) for _ in range(600)] + [None, ""])
    rules = config.features.fit.seniority_rules
    night = classify_titles(titles, rules)
    assert len(titles.dropna().unique()) > 64  # the night's path
    one_at_a_time = [classify_titles(titles.iloc[[i]], rules).iloc[0] for i in range(len(titles))]
    assert [None if pd.isna(v) else v for v in night] == [None if pd.isna(v) else v for v in one_at_a_time]
    assert night.notna().sum() > 100


def test_size_bands_labels_and_edges():
    """Exclusive upper bounds: 9 → '1-9', 10 → '10-49', 4999 → '1000-4999', 5000 → '5000+'; NaN → None."""
    employees = np.array([np.nan, 1, 9, 10, 49, 50, 199, 200, 999, 1000, 4999, 5000, 250_000], dtype=float)
    assert size_bands(employees, BOUNDS).tolist() == [
        None, "1-9", "1-9", "10-49", "10-49", "50-199", "50-199", "200-999", "200-999", "1000-4999",
        "1000-4999", "5000+", "5000+"]
    assert size_bands(np.array([5.0, 500.0]), [100]).tolist() == ["1-99", "100+"]


def test_free_email_is_case_and_space_insensitive(leads, accounts, spine, campaigns):
    """'GMAIL.com' matches 'gmail.com' and ' web.de ' matches 'Web.DE'; a missing domain is not free."""
    out = _build(leads, accounts, spine, campaigns)
    assert out.loc[[3, 5, 7, 9], "fit__free_email"].tolist() == [1, 1, 0, 0]


def test_lead_age_is_exact_in_days(leads, accounts, spine, campaigns):
    """Age = (as_of_ts - created_ts) in days, fractions kept; each spine row uses its own cutoff."""
    out = _build(leads, accounts, spine, campaigns)
    assert out.loc[7, "lead__age_days"] == 0.5
    assert out.loc[3, "lead__age_days"] == 10.0
    assert out.loc[1, "lead__age_days"] == 17.0


@pytest.mark.parametrize(("change", "message"), [
    ({"lead_categorical": ["job_level"]}, "leads.job_level"),
    ({"account_categorical": ["segment"]}, "accounts.segment"),
    ({"account_numeric": ["annual_revenue"]}, "accounts.annual_revenue"),
])
def test_named_column_missing_raises(leads, accounts, spine, campaigns, change, message):
    """A column params.yaml names but the table lacks is a configuration error naming table.column."""
    params = FitParams(**{**PARAMS.model_dump(), **change})
    with pytest.raises(ValueError, match=message):
        _build(leads, accounts, spine, campaigns, params)


def test_spine_lead_not_in_leads_raises(leads, accounts, spine, campaigns):
    """A spine row whose lead is unknown cannot get features; silently using row -1 would be wrong."""
    bad = spine.copy()
    bad.loc[3, "lead_id"] = 42
    with pytest.raises(ValueError, match="1 rows name a lead that is not in leads"):
        _build(leads, accounts, bad, campaigns)


def test_inputs_are_not_mutated(leads, accounts, spine, campaigns):
    """The builder must not touch the caller's tables."""
    before = leads.copy(), accounts.copy(), spine.copy(), campaigns.copy()
    _build(leads, accounts, spine, campaigns)
    for frame, copy in zip((leads, accounts, spine, campaigns), before, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_later_rows_in_other_tables_change_nothing(leads, accounts, spine, campaigns, ids):
    """Point in time: a lead created after the cutoff (new source, country, title, account, campaign), a new
    account and a new campaign, added first, leave every existing spine row's features (and categories) as is."""
    before = _build(leads, accounts, spine, campaigns)
    newcomer = pd.DataFrame({
        "lead_id": ids(5),
        "created_ts": pd.Series([C + 30 * DAY], dtype=UTC_NS),
        "source": pd.Series(["webinar"], dtype="str"), "country": pd.Series(["US"], dtype="str"),
        "account_id": pd.array([40], dtype="Int64"), "first_campaign_id": pd.array([103], dtype="Int64"),
        "job_title": pd.Series(["Director"], dtype="str"), "email_domain": pd.Series(["gmail.com"], dtype="str"),
    })
    new_account = pd.DataFrame({"account_id": ids(40), "industry": pd.Series(["mining"], dtype="str"),
                                "employees": ids(300)})
    new_campaign = pd.DataFrame({"campaign_id": ids(103), "channel": pd.Series(["tv"], dtype="str")})
    after = _build(pd.concat([newcomer, leads], ignore_index=True),
                   pd.concat([new_account, accounts], ignore_index=True), spine,
                   pd.concat([new_campaign, campaigns], ignore_index=True))
    pd.testing.assert_frame_equal(after, before)


@pytest.mark.parametrize("values", [
    ["email", "web", None, "email"], ["DE", np.nan, "US"], [None, None], [], ["b", "a", "B", "a b"],
    pd.Series(["x", None, "y"], dtype="str"), np.array(["1-9", None, "5000+"], dtype=object),
], ids=repr)
def test_a_few_rows_are_coded_as_a_million_are(values):
    """A lead scored on demand takes the small-input loop of ``_category``: its categories and codes must be the
    ones the vectorised path gives the same values (here: those values repeated past the loop's limit)."""
    few = _category(values)
    many = _category(pd.concat([pd.Series(values, dtype=object)] * 30, ignore_index=True))
    pd.testing.assert_index_equal(few.cat.categories, many.cat.categories)
    np.testing.assert_array_equal(few.cat.codes.to_numpy(), many.cat.codes.to_numpy()[:len(few)])
