"""Pipeline stages: classification papers/s, ``litmine nightly`` with nothing new, Parquet export.

    .venv/bin/python bench/bench_pipeline.py [--reps 3] [--papers 300]

Classification: ``litmine.classify.predict_missing`` (read vectors, predict every axis with
evidence sentences, store) on snapshot papers in a temporary database, with the trained model
in ``models/``. Nightly: the ``litmine nightly`` CLI in a fresh process, on a database where
everything is already done, once with ``--snapshot`` (offline) and once crawling a loopback
arXiv API that has nothing new (cursor at now, the 3-day overlap re-read, the polite
``--delay`` set to 0 so the figure is litmine's own time). Export: ``litmine.export`` of
100,000 synthetic papers to Parquet, against DuckDB's own ``COPY ... TO parquet``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import PYTHON, REPO, Row, median, pending, sample_snapshot  # noqa: E402

from litmine import embed, ingest, store  # noqa: E402
from litmine.config import models_dir  # noqa: E402
from litmine.embed import paper_text  # noqa: E402

CLASSIFY, NIGHTLY, EXPORT = "Classification", "Nightly, nothing new", "Export"


def _rows(recs: list[dict]) -> list[tuple]:
    out = []
    for r in recs:
        cats = (r.get("categories") or "cs.CL").split() or ["cs.CL"]
        out.append((r["id"], 1, r["title"], r["abstract"], r.get("authors"), cats, cats[0]) + (None, None, "snapshot"))  # fmt: skip
    return out


def _vectors(recs: list[dict], known: dict[str, np.ndarray]) -> np.ndarray:
    """Reference vectors measured by the embedding benchmark, else random unit vectors."""
    rng = np.random.default_rng(0)
    out = []
    for r in recs:
        v = known.get(paper_text(r["title"], r["abstract"]))
        if v is None:
            v = rng.standard_normal(store.EMBED_DIM).astype(np.float32)
        out.append(v / np.linalg.norm(v))
    return np.stack(out)


def classify_rows(papers: int, reps: int, known: dict, embed_rate: float | None) -> list[Row]:
    try:
        from litmine import classify

        card = classify.read_card()
    except Exception as exc:  # noqa: BLE001 - any reason the model is unusable
        return [pending(CLASSIFY, "predict_missing, papers/s", f"not yet available: {exc}")]
    recs = sample_snapshot(papers, stride=41, offset=5)
    if not recs:
        return []
    vecs = _vectors(recs, known)
    rates = []
    with tempfile.TemporaryDirectory() as d, store.connect(Path(d) / "c.duckdb") as con:
        with store.transaction(con):
            ingest.ingest_rows(con, _rows(recs))
        rows = con.execute("SELECT arxiv_id, content_hash FROM papers").fetchall()
        index = {r["id"]: i for i, r in enumerate(recs)}
        embed.store_vectors(
            con, card["embedding_model"], [r[0] for r in rows], [r[1] for r in rows],
            vecs[[index[r[0]] for r in rows]],
        )  # fmt: skip
        classify.predict_missing(con)  # warm-up: loads the model and spaCy once, as nightly does
        for _ in range(reps):
            con.execute("DELETE FROM predictions")
            t = time.perf_counter()
            n = classify.predict_missing(con)
            rates.append(n / (time.perf_counter() - t))
    return [
        Row(CLASSIFY, f"predict_missing ({card['model_id']}), {len(recs)} papers",
            median(rates), "papers/s", rates, "embedding, default int8 path (the stage before it)",
            embed_rate, note="model loaded before timing; evidence sentences on")
    ]  # fmt: skip


def _write_snapshot(recs: list[dict], path: Path) -> Path:
    with gzip.open(path, "wt") as f:
        for r in recs:
            f.write(json.dumps({k: r.get(k) for k in ("id", "title", "abstract", "categories", "authors", "versions", "update_date")}) + "\n")  # fmt: skip
    return path


def _cli(args: list[str], env: dict) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, "-m", "litmine.cli", *args], env=env, capture_output=True, text=True, cwd=REPO
    )
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(
            f"litmine {' '.join(args)} exited {proc.returncode}: {proc.stderr[-1500:]}"
        )
    return took


def nightly_rows(reps: int, papers: int = 60) -> list[Row]:
    if not (REPO / "litmine" / "nightly.py").exists():
        return [pending(NIGHTLY, "litmine nightly", "pending: litmine.nightly does not exist yet")]
    recs = [
        r for r in sample_snapshot(papers * 4, stride=29) if "cs." in (r.get("categories") or "")
    ]
    if not recs:
        return []
    from tests.atom_server import AtomServer

    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        env = {**os.environ, "LITMINE_HOME": str(home), "LITMINE_MODELS": str(models_dir())}
        db = home / "corpus" / "litmine.duckdb"
        snap = _write_snapshot(recs[:papers], home / "snap.jsonl.gz")
        _cli(["nightly", "--db", str(db), "--snapshot", str(snap), "--quiet"], env)  # set-up
        offline = [_cli(["nightly", "--db", str(db), "--snapshot", str(snap), "--quiet"], env) for _ in range(reps)]  # fmt: skip
        with store.connect(db) as con:
            store.set_cursor(con, ingest.CURSOR, store.now())
        with AtomServer() as api:
            live_args = ["nightly", "--db", str(db), "--base-url", api.url, "--delay", "0", "--quiet"]  # fmt: skip
            live = [_cli(live_args, env) for _ in range(reps)]
        startup = [_cli(["--help"], env) for _ in range(reps)]
    base = median(startup)
    return [
        Row(NIGHTLY, f"litmine nightly --snapshot (offline, {papers} papers done)", median(offline), "s", offline,
            "`litmine --help` (Python start-up + imports)", base, higher_is_better=False,
            ratio_text=f"start-up is {100 * base / median(offline):.0f}% of it"),
        Row(NIGHTLY, "litmine nightly against a loopback API with nothing new", median(live), "s", live,
            "`litmine --help` (Python start-up + imports)", base, higher_is_better=False,
            ratio_text=f"start-up is {100 * base / median(live):.0f}% of it",
            note="--delay 0; against arXiv add 3 s per request (4 windows: 3-day overlap + today)"),
    ]  # fmt: skip


def export_rows(db: Path | None, reps: int) -> list[Row]:
    try:
        from litmine import export
    except ImportError:
        return [pending(EXPORT, "export 100k papers to Parquet", "pending: litmine.export is absent")]  # fmt: skip
    if db is None:
        return []
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as d, store.connect(db, read_only=True) as con:
        n = con.execute("SELECT count(*) FROM papers").fetchone()[0]
        for i in range(reps):
            t = time.perf_counter()
            res = export.export_dataset(con, Path(d) / f"e{i}", "parquet")
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            con.execute(f"COPY (SELECT * FROM paper_labels) TO '{d}/plain{i}.parquet' (FORMAT parquet)")  # fmt: skip
            plain.append(time.perf_counter() - t)
        size = res.data_path.stat().st_size / 1e6
    base = median(plain)
    return [
        Row(EXPORT, f"litmine.export.export_dataset, {n:,} papers to Parquet ({size:.0f} MB, zstd)",
            median(ours), "s", ours, "DuckDB COPY (SELECT * FROM paper_labels) TO parquet", base,
            higher_is_better=False, ratio_text=f"{median(ours) / base:.1f}x the time of the plain COPY",
            note="the dataset card, SHA256SUMS and typed probability columns are extra work")
    ]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--papers", type=int, default=300)
    args = ap.parse_args()
    rows = classify_rows(args.papers, args.reps, {}, None) + nightly_rows(args.reps)
    for r in rows:
        print(r.what, r.value, r.unit, r.ratio_text or r.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
