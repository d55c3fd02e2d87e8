"""Does each grade convert at the rate it promised? Promise checks and cohort metrics on matured nights.

Pure: frames in, frames out. A *matured* night is a scored night whose whole label window has elapsed
in the data, so every lead scored that night has a known outcome (``features.labels.build_labels``
decides it, the same way as for training). For each grade we count scored leads and conversions, pooled
over the matured nights and per night, and put a binomial interval around the realized rate. The grade
is **in breach** when the rate it promised lies outside that interval: the data then say, at the chosen
confidence, that the grade converts at another rate than the one both teams signed.

Caveat stated once here: a lead open for several weeks is scored on several nights, and those rows are
not independent, so the pooled interval is narrower than the truth. The promises were measured on
snapshots the same way, so like is compared with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import beta, norm
from sklearn.metrics import roc_auc_score

from models.grades import effective_counts, wilson_interval
from models.metrics import expected_calibration_error
from models.params import MonitorParams

INTERVALS = ("wilson", "clopper_pearson")


def clopper_pearson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval: never narrower than it should be, even with a handful of conversions."""
    if n == 0:
        return float("nan"), float("nan")
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return low, high


def binomial_interval(successes: int, n: int, *, method: str = "wilson",
                      confidence: float = 0.95) -> tuple[float, float]:
    if method == "wilson":
        return wilson_interval(successes, n, z=float(norm.ppf(1 - (1 - confidence) / 2)))
    if method == "clopper_pearson":
        return clopper_pearson_interval(successes, n, confidence)
    raise ValueError(f"unknown interval {method!r}; expected one of {INTERVALS}")


def _verdict(promised_low: float, promised_high: float, low: float, high: float) -> str:
    """Breach only when the realized interval and the promise's own interval do not meet: a promise is a
    rate measured on a finite period, and holding it to its point value would call its own noise a breach."""
    if np.isnan(low) or np.isnan(promised_low):
        return "no leads"
    if promised_high < low:
        return "converts above promise"
    if promised_low > high:
        return "converts below promise"
    return "kept"


def check_promises(outcomes: pd.DataFrame, promises: pd.DataFrame, *, by: list[str] | None = None,
                   method: str = "wilson", confidence: float = 0.95) -> pd.DataFrame:
    """Realized conversion per model version and grade (and per ``by``, e.g. ``["as_of_ts"]``) vs promise.

    ``outcomes``: one row per scored lead and matured night: model_version, grade, converted (0/1), and
    the ``by`` columns. ``promises``: model_version, grade, promised_rate and, when the definition has
    them, promised_low and promised_high (the interval the promise was measured with). Every promised grade
    gets a row, with zero leads when none were scored in it. ``breach`` is True when the realized interval
    and the promise's interval do not overlap (without a promise interval: when the promised rate lies
    outside the realized interval); a grade with no leads is never in breach.
    """
    keys = ["model_version", *(by or []), "grade"]
    promises = promises.copy()
    for bound in ("promised_low", "promised_high"):
        promises[bound] = promises[bound].fillna(promises["promised_rate"]) if bound in promises else \
            promises["promised_rate"]
    counted = (outcomes.groupby(keys, observed=True)["converted"]
               .agg(leads="size", conversions="sum").reset_index())
    if by:
        frame = outcomes[["model_version", *by]].drop_duplicates().merge(
            promises[["model_version", "grade", "promised_rate", "promised_low", "promised_high"]], on="model_version")
    else:
        frame = promises[["model_version", "grade", "promised_rate", "promised_low", "promised_high"]].copy()
    frame = frame.merge(counted, on=keys, how="left")
    frame[["leads", "conversions"]] = frame[["leads", "conversions"]].fillna(0).astype("int64")
    if "lead_id" in outcomes:  # a lead scored on several nights is one cluster (models.grades.effective_counts)
        effective = {key: effective_counts(part["converted"], part["lead_id"])
                     for key, part in outcomes.groupby(keys, observed=True)}
        counts = [effective.get(tuple(row), (0, 0)) for row in frame[keys].itertuples(index=False)]
    else:
        counts = list(zip(frame["conversions"], frame["leads"], strict=True))
    bounds = [binomial_interval(k, n, method=method, confidence=confidence) for k, n in counts]
    frame["realized_rate"] = np.where(frame["leads"] > 0, frame["conversions"] / frame["leads"].clip(lower=1),
                                      np.nan)
    frame["low"] = [b[0] for b in bounds]
    frame["high"] = [b[1] for b in bounds]
    frame["verdict"] = [_verdict(pl, ph, lo, hi) for pl, ph, lo, hi in
                        zip(frame["promised_low"], frame["promised_high"], frame["low"], frame["high"], strict=True)]
    frame["breach"] = frame["verdict"].str.startswith("converts")
    return frame.sort_values(keys, ignore_index=True)[
        [*keys, "promised_rate", "promised_low", "promised_high", "leads", "conversions", "realized_rate", "low",
         "high", "verdict", "breach"]]


