"""The scorer: everything one model version needs to turn feature rows into the numbers sales sees.

- ``probability``: calibrated chance of the milestone within the window (the honest number);
- ``score`` 1–99: the percentile of that probability in the version's reference distribution (the
  validation slice), so a 90 means "better than 90 % of the leads this model was checked on", every night;
- ``grade`` A–D: probability thresholds sized from the share of leads sales can work in each grade,
  frozen at training time.
The scorer owns its input contract: category columns arrive as text and are cast to the training
categories here (unseen values become missing), which is what makes the MLflow pyfunc robust.

A scorer is data: ``to_artifacts()`` gives it as named text files (JSON, and the model family's own files:
LightGBM's model text for trees) and ``LeadScorer.from_artifacts(files)`` rebuilds it with this code, giving
identical probabilities, scores, grades and reasons. Writing and reading the files is ``pipeline``'s job.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.calibration import ProbabilityCalibrator
from models.drift import build_reference
from models.families import family_from_artifacts, family_of, family_to_artifacts

SCORE_COLUMNS = ["probability", "score", "grade"]

SCORER_FILE = "scorer.json"            # what the scorer is: format, family, features, calibration, grades
REFERENCE_FILE = "reference.json"      # the reference quantiles and the drift reference
CATALOG_FILE = "catalog.json"          # the feature catalog frozen at training (descriptions for reasons)
ARTIFACT_FORMAT = "leadscore.scorer"
ARTIFACT_FORMAT_VERSION = 1


class ArtifactFormatError(ValueError):
    """The files are not a scorer this code can rebuild (another format, or a newer format version)."""


@dataclass
class LeadScorer:
    model: object  # a fitted family from models.families: predict_raw(X) ranks leads
    calibrator: ProbabilityCalibrator
    feature_names: list[str]
    categories: dict[str, list]
    reference_quantiles: np.ndarray
    grade_thresholds: dict[str, float]  # grade → minimum probability, best grade first; last grade: 0
    catalog: dict = field(default_factory=dict)  # feature name → FeatureSpec, frozen at training time
    definition_version: str = ""
    drift_reference: dict = field(default_factory=dict)  # models.drift reference of the validation slice

    def to_artifacts(self) -> dict[str, str]:
        """The scorer as named text files: JSON, plus the model family's own files (``models.families``)."""
        model_files = family_to_artifacts(self.model)
        scorer = {
            "format": ARTIFACT_FORMAT, "format_version": ARTIFACT_FORMAT_VERSION,
            "family": family_of(self.model), "model_files": sorted(model_files),
            "feature_names": list(self.feature_names),
            "categories": {col: pd.Index(cats).tolist() for col, cats in self.categories.items()},
            "grade_thresholds": [[grade, float(minimum)] for grade, minimum in self.grade_thresholds.items()],
            "calibrator": self.calibrator.to_dict(),
            "definition_version": self.definition_version,
        }
        reference = {"reference_quantiles": np.asarray(self.reference_quantiles, dtype=float).tolist(),
                     "drift_reference": self.drift_reference}
        catalog = {name: dataclasses.asdict(spec) for name, spec in self.catalog.items()}
        return {SCORER_FILE: json.dumps(scorer, indent=1), REFERENCE_FILE: json.dumps(reference),
                CATALOG_FILE: json.dumps(catalog, indent=1), **model_files}

    @classmethod
    def from_artifacts(cls, files: Mapping[str, str], *, feature_spec: Callable[..., object]) -> LeadScorer:
        """The scorer ``to_artifacts`` wrote, rebuilt by this code from its text. ``feature_spec`` makes a
        catalog entry from its fields (``features.specs.FeatureSpec``; models does not import features)."""
        if SCORER_FILE not in files:
            raise ArtifactFormatError(f"no {SCORER_FILE}: these files are not a leadscore scorer")
        scorer = json.loads(files[SCORER_FILE])
        if scorer.get("format") != ARTIFACT_FORMAT:
            raise ArtifactFormatError(f"{SCORER_FILE} is not a leadscore scorer (format {scorer.get('format')!r})")
        if scorer.get("format_version") != ARTIFACT_FORMAT_VERSION:
            raise ArtifactFormatError(f"scorer format version {scorer.get('format_version')!r} is not the one this "
                                      f"leadscore reads ({ARTIFACT_FORMAT_VERSION})")
        reference = json.loads(files[REFERENCE_FILE])
        catalog = json.loads(files[CATALOG_FILE])
        return cls(
            model=family_from_artifacts(scorer["family"], {name: files[name] for name in scorer["model_files"]}),
            calibrator=ProbabilityCalibrator.from_dict(scorer["calibrator"]),
            feature_names=list(scorer["feature_names"]),
            categories={col: list(cats) for col, cats in scorer["categories"].items()},
            reference_quantiles=np.asarray(reference["reference_quantiles"], dtype=float),
            grade_thresholds={grade: float(minimum) for grade, minimum in scorer["grade_thresholds"]},
            catalog={name: feature_spec(**fields) for name, fields in catalog.items()},
            definition_version=str(scorer["definition_version"]),
            drift_reference=reference["drift_reference"],
        )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Feature rows in the model's column order, categories cast to the training categories.

        Columns already in their final dtype are passed through without a copy: at a million leads a
        night, copies and casts are most of what the wrapper adds to LightGBM's own predict."""
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ValueError(f"model input lacks {len(missing)} feature columns: {', '.join(missing[:10])}")
        columns = {}
        for col in self.feature_names:
            values = frame[col]
            if col in self.categories:
                cats = self.categories[col]
                same = isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == list(cats)
                columns[col] = values if same else pd.Categorical(values, categories=cats)  # unseen → missing
            elif values.dtype != np.float64:
                columns[col] = pd.to_numeric(values, errors="raise").astype(np.float64)
            else:
                columns[col] = values
        return pd.DataFrame(columns, index=frame.index, copy=False)

    def raw_probability(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_raw(self.prepare(frame))

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.transform(self.raw_probability(frame))

    def percentile_score(self, probability: np.ndarray) -> np.ndarray:
        rank = np.searchsorted(self.reference_quantiles, probability, side="right") / len(self.reference_quantiles)
        return np.clip(np.ceil(rank * 100), 1, 99).astype(np.int64)

    def grade(self, probability: np.ndarray) -> np.ndarray:
        return grade_by_thresholds(probability, self.grade_thresholds)

    def predict(self, frame: pd.DataFrame, *, reasons: bool = False) -> pd.DataFrame:
        X = self.prepare(frame)
        p = self.calibrator.transform(self.model.predict_raw(X))
        out = pd.DataFrame({"probability": p, "score": self.percentile_score(p), "grade": self.grade(p)},
                           index=frame.index)
        if reasons:
            out = out.join(self.reasons(X))
        return out

    def reasons(self, X: pd.DataFrame, *, positive: int = 3, negative: int = 2) -> pd.DataFrame:
        """The strongest contributions for and against each lead, in words, with the lead's own values.

        Contributions are LightGBM's exact TreeSHAP values (``pred_contrib``) in log-odds; families
        without them (points, logistic regression) give no reasons.
        """
        empty = pd.DataFrame({"reasons_positive": "", "reasons_negative": ""}, index=X.index)
        if not hasattr(self.model, "contributions") or len(X) == 0:
            return empty
        contrib = self.model.contributions(X)[:, :-1]
        order = np.argsort(contrib, axis=1, kind="stable")
        columns = [X[c].to_numpy(dtype=object) for c in self.feature_names]
        specs = [self.catalog.get(c) for c in self.feature_names]

        def words(row: int, idx: int) -> str:
            spec = specs[idx]
            value = columns[idx][row]
            return spec.describe(value) if spec is not None else f"{self.feature_names[idx]} = {value}"

        pos_text, neg_text = [], []
        for row in range(len(X)):
            ranked = order[row]
            pos = [i for i in ranked[::-1][:positive] if contrib[row, i] > 0]
            neg = [i for i in ranked[:negative] if contrib[row, i] < 0]
            pos_text.append(" · ".join(words(row, i) for i in pos))
            neg_text.append(" · ".join(words(row, i) for i in neg))
        empty["reasons_positive"] = pos_text
        empty["reasons_negative"] = neg_text
        return empty


def to_model_input(features: pd.DataFrame, feature_names: list[str]) -> pd.DataFrame:
    """Feature columns as the pyfunc signature declares them: categories as text, numbers as float."""
    X = features[feature_names].copy()
    for col in X.columns:
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            X[col] = X[col].astype("object").where(X[col].notna(), None).astype(object)
        else:
            X[col] = X[col].astype(float)
    return X


def grade_by_thresholds(probability: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """Each probability's grade: the best whose minimum it reaches (the last grade's minimum is 0)."""
    grades = list(thresholds)
    out = np.full(len(probability), grades[-1], dtype=object)
    for g in reversed(grades[:-1]):
        out[np.asarray(probability) >= thresholds[g]] = g
    return out


def grade_thresholds(probability: np.ndarray, shares: dict[str, float]) -> dict[str, float]:
    """Minimum probability per grade so that each grade holds its share of the reference population."""
    thresholds: dict[str, float] = {}
    cumulative = 0.0
    for grade, share in shares.items():
        cumulative += share
        thresholds[grade] = float(np.quantile(probability, 1 - cumulative))
    last = chr(ord(list(shares)[-1]) + 1)
    thresholds[last] = 0.0
    return thresholds


def build_scorer(model, calibrator: ProbabilityCalibrator, X_reference: pd.DataFrame,
                 *, grade_shares: dict[str, float], categories: dict[str, list] | None = None,
                 catalog: dict | None = None, reference_probability: np.ndarray | None = None) -> LeadScorer:
    """Freeze a fitted model and calibrator with the reference distribution and grade thresholds.

    ``categories`` are the training categories (default: those of ``X_reference``);
    ``reference_probability``: the reference rows' probabilities when the model itself has seen those rows
    (a refit on everything), measured out of sample instead (default: the scorer's own)."""
    if categories is None:
        categories = {c: list(X_reference[c].cat.categories) for c in X_reference.columns
                      if isinstance(X_reference[c].dtype, pd.CategoricalDtype)}
    scorer = LeadScorer(
        model=model, calibrator=calibrator, feature_names=list(X_reference.columns),
        categories=categories, reference_quantiles=np.zeros(1), grade_thresholds={"A": 0.0},
        catalog=dict(catalog or {}),
    )
    p = scorer.probability(X_reference) if reference_probability is None else np.asarray(reference_probability)
    scorer.reference_quantiles = np.quantile(p, np.linspace(0, 1, 1001))
    scorer.drift_reference = build_reference(X_reference, p)
    scorer.grade_thresholds = grade_thresholds(p, grade_shares)
    return scorer
