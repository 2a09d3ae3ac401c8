"""Evolution: post-training papers per month, their share, and stacked breakdowns by axis."""

from __future__ import annotations

import app
import charts
import pandas as pd
import streamlit as st

from litmine.queries.base import papers
from litmine.queries.evolution import monthly_by_axis, monthly_totals

BREAKDOWNS = (
    ("provenance", "Provenance"),
    ("families", "Method family"),
    ("dominant_role", "Dominant role"),
    ("interface", "Interface"),
)

ctx = app.context()
f = ctx.filters
st.title("Where post-training research is going")
st.caption(
    "Monthly arXiv papers whose main contribution is post-training a language model, labelled "
    "under the Zhao et al. 2026 framework (gold labels override the model's)."
)

if ctx.overview["classified"] == 0:
    st.info(
        "No paper is classified yet, so only the papers crawled are shown. "
        "`litmine nightly` embeds and classifies them once a model is trained."
    )
total = app.load(monthly_totals, ctx.key, f, by_month=False).iloc[0]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Papers crawled", f"{int(total['papers']):,}")
c2.metric("Post-training papers", f"{int(total['post_training']):,}")
c3.metric("Share of papers crawled", f"{(total['share'] or 0) * 100:.1f}%")
c4.metric("Gold-labelled among them", f"{int(total['gold']):,}")
if total["classified"] < total["papers"]:
    st.caption(
        f"Not classified yet: {int(total['papers'] - total['classified']):,} of "
        f"{int(total['papers']):,} papers in range. They count as crawled, not as post-training, "
        "until `litmine nightly` classifies them."
    )

monthly = app.load(monthly_totals, ctx.key, f)
event = st.plotly_chart(
    charts.totals_figure(monthly),
    key="evo_totals",
    on_select="rerun",
    selection_mode="points",
    config={"displaylogo": False},
)

mode = st.segmented_control(
    "Breakdown", ["counts", "shares"], default="counts", key="evo_mode", required=True
)
tabs = st.tabs([title for _, title in BREAKDOWNS])
for tab, (axis, _) in zip(tabs, BREAKDOWNS, strict=True):
    with tab:
        df = app.load(monthly_by_axis, ctx.key, axis, f)
        st.plotly_chart(charts.axis_figure(df, axis, mode), key=f"evo_{axis}")
        if mode == "shares" and axis in ("families", "interface"):
            st.caption("A paper with several labels counts once under each of them.")

st.subheader("Papers behind the numbers")
months = [pd.Timestamp(m).strftime("%Y-%m") for m in monthly["month"]]
points = event.selection.points if event and event.selection else []
clicked = pd.Timestamp(points[0]["x"]).strftime("%Y-%m") if points else None
if clicked in months:
    st.session_state["evo_month"] = clicked
elif st.session_state.get("evo_month") not in months and months:
    st.session_state["evo_month"] = months[-1]
if months:
    month = st.selectbox("Month (or click a bar)", months, key="evo_month")
    rows = app.load(papers, ctx.key, f, pd.Timestamp(month).date(), 500)
    st.caption(f"{len(rows):,} post-training papers in {month} (up to 500 shown).")
    app.paper_table(rows, key="evo_papers", height=320)

with st.expander("Monthly numbers"):
    st.dataframe(monthly, hide_index=True, key="evo_table")
