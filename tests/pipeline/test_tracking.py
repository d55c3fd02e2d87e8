"""The registry side of scoring: a champion of the other source kind is refused."""

from types import SimpleNamespace

import pytest

from pipeline.tracking import check_source_kind


def test_a_version_trained_on_a_flat_export_cannot_score_the_contract_tables():
    flat_version = SimpleNamespace(version="3", tags={"source_kind": "flat"})
    with pytest.raises(ValueError, match="lead-scoring version 3 was trained on a flat source, but params.yaml says "
                                         "source.kind: contract"):
        check_source_kind(flat_version, "contract", "lead-scoring")


def test_versions_from_before_flat_exports_count_as_contract():
    assert check_source_kind(SimpleNamespace(version="1", tags={}), "contract", "lead-scoring") is None
    with pytest.raises(ValueError, match="trained on a contract source"):
        check_source_kind(SimpleNamespace(version="1", tags={}), "flat", "lead-scoring")


def _recorded_elsewhere(db, old_root: str, new_root: str) -> int:
    """Every path the local store recorded under ``old_root`` rewritten to ``new_root``: the store as it reads after
    its project folder moved from ``new_root`` to where it is now. Returns how many values changed."""
    import sqlalchemy as sa

    eng = sa.create_engine(f"sqlite:///{db}")
    changed = 0
    with eng.begin() as conn:
        inspector = sa.inspect(conn)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                if isinstance(column["type"], sa.String):
                    changed += conn.execute(sa.text(
                        f'UPDATE "{table}" SET "{column["name"]}" = REPLACE("{column["name"]}", :old, :new) '
                        f'WHERE "{column["name"]}" LIKE :like'), {"old": old_root, "new": new_root,
                                                                  "like": f"%{old_root}%"}).rowcount
    eng.dispose()
    return changed


def test_a_local_store_moved_to_another_folder_still_loads_its_scorer_and_definition(trained_template, tmp_path,
                                                                                      monkeypatch):
    """The reported bug: a project folder copied elsewhere lost its artifacts ("No such artifact: ''")."""
    import shutil

    import mlflow

    from pipeline import tracking

    project = tmp_path / "moved"
    project.mkdir()
    shutil.copy(trained_template.root / "mlflow.db", project / "mlflow.db")
    shutil.copytree(trained_template.root / "mlruns", project / "mlruns")
    old_home = str(tmp_path / "where-it-was")  # gone: nothing is there any more
    assert _recorded_elsewhere(project / "mlflow.db", str(trained_template.root.resolve()), old_home) > 0
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project}/mlflow.db")
    monkeypatch.setenv("LEADSCORE_HOME", str(project))
    tracking.configure()
    try:
        name = trained_template.raw["register"]["model_name"]
        version = tracking.latest_version(name)
        assert tracking.load_definition(name, version)[1]["grades"]
        scorer = tracking.load_scorer(tracking.get_version(name, version), name)
        assert scorer is not None
        assert tracking.moved_local_artifacts(f"file://{old_home}/elsewhere/x") == f"file://{old_home}/elsewhere/x"
    finally:
        mlflow.set_tracking_uri(None)
