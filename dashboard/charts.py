"""Pure plotly figure functions for the dashboard: small frames in, figures out, nothing shown.

Every label keeps one colour across all charts (:func:`label_color`), so a family is the same
colour on the evolution page, the indicators and the map.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from litmine.taxonomy import AXES

PALETTE = qualitative.Safe + qualitative.Vivid
SPECIAL = {
    "(none)": "#B8B8B8",
    "several": "#6E6E6E",
    "without it": "#D0D0D0",
    "other": "#D0D0D0",
    "not post-training": "#DADADA",
    "unclassified": "#EFEFEF",
}
ACCENT, MUTED = "#1F5FA8", "#9DB7D5"


def label_color(axis: str, label: str) -> str:
    """The colour of ``label`` on ``axis``: taxonomy order picks from a colour-blind-safe palette."""
    if label in SPECIAL:
        return SPECIAL[label]
    names = AXES[axis].names if axis in AXES else ()
    i = names.index(label) if label in names else abs(hash(label))
    return PALETTE[i % len(PALETTE)]


def label_order(axis: str, labels: list[str]) -> list[str]:
    """Labels in taxonomy order, then any others, then the special buckets."""
    names = AXES[axis].names if axis in AXES else ()
    known = [n for n in names if n in labels]
    rest = sorted(lb for lb in labels if lb not in names and lb not in SPECIAL)
    return known + rest + [s for s in SPECIAL if s in labels]


def _style(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 17}},
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "title": None},
        hovermode="x unified",
        font={"size": 13},
    )
    fig.update_xaxes(tickformat="%b %Y", showgrid=False)
    return fig


def empty_figure(message: str) -> go.Figure:
    """A blank chart carrying a message (no data for the filters)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 15, "color": "#666"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, "", height=220)


def totals_figure(df: pd.DataFrame) -> go.Figure:
    """Post-training papers per month (bars) and their share of all papers crawled (line)."""
    if df.empty:
        return empty_figure("No papers in this range")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(
        x=df["month"],
        y=df["papers"],
        name="all papers crawled",
        marker_color="#E3E8EE",
        hovertemplate="%{y:,} papers crawled<extra></extra>",
    )
    fig.add_bar(
        x=df["month"],
        y=df["post_training"],
        name="post-training papers",
        marker_color=ACCENT,
        customdata=df[["papers"]],
        hovertemplate="%{y:,} post-training of %{customdata[0]:,} papers<extra></extra>",
    )
    fig.add_scatter(
        x=df["month"],
        y=df["share"] * 100,
        name="share of all papers crawled",
        mode="lines+markers",
        line={"color": "#D1495B", "width": 3},
        hovertemplate="%{y:.1f}% of papers crawled<extra></extra>",
        secondary_y=True,
    )
    fig.update_layout(barmode="overlay", bargap=0.15)
    fig.update_yaxes(title_text="papers", secondary_y=False, rangemode="tozero")
    top = max(5.0, float(df["share"].max() or 0) * 110)
    fig.update_yaxes(
        title_text="share (%)",
        secondary_y=True,
        range=[0, min(top, 100.0)],
        tickformat=".0f",
        ticksuffix="%",
        showgrid=False,
    )
    return _style(fig, "Post-training papers per month")


def axis_figure(df: pd.DataFrame, axis: str, mode: str = "counts") -> go.Figure:
    """Stacked areas of post-training papers per label of ``axis``: counts or monthly shares."""
    if df.empty:
        return empty_figure("No post-training papers for these filters")
    shares = mode == "shares"
    fig = go.Figure()
    for label in label_order(axis, df["label"].unique().tolist()):
        part = df[df["label"] == label]
        fig.add_scatter(
            x=part["month"],
            y=part["share"] * 100 if shares else part["papers"],
            name=label,
            mode="lines",
            stackgroup="one",
            line={"width": 0.6, "color": label_color(axis, label)},
            fillcolor=label_color(axis, label),
            customdata=part[["papers"]],
            hovertemplate=f"{label}: "
            + ("%{y:.1f}% (%{customdata[0]} papers)" if shares else "%{y} papers")
            + "<extra></extra>",
        )
    multi = AXES[axis].multi
    unit = "of label assignments" if multi else "of post-training papers"
    fig.update_yaxes(
        title_text=f"share {unit} (%)" if shares else "papers",
        ticksuffix="%" if shares else "",
        range=[0, 100] if shares else None,
    )
    title = axis.replace("_", " ").capitalize()
    return _style(fig, f"{title}: {'monthly share' if shares else 'papers per month'}")


