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
