"""The litmine dashboard: entry point, navigation and the context every page shares.

Run from the repository root with ``streamlit run dashboard/app.py`` (or ``litmine dashboard``).
It reads the published read-only copy of the database (``LITMINE_DB`` or the default path), so
it keeps serving while ``litmine nightly`` writes, and shows new data once a new copy is
published. The pages live in ``views/`` (a folder named ``pages/`` would switch Streamlit to its
legacy multipage mode) and import this module as ``app`` for the cached connection, the cached
query loader, the shared context and the paper view.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from litmine.config import default_db_path
from litmine.errors import DatabaseLocked, LitmineError
from litmine.queries.base import SETUP_HINT, Filters, open_readonly, source_path
from litmine.queries.corpus import month_counts, overview, top_categories
from litmine.queries.paper import paper, paper_label_rows
from litmine.queries.search import nearest_papers

PAGES = (
    ("views/evolution.py", "Evolution", ":material/stacked_line_chart:"),
    ("views/indicators.py", "Framework indicators", ":material/insights:"),
    ("views/map.py", "Map", ":material/scatter_plot:"),
    ("views/explorer.py", "Explorer", ":material/search:"),
    ("views/methods.py", "Trending methods", ":material/trending_up:"),
    ("views/review.py", "Review queue", ":material/rate_review:"),
    ("views/export.py", "Export", ":material/download:"),
)
CONTEXT = "litmine_context"


@dataclass(frozen=True)
class Context:
    """What a page needs: where the data is, its cache key, the sidebar filters, an overview."""

    db_path: Path  # the working database; review corrections go next to it
    key: tuple  # (db path, file read, mtime, size, inode): changes with every publish
    filters: Filters
    overview: dict


def _close(con: duckdb.DuckDBPyConnection) -> None:
    con.close()


@st.cache_resource(max_entries=1, show_spinner=False, on_release=_close)
def _connection(key: tuple) -> duckdb.DuckDBPyConnection:
    return open_readonly(key[0])


_lock = threading.Lock()
_current: list[tuple] = []


def connect(db_path: Path) -> tuple:
    """The cache key of the copy to read, opening it (and closing the previous copy) if new."""
    path = source_path(db_path)
    if path is None:
        raise LitmineError(f"no database at {db_path}", hint=SETUP_HINT)
    s = path.stat()
    key = (str(db_path), str(path), s.st_mtime_ns, s.st_size, s.st_ino)
    with _lock:
        if _current and _current[0] != key:
            # DuckDB hands out the already-open instance for a path: close it before reopening.
            _connection.clear()
        _current[:] = [key]
    _connection(key)
    return key


def cursor(key: tuple) -> duckdb.DuckDBPyConnection:
    """A cursor on the copy ``key`` names (use as a context manager; it closes on exit)."""
    return _connection(key).cursor()


def load(query: Callable, key: tuple, *args, **kwargs):  # noqa: ANN201  (frame or dict)
    """Run ``query``, a ``litmine.queries`` function, on the copy ``key`` names (cached).

    The result is cached until the next publish, keyed on the function's module and name.
    """
    return _load(query.__module__, query.__name__, key, *args, **kwargs)


@st.cache_data(show_spinner=False, max_entries=1000)
def _load(module: str, name: str, key: tuple, *args, **kwargs):  # noqa: ANN202
    fn = getattr(importlib.import_module(module), name)
    try:
        with _connection(key).cursor() as cur:
            return fn(cur, *args, **kwargs)
    except duckdb.ConnectionException:  # a newer copy closed this one under us: reopen once
        _connection.clear()
        with _connection(key).cursor() as cur:
            return fn(cur, *args, **kwargs)


@st.cache_resource(show_spinner="Loading the embedding model...", max_entries=2)
def embedder(name: str):  # noqa: ANN201  (litmine.embed.Embedder)
    from litmine.embed import load_embedder

    return load_embedder(name)


@st.cache_data(show_spinner=False, max_entries=200)
def embed_query(text: str, model: str) -> list[float]:
    """``text`` embedded with ``model``, the database's embedding model."""
    return [float(v) for v in embedder(model).encode([text])[0]]


