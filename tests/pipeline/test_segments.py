"""Segment models end to end on the small trained store: a segment trained on its own leads and graded by its own
capacity, signed and promoted as its own model (``lead-scoring--na``), its leads scored by its champion with the
segment stamped on the row; a segment too small for the sufficiency gate refused with the reason, its leads scored
by the global champion. One training of one segment (the global version comes from the store)."""

import re

import mlflow
import pytest
import signing
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipeline import io, one_lead, signoff, tracking
from pipeline.cli import app
from pipeline.config import parse_config
from pipeline.steps import monitor, nightly, promote, report, score
from pipeline.web import create_app
from pipeline.web import data as web_data

pytestmark = pytest.mark.integration
OPEN_GATES = {"max_auc_drop": 1.0, "max_ece": 1.0, "min_test_conversions": 0}  # signatures still due
SEGMENTS = [  # on the 3,000-lead world: North America trains (~40 % of leads); India and Brazil hold too few buyers
    {"name": "na", "filter": {"leads.country": ["US", "CA"]}, "capacity": {"A": 12, "B": 36, "C": 84}},
    {"name": "emerging", "filter": {"leads.country": ["IN", "BR"]}, "capacity": {"A": 3, "B": 9, "C": 21}},
]


def test_segments_train_promote_score_and_fall_back(store, trained_template, tmp_path):
    config = parse_config({**trained_template.raw, "segments": SEGMENTS, "promote": OPEN_GATES})
    na = config.for_segment("na")

    # `train --all-segments`: each segment trained on its own leads only, graded by its own capacity, its
    # definition stating its filter; a segment with too few conversions refused with the reason, the others trained
    params = tmp_path / "segments.params.yaml"
    params.write_text(yaml.safe_dump({**trained_template.raw, "segments": SEGMENTS, "promote": OPEN_GATES}))
    out = CliRunner().invoke(app, ["train", "--all-segments", "--params", str(params), "--sources", str(store.sources)])
    assert out.exit_code == 0, out.output
    assert "1 of 2 segments trained; refused (scored by the global model): emerging" in out.output
    assert "promote it with `leadscore promote --version 1 --segment na`" in out.output
    _, definition = tracking.load_definition("lead-scoring--na", 1)
    assert definition["population"]["segment"]["filter"] == {"leads.country": ["US", "CA"]}
    assert definition["population"]["description"].startswith("Segment na (leads.country in [US, CA];")
    rows = mlflow.get_run(tracking.get_version("lead-scoring--na", 1).run_id).data.metrics["train_rows"]
    assert 0 < rows < 0.6 * store.trained.metrics["train_rows"]
    weekly = {g["grade"]: g["weekly_volume"] for g in definition["grades"]}
    assert weekly["A"] == pytest.approx(12, rel=0.5)  # the segment's capacity, not the global 30
    countries = io.read_sources(store.sources)["leads"].set_index("lead_id")["country"]

    # the refusal's reason is said and kept on the failed run
    [refused] = mlflow.search_runs(experiment_names=["lead-scoring"], filter_string="tags.segment = 'emerging'",
                                   output_format="list")
    assert refused.info.status == "FAILED"
    assert re.match(r"segment 'emerging' \(leads.country in \[IN, BR\]\) is refused: backtest fold 1 .* converted "
                    r"snapshots; train.min_conversions", refused.data.tags["refused"])
    assert "Its leads are scored by the global model." in out.output

    # each model signed and promoted on its own: the segment's alias, not the global one. Sales and marketing sign
    # the segment's model in the workspace, as they sign the global one (they do not use a terminal)
    _sign_in_the_workspace(params, store.sources, "na", 1)
    assert set(signoff.approvals("lead-scoring--na", 1, tracking.get_version("lead-scoring--na", 1).tags[
        "definition_version"])) == {"marketing", "sales"}
    assert signoff.decisions("lead-scoring") == []  # the global model's record untouched
    with pytest.raises(promote.PromotionRefused):  # the global version is not signed yet
        promote.promote(config, version=1, by=signing.user("data-science"))
    promote.promote(na, version=1, by=signing.user("data-science"))
    assert tracking.champion_version("lead-scoring--na") == 1 and tracking.champion_version("lead-scoring") is None
    signing.sign(config, 1)
    promote.promote(config, version=1, by=signing.user("data-science"))

    # scored: North America by its champion, everyone else (the refused segment too) by the global one
    [night] = score.run_nights(config, nights=["2026-06-01"], sources=store.sources)
    assert night.segments == {"na": {"version": 1, "rows": night.segments["na"]["rows"]}}
    assert night.segments["na"]["rows"] > 0
    assert "segment 'emerging'" in night.fallbacks["emerging"] and "global model" in night.fallbacks["emerging"]
    published = io.read_scores()
    assert len(published) == night.rows and published["lead_id"].is_unique
    in_na = countries.reindex(published["lead_id"]).isin(["US", "CA"]).to_numpy()
    assert (published.loc[in_na, "segment"] == "na").all() and published.loc[~in_na, "segment"].isna().all()
    na_definition = tracking.get_version("lead-scoring--na", 1).tags["definition_version"]
    global_definition = tracking.get_version("lead-scoring", 1).tags["definition_version"]
    assert na_definition != global_definition
    assert (published.loc[in_na, "definition_version"] == na_definition).all()
    assert (published.loc[~in_na, "definition_version"] == global_definition).all()
    assert set(published["grade"]) <= {"A", "B", "C", "D"}

    # monitor and report: each model held to its own promises, with its coverage; the fallback said
    checked = monitor.run(config, sources=store.sources)
    assert set(checked.segments) == {"na"}  # the refused segment scored nothing of its own
    na_promises = checked.segments["na"].promises
    assert len(na_promises) and (na_promises["model_version"] == 1).all()
    assert na_promises["leads"].sum() == in_na.sum()  # the global model's promises hold its own rows only
    assert checked.promises["leads"].sum() == (~in_na).sum()
    assert 0 < checked.segments["na"].coverage <= 1
    page = report.build(config, store.sources).page()
    assert 'id="segment-na-promises"' in page and 'id="segment-na-definition"' in page
    assert "lead-scoring--na version 1" in page and "segment &#x27;emerging&#x27;" in page

    # the nightly job takes the same path
    result = nightly.run(config, sources=store.sources)
    assert result.exit_code in (nightly.PUBLISHED, nightly.WARNINGS), result.error
    assert result.segments["na"]["rows"] > 0 and "emerging" in result.fallbacks
    tonight = io.read_scores()
    assert tonight["segment"].eq("na").sum() == result.segments["na"]["rows"]

    # one lead on demand is scored by the champion that scored it tonight, and says which
    scorer = one_lead.OneLeadScorer(config, sources=store.sources)
    try:
        for segment, rows in (("na", tonight[tonight["segment"] == "na"]), (None, tonight[tonight["segment"].isna()])):
            row = rows.iloc[0]
            got = scorer.score(str(row["lead_id"]), as_of=result.as_of)
            assert (got.segment, got.definition_version) == (segment, row["definition_version"])
            assert got.probability == pytest.approx(float(row["probability"]), abs=1e-12)
    finally:
        scorer.close()
    assert one_lead.read_log()["segment"].head(2).fillna("global").tolist() == ["global", "na"]  # newest first

    # the workspace's queue names the segment whose model graded each lead
    queue = web_data.build_queue(signing.user("data-science"), web_data.QueueFilters(),
                                 web_data.SourceContext(store.sources))
    assert (queue.rows["segment"] == "na").sum() == result.segments["na"]["rows"]
    assert set(queue.rows["segment"]) == {"na", ""}


