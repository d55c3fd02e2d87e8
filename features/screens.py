"""Screens of a flat CRM export that keep a model honest: placeholders, identifiers, dates and leaks.

Pure: frames in, results out, no I/O. ``leadscore init`` prints what they find, and training applies the
same screens to the same rows, so a column init excluded is excluded when training too, unless the user
keeps it (``source.keep``), in which case train asks for ``--accept-leak-risk``.

- Placeholders: values a form writes when nothing was chosen ("Select", "--", "N/A", "unknown", empty)
  are missing values, not a category.
- Identifiers: unique or near-unique integer or text columns, and integer columns increasing in row order,
  carry no signal that holds for new leads.
- Leaks: a column that alone ranks the outcome at ``leak_auc`` or better, a value that almost decides the
  outcome on a sizeable share of rows, or a name that says sales sets it during or after contact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

DEFAULT_PLACEHOLDERS = ("Select", "--", "N/A", "unknown", "")
# Tokens of a column name that mark a value sales fills in during or after contact.
AFTER_CONTACT_TOKENS = frozenset({"status", "stage", "tag", "tags", "quality", "score", "outcome", "result",
                                  "reason", "lost", "won", "closed", "close", "disposition", "duration",
                                  "converted", "conversion"})
MIN_ID_ROWS = 20          # below this, every small column looks unique
ID_UNIQUE_SHARE = 0.95    # distinct share of the filled values that makes a column an identifier
DETERMINING_RATE = 0.01   # a value converting at ≤ 1 % or ≥ 99 % …
DETERMINING_SHARE = 0.05  # … on ≥ 5 % of the rows almost decides the outcome
MIN_VALUE_ROWS = 10       # rarer values are pooled when a column's values are ranked by conversion
MIN_CLASS_ROWS = 10       # the AUC and value screens need this many converted and unconverted training rows
DATE_SHARE = 0.9          # a column is a date when this share of its filled values parse as dates
_DATE_SHAPE = r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"


@dataclass(frozen=True)
class Flag:
    column: str
    reason: str


def _text(v) -> str:
    return str(v.item() if isinstance(v, np.generic) else v).strip()


def clean_placeholders(frame: pd.DataFrame, placeholders=DEFAULT_PLACEHOLDERS,
                       ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """(the frame with placeholder values as missing, column → the placeholder values found in it).

    Matching is on the trimmed, case-folded text of text cells only; numbers are never placeholders."""
    wanted = {p.strip().casefold() for p in placeholders}
    out, found = frame.copy(), {}
    for col in frame.columns:
        series = frame[col]
        if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
            continue
        is_text = series.map(lambda v: isinstance(v, str))
        folded = series[is_text].map(lambda v: v.strip().casefold())
        hit = folded.index[folded.isin(wanted)]
        if len(hit):
            found[col] = sorted({series[i] for i in hit}, key=str)
            out.loc[hit, col] = None
    return out, found


def date_share(series: pd.Series) -> float:
    """Share of the filled values that parse as dates (shaped like digits-digits-digits)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return 1.0
    present = series.dropna()
    if present.empty or pd.api.types.is_numeric_dtype(series):
        return 0.0
    text = present.map(_text)
    shaped = text[text.str.match(_DATE_SHAPE)]
    if shaped.empty:
        return 0.0
    parsed = pd.to_datetime(shaped, errors="coerce", utc=True, format="mixed")
    return float(parsed.notna().sum()) / len(present)


def is_date(series: pd.Series) -> bool:
    return date_share(series) >= DATE_SHARE


def _integers(series: pd.Series) -> pd.Series | None:
    """The filled values as integers, if every one is a whole number; else None."""
    present = series.dropna()
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return None
    if present.empty or not np.all(np.mod(present.to_numpy(dtype=float), 1) == 0):
        return None
    return present.astype("int64")


def id_reason(series: pd.Series) -> str | None:
    """Why this column is an identifier, or None if it is not one."""
    present = series.dropna()
    if len(present) < MIN_ID_ROWS or is_date(series):
        return None
    ints = _integers(series)
    if ints is None and pd.api.types.is_numeric_dtype(series):
        return None  # decimals (amounts, rates) are measurements even when they never repeat
    share = present.nunique() / len(present)
    if share >= ID_UNIQUE_SHARE:
        kind = "integers" if ints is not None else "text"
        return f"an identifier: {share:.0%} of its {len(present):,} filled values are distinct {kind}"
    if ints is not None and share > 0.5 and (ints.is_monotonic_increasing or ints.is_monotonic_decreasing):
        return "an identifier: integers that only increase (or only decrease) in row order"
    return None


