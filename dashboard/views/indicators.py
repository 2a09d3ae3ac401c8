"""Framework indicators: shifts the survey's framework makes visible, month by month."""

from __future__ import annotations

import app
import charts
import streamlit as st

from litmine.queries.indicators import INDICATORS, indicator_monthly, indicator_periods

ctx = app.context()
st.title("Framework indicators")
st.caption(
    "Shifts inside post-training that only a framework-level labelling shows. Bars count papers "
    "on each side; the line is the share of the first side with its 95% Wilson interval."
)
window = st.slider("Compare the last N months with the N before", 1, 12, 6, key="ind_window")

for ind in INDICATORS.values():
    st.subheader(ind.title)
    st.caption(ind.caption)
    periods = app.load(indicator_periods, ctx.key, ind.key, ctx.filters, window)
    recent = periods[periods["period"] == "recent"]
    before = periods[periods["period"] == "previous"]
    col, chart = st.columns([1, 4])
    if not recent.empty and recent.iloc[0]["n"] > 0:
        share = float(recent.iloc[0]["share"])
        delta = None
        if not before.empty and before.iloc[0]["n"] > 0:
            delta = f"{(share - float(before.iloc[0]['share'])) * 100:+.1f} pts"
        col.metric(
            f"{ind.a_label} share, last {window} mo.",
            f"{share * 100:.0f}%",
            delta,
            delta_color="off",
            help=f"{int(recent.iloc[0]['n_a'])} of {int(recent.iloc[0]['n'])} papers",
        )
    else:
        col.metric(f"{ind.a_label} share, last {window} mo.", "-")
    monthly = app.load(indicator_monthly, ctx.key, ind.key, ctx.filters)
    chart.plotly_chart(
        charts.indicator_figure(monthly, ind.a_label, ind.b_label, ind.title),
        key=f"ind_{ind.key}",
    )
    with st.expander(f"Monthly numbers: {ind.title.lower()}"):
        st.dataframe(monthly, hide_index=True, key=f"ind_table_{ind.key}")