def _sign_in_the_workspace(params, sources, segment: str, version: int) -> None:
    """Marketing's and sales' users open the segment's model on the Definition page and approve ``version``."""
    app = create_app(sources=sources, params=params, secret="segment-test-secret-" + "s" * 30)
    for team in ("marketing", "sales"):
        user = signing.user(team)  # password test-password
        client = TestClient(app)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        assert client.post("/login", data={"name": user.name, "password": "test-password", "csrf": csrf,
                                           "next": "/definition"}, follow_redirects=False).status_code == 303
        page = client.get("/definition", params={"segment": segment}).text
        assert f"Quality-lead definition · segment {segment}" in page and f'data-version="{version}"' in page
        assert 'name="segment" value="' + segment + '"' in page
        assert client.get("/definition", params={"segment": "nowhere"}).status_code == 404
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        done = client.post(f"/definition/{version}/decide", data={"csrf": csrf, "decision": "approve", "team": team,
                                                                  "segment": segment, "comment": "fits its team"},
                           follow_redirects=False)
        assert done.status_code == 303 and f"segment={segment}" in done.headers["location"]
        assert f"of segment {segment}" in client.get(done.headers["location"]).text


def test_the_cli_names_an_unknown_segment(store, repo_root):
    result = CliRunner().invoke(app, ["definition", "--segment", "nowhere", "--params", str(repo_root / "params.yaml")])
    assert result.exit_code == 2 and "params.yaml: no segment 'nowhere' is declared (segments: none)" in result.output
