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
