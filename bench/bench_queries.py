"""Dashboard queries at 10k, 100k and 1M papers: evolution page aggregates and semantic top-10.

    .venv/bin/python bench/bench_queries.py [--sizes 10000 100000 1000000] [--reps 3]

Each size is a synthetic copy of the shared snapshot (``bench/synthetic.py``) opened read-only,
as the dashboard opens its published copy. "Evolution aggregates" runs the queries the
evolution page renders from: ``monthly_totals`` (whole range and by month) and
``monthly_by_axis`` for families, dominant role and provenance. "Semantic top-10" is
``litmine.queries.search.search_semantic`` (``array_cosine_similarity`` over every vector,
joined to the labels) for a query vector; the raw scan of the embeddings table alone is shown
beside it.
Figures are medians of ``--reps`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import synthetic  # noqa: E402
from harness import Row, median, snapshot_path  # noqa: E402

from litmine import store  # noqa: E402
from litmine.config import DEFAULT_MODEL_NAME  # noqa: E402
from litmine.queries.base import Filters, open_readonly  # noqa: E402
from litmine.queries.evolution import monthly_by_axis, monthly_totals  # noqa: E402
from litmine.queries.search import search_semantic  # noqa: E402

SECTION = "Dashboard queries"
SIZES = (10_000, 100_000, 1_000_000)


def evolution(con) -> None:  # noqa: ANN001
    f = Filters()
    monthly_totals(con, f, by_month=False)
    monthly_totals(con, f)
    for axis in ("families", "dominant_role", "provenance"):
        monthly_by_axis(con, axis, f)


def semantic(con, vec: list[float]) -> None:  # noqa: ANN001
    search_semantic(con, vec, Filters(), limit=10)


def raw_scan(con, vec: list[float]) -> None:  # noqa: ANN001
    con.execute(
        f"""SELECT arxiv_id FROM embeddings WHERE model = ?
            ORDER BY array_cosine_similarity(vector, ?::FLOAT[{store.EMBED_DIM}]) DESC LIMIT 10""",
        [DEFAULT_MODEL_NAME, vec],
    ).fetchall()


def _time(fn, reps: int) -> list[float]:  # noqa: ANN001
    fn()  # warm-up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def measure(workdir: Path, sizes=SIZES, reps: int = 3) -> tuple[list[Row], dict[int, Path]]:  # noqa: ANN001
    """Rows per size and query, and the databases built (the export benchmark reuses them)."""
    snap = snapshot_path()
    if snap is None:
        return [], {}
    base = synthetic.base_db(snap, workdir / "base.duckdb")
    vec = np.random.default_rng(1).standard_normal(store.EMBED_DIM).astype(np.float32)
    vec = [float(x) for x in vec / np.linalg.norm(vec)]
    results: dict[str, dict[int, list[float]]] = {"evolution": {}, "semantic": {}, "scan": {}}
    dbs, built = {}, {}
    for n in sizes:
        t = time.perf_counter()
        dbs[n] = synthetic.build(base, workdir / f"papers-{n}.duckdb", n)
        built[n] = time.perf_counter() - t
        con = open_readonly(dbs[n])
        try:
            results["evolution"][n] = _time(lambda c=con: evolution(c), reps)
            results["semantic"][n] = _time(lambda c=con: semantic(c, vec), reps)
            results["scan"][n] = _time(lambda c=con: raw_scan(c, vec), reps)
        finally:
            con.close()
    names = {
        "evolution": "evolution page aggregates (5 queries)",
        "semantic": "semantic top-10 (search_semantic)",
        "scan": "semantic top-10, embeddings scan alone",
    }
    rows, small = [], sizes[0]
    for key, label in names.items():
        for n in sizes:
            runs = results[key][n]
            growth = median(runs) / median(results[key][small])
            rows.append(
                Row(SECTION, f"{label}, {n:,} papers", median(runs), "ms", runs,
                    f"same query at {small:,} papers", median(results[key][small]),
                    higher_is_better=False,
                    ratio_text=f"{growth:.1f}x the cost for {n // small:,}x the papers",
                    note=f"database built in {built[n]:.0f} s" if key == "evolution" else "")
            )  # fmt: skip
    return rows, dbs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = measure(Path(tmp), tuple(args.sizes), args.reps)
    if not rows:
        print("skipped: the shared snapshot is absent")
    for r in rows:
        print(f"{r.what}: {r.value:,.1f} ms ({r.ratio_text}) {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
