"""A flat CRM export (one row per lead) as typed features, a converted label, and errors that name the column.

Pure: a frame in, frames out. The plan (which column plays which role, each feature's type, the levels of
each category, what was dropped and why) is inferred once at training time, frozen into the model version
as a plain dict and applied unchanged when scoring, so a later export with new rare values is scored on the
same features the model was trained on.

High-cardinality text is bucketed, not crashed on: its ``max_categories`` most frequent values stay levels
and the rest become ``(other)``, which keeps the signal of common values (a company e-mail domain against
gmail.com) at a bounded width. Text that hardly repeats (more distinct values than ``max_unique_share`` of
the rows: ids, e-mail addresses, free notes) is dropped with the reason stated, because no level of it
occurs often enough to learn from.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features import screens
from features.params import SourceParams
from features.specs import CATEGORY, DAYS, DECIMAL, FLAG, FeatureSpec

NUMERIC, CATEGORICAL, BOOLEAN, DATE, TEXT = "numeric", "categorical", "boolean", "date", "text"
OTHER = "(other)"
LABEL = "converted"
ROW_NUMBER = "row_number"
CREATED = "created_ts"
FEATURE_PREFIX = "crm__"
SOURCE = "crm export"
MAX_EXAMPLES = 5

TRUE_WORDS = frozenset({"1", "1.0", "true", "t", "yes", "y", "won", "converted", "closed won", "success"})
FALSE_WORDS = frozenset({"0", "0.0", "false", "f", "no", "n", "lost", "not converted", "closed lost", "failure"})
_DATE_SHAPE = r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"


class FlatSourceError(ValueError):
    """The export cannot be used as mapped; every problem names its column and shows bad values."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the CRM export cannot be used as it is:\n" + "\n".join(f"  - {p}" for p in problems))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def examples(values, limit: int = MAX_EXAMPLES) -> str:
    """Up to ``limit`` distinct values, quoted, for an error message."""
    distinct = list(dict.fromkeys(_plain(v) for v in values))
    shown = ", ".join(repr(v) for v in distinct[:limit])
    return shown + (f" … ({len(distinct)} distinct)" if len(distinct) > limit else "")


def _words(series: pd.Series) -> pd.Series:
    """Non-missing values as trimmed lower-case text (how yes/no flags are recognised)."""
    present = series.dropna()
    return present.map(lambda v: str(_plain(v)).strip().lower())