def screen_ids(frame: pd.DataFrame, columns) -> list[Flag]:
    return [Flag(c, r) for c in columns if (r := id_reason(frame[c])) is not None]


def training_rows(frame: pd.DataFrame, *, created: pd.Series | None, valid_share: float,
                  test_share: float) -> pd.Index:
    """The rows a model learns from: the earliest (by created date, else by row order) share of the file that
    is neither validation nor test."""
    n = int(np.floor(len(frame) * (1 - valid_share - test_share)))
    if created is None:
        return frame.index[:n]
    order = pd.DataFrame({"c": created.to_numpy(), "r": np.arange(len(frame))}, index=frame.index)
    return order.sort_values(["c", "r"], na_position="last").index[:n]


def single_column_auc(values: pd.Series, label: pd.Series) -> float:
    """How well one column alone ranks the outcome (0.5 = not at all, 1 = perfectly), either direction.

    Numbers rank by value (missing as its own lowest rank); other columns by each value's conversion rate."""
    if label.nunique() < 2:
        return 0.5
    numeric = pd.to_numeric(values, errors="coerce") if pd.api.types.is_numeric_dtype(values) else None
    if numeric is None and is_date(values):
        dates = pd.to_datetime(values.map(lambda v: v if v is None or v != v else _text(v)), errors="coerce",
                               utc=True, format="mixed")
        numeric = pd.Series(dates.astype("int64").where(dates.notna()), index=values.index, dtype=float)
    if numeric is not None:
        score = numeric.fillna(numeric.min() - 1 if numeric.notna().any() else 0).to_numpy(dtype=float)
    else:
        key = values.map(lambda v: "\0missing" if v is None or v != v else _text(v))
        counts = key.map(key.value_counts())
        key = key.where(counts >= MIN_VALUE_ROWS, "\0rare")  # a value seen a few times ranks by luck
        score = key.map(label.groupby(key).mean()).to_numpy(dtype=float)
    auc = roc_auc_score(label.to_numpy(), score)
    return float(max(auc, 1 - auc))


def determining_value(values: pd.Series, label: pd.Series) -> str | None:
    """A value that almost decides the outcome (≤ 1 % or ≥ 99 % conversion on ≥ 5 % of the rows), described."""
    key = values.map(lambda v: None if v is None or v != v else _text(v))
    stats = label.groupby(key).agg(["mean", "size"])
    stats = stats[(stats["size"] >= DETERMINING_SHARE * len(values)) & (stats["size"] >= MIN_VALUE_ROWS)]
    base = label.mean()
    for value, row in stats.sort_values("size", ascending=False).iterrows():
        # Only a value far from the overall rate decides anything: a 1 % value in a 0.5 % file does not.
        if (row["mean"] >= 1 - DETERMINING_RATE and base < 1 - DETERMINING_RATE) or \
                (row["mean"] <= DETERMINING_RATE and base > 4 * DETERMINING_RATE):
            return (f"value {value!r} converts at {row['mean']:.1%} on {int(row['size']):,} of "
                    f"{len(values):,} training rows ({row['size'] / len(values):.0%})")
    return None


def name_says_after_contact(column: str) -> str | None:
    tokens = {t for t in re.split(r"[^0-9a-z]+", column.lower()) if t}
    hit = sorted(tokens & AFTER_CONTACT_TOKENS)
    return f"its name ({', '.join(hit)}) says sales sets it during or after contact" if hit else None


def screen_leaks(frame: pd.DataFrame, label: pd.Series, columns, *, leak_auc: float) -> list[Flag]:
    """Flag every column in ``columns`` that looks leaky on these (training) rows, each with its reasons."""
    flags = []
    positives = int(label.sum())
    measurable = min(positives, len(label) - positives) >= MIN_CLASS_ROWS  # else AUCs and rates are noise
    for col in columns:
        reasons = []
        named = name_says_after_contact(col)
        if named:
            reasons.append(named)
        values = frame[col]
        if measurable and values.notna().any() and values.nunique(dropna=False) > 1:
            auc = single_column_auc(values, label)
            if auc >= leak_auc:
                reasons.append(f"alone it ranks the outcome at AUC {auc:.3f} (source.leak_auc is {leak_auc})")
            if not pd.api.types.is_float_dtype(values) or values.nunique() <= 50:
                decided = determining_value(values, label)
                if decided:
                    reasons.append(decided)
        if reasons:
            flags.append(Flag(col, "leak risk: " + "; ".join(reasons)))
    return flags
