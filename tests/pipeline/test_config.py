"""params.yaml and broken variants of it: typos and wrong types fail loudly, with the key's path."""

import copy

import pytest
import yaml

from pipeline.config import ConfigError, load_config, parse_config


@pytest.fixture
def raw(repo_root):
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def test_the_shipped_params_file_loads(repo_root):
    config = load_config(repo_root / "params.yaml")
    assert config.labels.column == f"converted_within_{config.labels.window_days}d"
    assert config.split.gap_days >= config.labels.window_days
    assert config.registry.model_name == "lead-scoring"


def test_unknown_key_fails_with_its_dotted_path(raw):
    raw["train"]["lgbm"]["num_leafs"] = 63
    with pytest.raises(ConfigError, match=r"train\.lgbm\.num_leafs: unknown key"):
        parse_config(raw)


def test_unknown_section_fails(raw):
    raw["scoring"] = {}
    with pytest.raises(ConfigError, match=r"scoring: unknown key"):
        parse_config(raw)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("split", "gap_days"), "ninety", r"split\.gap_days: Input should be a valid integer"),
        (("train", "lgbm", "learning_rate"), "fast", r"train\.lgbm\.learning_rate: Input should be a valid number"),
        (("features", "engagement", "windows_days"), 7,
         r"features\.engagement\.windows_days: Input should be a valid list"),
        (("labels", "milestone"), "signed", r"labels\.milestone: Input should be 'won' or 'opportunity_created'"),
        (("train", "early_stopping_rounds"), 10.5, r"train\.early_stopping_rounds: Input should be a valid integer"),
    ],
)
def test_wrong_type_fails_with_path_and_expected_type(raw, path, value, expected):
    broken = copy.deepcopy(raw)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=expected):
        parse_config(broken)


def test_missing_section_is_named(raw):
    del raw["labels"]
    with pytest.raises(ConfigError, match=r"labels: required key is missing"):
        parse_config(raw)


def test_gap_shorter_than_label_window_is_refused(raw):
    raw["split"]["gap_days"] = 30
    with pytest.raises(ConfigError, match="gap_days"):
        parse_config(raw)


def test_labels_name_category_features_with_words(raw):
    config = parse_config(raw)
    assert config.features.labels["fit__source"]["paid_search"] == "a paid search ad"
    raw["features"]["labels"] = {"eng__web_visit_7d": {"1": "one"}}
    with pytest.raises(ConfigError, match=r"labels\.eng__web_visit_7d: not a category feature"):
        parse_config(raw)
    raw["features"]["labels"] = {"fit__country": {"IN": " "}}
    with pytest.raises(ConfigError, match=r"labels\.fit__country: empty words for IN"):
        parse_config(raw)
    raw["features"]["labels"] = {"fit__country": ["IN"]}
    with pytest.raises(ConfigError, match=r"features\.labels\.fit__country"):
        parse_config(raw)


def test_grade_shares_must_leave_room_for_the_last_grade(raw):
    raw["score"]["grade_shares"] = {"A": 0.5, "B": 0.6}
    with pytest.raises(ConfigError, match="grade_shares"):
        parse_config(raw)


def test_hash_changes_with_content_and_flat_has_dotted_keys(raw):
    a = parse_config(raw)
    raw["train"]["seed"] = 43
    b = parse_config(raw)
    assert a.hash() != b.hash()
    assert a.flat()["train.lgbm.num_leaves"] == raw["train"]["lgbm"]["num_leaves"]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_the_default_source_is_the_data_contract_and_leaves_the_hash_unchanged(raw):
    config = parse_config(raw)
    assert config.source.kind == "contract"
    explicit = parse_config({**raw, "source": {"kind": "contract"}})
    assert explicit.hash() == config.hash()
    assert not any(k.startswith("source.") for k in config.flat())


def _flat(raw, **source):
    raw = copy.deepcopy(raw)
    raw["source"] = {"kind": "flat", "converted_column": "y", **source}
    raw["score"].pop("grade_capacity_per_week")
    raw["score"]["grade_shares"] = {"A": 0.05, "B": 0.15}
    return raw


def test_a_flat_source_loads_and_changes_the_hash(raw):
    config = parse_config(_flat(raw, exclude=["duration"], types={"pdays": "numeric"}))
    assert config.source.kind == "flat" and config.source.exclude == ["duration"]
    assert config.hash() != parse_config(raw).hash()


