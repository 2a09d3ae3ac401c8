"""The real thing: ``streamlit run`` on a loopback port, rendered by headless Chromium.

Screenshots are kept under ``artifacts/`` (git-ignored) for CI to collect.
"""

from __future__ import annotations

import re

import duckdb
import pytest
from PIL import Image

from tests import dashboard_fixtures as fx

pytestmark = pytest.mark.skipif(
    fx.chromium_binary() is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)
ARTIFACTS = fx.REPO / "artifacts"
ACCENT = (0x1F, 0x5F, 0xA8)  # charts.ACCENT: the post-training bars


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return fx.shared_seeded_db(tmp_path_factory)


def test_evolution_page_renders_in_chromium(seeded):
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "dashboard-evolution.png"
    png.unlink(missing_ok=True)
    with fx.serve_dashboard(seeded, ARTIFACTS / "streamlit-browser-test.log") as url:
        dom = fx.capture(url, png, fx.plots_ready(5))
    (ARTIFACTS / "dashboard-evolution.html").write_text(dom)

    assert len(re.findall(r'class="[^"]*js-plotly-plot', dom)) >= 5
    assert "Post-training papers per month" in dom  # a plotly title, drawn as SVG text
    con = duckdb.connect(str(seeded), read_only=True)
    try:
        pt = con.execute("SELECT count(*) FROM paper_labels WHERE post_training").fetchall()[0][0]
    finally:
        con.close()
    shown = re.findall(r'data-testid="stMetricValue"[^>]*>(?:<[^>]+>)*([^<]+)<', dom)
    assert str(pt) in shown, shown

    img = Image.open(png).convert("RGB")
    assert img.width >= 1200 and img.height >= 1000
    colours = img.getcolors(maxcolors=1 << 20)
    assert len(colours) > 200  # text, bars, areas: not a blank page
    pixels = dict((c, n) for n, c in colours)
    assert pixels.get(ACCENT, 0) > 2000  # the bars of the first chart were drawn
    white = pixels.get((255, 255, 255), 0)
    assert white < 0.9 * img.width * img.height
