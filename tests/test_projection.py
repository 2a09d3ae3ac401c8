"""The 2-D map projection: fitted once, incremental, stable, and faithful to neighbourhoods."""

from __future__ import annotations

import json

import numpy as np
import pytest

from litmine import embed, ingest, projection, store
from litmine.config import DEFAULT_MODEL_NAME
from tests import dashboard_fixtures as fx

MODEL = DEFAULT_MODEL_NAME


def coords(con) -> dict[str, tuple[float, float]]:
    rows = con.execute("SELECT arxiv_id, x, y FROM map_coords ORDER BY arxiv_id").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def clustered(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors around ``k`` random centres, with their cluster ids."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, store.EMBED_DIM))
    labels = rng.integers(0, k, n)
    vecs = centres[labels] + rng.normal(scale=0.6, size=(n, store.EMBED_DIM))
    return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32), labels


def add_vectors(con, ids: list[str], vecs: np.ndarray) -> None:
    embed.store_vectors(con, MODEL, ids, ["h"] * len(ids), vecs)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return fx.shared_seeded_db(tmp_path_factory)


def test_seeded_papers_are_mapped_by_topic(seeded, tmp_path):
    """Real embeddings of the fixture's abstracts: papers of one topic sit closer together."""
    con = store.open_db(fx.copy_db(seeded, tmp_path))
    try:
        xy = coords(con)
        assert len(xy) == len(fx.PAPERS)
        assert projection.project_map(con) == 0  # nothing missing: a second run is a no-op
    finally:
        con.close()
    topic = {fx.arxiv_id(i): p[1] or "none" for i, p in enumerate(fx.PAPERS)}
    ids = sorted(xy)
    pts = np.array([xy[i] for i in ids])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    same = np.array([[topic[a] == topic[b] for b in ids] for a in ids])
    off = ~np.eye(len(ids), dtype=bool)
    assert d[same & off].mean() < 0.8 * d[~same].mean()


def test_new_papers_are_placed_without_moving_old_ones(seeded, tmp_path):
    db = fx.copy_db(seeded, tmp_path)
    con = store.open_db(db)
    try:
        before = coords(con)
        reference = json.loads(store.get_meta(con, projection.reference_key(MODEL)))
        assert sorted(reference) == sorted(before)  # small corpus: every paper is a reference
        grpo = [fx.arxiv_id(i) for i, p in enumerate(fx.PAPERS) if p[1] == "grpo"]
        rows = [("2509.00001", 1, "Group relative policy optimization for theorem proving",
                 "We train a prover with Group Relative Policy Optimization (GRPO) and verifiable "
                 "proof-checker rewards, sampling several proofs per statement.",
                 "X", ["cs.LG"], "cs.LG", None, None, "test")]  # fmt: skip
        with store.transaction(con):
            ingest.ingest_rows(con, rows)
        embed.embed_missing(con)
        assert projection.project_map(con) == 1
        after = coords(con)
    finally:
        con.close()
    assert {k: after[k] for k in before} == before
    new = np.array(after["2509.00001"])
    nearest = min(before, key=lambda k: np.linalg.norm(np.array(before[k]) - new))
    assert nearest in grpo


def test_reference_sample_then_interpolation(tmp_path):
    """More papers than the sample: t-SNE on the sample, neighbours place the rest."""
    vecs, labels = clustered(1500, 6)
    ids = [f"p{i:05d}" for i in range(len(vecs))]
    con = store.open_db(tmp_path / "big.duckdb")
    try:
        add_vectors(con, ids, vecs)
        assert projection.project_map(con, sample_size=300) == 1500
        reference = json.loads(store.get_meta(con, projection.reference_key(MODEL)))
        xy = coords(con)
        runs = con.execute("SELECT stage, status FROM runs WHERE stage = 'map'").fetchall()
    finally:
        con.close()
    assert len(reference) == 300 and len(xy) == 1500 and runs == [("map", "ok")]
    pts = np.array([xy[i] for i in ids])
    assert np.isfinite(pts).all()
    # each placed point lies nearest to the centroid of its own cluster in the map
    centroids = np.array([pts[labels == c].mean(0) for c in range(6)])
    nearest = np.linalg.norm(pts[:, None] - centroids[None], axis=2).argmin(1)
    assert (nearest == labels).mean() > 0.95


def test_existing_coordinates_without_reference_are_adopted(tmp_path):
    vecs, _ = clustered(200, 3, seed=1)
    ids = [f"q{i:04d}" for i in range(200)]
    con = store.open_db(tmp_path / "legacy.duckdb")
    try:
        add_vectors(con, ids[:150], vecs[:150])
        projection.project_map(con, sample_size=100)
        con.execute("DELETE FROM meta")  # an older layout that stored no reference
        before = coords(con)
        add_vectors(con, ids[150:], vecs[150:])
        assert projection.project_map(con, sample_size=100) == 50
        after = coords(con)
        assert store.get_meta(con, projection.reference_key(MODEL)) is None
    finally:
        con.close()
    assert {k: after[k] for k in before} == before and len(after) == 200


def test_tiny_corpora(tmp_path):
    con = store.open_db(tmp_path / "tiny.duckdb")
    try:
        assert projection.project_map(con) == 0
        vecs, _ = clustered(3, 2)
        add_vectors(con, ["a", "b", "c"], vecs)
        assert projection.project_map(con) == 3
        assert np.isfinite(np.array(list(coords(con).values()))).all()
    finally:
        con.close()