def context() -> Context:
    """The context the entry point stored for this run (data key, sidebar filters, overview)."""
    ctx = st.session_state.get(CONTEXT)
    if ctx is None:
        st.error("Open the dashboard through its entry point: `streamlit run dashboard/app.py`.")
        st.stop()
    return ctx


def arxiv_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def embedded_scope(overview: dict) -> str:
    """The caption that says what semantic search and the map cover."""
    text = f"Semantic search and the map cover the {overview['embedded']:,} embedded papers"
    if not overview.get("gated"):
        return text + "."
    return (
        f"{text}: gold papers and those the relevance gate passed. The "
        f"{overview['gated']:,} papers it stopped are not embedded; full-text search, counts "
        "and exports include them (post_training = no, label source `gate`)."
    )


PROB_COLUMNS = ("post_training_prob", "provenance_prob", "dominant_role_prob", "contribution_prob")


def paper_table(df: pd.DataFrame, key: str, height: int | None = None) -> None:
    """A table of papers with arXiv links and probability bars."""
    view = df.assign(link=df["arxiv_id"].map(arxiv_url))
    config = {
        "link": st.column_config.LinkColumn("arXiv", display_text=r"abs/(.*)$", width="small"),
        "arxiv_id": None,
        "title": st.column_config.TextColumn("title", width="large"),
        "month": st.column_config.DateColumn("month", format="YYYY-MM"),
    }
    for col in PROB_COLUMNS + ("similarity", "confidence"):
        if col in view:
            config[col] = st.column_config.ProgressColumn(
                col.replace("_prob", " p"), min_value=0.0, max_value=1.0, format="%.2f"
            )
    cols = ["link", *[c for c in view.columns if c != "link"]]
    kw = {"height": height} if height else {}
    st.dataframe(view[cols], column_config=config, hide_index=True, key=key, **kw)


def paper_view(ctx: Context, arxiv_id: str, nearest: bool = True) -> None:
    """One paper: abstract, link, every label with probability, source and evidence; neighbours."""
    info = load(paper, ctx.key, arxiv_id)
    if info.empty:
        st.info(f"No paper {arxiv_id} in the database.")
        return
    row = info.iloc[0]
    st.markdown(f"#### [{row['title']}]({arxiv_url(arxiv_id)})")
    month = pd.Timestamp(row["month"]).strftime("%B %Y") if pd.notna(row["month"]) else "-"
    cats = ", ".join(row["categories"]) if row["categories"] is not None else "-"
    st.caption(f"{arxiv_id} · {month} · {cats} · {row['authors'] or ''}")
    st.write(row["abstract"])
    rows = load(paper_label_rows, ctx.key, arxiv_id)
    if rows.empty:
        st.info("Not classified yet: the next `litmine nightly` labels it.")
    else:
        source = (
            "gold label"
            if row["is_gold"]
            else "the relevance gate (not embedded: below its cut, so post_training = no)"
            if row["label_source"] == "gate"
            else f"model `{row['label_source']}`"
        )
        st.markdown(f"**Labels** from {source}")
        st.dataframe(
            rows,
            hide_index=True,
            key=f"labels_{arxiv_id}",
            column_config={
                "probability": st.column_config.ProgressColumn(
                    "probability", min_value=0.0, max_value=1.0, format="%.2f"
                ),
                "evidence": st.column_config.TextColumn("evidence sentence", width="large"),
            },
        )
    if nearest:
        near = load(nearest_papers, ctx.key, arxiv_id)
        if not near.empty:
            st.markdown("**Nearest papers** (cosine similarity of abstract embeddings)")
            paper_table(near, key=f"near_{arxiv_id}")


