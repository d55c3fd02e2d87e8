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

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.calibration import ProbabilityCalibrator
from models.drift import build_reference
from models.families import family_from_artifacts, family_of, family_to_artifacts, margin_to_raw
from models.metrics import as_weights, weighted_quantile

SCORE_COLUMNS = ["probability", "score", "grade"]
STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas 3's default ``str``: what text columns hold
FEW_LEADS = 32  # up to this many leads, reasons are worded lead by lead (``_reason_texts_by_lead``)

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
    feature_means: dict = field(default_factory=dict)  # numeric feature → its mean on the reference rows
    base_probability: float | None = None  # the average lead's calibrated probability (``explain``'s base)
    # each category column's dtype, built once (building one checks its categories: a lead scored on demand
    # would pay that for every column of every request)
    _dtypes: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _bases: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # bias → its probability

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
            **({} if self.base_probability is None else {"base_probability": float(self.base_probability)}),
        }
        reference = {"reference_quantiles": np.asarray(self.reference_quantiles, dtype=float).tolist(),
                     "drift_reference": self.drift_reference,
                     "feature_means": {k: float(v) for k, v in self.feature_means.items()}}
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
            feature_means={k: float(v) for k, v in reference.get("feature_means", {}).items()},
            base_probability=None if scorer.get("base_probability") is None else float(scorer["base_probability"]),
        )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Feature rows in the model's column order, categories cast to the training categories.

        Built from arrays without a copy (float64 columns are passed through as they are): at a million leads
        a night, copies and casts are most of what the wrapper adds to LightGBM's own predict."""
        return self._prepared(self._model_columns(frame), frame.index)

    def _prepared(self, columns: list[tuple[np.ndarray, np.ndarray | None]], index: pd.Index) -> pd.DataFrame:
        """``prepare``'s frame from ``_model_columns``' arrays (a category column from its codes)."""
        data = {col: values if lookup is None else pd.Categorical.from_codes(values, dtype=self._category_dtype(col))
                for col, (values, lookup) in zip(self.feature_names, columns, strict=True)}
        return pd.DataFrame(data, index=index, copy=False)

    def model_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows exactly as LightGBM reads ``prepare(frame)``: float64, the model's column order, each
        category as its code in the training categories (missing and unseen: NaN)."""
        return _matrix(self._model_columns(frame), len(frame))

    def _model_columns(self, frame: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per feature what ``model_matrix`` reads: float64 values, or category codes with the float each code
        becomes (the last slot, NaN, for code -1)."""
        self._check_columns(frame)
        columns = []
        for col in self.feature_names:
            values = frame[col]
            if col in self.categories:
                dtype = self._category_dtype(col)
                lookup = np.append(np.arange(len(dtype.categories), dtype=np.float64), np.nan)  # code -1: NaN slot
                columns.append((_category_codes(values, dtype), lookup))
            else:
                columns.append((_float64_values(values), None))
        return columns

    def _raw_by_blocks(self, frame: pd.DataFrame, block_rows: int = 65_536) -> np.ndarray:
        """``model.predict_matrix`` of ``model_matrix(frame)``, filled and predicted a block of rows at a time in
        one buffer: rows are independent, so the numbers are the same, and a million leads never need a
        matrix of their own (fresh memory is most of what a whole-table matrix costs on a small machine)."""
        columns = self._model_columns(frame)
        n = len(frame)
        raw = np.empty(n, dtype=np.float64)
        buffer = np.empty((min(n, block_rows), len(columns)), dtype=np.float64, order="F")
        for lo in range(0, n, block_rows):
            rows = slice(lo, min(n, lo + block_rows))
            block = buffer if rows.stop - lo == len(buffer) else np.empty((rows.stop - lo, len(columns)), order="F")
            raw[rows] = self.model.predict_matrix(_fill(block, columns, rows))
        return raw

    def _category_dtype(self, col: str) -> pd.CategoricalDtype:
        if col not in self._dtypes:
            self._dtypes[col] = pd.CategoricalDtype(self.categories[col])
        return self._dtypes[col]

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ValueError(f"model input lacks {len(missing)} feature columns: {', '.join(missing[:10])}")

    def _reads_matrix(self) -> bool:
        """The model takes ``model_matrix`` rows and its categories are this scorer's, in feature order (the
        codes LightGBM would compute itself from a prepared frame)."""
        levels = getattr(self.model, "category_levels", None)
        return levels is not None and hasattr(self.model, "predict_matrix") and levels == [
            list(self.categories[c]) for c in self.feature_names if c in self.categories]

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
        contrib = None
        if reasons and len(frame) and hasattr(self.model, "contributions"):
            columns = self._model_columns(frame)
            X = self._prepared(columns, frame.index)
            if self._reads_matrix() and hasattr(self.model, "raw_and_contributions_of_matrix"):
                # the rows as LightGBM reads X; the matrix is freed before the reasons are worded (600 MB a million)
                raw, contrib = self.model.raw_and_contributions_of_matrix(_matrix(columns, len(frame)))
            else:
                raw, contrib = _raw_and_contributions(self.model, X)
        elif reasons or len(frame) == 0 or not self._reads_matrix():
            X = self.prepare(frame)
            raw = self.model.predict_raw(X)
        else:  # the same numbers LightGBM computes from the prepared frame, without building it
            raw = self._raw_by_blocks(frame)
        p = self.calibrator.transform(raw)
        out = pd.DataFrame({"probability": p, "score": self.percentile_score(p), "grade": self.grade(p)},
                           index=frame.index)
        if reasons:
            out = out.join(self.reasons(X, probability=p, contributions=contrib))
        return out

    def explain(self, X: pd.DataFrame, *, probability: np.ndarray | None = None,
                contributions: np.ndarray | None = None) -> Explanation:
        """Each feature's effect on each lead's calibrated probability; base + effects = probability.

        The family's ``contributions`` split the lead's margin (log-odds; points for the points family) into
        one part per feature and the average lead's margin (the bias). The base is the calibrated probability
        of that average margin; the difference between the lead's calibrated probability and the base is
        shared among the features in proportion to their contributions, so the effects add up exactly and
        each has its contribution's sign (the opposite one if the calibration reversed the order)."""
        if contributions is None:
            contributions = self.model.contributions(self.prepare(X))
        contrib = np.asarray(contributions, dtype=float)
        phi, bias = contrib[:, :-1], contrib[:, -1]
        if probability is None:
            probability = self.calibrator.transform(margin_to_raw(self.model, contrib.sum(axis=1)))
        probability = np.asarray(probability, dtype=float)
        base = self._base_of(bias)
        total = phi.sum(axis=1)
        small = np.abs(total) < 1e-9
        scale = np.divide(probability - base, total, out=np.zeros(len(total)), where=~small)
        if small.any():  # effects too small to share: the calibrated slope at the base (the sum stays ≈ 0)
            h = 1e-4
            up = self.calibrator.transform(margin_to_raw(self.model, bias[small] + h))
            down = self.calibrator.transform(margin_to_raw(self.model, bias[small] - h))
            scale[small] = (up - down) / (2 * h)
        return Explanation(base=base, effects=phi * scale[:, None], probability=probability,
                           feature_names=list(self.feature_names))

    def _base_of(self, bias: np.ndarray) -> np.ndarray:
        """The calibrated probability of each lead's bias: one value, the model's expected margin, for every lead
        of a tree model, calibrated once per scorer (the same number the calibrator gives for any row)."""
        if len(bias) and np.all(bias == bias[0]):
            key = float(bias[0])
            if key not in self._bases:
                self._bases[key] = float(self.calibrator.transform(margin_to_raw(self.model, bias[:1]))[0])
            return np.full(len(bias), self._bases[key])
        return self.calibrator.transform(margin_to_raw(self.model, bias))

    def reasons(self, X: pd.DataFrame, *, positive: int = 3, negative: int = 2,
                probability: np.ndarray | None = None, contributions: np.ndarray | None = None) -> pd.DataFrame:
        """The strongest effects for and against each lead, in a rep's words, with the lead's own values and
        each effect in percentage points of the calibrated probability ("… (+4.2 pts)"; ``explain``).
        Features whose words are the same for a lead ("has never engaged") are told once, their effects added.
        ``contributions``: the family's, of ``X`` already prepared (``predict`` explains what it predicted)."""
        empty = pd.DataFrame({"reasons_positive": "", "reasons_negative": ""}, index=X.index)
        if not hasattr(self.model, "contributions") or len(X) == 0:
            return empty
        if contributions is None:
            X = self.prepare(X)
        effects = self.explain(X, probability=probability, contributions=contributions).effects
        spare = 2  # a few more candidates, so that features that read the same are told once, effects added
        candidates = strongest_effects(effects, positive + spare, negative + spare)
        specs = [self.catalog.get(c) for c in self.feature_names]
        typical = [None if spec is None else self.feature_means.get(spec.context[0] if spec.context else name)
                   for name, spec in zip(self.feature_names, specs, strict=True)]
        context = [tuple(spec.context) if spec is not None and spec.context
                   and all(c in X.columns for c in spec.context) else () for spec in specs]

        def words(idx: int, against: bool, value, context_values: tuple) -> str:
            spec, name = specs[idx], self.feature_names[idx]
            if spec is None:
                return f"{name} = {value}"
            return spec.describe(value, against=against, typical=typical[idx], context=context_values)

        if len(X) <= FEW_LEADS:
            pos_text, neg_text = _reason_texts_by_lead(X, self.feature_names, effects, candidates, context, words,
                                                       positive=positive, negative=negative)
        else:
            pos_text, neg_text = _reason_texts(X, self.feature_names, effects, candidates, context, words,
                                               positive=positive, negative=negative, catalog=self.catalog)
        empty["reasons_positive"] = pos_text
        empty["reasons_negative"] = neg_text
        return empty