def indicator_figure(df: pd.DataFrame, a_label: str, b_label: str, title: str) -> go.Figure:
    """Counts on both sides (bars) and the share of side a with its 95% interval (line, band)."""
    if df.empty or int(df["n"].sum()) == 0:
        return empty_figure("No papers on either side yet")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=df["month"], y=df["n_a"], name=a_label, marker_color=ACCENT, opacity=0.85)
    fig.add_bar(x=df["month"], y=df["n_b"], name=b_label, marker_color=MUTED, opacity=0.85)
    ok = df[df["n"] > 0]
    band_x = pd.concat([ok["month"], ok["month"][::-1]])
    band_y = pd.concat([ok["high"], ok["low"][::-1]]) * 100
    fig.add_scatter(
        x=band_x,
        y=band_y,
        fill="toself",
        fillcolor="rgba(209,73,91,0.15)",
        line={"width": 0},
        name="95% interval",
        hoverinfo="skip",
        secondary_y=True,
    )
    fig.add_scatter(
        x=ok["month"],
        y=ok["share"] * 100,
        name=f"{a_label} share",
        mode="lines+markers",
        line={"color": "#D1495B", "width": 3},
        customdata=ok[["n_a", "n"]],
        hovertemplate="%{y:.0f}% (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        secondary_y=True,
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="papers", secondary_y=False)
    fig.update_yaxes(
        title_text=f"{a_label} share (%)",
        range=[0, 100],
        ticksuffix="%",
        secondary_y=True,
        showgrid=False,
    )
    return _style(fig, title, height=340)


def map_figure(df: pd.DataFrame, axis: str) -> go.Figure:
    """The paper map, one WebGL trace per colour class; customdata carries the arXiv id."""
    if df.empty:
        return empty_figure("No map coordinates yet: run `litmine nightly`")
    fig = go.Figure()
    for label in label_order(axis, df["color"].unique().tolist()):
        part = df[df["color"] == label]
        fig.add_trace(
            go.Scattergl(
                x=part["x"],
                y=part["y"],
                mode="markers",
                name=f"{label} ({len(part):,})",
                marker={"size": 5, "color": label_color(axis, label), "opacity": 0.8},
                customdata=part[["arxiv_id", "title", "dominant_role", "families"]].fillna("-"),
                hovertemplate="<b>%{customdata[1]}</b><br>%{customdata[0]}<br>"
                "role: %{customdata[2]}<br>families: %{customdata[3]}<extra></extra>",
            )
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig = _style(fig, "", height=680)
    fig.update_layout(hovermode="closest", dragmode="lasso", legend={"itemsizing": "constant"})
    return fig


def methods_figure(df: pd.DataFrame) -> go.Figure:
    """Papers per month defining each method name (one line per name)."""
    if df.empty:
        return empty_figure("No method names in this range")
    fig = go.Figure()
    for i, (name, part) in enumerate(df.groupby("name", sort=False)):
        fig.add_scatter(
            x=part["month"],
            y=part["papers"],
            name=str(name),
            mode="lines+markers",
            line={"width": 2.5, "color": PALETTE[i % len(PALETTE)]},
        )
    fig.update_yaxes(title_text="papers defining the name", rangemode="tozero")
    return _style(fig, "Trending method names: papers per month")
