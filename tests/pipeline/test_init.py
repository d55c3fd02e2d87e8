"""leadscore init on a tiny hand-written CSV export: the params file it writes, when, and what it leaves out."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features import flat
from pipeline.config import load_config
from pipeline.io import read_flat_source as flat_frame
from pipeline.steps import init

# Six leads, semicolon-separated as many CRM exports are; ``duration`` is known only after the sales call.
EXPORT = textwrap.dedent("""\
    lead_id;created_date;industry;employees;duration;converted
    L1;2024-03-01;retail;10;120;yes
    L2;2024-03-02;software;250;30;no
    L3;2024-03-03;retail;40;0;no
    L4;2024-03-04;bank;1200;300;yes
    L5;2024-03-05;software;7;15;no
    L6;2024-03-06;bank;80;45;no
    """)


def _write_export(folder, text=EXPORT):
    path = folder / "crm.csv"
    path.write_text(text)
    return path


@pytest.fixture
def export(tmp_path):
    return _write_export(tmp_path)


def _run(export, repo_root, *, force=False):
    out = export.parent / f"{export.stem}.params.yaml"
    return init.run(export, out, defaults=repo_root / "params.yaml", force=force)


def test_writes_a_params_file_that_loads_and_maps_the_id_created_and_converted_columns(export, repo_root):
    result = _run(export, repo_root)
    assert result.written and result.path.name == "crm.params.yaml" and result.rows == 6
    source = load_config(result.path).source
    assert source.kind == "flat"
    assert (source.id_column, source.created_column, source.converted_column) == ("lead_id", "created_date",
                                                                                 "converted")
    assert source.converted_date_column is None
    assert load_config(result.path) == result.config
    # Sections other than source come from the defaults file.
    defaults = load_config(repo_root / "params.yaml")
    assert result.config.train == defaults.train and result.config.score == defaults.score
    # … by extending it: the file holds only what init inferred.
    written = yaml.safe_load(result.path.read_text())
    assert set(written) == {"extends", "source"}


def test_a_leaky_column_is_excluded_and_not_offered_as_a_feature(export, repo_root):
    result = _run(export, repo_root)
    assert result.proposal.leaky == ("duration",)
    assert "duration" in result.proposal.excluded["duration"]  # the reason names the word in the name
    assert result.config.source.keep == [] and "#   duration: leak risk" in result.path.read_text()
    assert sorted(result.proposal.types) == ["employees", "industry"]
    # train applies the same screen: the column is excluded from the plan, with the reason.
    plan = flat.plan_columns(flat.clean(flat_frame(result.export), result.config.source), result.config.source)
    assert "duration" not in [c.column for c in plan.columns if c.type is not None]


def test_refuses_to_overwrite_without_force_and_overwrites_with_it(export, repo_root):
    out = export.parent / "crm.params.yaml"
    out.write_text("# hand edits\n")
    kept = _run(export, repo_root)
    assert not kept.written
    assert out.read_text() == "# hand edits\n"
    replaced = _run(export, repo_root, force=True)
    assert replaced.written
    assert load_config(out).source.converted_column == "converted"


def test_too_few_conversions_are_reported_as_a_problem_and_the_file_still_written(export, repo_root):
    result = _run(export, repo_root)
    assert result.written
    assert len(result.problems) == 1
    assert "2 conversions in 6 rows; train.min_conversions is 100" in result.problems[0]


def test_no_converted_looking_column_is_an_error_and_nothing_is_written(tmp_path, repo_root):
    path = _write_export(tmp_path, EXPORT.replace(";converted\n", ";newsletter\n", 1))  # yes/no, not named so
    with pytest.raises(flat.FlatSourceError, match="no converted column found"):
        _run(path, repo_root)
    assert not (tmp_path / "crm.params.yaml").exists()


def test_without_a_created_date_grades_are_shares_of_the_open_leads(tmp_path, repo_root):
    path = _write_export(tmp_path, "lead_id;industry;converted\nL1;retail;yes\nL2;software;no\nL3;bank;no\n")
    result = _run(path, repo_root)
    assert result.config.source.created_column is None
    assert result.config.score.grade_capacity_per_week is None
    assert result.config.score.grade_shares == init.FLAT_GRADE_SHARES


def test_a_converted_flag_exported_as_yes_or_blank_is_proposed(tmp_path, repo_root):
    path = _write_export(tmp_path, EXPORT.replace(";no\n", ";\n"))
    assert _run(path, repo_root).config.source.converted_column == "converted"


MESSY = Path(__file__).parents[1] / "data" / "crm_export_messy.csv"


def _messy_export(folder):
    """A lead export as many CRMs write it (``tests/data/crm_export_messy.csv``, 600 rows): a second id
    (``Lead Number``), a sales-set status that almost decides the outcome, a creation date under an unhelpful name
    (``first_contact_date``; rows not in its order), a day-first date (``last_touch``) and the form's "Select" for
    no city. Made once by a seeded generator; ``leadscore init --from-csv`` on it prints each exclusion."""
    path = folder / "messy.csv"
    shutil.copy(MESSY, path)
    return path, pd.read_csv(path)


def test_the_screens_exclude_a_second_id_and_a_sales_set_status_and_find_the_date_by_its_values(
        tmp_path, repo_root):
    path, frame = _messy_export(tmp_path)
    result = _run(path, repo_root)
    p = result.proposal
    assert (p.id_column, p.converted_column) == ("Prospect ID", "Converted")
    assert p.created_column == "first_contact_date" and "earliest date of the row" in p.reasons["created_column"]
    assert set(p.excluded) == {"Lead Number", "Lead Status"}
    assert "identifier" in p.excluded["Lead Number"]
    assert "its name (status)" in p.excluded["Lead Status"] and "converts at" in p.excluded["Lead Status"]
    assert p.placeholders == {"City": ["Select"]}
    assert set(p.types) == {"last_touch", "City", "Page Views"}
    text = result.path.read_text()
    assert "#   Lead Status: leak risk" in text and '#   City: found "Select"' in text

    # train screens the same way: neither column is a feature, the split follows first_contact_date, and
    # "Select" is no level of City.
    from pipeline import sources
    config = result.config.model_copy(update={"train": result.config.train.model_copy(update={"min_conversions": 20})})
    source = sources.open_source(config, path)
    data = source.training_set(source.build_training_table())
    assert data.features == ["crm__last_touch", "crm__city", "crm__page_views"]
    assert any("'Lead Status' excluded: leak risk" in w for w in data.warnings)
    assert not any("row order" in w for w in data.warnings)
    for fold in data.folds:
        assert fold.history["created_ts"].max() <= fold.test["created_ts"].min()
    assert list(data.table["crm__city"].cat.categories) == ["Mumbai", "Pune"]
    assert data.table["crm__city"].isna().sum() == (frame["City"] == "Select").sum()


def test_falling_back_to_row_order_on_rows_out_of_date_order_is_warned(tmp_path, repo_root):
    path, frame = _messy_export(tmp_path)
    touch = frame["last_touch"].where(frame.index % 20 != 0, "soon")  # 95 % dates: a date column, not a created one
    frame.drop(columns=["first_contact_date"]).assign(last_touch=touch).to_csv(path, index=False)
    result = _run(path, repo_root)
    p = result.proposal
    assert p.created_column is None and p.types["last_touch"][0] == "date"
    warning = next(n for n in p.notes if n.startswith("warning"))
    assert "not in the order of the dates in 'last_touch'" in warning
    assert "# warning: the rows are not in the order" in result.path.read_text()


def test_a_day_first_export_is_read_day_first_at_init_and_frozen_for_scoring(tmp_path, repo_root):
    rows = ["lead_id,signed_up,industry,converted"]
    for i in range(60):  # 2 January to 1 March 2026, written day first: 02/01/2026 … 01/03/2026
        day = pd.Timestamp("2026-01-02") + pd.Timedelta(days=i)
        rows.append(f"L{i},{day:%d/%m/%Y},{'retail' if i % 3 else 'bank'},{'yes' if i % 7 == 0 else 'no'}")
    path = tmp_path / "crm.csv"
    path.write_text("\n".join(rows) + "\n")
    result = _run(path, repo_root)
    p = result.proposal
    assert p.created_column == "signed_up" and p.day_first is True
    assert "only read day first" in p.reasons["day_first"] and "13/01/2026" in p.reasons["day_first"]
    assert "day_first: true" in result.path.read_text()
    assert result.config.source.day_first is True

    frame = flat_frame(path)
    plan = flat.plan_columns(frame, result.config.source)
    assert plan.day_first is True
    created = flat.build_flat_table(frame, plan, extract_ts=None)["created_ts"]
    assert created.is_monotonic_increasing and created.iloc[1] == pd.Timestamp("2026-01-03", tz="UTC")
    # A night's file whose dates are all ambiguous (03/01/2026) is read the way training read its export
    tonight = frame.head(5)
    assert flat.build_flat_table(tonight, flat.FlatPlan.from_dict(plan.to_dict()), extract_ts=None)[
        "created_ts"].iloc[1] == pd.Timestamp("2026-01-03", tz="UTC")


def test_short_dates_that_do_not_tell_their_order_are_read_month_first_with_a_warning(tmp_path, repo_root):
    rows = ["lead_id,signed_up,converted"] + [f"L{i},0{1 + i % 9}/0{1 + i % 3}/2026,{'yes' if i % 5 == 0 else 'no'}"
                                              for i in range(40)]
    path = tmp_path / "crm.csv"
    path.write_text("\n".join(rows) + "\n")
    p = _run(path, repo_root).proposal
    assert p.day_first is False
    assert any("do not say whether the day or the month comes first" in n for n in p.notes)


def test_train_refuses_a_kept_flagged_column_unless_the_risk_is_accepted_and_then_tags_the_run(
        tmp_path, repo_root, monkeypatch):
    import mlflow

    from pipeline.steps import train

    path, _ = _messy_export(tmp_path)
    # A minimal override file, written by hand: only what differs from the project's params.yaml.
    override = tmp_path / "mine.yaml"
    override.write_text(textwrap.dedent(f"""\
        extends: {repo_root / "params.yaml"}
        source:
          kind: flat
          id_column: Prospect ID
          created_column: first_contact_date
          converted_column: Converted
          keep: [Lead Status]  # to see what it is worth, knowing it is set by sales
        train: {{min_conversions: 20}}
        evaluate: {{bootstrap_samples: 20}}
        score: {{grade_capacity_per_week: {{A: 1, B: 2, C: 3}}}}  # 14 leads a week
        """))
    config = load_config(override)
    defaults = load_config(repo_root / "params.yaml")
    assert config.train.min_conversions == 20 and config.train.lgbm == defaults.train.lgbm
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("LEADSCORE_DATASETS_DIR", str(tmp_path / "datasets"))
    with pytest.raises(train.LeakRiskRefused, match=r"(?s)Lead Status: leak risk.*--accept-leak-risk"):
        train.run(config, sources=path)
    trained = train.run(config, sources=path, accept_leak_risk=True)
    run = mlflow.get_run(trained.run_id)
    assert run.data.tags[train.LEAK_RISK_TAG] == "Lead Status"
    assert "crm__lead_status" in run.data.tags["feature_set"]


def test_the_command_prints_each_exclusion_with_its_reason_and_the_placeholders(tmp_path, repo_root):
    from typer.testing import CliRunner

    from pipeline.cli import app

    path, _ = _messy_export(tmp_path)
    result = CliRunner().invoke(app, ["init", "--from-csv", str(path), "--out", str(tmp_path / "m.yaml"),
                                      "--defaults", str(repo_root / "params.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "Lead Number" in out and "an identifier: 100% of its 600 filled values are distinct integers" in out
    assert "its name (status) says sales sets it during or after contact" in out
    assert "created_column: first_contact_date (the earliest date of the row" in out
    assert "City: 'Select' read as missing (source.placeholders)" in out