def cohort_metrics(outcomes: pd.DataFrame, *, cohort: str = "as_of_ts") -> pd.DataFrame:
    """Per cohort (scored night): leads, conversions, mean probability, ROC AUC and calibration error.

    AUC is undefined for a cohort with only one outcome; it is then left empty rather than guessed.
    """
    rows = []
    for key, part in outcomes.groupby(cohort, sort=True):
        y = part["converted"].to_numpy(dtype=int)
        p = part["probability"].to_numpy(dtype=float)
        rows.append({
            cohort: key, "leads": len(part), "conversions": int(y.sum()), "conversion_rate": float(y.mean()),
            "mean_probability": float(p.mean()),
            "roc_auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan"),
            "ece": expected_calibration_error(y, p, bins=min(10, len(y))),
        })
    columns = [cohort, "leads", "conversions", "conversion_rate", "mean_probability", "roc_auc", "ece"]
    return pd.DataFrame(rows, columns=columns)


def matured_nights(nights: pd.Series, *, window_days: int, observed_until: pd.Timestamp) -> pd.DatetimeIndex:
    """The scored nights whose whole label window lies inside the data (``as_of + window <= observed``)."""
    unique = pd.DatetimeIndex(pd.Series(nights).drop_duplicates().sort_values())
    return unique[unique + pd.Timedelta(days=window_days) <= observed_until]


@dataclass(frozen=True)
class Evidence:
    """Everything the monitor and the report read, gathered once."""

    tables: dict[str, pd.DataFrame]
    scores: pd.DataFrame            # every published row; ``converted`` is NaN where the night has not matured
    observed_until: pd.Timestamp    # the latest timestamp in the sources
    nights: pd.DatetimeIndex        # every scored night
    matured: pd.DatetimeIndex       # the nights whose label window has elapsed
    definitions: dict[int, dict]    # model version → its quality-lead definition
    grade_order: list[str]          # best grade first
    # (lead_id, as_of_ts) of the leads that reached the milestone within the window after each matured night
    # (features.coverage.buyers_of_nights); None when not gathered
    buyers: pd.DataFrame | None = None

    @property
    def outcomes(self) -> pd.DataFrame:
        return self.scores[self.scores["as_of_ts"].isin(self.matured)].astype({"converted": "int64"})

    def promises(self) -> pd.DataFrame:
        return pd.DataFrame([{"model_version": v, "grade": g["grade"], "promised_rate": g["promised_rate"],
                              "promised_low": g["promised_low"], "promised_high": g["promised_high"]}
                             for v, d in self.definitions.items() for g in d["grades"]])


def build_evidence(tables: dict[str, pd.DataFrame], labelled_scores: pd.DataFrame, *, observed_until: pd.Timestamp,
                   window_days: int, definitions: dict[int, dict], champion: dict | None,
                   fallback_grades: list[str], buyers: pd.DataFrame | None = None) -> Evidence:
    """``labelled_scores``: every published row with ``converted`` where known; ``champion``: the champion's
    definition, whose grades give the order (else the newest scoring version's, else ``fallback_grades``)."""
    chosen = champion or (definitions[max(definitions)] if definitions else None)
    order = [g["grade"] for g in chosen["grades"]] if chosen is not None else fallback_grades
    return Evidence(tables=tables, scores=labelled_scores, observed_until=observed_until,
                    nights=pd.DatetimeIndex(labelled_scores["as_of_ts"].drop_duplicates().sort_values()),
                    matured=matured_nights(labelled_scores["as_of_ts"], window_days=window_days,
                                           observed_until=observed_until),
                    definitions=definitions, grade_order=order, buyers=buyers)


NOT_SCORED = "not scored"


def buyer_coverage(scores: pd.DataFrame, buyers: pd.DataFrame, *, grade_order: list[str]) -> pd.DataFrame:
    """Where the buyers of the matured nights were that night: in each grade, or not scored at all.

    ``buyers``: (lead_id, as_of_ts) pairs; ``scores``: published rows (lead_id, as_of_ts, grade). Pooled over
    nights, one row per grade (best first) then ``not scored``, with ``buyers`` and ``share`` of all buyer
    pairs. A population that leaves buyers out cannot promise anything about them: this says how many.
    """
    graded = scores[["lead_id", "as_of_ts", "grade"]].astype({"grade": object}).drop_duplicates(
        ["lead_id", "as_of_ts"], keep="last")
    where = buyers[["lead_id", "as_of_ts"]].merge(graded, on=["lead_id", "as_of_ts"], how="left")["grade"]
    counts = where.fillna(NOT_SCORED).value_counts()
    extra = sorted(g for g in counts.index if g not in grade_order and g != NOT_SCORED)
    rows = [*grade_order, *extra, NOT_SCORED]
    n = np.array([int(counts.get(g, 0)) for g in rows], dtype=np.int64)
    share = n / n.sum() if n.sum() else np.full(len(rows), np.nan)
    return pd.DataFrame({"grade": rows, "buyers": n, "share": share})


