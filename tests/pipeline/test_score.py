"""Scoring refuses a champion trained on the other source kind: its features are not built there."""

from types import SimpleNamespace

import pytest

from pipeline.steps.score import check_source_kind


def test_a_version_trained_on_a_flat_export_cannot_score_the_contract_tables(config):
    flat_version = SimpleNamespace(version="3", tags={"source_kind": "flat"})
    with pytest.raises(ValueError, match="version 3 was trained on a flat source, but params.yaml says "
                                         "source.kind: contract"):
        check_source_kind(config, flat_version)


def test_versions_from_before_flat_exports_count_as_contract(config):
    check_source_kind(config, SimpleNamespace(version="1", tags={}))
