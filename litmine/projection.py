"""The 2-D paper map: a t-SNE layout fitted once on a sample, later papers placed beside neighbours.

The first run fits PCA(50) and t-SNE on up to ``sample_size`` embeddings; those papers are the
*reference*: their coordinates go to ``map_coords`` and their ids to ``meta`` (key
``map_reference:<model>``). Every run then places each embedded paper that has no coordinates at
the distance-weighted mean of its nearest reference papers (in a PCA space fitted on the reference
vectors). Old points never move, so the map is stable from one nightly run to the next.
"""

from __future__ import annotations

import json
import logging

import duckdb
import numpy as np
import pyarrow as pa

from litmine import store

log = logging.getLogger(__name__)

PCA_DIM = 50


def reference_key(model: str) -> str:
    return f"map_reference:{model}"


def _vectors(table: pa.Table | pa.RecordBatch) -> np.ndarray:
    col = table.column("vector")
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), -1).astype(np.float32)


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pa.Table:
    """Query results as Arrow, read on a cursor of their own (committed data only)."""
    with con.cursor() as cur:
        return cur.sql(sql, params=params).to_arrow_table()


def _missing_sql(model: str) -> tuple[str, list]:
    return (
        "SELECT e.arxiv_id, e.vector FROM embeddings e "
        "ANTI JOIN map_coords m ON m.arxiv_id = e.arxiv_id AND m.model = e.model "
        "WHERE e.model = ? ORDER BY e.arxiv_id",
        [model],
    )


def count_missing(con: duckdb.DuckDBPyConnection, model: str) -> int:
    """Embedded papers not yet on the map."""
    sql, params = _missing_sql(model)
    return con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]


def _pca(vectors: np.ndarray):  # noqa: ANN202  (sklearn estimator)
    from sklearn.decomposition import PCA

    n = min(PCA_DIM, vectors.shape[0], vectors.shape[1])
    return PCA(n_components=n, svd_solver="covariance_eigh").fit(vectors)


