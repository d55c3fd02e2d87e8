"""Volume guards of the nightly job: does tonight's extract look like a night's extract at all?

Row checks (``features.schema``) judge each row; they cannot see that a whole table is missing, empty, or half
of what it was yesterday (a truncated export, a failed upstream job). Such a night would score every lead as
if nothing had happened to it, and publish it. These checks compare tonight's row count per table with the
last published night's and name each table that is missing, empty, or changed beyond ``max_change``.
Pure: counts in, problems out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd


def table_rows(tables: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Rows per table, as read (before any row is quarantined)."""
    return {name: int(len(frame)) for name, frame in sorted(tables.items())}


def volume_problems(rows: Mapping[str, int], previous: Mapping[str, int] | None, *, required: Iterable[str],
                    max_change: float | None, location: str) -> list[str]:
    """One sentence per table that makes the night untrustworthy, naming the table and both counts.

    ``rows``: tonight's tables and their rows (a table absent from it was not found); ``previous``: the last
    published night's (None before the first); ``required``: tables the night cannot do without;
    ``max_change``: the largest relative change in rows against the last published night (None: not
    compared); ``location``: where the tables were looked for, named when one is missing.
    """
    previous = dict(previous or {})
    problems = []
    for table in sorted(set(required) - set(rows)):
        before = f" (the last published night had {previous[table]:,} rows)" if table in previous else ""
        problems.append(f"{table}: table is missing from {location}{before}")
    for table, n in sorted(rows.items()):
        before = previous.get(table)
        if n == 0:
            had = f"the last published night had {before:,}" if before else "an empty table is no night's extract"
            problems.append(f"{table}: 0 rows ({had})")
        elif before and max_change is not None and abs(n - before) / before > max_change:
            change = (n - before) / before
            problems.append(f"{table}: {n:,} rows against {before:,} on the last published night ({change:+.0%}, "
                            f"beyond nightly.max_volume_change {max_change:.0%})")
    return problems
