"""nightly on a small trained store: exit codes, the run log, quarantine and refusal, one case each."""

import shutil

import pandas as pd
import signing

from pipeline import io, publish_lock
from pipeline.steps import nightly


def _champion(store):
    signing.sign_and_promote(store.config(), 1, reason="tests")


def test_a_night_publishes_every_open_lead_and_logs_the_run(store):
    _champion(store)
    result = nightly.run(store.config(), sources=store.sources)
    assert result.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), result.error
    assert result.exit_code == (nightly.WARNINGS if result.warnings else nightly.PUBLISHED)
    published = io.read_scores()
    assert len(published) == result.leads_scored > 0
    assert (published["model_version"] == 1).all()
    assert published["as_of_ts"].iloc[0] == result.as_of
    # reasons for every lead of the night, not only the queue tops (issue 17; score.reasons_per_owner: null)
    assert ((published["reasons_positive"] != "") | (published["reasons_negative"] != "")).all()
    [logged] = io.read_runs().to_dict("records")
    assert (logged["run_id"], logged["status"], logged["leads_scored"]) == (result.run_id, result.status,
                                                                             result.leads_scored)


def test_without_a_champion_the_night_fails_says_why_and_is_logged(store):
    result = nightly.run(store.config(), sources=store.sources)
    assert result.exit_code == nightly.FAILED and "run `leadscore promote`" in result.error
    assert io.read_scores().empty
    assert io.read_runs()["status"].tolist() == ["failed"]


def test_a_flat_export_is_refused_with_the_command_that_scores_it(store):
    config = store.config(source={"kind": "flat", "converted_column": "y", "created_column": "created"})
    result = nightly.run(config, sources=store.sources)
    assert result.exit_code == nightly.FAILED
    assert "score a flat CRM export with `leadscore score`" in result.error


def test_a_held_lock_exits_four_and_leaves_the_run_log_to_the_holder(store):
    _champion(store)
    with publish_lock.hold():
        result = nightly.run(store.config(), sources=store.sources)
    assert result.exit_code == nightly.LOCKED == 4 and "another leadscore run" in result.error
    assert io.read_runs().empty


def test_too_many_bad_events_publish_nothing_and_keep_the_rejects(store, tmp_path):
    _champion(store)
    broken = tmp_path / "broken"
    shutil.copytree(store.sources, broken)
    events = pd.read_parquet(broken / "engagement_events.parquet")
    bad = events.sample(frac=0.02, random_state=0).index
    events.loc[bad, "event_type"] = "telepathy"
    events.to_parquet(broken / "engagement_events.parquet", index=False)
    result = nightly.run(store.config(), sources=broken)
    assert result.exit_code == nightly.FAILED and "too many bad rows, nothing published" in result.error
    assert io.read_scores().empty
    rejects = io.read_rejects(run_id=result.run_id)
    assert len(rejects) == len(bad) and set(rejects["table_name"]) == {"engagement_events"}


def test_a_missing_events_table_fails_in_one_line_naming_the_table_and_the_folder(store, tmp_path):
    _champion(store)
    partial = tmp_path / "partial"
    shutil.copytree(store.sources, partial)
    (partial / "engagement_events.parquet").unlink()  # the champion learned from it: tonight cannot do without
    result = nightly.run(store.config(), sources=partial)
    assert result.exit_code == nightly.FAILED and "\n" not in result.error
    assert f"engagement_events: table is missing from {partial}" in result.error, result.error
    assert io.read_scores().empty
    assert io.read_runs()["error"].tolist() == [result.error]


def test_a_published_night_records_its_volumes_and_the_next_is_held_to_them(store, tmp_path):
    _champion(store)
    first = nightly.run(store.config(), sources=store.sources)
    events = pd.read_parquet(store.sources / "engagement_events.parquet")
    assert io.last_published_volumes()["engagement_events"] == len(events)
    grown = tmp_path / "grown"
    shutil.copytree(store.sources, grown)
    pd.concat([events, events]).to_parquet(grown / "engagement_events.parquet", index=False)
    second = nightly.run(store.config(), sources=grown)
    assert second.exit_code == nightly.FAILED
    assert (f"engagement_events: {2 * len(events):,} rows against {len(events):,} on the last published night "
            "(+100%, beyond nightly.max_volume_change 30%)") in second.error
    relaxed = nightly.run(store.config(nightly={"max_volume_change": 1.5}), sources=grown)
    assert relaxed.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), relaxed.error
    assert io.last_published_volumes()["engagement_events"] == 2 * len(events)
    assert io.read_runs()["status"].tolist()[::-1] == [first.status, "failed", relaxed.status]
