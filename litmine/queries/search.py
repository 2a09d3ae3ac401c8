"""The Explorer's search: full text, semantic (by embedding) and the nearest papers to one."""

from __future__ import annotations

import shlex

import duckdb
import pandas as pd

from litmine import store
from litmine.queries.base import PAPER_COLUMNS, Filters, frame, papers


def search_text(
    con: duckdb.DuckDBPyConnection, text: str, f: Filters, limit: int = 100
) -> pd.DataFrame:
    """Papers whose title or abstract holds every term ("quoted phrases" kept); title hits first."""
    try:
        terms = [t.lower() for t in shlex.split(text) if t.strip()]
    except ValueError:
        terms = [t.lower() for t in text.split() if t.strip()]
    if not terms:
        return papers(con, f, limit=0)
    where, params = f.sql()
    hits = " AND ".join(["contains(lower(title || ' ' || abstract), ?)"] * len(terms))
    title = " + ".join(["contains(lower(title), ?)::INT"] * len(terms))
    return frame(
        con,
        f"SELECT {PAPER_COLUMNS}, {title} AS title_hits FROM paper_labels "
        f"WHERE {where} AND {hits} ORDER BY title_hits DESC, submitted_month DESC, arxiv_id "
        "LIMIT ?",
        [*terms, *params, *terms, limit],
    )


def embedding_model(con: duckdb.DuckDBPyConnection) -> str:
    """The model that semantic-search queries must be embedded with."""
    return store.embedding_model(con)


def search_semantic(
    con: duckdb.DuckDBPyConnection,
    vector: list[float],
    f: Filters,
    model: str | None = None,
    limit: int = 50,
    exclude: str | None = None,
) -> pd.DataFrame:
    """Nearest papers to a query vector by cosine similarity of their ``model`` embeddings
    (default: the database's embedding model)."""
    model = model or store.embedding_model(con)
    where, params = f.sql()
    # Rank the vectors first and label only the top ``limit``: the label view is joined for
    # those rows alone (filters, when set, restrict the candidates through a semi-join).
    allowed = (
        ""
        if where == "TRUE"
        else f"AND e.arxiv_id IN (SELECT arxiv_id FROM paper_labels WHERE {where})"
    )
    return frame(
        con,
        f"""
        WITH hits AS (
            SELECT e.arxiv_id,
                   array_cosine_similarity(e.vector, ?::FLOAT[{store.EMBED_DIM}]) AS similarity
            FROM embeddings e
            WHERE e.model = ? AND e.arxiv_id IS DISTINCT FROM ? {allowed}
            ORDER BY similarity DESC, e.arxiv_id LIMIT ?
        )
        SELECT {PAPER_COLUMNS}, h.similarity
        FROM hits h JOIN paper_labels USING (arxiv_id)
        ORDER BY h.similarity DESC, arxiv_id
        """,
        [list(map(float, vector)), model, exclude, *params, limit],
    )


def nearest_papers(
    con: duckdb.DuckDBPyConnection, arxiv_id: str, model: str | None = None, k: int = 8
) -> pd.DataFrame:
    """The ``k`` papers closest to ``arxiv_id`` in embedding space (empty without a vector)."""
    model = model or store.embedding_model(con)
    rows = con.execute(
        "SELECT vector FROM embeddings WHERE arxiv_id = ? AND model = ?", [arxiv_id, model]
    ).fetchall()
    if not rows:
        return papers(con, Filters(), limit=0)
    return search_semantic(con, rows[0][0], Filters(), model, k, exclude=arxiv_id)