def layout(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE coordinates (after PCA) for up to a few thousand vectors."""
    n = vectors.shape[0]
    if n < 5:  # too few points for t-SNE: the first principal components will do
        low = _pca(vectors).transform(vectors) if n > 1 else np.zeros((n, 2))
        return np.pad(low[:, :2], ((0, 0), (0, max(0, 2 - low.shape[1])))).astype(np.float32)
    from sklearn.manifold import TSNE

    low = _pca(vectors).transform(vectors)
    tsne = TSNE(
        n_components=2,
        perplexity=min(30.0, (n - 1) / 3),
        init="pca",
        learning_rate="auto",
        max_iter=500,
        angle=0.7,
        random_state=seed,
    )
    return tsne.fit_transform(low).astype(np.float32)


def _fit_reference(
    con: duckdb.DuckDBPyConnection, model: str, sample_size: int, seed: int
) -> list[str]:
    """Lay out a fixed hash sample of embedded papers and store it as the reference."""
    table = _arrow(
        con,
        "SELECT arxiv_id, vector FROM embeddings WHERE model = ? "
        "ORDER BY hash(arxiv_id || ?), arxiv_id LIMIT ?",
        [model, str(seed), sample_size],
    )
    ids = table.column("arxiv_id").to_pylist()
    coords = layout(_vectors(table), seed)
    log.info("fitted the map layout on %d reference papers", len(ids))
    with store.transaction(con):
        _store_coords(con, model, ids, coords)
        store.set_meta(con, reference_key(model), json.dumps(ids))
    return ids


def _reference(con: duckdb.DuckDBPyConnection, model: str, sample_size: int, seed: int):
    """Reference ids, their vectors and coordinates; fits the layout on the first run."""
    raw = store.get_meta(con, reference_key(model))
    if raw:
        ids = json.loads(raw)
    else:
        # coordinates from an earlier layout without a stored reference: adopt a sample of them
        ids = [
            r[0]
            for r in con.execute(
                "SELECT arxiv_id FROM map_coords WHERE model = ? ORDER BY hash(arxiv_id) LIMIT ?",
                [model, sample_size],
            ).fetchall()
        ] or _fit_reference(con, model, sample_size, seed)
    table = _arrow(
        con,
        "SELECT e.arxiv_id, e.vector, m.x, m.y FROM embeddings e "
        "JOIN map_coords m ON m.arxiv_id = e.arxiv_id AND m.model = e.model "
        "WHERE e.model = ? AND e.arxiv_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY e.arxiv_id",
        [model, ids],
    )
    xy = np.column_stack([table.column("x").to_numpy(), table.column("y").to_numpy()])
    return _vectors(table), xy.astype(np.float32)


def interpolate(
    vectors: np.ndarray, ref_low: np.ndarray, ref_xy: np.ndarray, pca, k: int = 8
) -> np.ndarray:
    """Place vectors at the inverse-square-distance mean of their ``k`` nearest references."""
    low = pca.transform(vectors).astype(np.float32)
    k = min(k, ref_low.shape[0])
    d2 = (low * low).sum(1)[:, None] + (ref_low * ref_low).sum(1)[None, :] - 2.0 * low @ ref_low.T
    np.maximum(d2, 0.0, out=d2)
    idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
    near = np.take_along_axis(d2, idx, axis=1)
    w = 1.0 / (near + 1e-9)
    w /= w.sum(1, keepdims=True)
    return np.einsum("nk,nkd->nd", w, ref_xy[idx]).astype(np.float32)


def _store_coords(
    con: duckdb.DuckDBPyConnection, model: str, ids: list[str], xy: np.ndarray
) -> None:
    batch = pa.table({"arxiv_id": ids, "x": xy[:, 0], "y": xy[:, 1]})
    con.register("_map_batch", batch)
    try:
        con.execute(
            "INSERT OR REPLACE INTO map_coords SELECT arxiv_id, ?, x, y FROM _map_batch", [model]
        )
    finally:
        con.unregister("_map_batch")


def project_map(
    con: duckdb.DuckDBPyConnection,
    model: str | None = None,
    sample_size: int = 3000,
    k: int = 8,
    seed: int = 0,
    batch_size: int = 4096,
    threads: int | None = 1,
) -> int:
    """Give map coordinates to every paper embedded with ``model`` that has none; return how many.

    ``model`` defaults to the database's embedding model (:func:`litmine.store.embedding_model`).

    Runs only the missing work: a second call with no new embeddings returns 0. ``threads`` caps
    the BLAS/OpenMP threads: on a shared machine spinning worker threads made t-SNE and PCA
    several times slower than one thread (8.7 s against 33 s for a 3,000-paper layout).
    """
    model = model or store.embedding_model(con)
    sql, params = _missing_sql(model)
    todo = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0]
    if todo == 0:
        return 0  # before importing scikit-learn: a no-op nightly stays fast
    # threadpoolctl limits only the libraries already loaded: load scikit-learn's first.
    import sklearn.decomposition  # noqa: F401
    import sklearn.manifold  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _project(con, model, todo, sample_size, k, seed, batch_size)


def _project(
    con: duckdb.DuckDBPyConnection,
    model: str,
    todo: int,
    sample_size: int,
    k: int,
    seed: int,
    batch_size: int,
) -> int:
    sql, params = _missing_sql(model)
    run_id = store.start_run(con, "map", params=model)
    try:
        ref_vecs, ref_xy = _reference(con, model, sample_size, seed)
        pca = _pca(ref_vecs)
        ref_low = pca.transform(ref_vecs).astype(np.float32)
        ids: list[str] = []
        parts: list[np.ndarray] = []
        with con.cursor() as reader:
            for batch in reader.sql(sql, params=params).to_arrow_reader(batch_size):
                ids += batch.column("arxiv_id").to_pylist()
                parts.append(interpolate(_vectors(batch), ref_low, ref_xy, pca, k))
        if ids:
            with store.transaction(con):
                _store_coords(con, model, ids, np.concatenate(parts))
    except BaseException as exc:
        store.finish_run(con, run_id, "failed", error=repr(exc))
        raise
    done = con.execute("SELECT count(*) FROM map_coords WHERE model = ?", [model]).fetchall()[0][0]
    log.info("map: %d papers placed (%d on the map)", todo, done)
    store.finish_run(con, run_id, "ok", {"fetched": todo, "inserted": todo})
    return todo