def scored_share(coverage: pd.DataFrame) -> float:
    """The share of buyers scored on the night (1 − the ``not scored`` share); NaN without buyers."""
    if coverage.empty or coverage["buyers"].sum() == 0:
        return float("nan")
    return float(1 - coverage.loc[coverage["grade"] == NOT_SCORED, "share"].sum())


KEPT, BREACH = 0, 3


@dataclass
class MonitorResult:
    evidence: Evidence
    promises: pd.DataFrame   # pooled over matured nights, per model version and grade
    by_night: pd.DataFrame   # the same per matured night
    cohorts: pd.DataFrame    # ROC AUC, calibration error, conversion per matured night
    exit_code: int
    message: str
    run_id: str | None = None
    # Buyers of the matured nights by grade they were scored in, and not scored (``buyer_coverage``)
    buyers: pd.DataFrame = field(default_factory=pd.DataFrame)
    # With segment models: each segment's own result (its versions, promises and coverage), by segment name
    segments: dict[str, MonitorResult] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        """The share of the matured nights' buyers that were scored on the night (NaN when unknown)."""
        return scored_share(self.buyers)

    @property
    def breaches(self) -> pd.DataFrame:
        return self.promises[self.promises["breach"]]


def with_segments(main: MonitorResult, segments: dict[str, MonitorResult]) -> MonitorResult:
    """The global model's result with each segment's beside it: in breach when any model is, the message naming
    the segments in breach (a segment that has scored nothing yet is left out)."""
    scored = {name: r for name, r in segments.items() if len(r.evidence.nights)}
    broken = {name: r for name, r in scored.items() if r.exit_code == BREACH}
    message = main.message if not broken else "; ".join(
        ([main.message] if main.exit_code == BREACH else []) + [f"segment {n}: {r.message}" for n, r in broken.items()])
    exit_code = BREACH if broken or main.exit_code == BREACH else main.exit_code
    return MonitorResult(main.evidence, main.promises, main.by_night, main.cohorts, exit_code, message, main.run_id,
                         main.buyers, scored)


def assess(evidence: Evidence, params: MonitorParams, *, window_days: int) -> MonitorResult:
    """Each grade's promise checked on the matured nights, pooled and per night, with a verdict in words."""
    outcomes = evidence.outcomes
    promises = evidence.promises()
    if len(promises):  # a version that has scored no matured night yet has nothing to be held to
        promises = promises[promises["model_version"].isin(outcomes["model_version"].unique())]
    if outcomes.empty:
        pooled = by_night = cohorts = pd.DataFrame()
        if evidence.nights.empty:
            message = "no scores published yet: nothing to check (run `leadscore nightly`)"
        else:
            first = evidence.nights.min() + pd.Timedelta(days=window_days)
            message = (f"no scored night has matured yet: the {window_days}-day window of the "
                       f"earliest night ({evidence.nights.min():%Y-%m-%d}) ends {first:%Y-%m-%d}, and the data "
                       f"reach {evidence.observed_until:%Y-%m-%d}; nothing to check")
        return MonitorResult(evidence, pooled, by_night, cohorts, KEPT, message)
    kwargs = {"method": params.interval, "confidence": params.confidence}
    pooled = check_promises(outcomes, promises, **kwargs)
    by_night = check_promises(outcomes, promises, by=["as_of_ts"], **kwargs)
    cohorts = cohort_metrics(outcomes)
    buyers = pd.DataFrame()
    if evidence.buyers is not None:
        matured = evidence.buyers[evidence.buyers["as_of_ts"].isin(evidence.matured)]
        buyers = buyer_coverage(evidence.scores, matured, grade_order=evidence.grade_order)
    broken = pooled[pooled["breach"]]
    if len(broken):
        message = "; ".join(f"grade {r.grade} (version {r.model_version}) {r.verdict}: realized "
                            f"{r.realized_rate:.1%} [{r.low:.1%}, {r.high:.1%}] vs promised {r.promised_rate:.1%}"
                            for r in broken.itertuples())
        return MonitorResult(evidence, pooled, by_night, cohorts, BREACH, message, buyers=buyers)
    message = (f"every grade kept its promise over {len(evidence.matured)} matured nights "
               f"({evidence.matured.min():%Y-%m-%d} … {evidence.matured.max():%Y-%m-%d})")
    return MonitorResult(evidence, pooled, by_night, cohorts, KEPT, message, buyers=buyers)
