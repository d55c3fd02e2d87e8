"""The report as one self-contained HTML page: inline CSS, plots as base64 PNGs, no external assets.

A page a browser opens from disk or an e-mail attachment, with nothing to fetch. Built with
``string.Template`` (no template engine needed for one page); every value from the data is escaped.
"""

from __future__ import annotations

import base64
import html
import io as _io
from collections.abc import Callable
from dataclasses import dataclass
from string import Template

import matplotlib.pyplot as plt
import pandas as pd

SECTION_IDS = ("definition", "promises", "marketing", "sales", "drift")

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 1.5rem 2rem; color: #1a202c; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #e2e8f0; padding-bottom: 0.2rem; margin-top: 2.2rem; }
nav a { margin-right: 1rem; } .meta { color: #4a5568; }
.verdict { padding: 0.6rem 1rem; border-radius: 6px; margin: 1rem 0; font-weight: 600; }
.verdict.kept { background: #f0fff4; border: 1px solid #9ae6b4; }
.verdict.breach { background: #fff5f5; border: 1px solid #feb2b2; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.86rem; }
th, td { border: 1px solid #e2e8f0; padding: 0.25rem 0.55rem; text-align: right; }
th { background: #f7fafc; } td:first-child, th:first-child { text-align: left; }
tr.breach td { background: #fff5f5; color: #9b2c2c; }
td.few { color: #a0aec0; }
img { max-width: 100%; display: block; margin: 0.5rem 0; }
.note { color: #4a5568; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="meta">$subtitle</p>
<nav>$nav</nav>
<div class="verdict $verdict_class">$verdict</div>
$sections
</body>
</html>
""")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str  # HTML, already escaped where it holds data


def escape(text: object) -> str:
    return html.escape(str(text))


def paragraph(text: str, css: str = "") -> str:
    return f'<p class="{css}">{escape(text)}</p>' if css else f"<p>{escape(text)}</p>"


def figure(fig, alt: str) -> str:
    """The figure as an inline PNG (then closed, so a long report does not hold every figure in memory)."""
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def percent(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.1%}"


class RowFormat:
    """A cell formatted from several columns of its row (a rate with its interval)."""

    def __init__(self, fn: Callable[[dict], str]):
        self.fn = fn

    def __call__(self, record: dict) -> str:
        return self.fn(record)


def number(value: float, decimals: int = 0) -> str:
    return "–" if pd.isna(value) else f"{value:,.{decimals}f}"


def with_interval(value: float, low: float, high: float, fmt: Callable[[float], str] = percent) -> str:
    """A rate never stands alone where it is uncertain: "12.3% [10.1%, 14.8%]"."""
    if pd.isna(value):
        return "–"
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def table(frame: pd.DataFrame, formats: dict[str, Callable[[object], str]], *,
          headers: dict[str, str] | None = None, flag: str | None = None,
          few: dict[str, Callable[[dict], bool]] | None = None) -> str:
    """An HTML table of ``formats``' columns, each cell formatted and escaped; rows where ``flag`` is true
    get the class ``breach``. A format may take the whole row (a :class:`RowFormat`). ``few`` maps a column to a
    test of its row: where true, the cell gets the class ``few`` (greyed: too small a sample to judge on)."""
    few = few or {}
    headers = headers or {}
    head = "".join(f"<th>{escape(headers.get(c, c))}</th>" for c in formats)
    rows = []
    for record in frame.to_dict("records"):
        cells = "".join(
            ('<td class="few">' if c in few and few[c](record) else "<td>")
            + escape(fmt(record) if isinstance(fmt, RowFormat) else fmt(record[c])) + "</td>"
            for c, fmt in formats.items())
        css = ' class="breach"' if flag and bool(record.get(flag)) else ""
        rows.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_page(*, title: str, subtitle: str, verdict: str, breach: bool, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.id}">{escape(s.title)}</a>' for s in sections)
    body = "\n".join(f'<section id="{s.id}">\n<h2>{escape(s.title)}</h2>\n{s.body}\n</section>' for s in sections)
    return PAGE.substitute(title=escape(title), subtitle=escape(subtitle), nav=nav, sections=body,
                           verdict=escape(verdict), verdict_class="breach" if breach else "kept")
