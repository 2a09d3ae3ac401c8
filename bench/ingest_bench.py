"""Snapshot ingest throughput: litmine's DuckDB path vs a naive row-by-row insert, same run.

    .venv/bin/python bench/ingest_bench.py [--snapshot ../shared/data/arxiv-snapshot.jsonl.gz]
        [--reps 3] [--naive-rows 5000]

Prints a Markdown table. The naive path parses each line with ``json.loads`` in Python and
inserts each in-scope record with one ``INSERT`` (the same ``papers`` schema, same scope filter);
it runs on the first ``--naive-rows`` lines and its per-record rate is extrapolated.
Skips cleanly when the shared snapshot is absent.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from litmine import ingest, store  # noqa: E402
from litmine.config import Scope  # noqa: E402

DEFAULT = REPO.parent / "shared" / "data" / "arxiv-snapshot.jsonl.gz"


def fast(path: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        con = store.open_db(Path(d) / "b.duckdb")
        t = time.perf_counter()
        counts = ingest.ingest_snapshot(con, path, Scope())
        took = time.perf_counter() - t
        con.close()
    return took, counts.fetched


def naive(path: Path, limit: int) -> tuple[float, int]:
    scope = set(Scope().categories)
    with tempfile.TemporaryDirectory() as d:
        con = store.open_db(Path(d) / "n.duckdb")
        t = time.perf_counter()
        n = 0
        with gzip.open(path, "rt") as f:
            for line in f:
                n += 1
                if n > limit:
                    n -= 1
                    break
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                cats = (r.get("categories") or "").split()
                if not scope & set(cats) or not r.get("abstract") or not r.get("title"):
                    continue
                title, abstract = " ".join(r["title"].split()), " ".join(r["abstract"].split())
                h = hashlib.md5(f"{title.lower()}\n{abstract.lower()}".encode()).hexdigest()
                con.execute(
                    "INSERT INTO papers VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, 'snapshot', "
                    "now(), now()) ON CONFLICT DO NOTHING",
                    [
                        r["id"],
                        max(len(r.get("versions") or []), 1),
                        title,
                        abstract,
                        r.get("authors"),
                        cats,
                        cats[0],
                        h,
                    ],
                )
        took = time.perf_counter() - t
        con.close()
    return took, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snapshot", type=Path, default=DEFAULT)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--naive-rows", type=int, default=5000)
    args = ap.parse_args()
    if not args.snapshot.exists():
        print(f"skipped: {args.snapshot} not found")
        return 0
    fast_runs = [fast(args.snapshot) for _ in range(args.reps)]
    naive_runs = [naive(args.snapshot, args.naive_rows) for _ in range(args.reps)]
    f_rate = statistics.median(n / t for t, n in fast_runs)
    n_rate = statistics.median(n / t for t, n in naive_runs)
    print("| path | records | median seconds | records/s |")
    print("|---|---|---|---|")
    print(
        f"| litmine ingest_snapshot (DuckDB) | {fast_runs[0][1]:,} | "
        f"{statistics.median(t for t, _ in fast_runs):.2f} | {f_rate:,.0f} |"
    )
    print(
        f"| naive json.loads + INSERT per row | {naive_runs[0][1]:,} | "
        f"{statistics.median(t for t, _ in naive_runs):.2f} | {n_rate:,.0f} |"
    )
    print(f"\nratio: {f_rate / n_rate:.1f}x (median of {args.reps} runs each, same process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
