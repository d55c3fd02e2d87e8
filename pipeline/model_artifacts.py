"""A model version's scorer on disk: the files ``LeadScorer.to_artifacts`` gives, written to and read from a
folder (what MLflow stores as the pyfunc's ``scorer`` artifact).

Only data crosses this boundary: JSON and LightGBM's model text, read as text and rebuilt by this project's
code (``models.scorer``). Nothing here unpickles or imports anything from the folder.
"""

from __future__ import annotations

from pathlib import Path

from features.specs import FeatureSpec
from models.scorer import SCORER_FILE, LeadScorer

SCORER_FOLDER = "scorer"  # the folder's name, and so the pyfunc artifact's path: artifacts/scorer/
_DATA_SUFFIXES = (".json", ".txt")


def write_scorer(scorer: LeadScorer, folder: Path) -> Path:
    """Write the scorer's files into ``folder`` (created); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in scorer.to_artifacts().items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def is_scorer_folder(folder: Path) -> bool:
    return (folder / SCORER_FILE).is_file()


def read_scorer(folder: Path) -> LeadScorer:
    """The scorer in ``folder``, rebuilt from its text files (JSON and LightGBM model text, nothing else)."""
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir())
             if path.is_file() and path.suffix in _DATA_SUFFIXES}
    return LeadScorer.from_artifacts(files, feature_spec=FeatureSpec)
