"""Sampling the training table: every converting snapshot stays, non-converting ones are thinned, weighted.

A CRM with a million leads open for months holds tens of millions of weekly snapshots, nearly all of them
non-converting. Keeping every positive and a share ``rate`` of the negatives, each kept negative weighted
``1 / rate``, keeps every weighted sum (a conversion rate, a weekly volume, a loss) an unbiased estimate of
the full table's, so probabilities fitted and calibrated with the weights stay calibrated to the whole
population.

Which negative is kept is decided per row by a seeded hash of ``(lead_id, as_of_ts)`` alone: the same row is
kept whatever the blocks the table is built in, whatever other rows exist, on every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.params import SamplingParams
from features.timeutil import to_seconds

WEIGHT_COLUMN = "sample_weight"


def keep_uniform(lead_ids: pd.Series, as_of: pd.Series, seed: int) -> np.ndarray:
    """A number in [0, 1) per row, a deterministic function of (lead_id, as_of_ts, seed) only."""
    key = f"{seed & 0xFFFFFFFFFFFFFFFF:016x}"[-16:]
    ids = pd.Series(lead_ids).astype(str).to_numpy(dtype=object)
    lead_hash = pd.util.hash_array(ids, hash_key=key, categorize=False)
    date_hash = pd.util.hash_array(to_seconds(as_of).astype(np.int64).view(np.uint64) ^ np.uint64(seed & (2**63 - 1)))
    mixed = pd.util.hash_array(lead_hash ^ (date_hash * np.uint64(0x9E3779B97F4A7C15)))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(2**53)


def negative_rate(params: SamplingParams, positives: int, negatives: int) -> float:
    """The share of non-converting snapshots kept: as given, or derived so the table lands near
    ``target_rows`` (never fewer negatives than positives); 1 when the full table already fits."""
    if params.negative_rate is not None:
        return float(params.negative_rate)
    if params.target_rows is None or positives + negatives <= params.target_rows or negatives == 0:
        return 1.0
    wanted = max(params.target_rows - positives, positives, 1)
    return float(min(1.0, wanted / negatives))


def sample_snapshots(labelled: pd.DataFrame, target: str, *, rate: float, seed: int) -> pd.DataFrame:
    """The kept rows of ``labelled`` (positives all, negatives where the row's hash falls below ``rate``) with
    their ``sample_weight`` (1 for positives, 1 / rate for kept negatives); the same index labels as kept."""
    positive = labelled[target].to_numpy() == 1
    if rate >= 1.0:
        return labelled.assign(**{WEIGHT_COLUMN: 1.0})
    keep = positive | (keep_uniform(labelled["lead_id"], labelled["as_of_ts"], seed) < rate)
    out = labelled[keep]
    return out.assign(**{WEIGHT_COLUMN: np.where(positive[keep], 1.0, 1.0 / rate)})


def sampling_summary(rate: float, kept: int, full: int, kept_positives: int, params: SamplingParams) -> dict:
    """How the table was sampled, for the definition and the run."""
    return {"negative_rate": float(rate), "rows_kept": int(kept), "rows_full": int(full),
            "positives": int(kept_positives), "seed": int(params.seed), "target_rows": params.target_rows,
            "sampled": bool(rate < 1.0)}
