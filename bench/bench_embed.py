"""Embedding throughput and peak memory: ONNX Runtime paths vs plain ``SentenceTransformer.encode``.

    .venv/bin/python bench/bench_embed.py [--n 1002] [--rounds 3] [--all-variants]

Each path encodes the same snapshot abstracts (title + abstract, as litmine embeds them) in
its own fresh process, so the peak RSS is that path's alone. The abstracts are split into
``--rounds`` chunks; round ``r`` runs every path on chunk ``r`` before the next round starts,
so a change in machine load hits all paths alike. The figure is the median round.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import Row, median, peak_rss_mib, run_child, sample_snapshot  # noqa: E402

REFERENCE = "sentence-transformers"
SECTION = "Embedding"


def _load(path: str):  # noqa: ANN202
    """An object with ``encode(texts)`` for one path."""
    if path == REFERENCE:
        from sentence_transformers import SentenceTransformer

        from litmine.onnx_embed import reference_model_dir

        return SentenceTransformer(str(reference_model_dir()), device="cpu")
    from litmine.onnx_embed import OnnxEmbedder

    return OnnxEmbedder(path.removeprefix("onnx-"))


def child(path: str, texts_file: Path, out: Path) -> dict:
    """Load one path, encode the texts once (after a 4-text warm-up); time, RSS, vectors."""
    texts = json.loads(texts_file.read_text())
    t = time.perf_counter()
    model = _load(path)
    model.encode(texts[:4])
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    vecs = np.asarray(model.encode(texts), dtype=np.float32)  # plain defaults for the reference
    took = time.perf_counter() - t
    np.save(out, vecs)
    return {
        "seconds": took,
        "n": len(texts),
        "load_seconds": loaded,
        "peak_rss_mib": peak_rss_mib(),
    }


def paths(all_variants: bool) -> list[str]:
    extra = ["onnx-int8-all"] if all_variants else []
    return [REFERENCE, "onnx-int8", "onnx-fp32", *extra]


def measure(n: int = 1002, rounds: int = 3, all_variants: bool = False) -> tuple[list[Row], dict]:
    """Rows for throughput and memory, and per-path vectors/texts for later benchmarks."""
    from litmine.embed import paper_text

    recs = sample_snapshot(n)
    if not recs:
        return [], {}
    texts = [paper_text(r["title"], r["abstract"]) for r in recs]
    chunks = [texts[i::rounds] for i in range(rounds)]
    names = paths(all_variants)
    rates: dict[str, list[float]] = {p: [] for p in names}
    rss: dict[str, float] = {p: 0.0 for p in names}
    vecs: dict[str, list[np.ndarray]] = {p: [] for p in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r, chunk in enumerate(chunks):
            tf = Path(tmp) / f"texts{r}.json"
            tf.write_text(json.dumps(chunk))
            for p in names:
                out = Path(tmp) / f"{p}-{r}.npy"
                got = run_child([__file__, "--child", p, str(tf), str(out)], timeout=600)
                rates[p].append(got["n"] / got["seconds"])
                rss[p] = max(rss[p], got["peak_rss_mib"])
                vecs[p].append(np.load(out))
    full = {p: np.concatenate(v) for p, v in vecs.items()}
    ordered = [t for c in chunks for t in c]
    ref = full[REFERENCE] / np.linalg.norm(full[REFERENCE], axis=1, keepdims=True)
    base_rate = median(rates[REFERENCE])
    rows = []
    for p in names[1:]:
        cos = (full[p] * ref).sum(axis=1)
        rows.append(
            Row(SECTION, f"{p}: abstracts/s ({len(texts)} abstracts)", median(rates[p]),
                "abstracts/s", rates[p], "SentenceTransformer.encode defaults", base_rate,
                note=f"cosine to reference: min {cos.min():.4f}, mean {cos.mean():.4f}")
        )  # fmt: skip
    for p in names[1:]:
        rows.append(
            Row(SECTION, f"{p}: peak RSS", rss[p], "MiB", [], "SentenceTransformer process",
                rss[REFERENCE], higher_is_better=False)
        )  # fmt: skip
    return rows, {"texts": ordered, "vectors": full}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("PATH", "TEXTS", "OUT"))
    ap.add_argument("--n", type=int, default=1002)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--all-variants", action="store_true")
    args = ap.parse_args()
    if args.child:
        path, texts, out = args.child
        print(json.dumps(child(path, Path(texts), Path(out))))
        return 0
    rows, _ = measure(args.n, args.rounds, args.all_variants)
    if not rows:
        print("skipped: the shared snapshot is absent")
    for r in rows:
        print(
            f"{r.what}: {r.value:,.1f} {r.unit} vs {r.baseline_value:,.1f} ({r.ratio:.2f}x) {r.note}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
