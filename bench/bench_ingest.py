"""Ingest throughput: snapshot load (litmine vs a naive loop) and Atom upsert.

    .venv/bin/python bench/bench_ingest.py [--reps 3] [--naive-rows 5000] [--atom-entries 2000]

Snapshot: ``litmine.ingest.ingest_snapshot`` on the shared snapshot into a fresh database each
rep, and the naive baseline of
``bench/ingest_bench.py`` (``json.loads`` + one ``INSERT`` per row, first ``--naive-rows``
lines, per-line rate extrapolated). Rates are snapshot lines per second.

Atom: a feed of N entries made from snapshot records is parsed with the ``arxiv`` client's own
parser (``arxiv._feed.parse``), converted with ``litmine.crawl.result_to_row`` and upserted
with ``litmine.ingest.ingest_rows`` in one transaction. Baseline: the same parse and rows
inserted one ``INSERT ... ON CONFLICT`` at a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Row, median, sample_snapshot, snapshot_path  # noqa: E402
from ingest_bench import naive  # noqa: E402

from litmine import ingest, store  # noqa: E402
from litmine.config import Scope  # noqa: E402

SNAP = "Snapshot ingest"
ATOM = "Atom parse + upsert"


def _snapshot_once(path: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        con = store.open_db(Path(d) / "b.duckdb")
        try:
            t = time.perf_counter()
            counts = ingest.ingest_snapshot(con, path, Scope())
            return time.perf_counter() - t, counts.fetched
        finally:
            con.close()


def snapshot_rows(reps: int = 3, naive_rows: int = 2000) -> list[Row]:
    path = snapshot_path()
    if path is None:
        return []
    runs: dict[str, list[float]] = {"litmine": [], "naive": []}
    lines = 0
    for _ in range(reps):  # interleaved, so load changes hit every path alike
        took, lines = _snapshot_once(path)
        runs["litmine"].append(lines / took)
        took, n = naive(path, naive_rows)
        runs["naive"].append(n / took)
    base = median(runs["naive"])
    desc = f"row-by-row json.loads + INSERT ({naive_rows:,} lines, extrapolated)"
    return [
        Row(SNAP, f"ingest_snapshot, {lines:,} lines", median(runs["litmine"]), "lines/s",
            runs["litmine"], desc, base),
    ]  # fmt: skip


def atom_feed(recs: list[dict]) -> bytes:
    """An arXiv API Atom page holding one entry per record."""
    t0 = datetime(2025, 6, 1)
    entries = []
    for i, r in enumerate(recs):
        ts = (t0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        cats = (r.get("categories") or "cs.CL").split() or ["cs.CL"]
        authors = "".join(
            f"<author><name>{escape(a.strip())}</name></author>"
            for a in (r.get("authors") or "Anonymous").split(",")[:20]
        )
        entries.append(
            f"<entry><id>http://arxiv.org/abs/{r['id']}v1</id><updated>{ts}</updated>"
            f"<published>{ts}</published><title>{escape(r['title'])}</title>"
            f"<summary>{escape(r['abstract'])}</summary>{authors}"
            f'<arxiv:primary_category term="{cats[0]}"/>'
            + "".join(f'<category term="{c}"/>' for c in cats)
            + "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom">'
        f"<opensearch:totalResults>{len(recs)}</opensearch:totalResults>"
        "<opensearch:startIndex>0</opensearch:startIndex>"
        f"<opensearch:itemsPerPage>{len(recs)}</opensearch:itemsPerPage>"
        + "".join(entries)
        + "</feed>"
    ).encode()


def _parse(feed: bytes) -> list[tuple]:
    from arxiv import _feed

    from litmine.crawl import result_to_row

    rows = [result_to_row(r) for r in _feed.parse(feed).results]
    return [r for r in rows if r is not None]


def _upsert_litmine(feed: bytes) -> float:
    with tempfile.TemporaryDirectory() as d, store.connect(Path(d) / "a.duckdb") as con:
        t = time.perf_counter()
        rows = _parse(feed)
        with store.transaction(con):
            ingest.ingest_rows(con, rows)
        return time.perf_counter() - t


def _upsert_naive(feed: bytes) -> float:
    import hashlib

    with tempfile.TemporaryDirectory() as d, store.connect(Path(d) / "n.duckdb") as con:
        t = time.perf_counter()
        for r in _parse(feed):
            h = hashlib.md5(f"{r[2].lower()}\n{r[3].lower()}".encode()).hexdigest()
            con.execute(
                "INSERT INTO papers VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, now(), now()) "
                "ON CONFLICT DO NOTHING",
                [*r[:7], r[7], r[8], h, r[9]],
            )
        return time.perf_counter() - t


def atom_rows(entries: int = 2000, reps: int = 3) -> list[Row]:
    recs = sample_snapshot(entries, stride=7, offset=3)
    if not recs:
        return []
    feed = atom_feed(recs)
    n = len(_parse(feed))
    fast, slow = [], []
    for _ in range(reps):
        fast.append(_upsert_litmine(feed))
        slow.append(_upsert_naive(feed))
    base = median([n / s for s in slow])
    return [
        Row(ATOM, f"parse + result_to_row + ingest_rows, {n:,} entries ({len(feed) / 1e6:.1f} MB)",
            median([n / s for s in fast]), "records/s", [n / s for s in fast],
            "same parse, one INSERT ... ON CONFLICT per row", base),
    ]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--naive-rows", type=int, default=2000)
    ap.add_argument("--atom-entries", type=int, default=2000)
    args = ap.parse_args()
    rows = snapshot_rows(args.reps, args.naive_rows) + atom_rows(args.atom_entries, args.reps)
    if not rows:
        print("skipped: the shared snapshot is absent")
    for r in rows:
        print(f"{r.what}: {r.value:,.0f} {r.unit} vs {r.baseline_value:,.0f} ({r.ratio:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