def _month_default(months: pd.DataFrame) -> int:
    """Index of the first month with at least 5% of the busiest month's papers (sparse years off)."""
    floor = 0.05 * int(months["papers"].max())
    dense = months.index[months["papers"] >= floor]
    return int(dense[0]) if len(dense) else 0


def sidebar(key: tuple, ov: dict) -> Filters:
    """The filters every page shares: months, categories and the confidence floor."""
    months = load(month_counts, key)
    labels = [pd.Timestamp(m).strftime("%Y-%m") for m in months["month"]]
    with st.sidebar:
        start = end = None
        if len(labels) > 1:
            lo, hi = st.select_slider(
                "Submission months",
                options=labels,
                value=(labels[_month_default(months)], labels[-1]),
                key="f_months",
            )
            start, end = pd.Timestamp(lo).date(), pd.Timestamp(hi).date()
        cats = load(top_categories, key)
        counts = dict(zip(cats["category"], cats["papers"], strict=True))
        chosen = st.multiselect(
            "arXiv categories (any)",
            options=list(counts),
            format_func=lambda c: f"{c} ({counts[c]:,})",
            key="f_categories",
        )
        conf = st.slider(
            "Minimum confidence",
            0.5,
            0.99,
            0.5,
            0.01,
            key="f_confidence",
            help="Probability of the post-training decision. Gold labels always count.",
        )
        _data_note(key, ov)
    return Filters(
        start=start, end=end, categories=tuple(chosen), min_confidence=conf if conf > 0.5 else 0.0
    )


def _data_note(key: tuple, ov: dict) -> None:
    published = key[1] != key[0]
    where = "published copy" if published else "working database (no published copy yet)"
    when = f", published {ov['published_at']}" if ov.get("published_at") else ""
    st.caption(
        f"{ov['papers']:,} papers · {ov['classified']:,} classified · {ov['gold']:,} gold · "
        f"model `{ov['current_model'] or 'none'}`  \nReading the {where}{when}."
    )


def setup_guide(db_path: Path, problem: str) -> None:
    """What to run when there is no data yet (no stack trace)."""
    st.title("litmine")
    st.warning(problem)
    st.markdown("The dashboard shows what `litmine nightly` stores. Load papers first, e.g.:")
    st.code("litmine nightly --snapshot arxiv-metadata-oai-snapshot.jsonl.gz", language="bash")
    st.markdown(
        f"Database: `{db_path}` (set `LITMINE_DB` to read another). "
        "`litmine nightly` crawls, embeds, classifies and publishes the copy this page reads."
    )


def _open(db_path: Path) -> tuple[tuple | None, dict | None, str]:
    try:
        key = connect(db_path)
        ov = load(overview, key)
    except DatabaseLocked:
        return (
            None,
            None,
            (
                "The nightly job is writing the database and no published copy exists yet; "
                "reload this page when it has finished."
            ),
        )
    except (LitmineError, duckdb.Error) as exc:
        return None, None, f"Cannot read the database: {str(exc).splitlines()[0]}"
    if ov["papers"] == 0:
        return None, None, "The database holds no papers yet."
    return key, ov, ""


def main() -> None:
    st.set_page_config(
        page_title="litmine: post-training research", page_icon=":material/insights:", layout="wide"
    )
    db_path = default_db_path()
    key, ov, problem = _open(db_path)
    if key is None:
        page = st.Page(lambda: setup_guide(db_path, problem), title="Setup", url_path="setup")
        st.navigation([page]).run()
        return
    st.session_state[CONTEXT] = Context(db_path, key, sidebar(key, ov), ov)
    pages = [st.Page(path, title=title, icon=icon) for path, title, icon in PAGES]
    st.navigation(pages).run()


if __name__ == "__main__":
    # Streamlit runs this file as __main__; run the importable copy that pages share, so that
    # both use one connection cache.
    import app

    app.main()