@pytest.mark.parametrize(("source", "expected"), [
    ({"converted_colum": "y"}, r"source\.converted_colum: unknown key"),
    ({"converted_column": None}, "needs converted_column or converted_date_column"),
    ({"types": {"age": "integer"}}, r"source\.types\.age"),
    ({"id_column": "y"}, "must be different columns"),
    ({"valid_share": 0.5, "test_share": 0.45}, "at least 10 %"),
])
def test_invalid_flat_sources_are_refused(raw, source, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(_flat(raw, **source))


def test_flat_keys_under_the_contract_kind_are_refused(raw):
    raw["source"] = {"kind": "contract", "converted_column": "y"}
    with pytest.raises(ConfigError, match="only apply to kind: flat"):
        parse_config(raw)


def test_capacity_per_week_needs_a_created_date(raw):
    flat = _flat(raw)
    flat["score"] = {**raw["score"]}  # grade_capacity_per_week back, no created_column
    with pytest.raises(ConfigError, match="needs dates to count leads per week"):
        parse_config(flat)
    flat["source"]["created_column"] = "created"
    assert parse_config(flat).source.created_column == "created"


@pytest.mark.parametrize(("change", "expected"), [
    ({"sla_hours": {"A": 24}}, r"monitor\.sla_hours: unknown key"),
    ({"interval": "exact"}, r"monitor\.interval: Input should be 'wilson' or 'clopper_pearson'"),
    ({"follow_up_buckets_hours": [72, 24]}, "follow_up_buckets_hours must be positive and increasing"),
    ({"sla_hours_by_grade": {"A": 0}}, "sla_hours_by_grade must be positive"),
    ({"confidence": 1.5}, r"monitor\.confidence"),
])
def test_monitor_section_is_validated(raw, change, expected):
    raw["monitor"].update(change)
    with pytest.raises(ConfigError, match=expected):
        parse_config(raw)


def test_a_rule_across_keys_names_them_without_dumping_the_section(repo_root):
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    raw["source"] = {"kind": "flat", "converted_column": "y"}  # no dates, but grades sized per week
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    message = str(error.value)
    assert "<root>: score.grade_capacity_per_week needs dates to count leads per week" in message
    assert "got {" not in message and len(message) < 400


def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    broken = tmp_path / "params.yaml"
    broken.write_text("labels:\n  window_days: 90\n  milestone: [won\nspine: {}\n")
    with pytest.raises(ConfigError) as error:
        load_config(broken)
    message = str(error.value)
    assert message.startswith(f"{broken}, line ") and ", column " in message
    assert "Traceback" not in message and len(message.splitlines()) == 1


def test_retention_must_outlast_the_label_window(raw):
    assert parse_config(raw).score.retention_days is None  # by default nothing published is deleted
    raw["score"]["retention_days"] = raw["labels"]["window_days"]
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    message = str(refused.value)
    assert "score.retention_days (90) must be more than labels.window_days (90)" in message
    assert "{" not in message  # the rule alone, not the whole config
    raw["score"]["retention_days"] = None  # keeps every night
    assert parse_config(raw).score.retention_days is None
    raw["score"]["retention_days"] = "a year"
    with pytest.raises(ConfigError, match=r"score\.retention_days"):
        parse_config(raw)
    raw["score"]["retention_dayz"] = 400
    with pytest.raises(ConfigError, match=r"score\.retention_dayz: unknown key"):
        parse_config(raw)


def test_an_override_file_holds_only_what_it_changes_and_is_validated_as_one(tmp_path, repo_root):
    import pytest as _pytest

    from pipeline.config import ConfigError, load_config

    defaults = load_config(repo_root / "params.yaml")
    (tmp_path / "o.yaml").write_text(f"extends: {repo_root / 'params.yaml'}\ntrain:\n  lgbm: {{num_leaves: 7}}\n")
    merged = load_config(tmp_path / "o.yaml")
    assert merged.train.lgbm.num_leaves == 7
    assert merged.train.lgbm.learning_rate == defaults.train.lgbm.learning_rate  # a mapping merges key by key
    assert merged.score == defaults.score
    (tmp_path / "chain.yaml").write_text("extends: o.yaml\nsplit: {backtest_folds: 4}\n")  # relative to its folder
    chained = load_config(tmp_path / "chain.yaml")
    assert chained.train.lgbm.num_leaves == 7 and chained.split.backtest_folds == 4
    (tmp_path / "bad.yaml").write_text(f"extends: {repo_root / 'params.yaml'}\ntrain:\n  lgbm: {{num_leafs: 7}}\n")
    with _pytest.raises(ConfigError, match=r"train\.lgbm\.num_leafs: unknown key"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with _pytest.raises(ConfigError, match="extends it back"):
        load_config(tmp_path / "a.yaml")


SEGMENTS = [{"name": "dach", "filter": {"leads.country": ["DE", "AT", "CH"]}, "capacity": {"A": 20, "B": 60}},
            {"name": "us_software", "filter": {"leads.country": ["US"], "accounts.industry": ["software"]},
             "capacity": {"A": 40}}]


def test_segments_load_and_each_has_its_own_model_and_capacity(raw):
    raw["segments"] = copy.deepcopy(SEGMENTS)
    config = parse_config(raw)
    dach = config.for_segment("dach")
    assert config.segment is None and dach.segment.name == "dach"
    assert dach.registry.model_name == "lead-scoring--dach"
    assert dach.score.grade_capacity_per_week == {"A": 20, "B": 60}
    assert config.for_segment(None) is config
    with pytest.raises(ValueError, match=r"no segment 'emea' is declared \(segments: dach, us_software\)"):
        config.for_segment("emea")


def test_no_segments_leave_the_params_hash_as_it_was(raw):
    with_empty = copy.deepcopy(raw)
    with_empty["segments"] = []
    assert parse_config(with_empty).hash() == parse_config(raw).hash()


def test_overlapping_segments_are_refused_when_params_load_naming_both(raw):
    raw["segments"] = copy.deepcopy(SEGMENTS) + [
        {"name": "germany_email", "filter": {"leads.country": ["DE"], "leads.source": ["email"]}, "capacity": {"A": 5}}]
    with pytest.raises(ConfigError, match=r"segments 'dach' and 'germany_email' can both match one lead"):
        parse_config(raw)


def test_segment_names_are_unique_and_need_the_contract_tables(raw):
    raw["segments"] = copy.deepcopy(SEGMENTS)
    raw["segments"][1]["name"] = "dach"
    raw["segments"][1]["filter"]["leads.country"] = ["FR"]
    with pytest.raises(ConfigError, match="names must be unique"):
        parse_config(raw)
