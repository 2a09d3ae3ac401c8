"""The ONNX Runtime embedding path: builds offline, agrees with the reference, is deterministic."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from litmine import embed, ingest, onnx_embed, store  # noqa: E402
from litmine.errors import LitmineError  # noqa: E402

TEXTS = [
    "Direct preference optimization aligns a language model without a reward model.",
    "We fine-tune a small model on synthetic instructions written by a larger teacher.",
    "A benchmark of graph algorithms.",
    "Reinforcement learning with verifiable rewards improves mathematical reasoning. " * 40,
    "Quantization of convolutional networks for image classification on mobile phones, "
    "with a study of per-channel scales and mixed precision.",
]


class _NoNetwork(OSError):
    pass


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """fp32 and int8 models built from scratch in a temporary cache with the network cut off."""
    cache = tmp_path_factory.mktemp("onnx")

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise _NoNetwork("network access during an offline build")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        fp32 = onnx_embed.OnnxEmbedder("fp32", cache=cache)
        int8 = onnx_embed.OnnxEmbedder("int8", cache=cache)
    return {"cache": cache, "fp32": fp32, "int8": int8}


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return embed.load_embedder(embed.REFERENCE_MODEL_NAME).encode(TEXTS)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_builds_offline_into_the_cache(built: dict) -> None:
    files = sorted(p.name for p in built["cache"].glob("*.onnx"))
    assert len(files) == 2
    assert any("-fp32-" in f for f in files) and any("-int8-" in f for f in files)
    assert not list(built["cache"].glob(".build-*")), "temporary build folders are removed"


def test_vectors_agree_with_the_reference(built: dict, reference: np.ndarray) -> None:
    for variant, floor in (("fp32", 0.9999), ("int8", 0.99)):
        vecs = built[variant].encode(TEXTS)
        assert vecs.dtype == np.float32 and vecs.shape == (len(TEXTS), 384)
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        cos = _cos(vecs, reference)
        assert cos.min() >= floor, (variant, cos)
    # and they still tell texts apart: each text is nearest to its own reference vector
    sims = built["int8"].encode(TEXTS) @ reference.T
    assert list(sims.argmax(axis=1)) == list(range(len(TEXTS)))


def test_degenerate_texts_still_give_unit_vectors(built: dict) -> None:
    for variant in ("fp32", "int8"):
        vecs = built[variant].encode(["", "a"])
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_long_texts_are_truncated_like_the_reference(built: dict, reference: np.ndarray) -> None:
    longer = TEXTS[3] + " An extra closing sentence far past the token limit." * 20
    vec = built["fp32"].encode([longer])
    assert float(_cos(vec, reference[3:4])[0]) > 0.9999


def test_encoding_is_deterministic(built: dict) -> None:
    for variant in ("fp32", "int8"):
        first, second = built[variant].encode(TEXTS), built[variant].encode(TEXTS)
        assert np.array_equal(first, second)
    # fp32 does not depend on batch composition or input order
    fp32 = built["fp32"]
    forward, backward = fp32.encode(TEXTS), fp32.encode(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(forward, backward, atol=1e-5)


def test_build_is_byte_identical_and_cached(built: dict, tmp_path: Path) -> None:
    again = onnx_embed.build("fp32", out_dir=tmp_path)
    cached = onnx_embed.build("fp32", out_dir=built["cache"])
    assert again.name == cached.name
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (again, cached)]
    assert digest[0] == digest[1]
    mtime = again.stat().st_mtime_ns
    assert onnx_embed.build("fp32", out_dir=tmp_path) == again
    assert again.stat().st_mtime_ns == mtime, "a second build reuses the cached file"


def test_registered_under_distinct_names(built: dict) -> None:
    assert onnx_embed.ONNX_INT8_NAME in embed.EMBEDDERS
    assert onnx_embed.ONNX_FP32_NAME in embed.EMBEDDERS
    emb = embed.load_embedder(onnx_embed.ONNX_INT8_NAME, cache=built["cache"])
    assert emb.name == onnx_embed.ONNX_INT8_NAME == embed.DEFAULT_MODEL_NAME
    assert embed.load_embedder(embed.REFERENCE_MODEL_NAME).name == "all-MiniLM-L6-v2"
    assert emb.dim == store.EMBED_DIM
    assert emb.encode([]).shape == (0, 384)


def test_unknown_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LitmineError, match="unknown ONNX variant"):
        onnx_embed.build("int4", out_dir=tmp_path)


def test_embed_missing_stores_vectors_under_the_onnx_name(built: dict, tmp_path: Path) -> None:
    rows = [
        (f"2601.0000{i}", 1, f"Paper {i}", text or "An abstract.", "A. Author", ["cs.CL"], "cs.CL")
        + (None, None, "arxiv-api")
        for i, text in enumerate(TEXTS[:3])
    ]
    with store.connect(tmp_path / "t.duckdb") as con:
        with store.transaction(con):
            ingest.ingest_rows(con, rows)
        emb = built["int8"]
        assert embed.embed_missing(con, emb) == 3
        assert embed.embed_missing(con, emb) == 0
        got = con.execute("SELECT DISTINCT model FROM embeddings").fetchall()
        assert got == [(onnx_embed.ONNX_INT8_NAME,)]
        assert embed.count_missing(con, embed.REFERENCE_MODEL_NAME) == 3


def test_cache_falls_back_to_the_temp_dir_when_unwritable(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LITMINE_ONNX_CACHE", str(blocker / "onnx"))
    assert onnx_embed.cache_dir() == blocker / "onnx"
    got = onnx_embed._writable(onnx_embed.cache_dir())
    assert got != blocker / "onnx" and got.name.startswith("litmine-onnx-")
    monkeypatch.setenv("LITMINE_ONNX_CACHE", str(tmp_path / "ok"))
    assert onnx_embed._writable(onnx_embed.cache_dir()) == tmp_path / "ok"
