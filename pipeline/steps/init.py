"""init: inspect a CRM export, propose its column map, write an override params file for it.

Input: one export file (CSV with any common delimiter, or parquet) and the params file it extends (the
project's current defaults). Output: an override file (``extends``: the defaults) whose ``source`` section maps the
export — id, created date, converted flag or date, leaky columns excluded with a comment saying why — and
lists the type inferred for every other column. It is validated before it is written, and an existing
file is replaced only when asked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from features import flat
from features.params import SourceParams
from pipeline import io
from pipeline.config import EXTENDS, Config, merge_params, parse_config, read_params

SHIPPED_DEFAULTS = Path(__file__).resolve().parents[2] / "params.yaml"
# Without created dates there are no weeks to size grades by capacity: shares of the open leads instead.
FLAT_GRADE_SHARES = {"A": 0.05, "B": 0.15, "C": 0.30}


@dataclass(frozen=True)
class InitResult:
    path: Path
    export: Path
    rows: int
    proposal: flat.ColumnMapProposal
    config: Config
    problems: tuple[str, ...]  # what `leadscore train` would refuse, as the file stands
    written: bool              # False when the file existed and --force was not given


def _value(v) -> str:
    return "null" if v is None else json.dumps(v)


def render_source_section(proposal: flat.ColumnMapProposal, export: Path) -> str:
    """The ``source`` section as commented YAML: each choice with its reason, every column's inferred type."""
    defaults = SourceParams()
    note_id = "" if proposal.id_column else "  # no unique id column: the lead id is the row number (1-based)"
    note_created = ("" if proposal.created_column else
                    "  # no created-date column: the split follows row order (train … valid … test)")
    lines = [
        f"# Column map of the CRM export {export.name}, proposed by `leadscore init`: check every line.",
        "# Train with:  LEADSCORE_SOURCES=<the export file> leadscore train --params <this file>",
        "source:",
        "  kind: flat",
        f"  id_column: {_value(proposal.id_column)}{note_id}",
        f"  created_column: {_value(proposal.created_column)}{note_created}",
        f"  converted_column: {_value(proposal.converted_column)}",
        f"  converted_date_column: {_value(proposal.converted_date_column)}",
    ]
    if proposal.day_first is not None:
        lines.append(f"  day_first: {_value(proposal.day_first)}  # short dates like 05/01/2026 read "
                     + ("day first (5 January)" if proposal.day_first else "month first (May 1)"))
    lines.append("  exclude: []  # add columns filled in by sales after contact that the screens miss")
    if proposal.excluded:
        lines.append("  keep: []  # the screens exclude the columns below (train screens again); to use one, list "
                     "it here with a comment saying why, and train with --accept-leak-risk")
        lines += [f"  #   {c}: {why}" for c, why in proposal.excluded.items()]
    else:
        lines.append("  keep: []  # columns the id and leak screens would exclude, kept on purpose (say why)")
    lines.append(f"  leak_auc: {defaults.leak_auc}  # a column alone ranking the outcome at this AUC or better is a "
                 "leak risk")
    lines.append(f"  placeholders: {json.dumps(defaults.placeholders)}  # values read as missing")
    lines += [f"  #   {c}: found {', '.join(json.dumps(v) for v in values)}"
              for c, values in proposal.placeholders.items()]
    for role, why in proposal.reasons.items():
        lines.append(f"  # {role}: {why}")
    for note in proposal.notes:
        if note.startswith("warning"):
            lines.append(f"  # {note}")
    lines += [
        "  types: {}  # override an inferred type: {column: numeric|categorical|boolean|date|text}",
        f"  max_categories: {defaults.max_categories}  # text with more distinct values: top ones kept, rest (other)",
        f"  max_unique_share: {defaults.max_unique_share}  # text more unique than this share of rows is dropped",
        f"  valid_share: {defaults.valid_share}",
        f"  test_share: {defaults.test_share}",
        "# Inferred types of the feature columns (train infers them again from the export):",
    ]
    lines += [f"#   {c}: {kind or 'dropped'} ({why})" for c, (kind, why) in proposal.types.items()]
    return "\n".join(lines) + "\n"


def render_score_section(proposal: flat.ColumnMapProposal) -> str:
    """Only without a created date: no weeks to size grades by sales capacity, so shares of the open leads."""
    if proposal.created_column is not None:
        return ""
    shares = ", ".join(f"{g}: {v}" for g, v in FLAT_GRADE_SHARES.items())
    return ("score:  # no created date, so no weeks: grades are shares of the open leads, best first\n"
            "  grade_capacity_per_week: null\n"
            f"  grade_shares: {{{shares}}}\n")


def run(export: Path, out: Path, *, defaults: Path | None = None, force: bool = False) -> InitResult:
    """Inspect and propose always; write ``out`` only if it does not exist yet, or with ``force``.

    ``out`` is an override file: ``extends`` names the defaults (relative to ``out``'s folder), and it holds
    only what init inferred (the source section; the grade shares of an export without dates)."""
    path = io.flat_source_path(export)
    frame = io.read_flat_source(path)
    proposal = flat.propose_column_map(frame, max_categories=SourceParams().max_categories)
    defaults = defaults or (Path("params.yaml") if Path("params.yaml").exists() else SHIPPED_DEFAULTS)
    base = read_params(defaults)
    base.pop("source", None)
    extends = os.path.relpath(defaults.resolve(), out.resolve().parent)
    text = (f"{EXTENDS}: {json.dumps(extends)}  # the project's params; this file holds only what differs\n"
            + render_source_section(proposal, path) + render_score_section(proposal))
    inferred = yaml.safe_load(text)
    inferred.pop(EXTENDS)
    config = parse_config(merge_params(base, inferred), source=str(out))  # never write a file train would reject
    try:
        flat.validate_flat_source(flat.clean(frame, config.source), config.source,
                                  min_conversions=config.train.min_conversions)
        problems: tuple[str, ...] = ()
    except flat.FlatSourceError as exc:
        problems = tuple(exc.problems)
    written = force or not out.exists()
    if written:
        out.write_text(text)
    return InitResult(path=out, export=path, rows=len(frame), proposal=proposal, config=config, problems=problems,
                      written=written)
