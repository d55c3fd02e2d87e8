"""init: inspect a CRM export, propose its column map, write a complete params file for it.

Input: one export file (CSV with any common delimiter, or parquet) and a params file to copy the other
sections from (the project's current defaults). Output: a params file whose ``source`` section maps the
export — id, created date, converted flag or date, leaky columns excluded with a comment saying why — and
lists the type inferred for every other column. It is validated before it is written, and an existing
file is replaced only when asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from features import flat
from features.params import SourceParams
from pipeline import io
from pipeline.config import Config, parse_config

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


def run(export: Path, out: Path, *, defaults: Path | None = None, force: bool = False) -> InitResult:
    """Inspect and propose always; write ``out`` only if it does not exist yet, or with ``force``."""
    path = io.flat_source_path(export)
    frame = io.read_flat_source(path)
    proposal = flat.propose_column_map(frame, max_categories=SourceParams().max_categories)
    defaults = defaults or (Path("params.yaml") if Path("params.yaml").exists() else SHIPPED_DEFAULTS)
    raw = yaml.safe_load(defaults.read_text())
    raw.pop("source", None)
    if proposal.created_column is None:
        raw["score"].pop("grade_capacity_per_week", None)
        raw["score"]["grade_shares"] = dict(FLAT_GRADE_SHARES)
    text = (render_source_section(proposal, path) + "\n# The other sections, copied from " + str(defaults) + "\n"
            + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    config = parse_config(yaml.safe_load(text), source=str(out))  # never write a file train would reject
    try:
        flat.validate_flat_source(frame, config.source, min_conversions=config.train.min_conversions)
        problems: tuple[str, ...] = ()
    except flat.FlatSourceError as exc:
        problems = tuple(exc.problems)
    written = force or not out.exists()
    if written:
        out.write_text(text)
    return InitResult(path=out, export=path, rows=len(frame), proposal=proposal, config=config, problems=problems,
                      written=written)