def _raw_and_contributions(model, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The family's ``predict_raw`` and ``contributions`` of the same rows, in one pass where it has one."""
    both = getattr(model, "raw_and_contributions", None)
    return both(X) if both is not None else (model.predict_raw(X), model.contributions(X))


@dataclass
class Explanation:
    """``base`` (per lead; the same for every lead of a model) + ``effects`` summed over features =
    ``probability``; effects per feature in ``feature_names`` order, as probabilities (0.042 = 4.2 pts)."""

    base: np.ndarray
    effects: np.ndarray
    probability: np.ndarray
    feature_names: list[str]


def strongest_effects(effects: np.ndarray, largest: int, smallest: int) -> np.ndarray:
    """Per row, the columns of the ``largest`` effects, largest first (ties: the later column first), then of
    the ``smallest``, smallest first (ties: the earlier first): what a stable ``argsort`` of each row gives
    at its two ends, without sorting a million rows of every feature."""
    effects = np.ascontiguousarray(effects, dtype=np.float64)
    largest, smallest = min(largest, effects.shape[1]), min(smallest, effects.shape[1])
    out = np.empty((effects.shape[0], largest + smallest), dtype=np.int64)
    _strongest_kernel(effects, largest, smallest, out)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _strongest_kernel(effects, largest, smallest, out):
    n, width = effects.shape
    for i in numba.prange(n):
        row = effects[i]
        n_top = 0
        n_bottom = 0
        for j in range(width):
            n_top = _keep(row, out[i, :largest], n_top, j, 1.0, True)  # a later column wins a tie
            n_bottom = _keep(row, out[i, largest:], n_bottom, j, -1.0, False)  # an earlier column wins


@numba.njit(cache=True, nogil=True)
def _keep(row, kept, count, j, sign, later_wins):
    """Insert column ``j`` into ``kept[:count]`` (columns ordered by ``sign`` × effect, largest first) if it is
    among the ``len(kept)`` strongest; the new count."""
    e = sign * row[j]
    k = count
    while k > 0 and (sign * row[kept[k - 1]] < e or (later_wins and sign * row[kept[k - 1]] == e)):
        k -= 1
    if k >= len(kept):
        return count
    for m in range(min(count, len(kept) - 1), k, -1):
        kept[m] = kept[m - 1]
    kept[k] = j
    return min(count + 1, len(kept))


def _value_keys(values: pd.Series, spec) -> np.ndarray:
    """Per row, an integer equal for two rows only when their values read the same: a number's
    ``FeatureSpec.word_keys`` (its bits without a spec), a category's code; any other column, the row itself."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    if values.dtype == np.float64:
        word_keys = getattr(spec, "word_keys", None)  # a catalog entry (``features.specs.FeatureSpec``)
        return word_keys(values.to_numpy()) if word_keys is not None else values.to_numpy().view(np.int64)
    return np.arange(len(values), dtype=np.int64)


def _reason_texts(X: pd.DataFrame, feature_names: list[str], effects: np.ndarray, candidates: np.ndarray,
                  context: list[tuple], words: Callable, *, positive: int, negative: int,
                  catalog: Mapping[str, object]) -> tuple[list, list]:
    """``LeadScorer.reasons``' texts, computed column-wise (a million leads in seconds). For each lead, as a
    loop over its candidates would: each candidate feature once, those with a non-zero effect in their words
    (``words(idx, against, value, context_values)``; asked once per distinct value, context and direction),
    the effects of candidates that read the same added up in candidate order, then the strongest ``positive``
    for (ties: the later candidate first) and ``negative`` against (ties: the earlier first)."""
    n, width = candidates.shape
    rows = np.arange(n)
    effect = effects[rows[:, None], candidates]
    valid = effect != 0
    for j in range(1, width):  # a candidate listed twice counts once (its first place)
        for k in range(j):
            valid[:, j] &= candidates[:, j] != candidates[:, k]
    text_id = np.full((n, width), -1, dtype=np.int64)
    texts: dict[str, int] = {}
    keys: dict[str, np.ndarray] = {}

    def key(name: str) -> np.ndarray:
        if name not in keys:
            keys[name] = _value_keys(X[name], catalog.get(name))
        return keys[name]

    pair_row, pair_slot = np.nonzero(valid)
    pair_feature = candidates[pair_row, pair_slot]
    by_feature = np.argsort(pair_feature, kind="stable")
    bounds = np.flatnonzero(np.diff(pair_feature[by_feature])) + 1
    for pairs in np.split(by_feature, bounds) if len(by_feature) else []:
        idx = pair_feature[pairs[0]]
        name = feature_names[idx]
        r, j = pair_row[pairs], pair_slot[pairs]
        against = effect[r, j] < 0
        # a catalogue entry's words made of its context columns do not depend on its own value (``describe``)
        told_by_context = bool(context[idx]) and catalog.get(name) is not None
        own = np.zeros(len(r), dtype=np.int64) if told_by_context else pd.factorize(key(name)[r])[0].astype(np.int64)
        group = own * 2 + against
        for c in context[idx]:
            group = pd.factorize(group * (n + 1) + pd.factorize(key(c)[r])[0])[0].astype(np.int64)
        uniq, first = np.unique(group, return_index=True)
        ids = np.empty(len(uniq), dtype=np.int64)
        values = X[name].iloc[r[first]].to_numpy(dtype=object)
        context_values = [X[c].iloc[r[first]].to_numpy(dtype=object) for c in context[idx]]
        for g, row in enumerate(r[first]):
            text = words(int(idx), bool(effect[row, j[first[g]]] < 0), values[g],
                         tuple(v[g] for v in context_values))
            ids[g] = texts.setdefault(text, len(texts))
        text_id[r, j] = ids[np.searchsorted(uniq, group)]
    # features that read the same: the first candidate with that text holds the sum, in candidate order
    owner = np.tile(np.arange(width), (n, 1))
    for j in range(width):
        for k in range(j - 1, -1, -1):
            same = valid[:, j] & valid[:, k] & (text_id[:, k] == text_id[:, j])
            owner[same, j] = k
    total = np.zeros((n, width))
    for j in range(width):
        total[rows, owner[:, j]] += np.where(valid[:, j], effect[:, j], 0.0)
    holds = valid & (owner == np.arange(width))
    best = strongest_effects(np.where(holds, total, -np.inf), positive, 0)
    pos = _joined(best, total, text_id, texts, total[rows[:, None], best] > 0)
    worst = strongest_effects(np.where(holds, total, np.inf), 0, negative)
    neg = _joined(worst, total, text_id, texts, total[rows[:, None], worst] < 0)
    return pos, neg


def _reason_texts_by_lead(X: pd.DataFrame, feature_names: list[str], effects: np.ndarray, candidates: np.ndarray,
                          context: list[tuple], words: Callable, *, positive: int,
                          negative: int) -> tuple[pd.api.extensions.ExtensionArray, ...]:
    """``_reason_texts`` lead by lead, for a few leads (one scored on demand): a loop over each lead's candidates,
    reading only their columns, costs less than the column-wise set-up. Word for word the same (tests)."""
    columns: dict[str, np.ndarray] = {}

    def value(name: str, row: int):
        if name not in columns:
            columns[name] = X[name].to_numpy(dtype=object)
        return columns[name][row]

    pos_text, neg_text = [], []
    for row in range(len(X)):
        told: dict[str, float] = {}
        for idx in dict.fromkeys(candidates[row].tolist()):  # a candidate listed twice counts once
            effect = float(effects[row, idx])
            if effect != 0:
                text = words(idx, effect < 0, value(feature_names[idx], row),
                             tuple(value(c, row) for c in context[idx]))
                told[text] = told.get(text, 0.0) + effect  # features that read the same are told once
        ranked = sorted(told.items(), key=lambda item: item[1])  # stable: ties keep candidate order
        pos_text.append(" · ".join(f"{t} ({effect_points(e)})" for t, e in ranked[::-1][:positive] if e > 0))
        neg_text.append(" · ".join(f"{t} ({effect_points(e)})" for t, e in ranked[:negative] if e < 0))
    return pd.array(pos_text, dtype=STR), pd.array(neg_text, dtype=STR)


def _joined(slots: np.ndarray, total: np.ndarray, text_id: np.ndarray, texts: dict[str, int],
            shown: np.ndarray) -> pd.arrays.ArrowStringArray:
    """Per row, the chosen slots' "words (+x pts)" joined by " · " (those ``shown``: a prefix of each row).

    Each distinct piece is written once and the rows are joined by Arrow: a million rows' texts in a
    fraction of a second, in the ``str`` dtype the scores table publishes."""
    n, width = slots.shape
    rows = np.arange(n)[:, None]
    points, point_id = _points_texts(total[rows, slots][shown])
    pair = text_id[rows, slots][shown] * len(points) + point_id
    pairs, piece_of = np.unique(pair, return_inverse=True)
    words = np.array(list(texts), dtype=object)
    pieces = pa.array((words[pairs // len(points)] + " (" + points[pairs % len(points)] + ")").tolist(), pa.string())
    piece = np.full(slots.shape, -1, dtype=np.int64)
    piece[shown] = piece_of
    # the first column is never null: Arrow's "skip" drops a row whose inputs are all null (pyarrow 25)
    columns = [pieces.take(pa.array(piece[:, c], mask=piece[:, c] < 0)) for c in range(width)]
    if not columns:
        return pd.array(np.full(n, "", dtype=object), dtype=STR)
    columns[0] = pc.fill_null(columns[0], "")
    joined = pc.binary_join_element_wise(*columns, " · ", null_handling="skip") if width > 1 else columns[0]
    return pd.array(joined, dtype=STR)


def _points_texts(effects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``effect_points`` of many effects: (the distinct texts, each effect's position in them), formatting
    each distinct text once. An effect is keyed by what its text shows (sign, precision, digits rounded as
    the format rounds); one within rounding error of a tie gets a key of its own, so two effects share a key
    only when their texts are equal."""
    effects = np.asarray(effects, dtype=np.float64)
    size = np.abs(100 * effects)
    precision = np.where(size >= 0.095, 2, np.where(size >= 0.005, 1, 0))
    scaled = np.where(precision == 2, size * 10, np.where(precision == 1, size * 100, 0.0))
    near_tie = (precision > 0) & (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    key = (((precision * 2 + (100 * effects > 0)) << 40) + np.rint(scaled).astype(np.int64))
    key[near_tie] = -1 - np.arange(int(near_tie.sum()))
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return np.array([effect_points(e) for e in effects[first].tolist()], dtype=object), inverse


def effect_points(effect: float) -> str:
    """An effect on the probability in percentage points: "+4.2 pts", "-0.35 pts", "+<0.01 pts"."""
    pts = 100 * float(effect)
    sign = "+" if pts > 0 else "-"
    size = abs(pts)
    text = f"{size:.1f}" if size >= 0.095 else f"{size:.2f}" if size >= 0.005 else "<0.01"
    return f"{sign}{text} pts"


def _category_codes(values: pd.Series, dtype: pd.CategoricalDtype) -> np.ndarray:
    """Codes of ``values`` in ``dtype``'s categories (-1: missing or unseen), as ``pd.Categorical(values,
    dtype=dtype).codes`` gives them, without its pass over the values for the warning about unseen ones
    (deprecated there; here unseen values are missing by design). A categorical is recoded through its own
    categories (a few), not its values (a million, or one lead's row)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        recode = np.append(dtype.categories.get_indexer_for(values.cat.categories), -1)  # code -1 stays -1
        return recode[values.cat.codes.to_numpy()]
    return dtype.categories.get_indexer_for(values)


def _matrix(columns: list[tuple[np.ndarray, np.ndarray | None]], n: int) -> np.ndarray:
    """``_model_columns``' arrays as LightGBM's float64 matrix, column by column as the tree walk reads it."""
    return _fill(np.empty((n, len(columns)), dtype=np.float64, order="F"), columns, slice(None))


def _fill(out: np.ndarray, columns: list[tuple[np.ndarray, np.ndarray | None]], rows: slice) -> np.ndarray:
    for j, (values, lookup) in enumerate(columns):
        out[:, j] = values[rows] if lookup is None else lookup[values[rows]]
    return out


def _float64_values(values: pd.Series) -> np.ndarray:
    """The column as float64 (missing as NaN); float64 columns as they are, without a copy."""
    if values.dtype == np.float64:
        return values.to_numpy()
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub":  # no missing values to look for
        return values.to_numpy().astype(np.float64)
    if pd.api.types.is_numeric_dtype(values.dtype):  # nullable ints, floats and bools: NA as NaN
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


def to_model_input(features: pd.DataFrame, feature_names: list[str]) -> pd.DataFrame:
    """Feature columns as the pyfunc signature declares them: categories as text, numbers as float."""
    columns = {}
    for col in feature_names:  # built as arrays, one frame at the end: one lead costs microseconds, not a frame op
        values = features[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            levels = np.append(values.cat.categories.to_numpy(dtype=object), None)  # code -1: the None slot
            columns[col] = pd.Series(levels[values.cat.codes.to_numpy()], index=features.index, dtype=object)
        else:
            columns[col] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(columns, index=features.index, columns=list(feature_names))


def grade_by_thresholds(probability: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """Each probability's grade: the best whose minimum it reaches (the last grade's minimum is 0)."""
    grades = list(thresholds)
    out = np.full(len(probability), grades[-1], dtype=object)
    for g in reversed(grades[:-1]):
        out[np.asarray(probability) >= thresholds[g]] = g
    return out


def grade_thresholds(probability: np.ndarray, shares: dict[str, float], sample_weight=None) -> dict[str, float]:
    """Minimum probability per grade so that each grade holds its share of the reference population (of its
    weight, for a sampled reference: the share of the full population)."""
    thresholds: dict[str, float] = {}
    cumulative = 0.0
    for grade, share in shares.items():
        cumulative += share
        thresholds[grade] = float(weighted_quantile(probability, 1 - cumulative, sample_weight))
    last = chr(ord(list(shares)[-1]) + 1)
    thresholds[last] = 0.0
    return thresholds


def build_scorer(model, calibrator: ProbabilityCalibrator, X_reference: pd.DataFrame,
                 *, grade_shares: dict[str, float], categories: dict[str, list] | None = None,
                 catalog: dict | None = None, reference_probability: np.ndarray | None = None,
                 reference_weight: np.ndarray | None = None) -> LeadScorer:
    """Freeze a fitted model and calibrator with the reference distribution and grade thresholds.

    ``categories`` are the training categories (default: those of ``X_reference``);
    ``reference_probability``: the reference rows' probabilities when the model itself has seen those rows
    (a refit on everything), measured out of sample instead (default: the scorer's own); ``reference_weight``:
    the reference rows' sampling weights (``features.sampling``), so percentiles and grade shares are those
    of the full population."""
    if categories is None:
        categories = {c: list(X_reference[c].cat.categories) for c in X_reference.columns
                      if isinstance(X_reference[c].dtype, pd.CategoricalDtype)}
    scorer = LeadScorer(
        model=model, calibrator=calibrator, feature_names=list(X_reference.columns),
        categories=categories, reference_quantiles=np.zeros(1), grade_thresholds={"A": 0.0},
        catalog=dict(catalog or {}),
    )
    p = scorer.probability(X_reference) if reference_probability is None else np.asarray(reference_probability)
    scorer.reference_quantiles = weighted_quantile(p, np.linspace(0, 1, 1001), reference_weight)
    scorer.drift_reference = build_reference(X_reference, p, as_weights(reference_weight))
    scorer.grade_thresholds = grade_thresholds(p, grade_shares, reference_weight)
    scorer.feature_means = {c: float(X_reference[c].astype(float).mean()) for c in X_reference.columns
                            if c not in categories and X_reference[c].notna().any()}
    if hasattr(model, "contributions") and len(X_reference):
        scorer.base_probability = float(scorer.explain(X_reference.head(1)).base[0])
    return scorer
