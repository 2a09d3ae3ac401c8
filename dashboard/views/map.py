"""Map: every embedded paper in two dimensions, coloured by any axis; select points to open them."""

from __future__ import annotations

import app
import charts
import streamlit as st

from litmine.queries.map import map_points
from litmine.taxonomy import AXES, MULTI_AXES

MAX_POINTS = 20000

ctx = app.context()
st.title("Map of the field")
st.caption(
    "A t-SNE layout of abstract embeddings, computed by the nightly pipeline (new papers are "
    "placed beside their nearest neighbours, so the map stays put). Lasso or click points to "
    "list them."
)
c1, c2 = st.columns(2)
axis = c1.selectbox(
    "Colour by", list(AXES), index=list(AXES).index("dominant_role"), key="map_color"
)
label = None
if axis in MULTI_AXES:
    choice = c2.selectbox("Highlight label", ["(first label)", *AXES[axis].names], key="map_label")
    label = None if choice == "(first label)" else choice

if ctx.overview["mapped"] == 0:
    st.info("No map coordinates yet: the nightly pipeline computes them after embedding.")
    st.stop()

points = app.load(map_points, ctx.key, ctx.filters, axis, label, MAX_POINTS)
st.caption(
    f"{len(points):,} papers shown (a fixed sample when more than {MAX_POINTS:,} match). "
    + app.embedded_scope(ctx.overview)
)
event = st.plotly_chart(
    charts.map_figure(points, axis),
    key="map_chart",
    on_select="rerun",
    selection_mode=("points", "lasso", "box"),
)
selected = [
    p["customdata"][0] for p in (event.selection.points if event else []) if p.get("customdata")
]
if selected:
    rows = points[points["arxiv_id"].isin(selected)]
    st.subheader(f"{len(rows)} selected papers")
    app.paper_table(rows.drop(columns=["x", "y"]), key="map_selected")
    opened = st.selectbox("Open", selected, key="map_open")
else:
    opened = st.text_input("Open a paper by arXiv id", key="map_open_id").strip() or None
if opened:
    app.paper_view(ctx, opened)