def parse_flag(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(1.0 / 0.0 / NaN per row, the values that are neither a yes nor a no word)."""
    out = pd.Series(np.nan, index=series.index, dtype=float)
    if pd.api.types.is_bool_dtype(series):
        present = series.dropna()
        out[present.index] = present.astype(float)
        return out, series.iloc[:0]
    words = _words(series)
    known = words.isin(TRUE_WORDS | FALSE_WORDS)
    out[words.index[known]] = words[known].isin(TRUE_WORDS).astype(float)
    return out, series[words.index[~known]]


_SHORT_DATE = r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.]\d{2,4}"


def day_first_of(series: pd.Series) -> bool | None:
    """Whether the column writes its short dates (05/01/2026) day first: True when some value's first number is
    over 12 (a day), False when some second number is, None when no value tells (or the values disagree)."""
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return None
    text = series.dropna().map(lambda v: str(_plain(v)))
    parts = text.str.extract(_SHORT_DATE).dropna().astype(int)
    if parts.empty:
        return None
    first, second = bool((parts[0] > 12).any()), bool((parts[1] > 12).any())
    return True if first and not second else False if second and not first else None


def parse_dates(series: pd.Series, day_first: bool | None = None) -> tuple[pd.Series, pd.Series]:
    """(UTC timestamps, NaT where empty, the non-empty values that are not dates).

    Only values shaped like a date (digits, separator, digits, separator, digits) are parsed, so words such
    as "may" or "mon" are never taken for dates. Short dates (05/01/2026) are read day first when ``day_first``
    says so, or, when it is None, when the column's own values say so (:func:`day_first_of`); month first
    otherwise. Dates that start with the year are read year-month-day either way."""
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
        return parsed.astype("datetime64[ns, UTC]"), series.iloc[:0]
    text = series.where(series.notna()).map(lambda v: v if v is None or v != v else str(_plain(v)))
    shaped = text.str.match(_DATE_SHAPE, na=False)
    parsed = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
    if shaped.any():
        short = shaped & text.str.match(_SHORT_DATE, na=False)
        order = day_first if day_first is not None else bool(day_first_of(series))
        if (shaped & ~short).any():
            parsed[shaped & ~short] = pd.to_datetime(text[shaped & ~short], errors="coerce", utc=True, format="mixed")
        if short.any():
            parsed[short] = pd.to_datetime(text[short], errors="coerce", utc=True, format="mixed", dayfirst=order)
    bad = series.notna() & parsed.isna()
    return parsed, series[bad]


def export_day_first(frame: pd.DataFrame, columns) -> bool | None:
    """The export's day order over its date ``columns``: what the columns that tell agree on (None if none tells
    or they disagree)."""
    told = {day_first_of(frame[c]) for c in columns if c is not None and c in frame.columns} - {None}
    return told.pop() if len(told) == 1 else None


def infer_type(series: pd.Series, *, max_categories: int) -> tuple[str | None, str]:
    """(type, why) of one column; type None means nothing to learn from (empty or a single value)."""
    present = series.dropna()
    if present.empty:
        return None, "empty"
    if present.nunique() == 1:
        word = _words(present.head(1)).iloc[0]
        if len(present) < len(series) and word in TRUE_WORDS | FALSE_WORDS:
            return BOOLEAN, f"{examples(present.head(1))} or empty (empty read as the other answer)"
        return None, f"a single value ({examples(present.head(1))})"
    if pd.api.types.is_bool_dtype(series):
        return BOOLEAN, "true/false"
    if pd.api.types.is_numeric_dtype(series):
        if set(present.unique().tolist()) <= {0, 1}:
            return BOOLEAN, "only 0 and 1"
        return NUMERIC, f"numbers, {present.nunique():,} distinct"
    words = _words(series)
    distinct = set(words.unique())
    if len(distinct) == 2 and distinct <= TRUE_WORDS | FALSE_WORDS:
        return BOOLEAN, f"two values: {examples(sorted(distinct))}"
    share = screens.date_share(series)
    if share >= screens.DATE_SHARE:
        return DATE, "dates (age in days is used)" + ("" if share == 1 else f"; {1 - share:.0%} not dates, "
                                                                               "read as empty")
    n = present.nunique()
    if n <= max_categories:
        return CATEGORICAL, f"text, {n} distinct values"
    return TEXT, f"text, {n:,} distinct values (more than max_categories {max_categories})"


@dataclass(frozen=True)
class ColumnPlan:
    column: str
    type: str | None     # None: dropped
    reason: str
    feature: str = ""
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlatPlan:
    """What training decided about each column of the export; frozen into the model version."""

    id_column: str | None
    created_column: str | None
    converted_column: str | None
    converted_date_column: str | None
    columns: tuple[ColumnPlan, ...]
    leak_risks: tuple[str, ...] = ()  # flagged by the screens but kept (source.keep): train needs consent
    day_first: bool = False  # how short dates (05/01/2026) were read at training, and are read when scoring

    @property
    def features(self) -> list[str]:
        return [c.feature for c in self.columns if c.type is not None]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FlatPlan:
        columns = tuple(ColumnPlan(**{**c, "levels": tuple(c["levels"])}) for c in data["columns"])
        return cls(**{**data, "columns": columns, "leak_risks": tuple(data.get("leak_risks", ()))})


def _mapped(params: SourceParams) -> dict[str, str]:
    """role → column, for the columns the map names."""
    roles = {"id_column": params.id_column, "created_column": params.created_column,
             "converted_column": params.converted_column, "converted_date_column": params.converted_date_column}
    return {role: col for role, col in roles.items() if col is not None}


def feature_name(column: str, taken: set[str]) -> str:
    """``crm__`` + the column name in lower-case letters, digits and underscores, unique within the export."""
    base = FEATURE_PREFIX + (re.sub(r"[^0-9a-z]+", "_", column.lower()).strip("_") or "column")
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _as_text(series: pd.Series) -> pd.Series:
    return series.map(lambda v: None if v is None or v != v else str(_plain(v)).strip())


def clean(frame: pd.DataFrame, params: SourceParams) -> pd.DataFrame:
    """The export with its placeholder values ("Select", "--" …: source.placeholders) as missing."""
    return screens.clean_placeholders(frame, params.placeholders)[0]


@dataclass(frozen=True)
class Screening:
    """What the screens found among the columns that are neither mapped nor excluded (features.screens)."""

    ids: tuple[screens.Flag, ...]
    leaks: tuple[screens.Flag, ...]
    training_rows: int

    def flagged(self) -> dict[str, str]:
        return {f.column: f.reason for f in (*self.ids, *self.leaks)}


def screen_export(frame: pd.DataFrame, params: SourceParams) -> Screening:
    """Identifier and leak screens, the leak screen on the training rows only (the earliest rows by created
    date, else by row order, that are neither validation nor test). ``frame`` is already cleaned."""
    skip = set(_mapped(params).values()) | set(params.exclude)
    candidates = [c for c in frame.columns if c not in skip and c not in params.types]
    ids = screens.screen_ids(frame, candidates)
    id_columns = {f.column for f in ids}
    created = parse_dates(frame[params.created_column], params.day_first)[0] if params.created_column else None
    rows = screens.training_rows(frame, created=created, valid_share=params.valid_share,
                                 test_share=params.test_share)
    label = build_label(frame.loc[rows], params)
    leaks = screens.screen_leaks(frame.loc[rows], label, [c for c in frame.columns if c not in skip
                                                          and c not in id_columns], leak_auc=params.leak_auc)
    return Screening(ids=tuple(ids), leaks=tuple(leaks), training_rows=len(rows))


def plan_columns(frame: pd.DataFrame, params: SourceParams) -> FlatPlan:
    """Type every column that is neither mapped nor excluded; freeze the levels of the text columns.

    Columns the screens flag (identifiers, leak risks) are excluded with the reason, unless listed in
    ``source.keep``: those are typed as usual and named in ``leak_risks``."""
    skip = set(_mapped(params).values()) | set(params.exclude)
    flagged = screen_export(frame, params).flagged()
    taken: set[str] = set()
    plans = []
    for col in frame.columns:
        if col in skip:
            continue
        if col in flagged and col not in params.keep:
            plans.append(ColumnPlan(col, None, f"excluded: {flagged[col]} (keep it with source.keep)"))
            continue
        kind, reason = ((params.types[col], "set in source.types") if col in params.types
                        else infer_type(frame[col], max_categories=params.max_categories))
        if kind is None:
            plans.append(ColumnPlan(col, None, f"dropped: {reason}"))
            continue
        levels: tuple[str, ...] = ()
        if kind in (CATEGORICAL, TEXT):
            counts = _as_text(frame[col]).value_counts(dropna=True)
            if kind == TEXT and len(counts) > params.max_unique_share * max(int(frame[col].notna().sum()), 1):
                plans.append(ColumnPlan(col, None, f"dropped: {len(counts):,} distinct values in "
                                                   f"{int(frame[col].notna().sum()):,} rows (an identifier "
                                                   "or free text: no value repeats enough to learn from)"))
                continue
            if kind == TEXT:
                top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:params.max_categories]
                levels = (*sorted(k for k, _ in top), OTHER)
                reason += f"; kept the {len(top)} most frequent, the rest as {OTHER}"
            else:
                levels = tuple(sorted(counts.index))
        plans.append(ColumnPlan(col, kind, reason, feature_name(col, taken), levels))
    dates = [params.created_column, params.converted_date_column, *(p.column for p in plans if p.type == DATE)]
    day_first = params.day_first if params.day_first is not None else bool(export_day_first(frame, dates))
    return FlatPlan(id_column=params.id_column, created_column=params.created_column,
                    converted_column=params.converted_column, converted_date_column=params.converted_date_column,
                    columns=tuple(plans), leak_risks=tuple(c for c in params.keep if c in flagged),
                    day_first=day_first)


def _missing_columns(frame: pd.DataFrame, params: SourceParams) -> list[str]:
    named = [(role, col) for role, col in _mapped(params).items()]
    named += [("source.exclude", col) for col in params.exclude]
    named += [("source.types", col) for col in params.types]
    named += [("source.keep", col) for col in params.keep]
    return [f"{role} {col!r} is not a column of the export; its columns are {examples(frame.columns)}"
            for role, col in named if col not in frame.columns]


def build_label(frame: pd.DataFrame, plan: FlatPlan | SourceParams) -> pd.Series:
    """1 where the lead converted (the flag says yes, or a converted date is filled in), else 0."""
    label = pd.Series(0, index=frame.index, dtype="int64")
    if plan.converted_column is not None:
        label |= (parse_flag(frame[plan.converted_column])[0] == 1).astype("int64")
    if plan.converted_date_column is not None:
        label |= parse_dates(frame[plan.converted_date_column], plan.day_first)[0].notna().astype("int64")
    return label


def validate_flat_source(frame: pd.DataFrame, params: SourceParams, *, min_conversions: int) -> None:
    """Raise FlatSourceError listing every problem: missing or duplicate ids, a converted column that is not
    binary, unparseable dates, too few conversions."""
    problems = _missing_columns(frame, params)
    if problems:
        raise FlatSourceError(problems)
    if params.id_column is not None:
        ids = frame[params.id_column]
        if ids.isna().any():
            problems.append(f"id column {params.id_column!r}: {int(ids.isna().sum()):,} rows have no id "
                            f"(e.g. rows {examples((np.flatnonzero(ids.isna()) + 1)[:MAX_EXAMPLES])})")
        dupes = ids[ids.duplicated(keep=False) & ids.notna()]
        if len(dupes):
            problems.append(f"id column {params.id_column!r}: {len(dupes):,} rows share their id with another "
                            f"row, e.g. {examples(dupes)}")
    label_ok = True
    if params.converted_column is not None:
        _, bad = parse_flag(frame[params.converted_column])
        if len(bad):
            label_ok = False
            problems.append(f"converted column {params.converted_column!r} is not binary: {len(bad):,} rows hold "
                            f"{examples(bad)}; expected yes/no, true/false, 1/0 or won/lost (empty = no)")
    date_columns = [params.created_column, params.converted_date_column]
    date_columns += [c for c, kind in params.types.items() if kind == DATE]
    for col in dict.fromkeys(c for c in date_columns if c is not None):
        _, bad = parse_dates(frame[col], params.day_first)
        if len(bad):
            label_ok = label_ok and col != params.converted_date_column
            problems.append(f"date column {col!r}: {len(bad):,} rows are not parseable dates, e.g. "
                            f"{examples(bad)}; expected e.g. 2024-03-31 or 2024-03-31T14:05:00Z")
    if label_ok:
        label = build_label(frame, params)
        column = params.converted_column or params.converted_date_column
        converted = int(label.sum())
        seen = frame[column].astype(object).where(frame[column].notna(), "(empty)").value_counts()
        counts = ", ".join(f"{_plain(k)!r} ({v:,})" for k, v in seen.head(MAX_EXAMPLES).items())
        if converted < min_conversions:
            problems.append(f"converted column {column!r}: {converted:,} conversions in {len(frame):,} rows; "
                            f"train.min_conversions is {min_conversions}. Values: {counts}")
        elif converted == len(frame):
            problems.append(f"converted column {column!r}: every row converted, nothing to tell apart. "
                            f"Values: {counts}")
    if problems:
        raise FlatSourceError(problems)


def extract_time(frame: pd.DataFrame, plan: FlatPlan) -> pd.Timestamp | None:
    """The latest date anywhere in the export: when it was taken, as far as the data tells."""
    columns = [plan.created_column, plan.converted_date_column] + [c.column for c in plan.columns if c.type == DATE]
    latest = [parse_dates(frame[c], plan.day_first)[0].max() for c in columns if c is not None]
    latest = [t for t in latest if pd.notna(t)]
    return max(latest) if latest else None


def build_flat_features(frame: pd.DataFrame, plan: FlatPlan, *, extract_ts: pd.Timestamp | None) -> pd.DataFrame:
    """One feature column per planned column, index preserved. Dates become age in days at the lead's
    creation (or at ``extract_ts`` when the export has no created date)."""
    created = parse_dates(frame[plan.created_column], plan.day_first)[0] if plan.created_column else None
    out = {}
    for c in plan.columns:
        if c.type is None:
            continue
        values = frame[c.column]
        if c.type == NUMERIC:
            out[c.feature] = pd.to_numeric(values, errors="coerce").astype(float)
        elif c.type == BOOLEAN:
            out[c.feature] = parse_flag(values)[0]
        elif c.type == DATE:
            reference = created if created is not None else extract_ts
            out[c.feature] = (reference - parse_dates(values, plan.day_first)[0]) / pd.Timedelta(days=1)
        else:
            text = _as_text(values)
            if c.type == TEXT:
                text = text.where(text.isin(c.levels) | text.isna(), OTHER)
            out[c.feature] = pd.Categorical(text, categories=list(c.levels))
    return pd.DataFrame(out, index=frame.index)


def build_flat_table(frame: pd.DataFrame, plan: FlatPlan, *, extract_ts: pd.Timestamp | None) -> pd.DataFrame:
    """lead_id, row_number (1-based position in the file), created_ts and as_of_ts (the week the lead was
    created; empty without a created date), the features and the ``converted`` label."""
    row_number = np.arange(1, len(frame) + 1)
    keys = pd.DataFrame({
        "lead_id": frame[plan.id_column].to_numpy() if plan.id_column else row_number,
        ROW_NUMBER: row_number,
    }, index=frame.index)
    if plan.created_column:
        created = parse_dates(frame[plan.created_column], plan.day_first)[0]
        keys[CREATED] = created
        keys["as_of_ts"] = (created - pd.to_timedelta(created.dt.dayofweek, unit="D")).dt.floor("D")
    else:
        keys[CREATED] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
        keys["as_of_ts"] = keys[CREATED]
    table = pd.concat([keys, build_flat_features(frame, plan, extract_ts=extract_ts)], axis=1)
    table[LABEL] = build_label(frame, plan).to_numpy()
    return table.reset_index(drop=True)


def flat_catalog(plan: FlatPlan) -> list[FeatureSpec]:
    """Descriptions from the column names, so reasons read "job is retired", "pdays is 6"."""
    since = "the lead was created" if plan.created_column else "the export was taken"
    specs = []
    for c in plan.columns:
        if c.type is None:
            continue
        if c.type == NUMERIC:
            specs.append(FeatureSpec(c.feature, SOURCE, DECIMAL, f"{c.column} is {{value}}", f"{c.column} is empty"))
        elif c.type == BOOLEAN:
            specs.append(FeatureSpec(c.feature, SOURCE, FLAG, f"{c.column}: {{value}}", f"{c.column} is empty"))
        elif c.type == DATE:
            specs.append(FeatureSpec(c.feature, SOURCE, DAYS, f"{c.column} {{value}} days before {since}",
                                     f"{c.column} is empty"))
        else:
            specs.append(FeatureSpec(c.feature, SOURCE, CATEGORY, f"{c.column} is {{value}}", f"{c.column} is empty"))
    return specs


# --- proposing a column map from a file nobody has described yet (leadscore init) -------------------------

_ID_NAME = re.compile(r"(^|[_\W])(id|key|lead_?id|contact_?id|record_?id|email)$", re.IGNORECASE)
_CONVERTED_NAME = re.compile(r"^(y|target|label|converted|is_?converted|won|is_?won|closed_?won|subscribed|"
                             r"success|sale|is_?sale|outcome)$", re.IGNORECASE)
_CONVERTED_DATE_NAME = re.compile(r"(convert|won|closed?_?won|sale).*(date|_at|_ts|time)$", re.IGNORECASE)
_CREATED_NAME = re.compile(r"(creat|lead_?date|signup|sign_up|first_?seen)", re.IGNORECASE)
# Kept for callers that test names alone; the screens (features.screens) use their own, longer list.
LEAKY_TOKENS = screens.AFTER_CONTACT_TOKENS


@dataclass(frozen=True)
class ColumnMapProposal:
    id_column: str | None
    created_column: str | None
    converted_column: str | None
    converted_date_column: str | None
    excluded: dict[str, str]                     # column → why (identifier, leak risk): train excludes them too
    types: dict[str, tuple[str | None, str]]     # column → (inferred type, why) for every other column
    notes: tuple[str, ...]
    placeholders: dict[str, list[str]] = field(default_factory=dict)  # column → placeholder values found
    reasons: dict[str, str] = field(default_factory=dict)             # role → why that column was chosen
    day_first: bool | None = None  # short dates (05/01/2026) read day first, month first, or None: no short dates

    @property
    def leaky(self) -> tuple[str, ...]:
        return tuple(c for c, why in self.excluded.items() if why.startswith("leak risk"))


def _propose_created(frame: pd.DataFrame, dates: list[str], day_first: bool | None) -> tuple[str | None, str]:
    """The creation date among the date columns: one named like it, else the column that is the earliest
    date of the row most often. Only a column whose every filled value parses (train checks it)."""
    usable = [c for c in dates if parse_dates(frame[c], day_first)[1].empty and not screens.name_says_after_contact(c)]
    named = [c for c in usable if _CREATED_NAME.search(c)]
    if named:
        return named[0], "a date column named like a creation date"
    if not usable:
        return None, ""
    read = {c: parse_dates(frame[c], day_first)[0] for c in usable}
    parsed = pd.DataFrame({c: d for c, d in read.items() if d.notna().mean() >= screens.DATE_SHARE})
    if parsed.empty:
        return None, ""
    if parsed.shape[1] == 1:
        col = parsed.columns[0]
        return col, "the only mostly-filled date column (its values parse as dates whatever its name)"
    as_int = parsed.apply(lambda s: s.astype("int64").where(s.notna()).astype(float))
    earliest = as_int.idxmin(axis=1, skipna=True).value_counts()
    col = earliest.index[0]
    return col, (f"the earliest date of the row in {earliest.iloc[0] / len(frame):.0%} of rows, among the date "
                 f"columns {examples(parsed.columns)} (found by their values, whatever their names)")


def propose_column_map(frame: pd.DataFrame, *, max_categories: int = 50,
                       params: SourceParams | None = None) -> ColumnMapProposal:
    """Guess the column map of an export: an id (a unique column named like one, else the first column the id
    screen finds, else the row number), a created date (by content), a converted flag or date (named like
    y/converted/is_won…), and the columns the id and leak screens exclude, each with the reason."""
    base = params or SourceParams()
    frame, placeholders = screens.clean_placeholders(frame, base.placeholders)
    notes, reasons = [], {}
    id_column = next((c for c in frame.columns if _ID_NAME.search(c) and frame[c].notna().all()
                      and frame[c].is_unique), None)
    if id_column is not None:
        reasons["id_column"] = "unique, named like an id"
    types = {c: infer_type(frame[c], max_categories=max_categories) for c in frame.columns if c != id_column}
    binary = [c for c, (kind, _) in types.items() if kind == BOOLEAN]
    dates = [c for c, (kind, _) in types.items() if kind == DATE]
    converted = next((c for c in binary if _CONVERTED_NAME.match(c)), None)
    converted_date = next((c for c in dates if _CONVERTED_DATE_NAME.search(c)), None)
    if converted is None and converted_date is None:
        raise FlatSourceError([f"no converted column found: none of the binary columns ({examples(binary) or 'none'})"
                               " is named like y, converted, is_won or won; set source.converted_column by hand"])
    day_first = base.day_first
    short = [c for c in dates if frame[c].dropna().map(lambda v: str(_plain(v))).str.match(_SHORT_DATE).any()]
    if short and day_first is None:
        day_first = export_day_first(frame, short)
        if day_first is None:
            day_first = False
            notes.append(f"warning: the short dates of {examples(short)} (like 05/01/2026) do not say whether the day "
                         "or the month comes first: read month first; set source.day_first: true if the export "
                         "writes the day first")
        else:
            reasons["day_first"] = (f"{examples(short)} {'holds' if len(short) == 1 else 'hold'} dates such as "
                                    f"{examples(_telling(frame, short, day_first))}, which only read "
                                    + ("day first" if day_first else "month first"))
    created, why = _propose_created(frame, [c for c in dates if c != converted_date], day_first)
    if created is not None:
        reasons["created_column"] = why
    ids = screens.screen_ids(frame, [c for c in frame.columns if c not in {id_column, created, converted,
                                                                            converted_date}])
    if id_column is None and ids and frame[ids[0].column].notna().all() and frame[ids[0].column].is_unique:
        id_column, ids = ids[0].column, ids[1:]
        reasons["id_column"] = "unique values in every row: the id screen's first identifier"
    if id_column is None:
        notes.append("no unique id column: the lead id is the row number in the file (1-based)")
    if created is None:
        notes.append("no created-date column: the split follows row order (train … valid … test by position)")
        for c in dates:
            d = parse_dates(frame[c], day_first)[0].dropna()
            if len(d) > 1 and not (d.is_monotonic_increasing or d.is_monotonic_decreasing):
                notes.append(f"warning: the rows are not in the order of the dates in {c!r}, so a row-order split "
                             "is in effect a shuffled one and flatters the model; set source.created_column")
                break
    mapped = {id_column, created, converted, converted_date}
    params = SourceParams(**{**base.model_dump(), "kind": "flat", "id_column": id_column, "created_column": created,
                             "converted_column": converted, "converted_date_column": converted_date,
                             "day_first": day_first})
    excluded = {**{f.column: f.reason for f in ids}, **screen_export(frame, params).flagged()}
    excluded = {c: excluded[c] for c in frame.columns if c in excluded and c not in mapped and c not in base.keep}
    rest = {c: t for c, t in types.items() if c not in mapped and c not in excluded}
    return ColumnMapProposal(id_column=id_column, created_column=created, converted_column=converted,
                             converted_date_column=converted_date, excluded=excluded, types=rest, notes=tuple(notes),
                             placeholders=placeholders, reasons=reasons, day_first=day_first if short else None)


def _telling(frame: pd.DataFrame, columns: list[str], day_first: bool) -> list[str]:
    """A few short dates whose day order is unambiguous (the evidence for it)."""
    out = []
    for c in columns:
        text = frame[c].dropna().map(lambda v: str(_plain(v)))
        parts = text.str.extract(_SHORT_DATE).dropna().astype(int)
        telling = parts[0] > 12 if day_first else parts[1] > 12
        out += text[parts.index[telling]].head(MAX_EXAMPLES - len(out)).tolist()
    return out[:MAX_EXAMPLES]
