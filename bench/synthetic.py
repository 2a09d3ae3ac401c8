"""Scaled synthetic databases: copies of the shared snapshot with predictions and random vectors.

The papers are the snapshot's in-scope records loaded by ``litmine.ingest.ingest_snapshot``,
repeated under new ids (``<id>-r<k>``) until the wanted size; their submission months are kept,
so each month grows in proportion. Predictions are drawn per paper from a hash of its id
(about 40% post-training, labels spread over every axis); vectors are random unit vectors.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from litmine import ingest, store
from litmine.config import DEFAULT_MODEL_NAME, Scope
from litmine.taxonomy import AXES, TAXONOMY_VERSION

log = logging.getLogger(__name__)

MODEL_ID = "lm-synthetic"


def base_db(snapshot: Path, path: Path) -> Path:
    """The snapshot's in-scope papers, loaded the way litmine loads them."""
    if not path.exists():
        with store.connect(path) as con:
            ingest.ingest_snapshot(con, snapshot, Scope())
    return path


def _pick(axis: str, salt: int) -> str:
    """A SQL expression choosing one label of ``axis`` from a hash of the paper id."""
    labels = list(AXES[axis].labels)
    arr = "[" + ", ".join(f"'{x}'" for x in labels) + "]"
    return f"{arr}[1 + (hash(p.arxiv_id || '{salt}') % {len(labels)})::INTEGER]"


def _multi(axis: str, salt: int) -> str:
    """One or two labels of a multi-label axis."""
    one, two = _pick(axis, salt), _pick(axis, salt + 1)
    return f"list_distinct([{one}, {two}][1:1 + (hash(p.arxiv_id || 'n{salt}') % 2)::INTEGER])"


def _probs(axis: str) -> str:
    return "json_object(" + ", ".join(f"'{x}', 0.5" for x in AXES[axis].labels) + ")"


def build(base: Path, path: Path, papers: int, seed: int = 0) -> Path:
    """A database of ``papers`` papers at ``path`` (reused when it already has that many)."""
    with store.connect(path) as con:
        have = con.execute("SELECT count(*) FROM papers").fetchone()[0]
        if have == papers:
            return path
        con.execute(f"ATTACH '{base}' AS b (READ_ONLY)")
        n_base = con.execute("SELECT count(*) FROM b.papers").fetchone()[0]
        reps = -(-papers // n_base)
        con.execute(
            f"""
            INSERT INTO papers
            SELECT p.arxiv_id || '-r' || r.range, p.* EXCLUDE (arxiv_id)
            FROM b.papers p, range({reps}) r
            ORDER BY r.range, p.arxiv_id LIMIT {papers}
            """
        )
        con.execute("DETACH b")
        _predictions(con)
        _vectors(con, seed)
        store.set_meta(con, "current_model", MODEL_ID)
        con.execute("CHECKPOINT")
    return path


def _predictions(con) -> None:  # noqa: ANN001
    con.execute(
        f"""
        INSERT INTO predictions
        SELECT p.arxiv_id, '{MODEL_ID}', p.content_hash, '{TAXONOMY_VERSION}',
            pt, CASE WHEN pt THEN 0.9 ELSE 0.1 END,
            CASE WHEN pt THEN {_pick("provenance", 1)} END, 0.8,
            CASE WHEN pt THEN {_multi("interface", 2)} ELSE [] END, {_probs("interface")},
            CASE WHEN pt THEN {_multi("roles", 4)} ELSE [] END, {_probs("roles")},
            CASE WHEN pt THEN {_pick("dominant_role", 6)} END, 0.7,
            CASE WHEN pt THEN {_multi("families", 7)} ELSE [] END, {_probs("families")},
            CASE WHEN pt THEN {_pick("contribution", 9)} END, 0.6,
            pt AND hash(p.arxiv_id || 'b') % 10 = 0, NULL, now()::TIMESTAMP
        FROM (SELECT *, hash(arxiv_id) % 5 < 2 AS pt FROM papers) p
        """
    )


def _vectors(con, seed: int, chunk: int = 100_000) -> None:  # noqa: ANN001
    rows = con.execute("SELECT arxiv_id, content_hash FROM papers ORDER BY arxiv_id").fetchall()
    ids, hashes = [r[0] for r in rows], [r[1] for r in rows]
    rng = np.random.default_rng(seed)
    ts = store.now()
    for i in range(0, len(ids), chunk):
        v = rng.standard_normal((len(ids[i : i + chunk]), store.EMBED_DIM), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        flat = pa.array(v.ravel(), type=pa.float32())
        batch = pa.table(
            {
                "arxiv_id": ids[i : i + chunk],
                "content_hash": hashes[i : i + chunk],
                "vector": pa.FixedSizeListArray.from_arrays(flat, store.EMBED_DIM),
            }
        )
        con.register("_v", batch)
        con.execute(
            f"""INSERT INTO embeddings SELECT arxiv_id, '{DEFAULT_MODEL_NAME}', content_hash,
                vector::FLOAT[{store.EMBED_DIM}], ? FROM _v""",
            [ts],
        )
        con.unregister("_v")
