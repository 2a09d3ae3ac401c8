"""Benchmark: the first render of the dashboard's evolution page on 200,000 papers (target < 2 s),
and the map projection on 150,000 embedded papers.

Usage: .venv/bin/python bench/bench_dashboard.py [--papers 200000] [--map-papers 150000]
The database is a synthetic copy scaled up from the seeded test database (tests/dashboard_fixtures);
prints a markdown table. Timings depend on the machine's load, which is printed with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from litmine import embed, projection, store  # noqa: E402
from litmine.config import DEFAULT_MODEL_NAME  # noqa: E402
from litmine.queries.base import Filters, open_readonly, papers  # noqa: E402
from litmine.queries.corpus import month_counts, overview, top_categories  # noqa: E402
from litmine.queries.evolution import monthly_by_axis, monthly_totals  # noqa: E402
from tests import dashboard_fixtures as fx  # noqa: E402

MONTHS = 24


def scale_copy(seed: Path, dst: Path, papers: int) -> Path:
    """A database with ``papers`` papers: the seeded rows replicated over 24 months."""
    n_seed = len(fx.PAPERS)
    reps = -(-papers // n_seed)
    con = store.open_db(dst)
    try:
        con.execute(f"ATTACH '{seed}' AS s (READ_ONLY)")
        con.execute(f"CREATE TEMP TABLE r AS SELECT range AS r FROM range({reps})")
        new_id = "printf('s%06d-%s', r.r, p.arxiv_id)"
        month = f"CAST(DATE '2024-09-01' + to_months(CAST((r.r + hash(p.arxiv_id) % {MONTHS}) % {MONTHS} AS INTEGER)) AS DATE)"
        con.execute(
            f"""INSERT INTO papers SELECT {new_id}, version, title, abstract, authors, categories,
                primary_category, {month}, published, updated, content_hash, source, first_seen,
                last_changed FROM s.papers p, r LIMIT {papers}"""
        )
        con.execute(
            f"""INSERT INTO predictions SELECT {new_id.replace("p.", "x.")}, model_id, content_hash,
                taxonomy_version, x.* EXCLUDE (arxiv_id, model_id, content_hash, taxonomy_version)
                FROM s.predictions x, r WHERE model_id = '{fx.CURRENT_MODEL}'
                AND {new_id.replace("p.", "x.")} IN (SELECT arxiv_id FROM papers)"""
        )
        con.execute(
            f"""INSERT INTO label_events SELECT md5(event_id || r.r), {new_id.replace("p.", "e.")},
                e.* EXCLUDE (event_id, arxiv_id) FROM s.label_events e, r WHERE r.r % 50 = 0
                AND {new_id.replace("p.", "e.")} IN (SELECT arxiv_id FROM papers)"""
        )
        con.execute(
            f"""INSERT INTO methods SELECT {new_id.replace("p.", "m.")}, name, expansion, content_hash
                FROM s.methods m, r WHERE {new_id.replace("p.", "m.")} IN (SELECT arxiv_id FROM papers)"""
        )
        store.set_meta(con, "current_model", fx.CURRENT_MODEL)
        con.execute("DETACH s")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return dst


def time_queries(db: Path) -> list[tuple[str, float]]:
    """The evolution page's loader calls, cold, in page order."""
    steps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    con = open_readonly(db)
    steps.append(("open the database", time.perf_counter() - t0))
    f = Filters()
    calls = [
        ("overview", lambda: overview(con)),
        ("month_counts", lambda: month_counts(con)),
        ("top_categories", lambda: top_categories(con)),
        ("monthly_totals (range)", lambda: monthly_totals(con, f, by_month=False)),
        ("monthly_totals (by month)", lambda: monthly_totals(con, f)),
        *[
            (f"monthly_by_axis {a}", lambda a=a: monthly_by_axis(con, a, f))
            for a in ("provenance", "families", "dominant_role", "interface")
        ],
        ("papers (latest month)", lambda: papers(con, f, None, 500)),
    ]
    for name, call in calls:
        t = time.perf_counter()
        call()
        steps.append((name, time.perf_counter() - t))
    con.close()
    return steps


def time_page(db: Path) -> tuple[float, float]:
    """First (cold cache) and second (cached) AppTest run of the evolution page."""
    import plotly.graph_objects  # noqa: F401  (imported at server start, not per render)
    from streamlit.testing.v1 import AppTest

    os.environ["LITMINE_DB"] = str(db)
    at = AppTest.from_file(str(fx.REPO / "dashboard" / "app.py"), default_timeout=120)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    t = time.perf_counter()
    at.run()
    cached = time.perf_counter() - t
    import streamlit as st

    st.cache_resource.clear()  # close the dashboard's connection
    return first, cached


def time_projection(workdir: Path, n: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``project_map`` on ``n`` clustered synthetic embeddings."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, store.EMBED_DIM))
    vecs = centres[rng.integers(0, 60, n)] + rng.normal(scale=1.2, size=(n, store.EMBED_DIM))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    con = store.open_db(workdir / "map.duckdb")
    try:
        ids = [f"m{i:07d}" for i in range(n)]
        embed.store_vectors(con, DEFAULT_MODEL_NAME, ids, ["h"] * n, vecs)
        wall, cpu = time.perf_counter(), time.process_time()
        placed = projection.project_map(con)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert placed == n
    finally:
        con.close()
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--papers", type=int, default=200_000)
    p.add_argument("--map-papers", type=int, default=150_000, help="0 skips the projection")
    p.add_argument("--workdir", type=Path, help="keep the databases here (default: a temp dir)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="litmine-bench-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for old in work.glob("**/*.duckdb*"):
            old.unlink()
        seed = fx.build_seeded_db(work / "seed" / "litmine.duckdb")
        db = scale_copy(seed, work / "big" / "litmine.duckdb", args.papers)
        steps = time_queries(db)
        first, cached = time_page(db)
        proj = time_projection(work, args.map_papers) if args.map_papers else None
    load = os.getloadavg()[0]
    total = sum(s for _, s in steps)
    print(f"\n{args.papers:,} papers, {os.cpu_count()} CPUs, load average {load:.1f}\n")
    print("| step | seconds | target |\n|---|---:|---|")
    for name, secs in steps:
        print(f"| query: {name} | {secs:.3f} | |")
    print(f"| **all evolution-page queries, cold** | **{total:.3f}** | < 2 s |")
    print(
        f"| **first render of the evolution page (AppTest, cold caches)** | **{first:.3f}** | < 2 s |"
    )
    print(f"| rerun of the evolution page (cached) | {cached:.3f} | |")
    if proj:
        print(
            f"| map projection of {args.map_papers:,} papers (wall / CPU) | {proj[0]:.1f} / {proj[1]:.1f} | well under 60 s |"
        )
    return 0 if max(total, first) < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
