"""Trending methods: names defined in abstracts (e.g. GRPO) whose share of papers is rising."""

from __future__ import annotations

import app
import charts
import streamlit as st

from litmine.queries.methods import method_monthly, method_papers, trending_methods

ctx = app.context()
st.title("Trending methods")
st.caption(
    "Method names that abstracts define, as in 'Group Relative Policy Optimization (GRPO)'. "
    "Growth compares each name's rate per paper in the last months with the months before, "
    "so a growing corpus (or a month still being crawled) does not lift every name."
)
c1, c2, c3 = st.columns(3)
window = c1.slider("Window (months)", 1, 12, 3, key="methods_window")
min_recent = c2.number_input("Min. papers in the window", 1, 1000, 3, key="methods_min")
pt_only = c3.toggle("Post-training papers only", True, key="methods_pt")

if ctx.overview["methods"] == 0:
    st.info("No method names yet: `litmine nightly` extracts them from abstracts.")
    st.stop()

top = app.load(trending_methods, ctx.key, ctx.filters, window, int(min_recent), 25, pt_only)
if top.empty:
    st.info("No name reaches the minimum count in this window; lower it or widen the range.")
    st.stop()
names = top["name"].tolist()
monthly = app.load(method_monthly, ctx.key, names[:8], ctx.filters, pt_only)
st.plotly_chart(charts.methods_figure(monthly), key="methods_chart")
st.dataframe(
    top,
    hide_index=True,
    key="methods_table",
    column_config={
        "growth": st.column_config.NumberColumn("growth", format="%.2f×"),
        "first_month": st.column_config.DateColumn("first seen", format="YYYY-MM"),
    },
)
name = st.selectbox("Papers defining", names, key="methods_name")
rows = app.load(method_papers, ctx.key, name, ctx.filters)
app.paper_table(rows, key="methods_papers", height=320)
