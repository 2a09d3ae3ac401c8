"""Embedding throughput and peak memory: ONNX Runtime paths vs plain ``SentenceTransformer.encode``.

    .venv/bin/python bench/bench_embed.py [--n 1002] [--rounds 3] [--all-variants]

Each path encodes the same snapshot abstracts (title + abstract, as litmine embeds them) in
its own worker process, so the peak RSS is that path's alone. Chunks of 96 abstracts go to
every path in turn, so a change in machine load hits all paths alike; the figure is the
median of ``--rounds`` rounds (a third of the abstracts each). CPU-seconds are reported too:
they move less than wall time when other jobs share the cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import PYTHON, Row, median, peak_rss_mib, sample_snapshot  # noqa: E402

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


def worker(path: str) -> None:
    """Serve encode requests on stdin/stdout: one JSON line in, one JSON line out."""
    t = time.perf_counter()
    model = _load(path)
    model.encode(["warm-up text"] * 4)
    print(json.dumps({"ready": time.perf_counter() - t}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        t, cpu = time.perf_counter(), time.process_time()
        vecs = np.asarray(model.encode(req["texts"]), dtype=np.float32)  # plain defaults
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        np.save(req["out"], vecs)
        print(json.dumps({"seconds": took, "cpu": cpu, "peak_rss_mib": peak_rss_mib()}), flush=True)


class Worker:
    """One path's process, model loaded once; the parent hands it chunks in turn."""

    def __init__(self, path: str):
        self.proc = subprocess.Popen(
            [PYTHON, __file__, "--worker", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.load_seconds = self._reply()["ready"]

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("embedding worker died; run it alone to see its error")
        return json.loads(line)

    def encode(self, texts: list[str], out: Path) -> dict:
        self.proc.stdin.write(json.dumps({"texts": texts, "out": str(out)}) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def paths(all_variants: bool) -> list[str]:
    extra = ["onnx-int8-all"] if all_variants else []
    return [REFERENCE, "onnx-int8", "onnx-fp32", *extra]


def measure(
    n: int = 1002, rounds: int = 3, all_variants: bool = False, chunk: int = 96
) -> tuple[list[Row], dict]:
    """Rows for throughput and memory, and per-path vectors/texts for later benchmarks.

    Every path runs in its own worker process; chunks of ``chunk`` texts go to each path in
    turn (the order rotating), so load changes on the shared machine hit all paths alike.
    A round is a third of the texts; the figure is the median round.
    """
    from litmine.embed import paper_text

    recs = sample_snapshot(n)
    if not recs:
        return [], {}
    texts = [paper_text(r["title"], r["abstract"]) for r in recs]
    names = paths(all_variants)
    starts = list(range(0, len(texts), chunk))
    rounds = min(rounds, len(starts))
    count = [0] * rounds
    wall = {p: [0.0] * rounds for p in names}
    cpu = {p: [0.0] * rounds for p in names}
    rss: dict[str, float] = {}
    vecs: dict[str, list[np.ndarray]] = {p: [] for p in names}
    workers = {p: Worker(p) for p in names}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for k, start in enumerate(starts):
                part, r = texts[start : start + chunk], k * rounds // len(starts)
                count[r] += len(part)
                order = names[k % len(names) :] + names[: k % len(names)]
                for p in order:
                    out = Path(tmp) / f"{p}-{k}.npy"
                    got = workers[p].encode(part, out)
                    wall[p][r] += got["seconds"]
                    cpu[p][r] += got["cpu"]
                    rss[p] = got["peak_rss_mib"]
                    vecs[p].append(np.load(out))
    finally:
        for w in workers.values():
            w.close()
    rate = {p: [m / s for m, s in zip(count, wall[p], strict=True)] for p in names}
    cpu_rate = {p: len(texts) / sum(cpu[p]) for p in names}
    full = {p: np.concatenate(v) for p, v in vecs.items()}
    ref = full[REFERENCE] / np.linalg.norm(full[REFERENCE], axis=1, keepdims=True)
    base = median(rate[REFERENCE])
    rows = []
    for p in names[1:]:
        cos = (full[p] * ref).sum(axis=1)
        rows.append(
            Row(SECTION, f"{p}: abstracts/s ({len(texts):,} abstracts)", median(rate[p]),
                "abstracts/s", rate[p], "SentenceTransformer.encode defaults", base,
                note=f"per CPU-second: {cpu_rate[p]:.1f} vs {cpu_rate[REFERENCE]:.1f} "
                f"({cpu_rate[p] / cpu_rate[REFERENCE]:.2f}x); cosine to reference: "
                f"min {cos.min():.4f}, mean {cos.mean():.4f}")
        )  # fmt: skip
    for p in names[1:]:
        rows.append(
            Row(SECTION, f"{p}: peak RSS", rss[p], "MiB", [], "SentenceTransformer process",
                rss[REFERENCE], higher_is_better=False,
                note=f"model load {workers[p].load_seconds:.1f} s vs "
                f"{workers[REFERENCE].load_seconds:.1f} s")
        )  # fmt: skip
    return rows, {"texts": texts, "vectors": full}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", metavar="PATH", help="internal: serve one path's encode requests")
    ap.add_argument("--n", type=int, default=1002)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--all-variants", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
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
