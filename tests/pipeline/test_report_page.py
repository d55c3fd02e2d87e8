"""The report page: sections with stable ids, data escaped, plots inline, nothing fetched from outside."""

import re

import matplotlib.pyplot as plt
import pandas as pd

from pipeline.report_page import SECTION_IDS, Section, figure, percent, render_page, table


def test_page_has_every_section_escapes_data_and_embeds_plots():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    frame = pd.DataFrame({"campaign": ["<script>alert(1)</script>"], "rate": [0.123], "breach": [True]})
    sections = [Section(i, f"title {i}", table(frame, {"campaign": str, "rate": percent}, flag="breach"))
                for i in SECTION_IDS]
    sections[1] = Section("promises", "Promises", figure(fig, "a plot"))
    page = render_page(title="T & Co", subtitle="s", verdict="kept", breach=False, sections=sections)
    for section_id in SECTION_IDS:
        assert f'<section id="{section_id}">' in page and f'href="#{section_id}"' in page
    assert "<script>" not in page and "&lt;script&gt;" in page and "T &amp; Co" in page
    assert '<tr class="breach"><td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>12.3%</td></tr>' in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert not re.search(r'(?:href|src)="(?:https?:)?//', page)  # self-contained: no external assets


def test_a_rate_on_a_small_sample_is_greyed_and_never_shown_without_its_interval():
    from pipeline.report_page import RowFormat, with_interval

    frame = pd.DataFrame({"campaign": ["big", "small"], "n": [400, 7], "rate": [0.05, 0.143],
                          "low": [0.033, 0.026], "high": [0.076, 0.513]})
    html = table(frame, {"campaign": str, "n": str,
                         "shown": RowFormat(lambda r: with_interval(r["rate"], r["low"], r["high"]))},
                 few={"shown": lambda r: r["n"] < 30})
    assert "<tr><td>big</td><td>400</td><td>5.0% [3.3%, 7.6%]</td></tr>" in html
    assert '<tr><td>small</td><td>7</td><td class="few">14.3% [2.6%, 51.3%]</td></tr>' in html
    assert with_interval(float("nan"), 0.1, 0.2) == "–"


def test_the_definition_of_a_dateless_export_names_no_window_and_no_weeks(monkeypatch, repo_root):
    from pipeline import signoff, tracking
    from pipeline.config import load_config
    from pipeline.steps import report

    definition = {
        "definition_version": "d-flat", "label": {"milestone_words": "a recorded conversion", "window_days": None},
        "population": {"description": "Every row of the export.", "dated": False}, "test_metrics": {"roc_auc": 0.8},
        "grades": [{"grade": "A", "min_probability": 0.4, "weekly_volume": None, "share": 0.1, "promised_rate": 0.5,
                    "promised_low": 0.4, "promised_high": 0.6}], "periods": {"test": "rows 80–100 %"}}
    monkeypatch.setattr(tracking, "configure", lambda **_: "sqlite://")
    monkeypatch.setattr(tracking, "champion_version", lambda name: 1)
    monkeypatch.setattr(tracking, "load_definition", lambda name, version: (None, definition))
    monkeypatch.setattr(signoff, "approvals", lambda *a, **k: {})
    section = report._definition_section(load_config(repo_root / "params.yaml"), None)
    assert "reaches a recorded conversion. Champion" in section.body
    assert "days" not in section.body and "week" not in section.body
