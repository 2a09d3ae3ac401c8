"""Explorer: full-text and semantic search, filters on every axis, and a paper view."""

from __future__ import annotations

from dataclasses import replace

import app
import streamlit as st

from litmine.queries.base import EXTRA_FILTERS, papers
from litmine.queries.search import embedding_model, search_semantic, search_text
from litmine.taxonomy import AXES

LIMIT = 200

ctx = app.context()
st.title("Explorer")
q1, q2 = st.columns([4, 1])
text = q1.text_input(
    "Search titles and abstracts",
    key="explorer_query",
    placeholder='e.g. "preference optimization" reasoning',
).strip()
mode = q2.radio("Search", ["Full text", "Semantic"], key="explorer_mode", horizontal=True)

with st.expander("Filter by label", expanded=False):
    names = ["post_training", "source", "borderline", *[a for a in AXES if a != "post_training"]]
    cols = st.columns(3)
    chosen = []
    for i, name in enumerate(names):
        options = EXTRA_FILTERS.get(name) or AXES[name].names
        picked = cols[i % 3].multiselect(name.replace("_", " "), options, key=f"explorer_{name}")
        if picked:
            chosen.append((name, tuple(picked)))
f = replace(ctx.filters, labels=ctx.filters.labels + tuple(chosen))

if text and mode == "Semantic":
    if ctx.overview["embedded"] == 0:
        st.info("No embeddings yet: semantic search needs `litmine nightly` to embed papers.")
        st.stop()
    model = app.load(embedding_model, ctx.key)
    vector = app.embed_query(text, model)
    results = app.load(search_semantic, ctx.key, vector, f, model, limit=LIMIT)
    st.caption(f"The {len(results)} papers closest in meaning to the query. "
               + app.embedded_scope(ctx.overview))  # fmt: skip
elif text:
    results = app.load(search_text, ctx.key, text, f, LIMIT)
    st.caption(f"{len(results)} papers hold every term (title matches first, up to {LIMIT}).")
else:
    results = app.load(papers, ctx.key, f, None, LIMIT, False)
    st.caption(f"The {len(results)} newest papers matching the filters (up to {LIMIT}).")

app.paper_table(results, key="explorer_results", height=420)
if not results.empty:
    titles = dict(zip(results["arxiv_id"], results["title"], strict=True))
    opened = st.selectbox(
        "Open a paper",
        list(titles),
        format_func=lambda i: f"{i}  {titles[i]}",
        key="explorer_paper",
    )
    app.paper_view(ctx, opened)
