"""Run every benchmark and write ``docs/benchmarks.md``.

    .venv/bin/python bench/run_all.py            # the full suite (under 10 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # a smoke run with small sizes (about 2 minutes)

Each figure is the median of several runs with its baseline measured in the same run; the
machine, its load average and the command are written at the top of the page. A section that
cannot run (no shared snapshot, a module not written yet) is listed as pending, not dropped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_embed  # noqa: E402
import bench_ingest  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_queries  # noqa: E402
from harness import PYTHON, REPO, Row, load_average, machine, pending, snapshot_path  # noqa: E402

OUT = REPO / "docs" / "benchmarks.md"
DASHBOARD_BENCH = REPO / "bench" / "bench_dashboard.py"


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.2f}" if abs(x) < 10 else f"{x:,.1f}"


def _ratio(r: Row) -> str:
    if r.ratio_text:
        return r.ratio_text
    return f"**{r.ratio:.2f}x**" if r.ratio else "-"


def table(rows: list[Row]) -> list[str]:
    out = [
        "| measured | median | unit | runs | baseline (same run) | baseline median | ratio | note |",
        "|---|---:|---|---|---|---:|---|---|",
    ]
    for r in rows:
        runs = ", ".join(_fmt(x) for x in r.runs) if r.runs else "-"
        value = _fmt(r.value) if r.value is not None else "-"
        out.append(
            f"| {r.what} | {value} | {r.unit} | {runs} | {r.baseline or '-'} | "
            f"{_fmt(r.baseline_value)} | {_ratio(r)} | {r.note} |"
        )
    return out


def _find(rows: list[Row], section: str, start: str) -> Row | None:
    return next((r for r in rows if r.section == section and r.what.startswith(start)), None)


def goals(rows: list[Row], quality: dict | None = None) -> list[str]:
    """The issue's targets against what was measured (``quality``: an embed_quality report)."""
    out = ["| goal | measured | met |", "|---|---|---|"]

    def line(goal: str, r: Row | None, ok: Callable[[Row], bool]) -> None:
        if r is None or r.value is None:
            out.append(f"| {goal} | not measured | - |")
        else:
            out.append(
                f"| {goal} | {r.what}: {_fmt(r.value)} {r.unit}, {_ratio(r)} | "
                f"{'yes' if ok(r) else 'no'} |"
            )

    fast = lambda r: (r.ratio or 0) >= 20 and r.value > 20_000  # noqa: E731
    line("snapshot ingest >= 20x naive and > 20,000 records/s", _find(rows, bench_ingest.SNAP, "ingest_snapshot,"), fast)  # fmt: skip
    for p in ("onnx-int8", "onnx-fp32"):
        line(f"embedding >= 2.5x SentenceTransformer.encode ({p})", _find(rows, bench_embed.SECTION, f"{p}: abstracts"), lambda r: (r.ratio or 0) >= 2.5)  # fmt: skip
    gate = "default only with cosine >= 0.99 to the reference and CV drop <= 0.01 (int8)"
    v = (quality or {}).get("variants", {}).get("int8")
    cv = (quality or {}).get("cross_validation", {}).get("int8 drop")
    if v and cv:
        drop = max(cv.values())
        ok = v["min"] >= 0.99 and v["mean"] >= 0.99 and drop <= 0.01
        out.append(
            f"| {gate} | {v['n']:,} abstracts: min cosine {v['min']:.4f}, mean {v['mean']:.4f}; "
            f"largest CV macro-F1 drop {drop:+.3f} | {'yes: the default' if ok else 'no'} |"
        )
    else:
        out.append(f"| {gate} | not measured (run bench/embed_quality.py --cv --json) | - |")
    return out


def dashboard_bench(timeout: int) -> list[str]:
    """The dashboard helper's own benchmark (first render, map projection), when present."""
    if not DASHBOARD_BENCH.exists():
        return ["`bench/bench_dashboard.py` is not there yet: pending."]
    try:
        proc = subprocess.run(
            [PYTHON, str(DASHBOARD_BENCH)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        return [f"`bench/bench_dashboard.py` did not finish within {timeout} s."]
    if proc.returncode != 0:
        return [f"`bench/bench_dashboard.py` failed (exit {proc.returncode}):", "", "```", proc.stderr[-1500:], "```"]  # fmt: skip
    return [
        "Output of `.venv/bin/python bench/bench_dashboard.py` (run by `run_all.py`):",
        "",
        proc.stdout.strip(),
    ]


def _section(name: str, fn: Callable[[], list[Row]], log: list[str]) -> list[Row]:
    t = time.perf_counter()
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    try:
        rows = fn()
    except Exception as exc:  # noqa: BLE001 - one failing benchmark must not hide the others
        traceback.print_exc()
        rows = [pending(name, name, f"failed: {type(exc).__name__}: {exc}")]
    log.append(f"{name}: {time.perf_counter() - t:.0f} s")
    print(f"[bench] {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return rows


def run(quick: bool, quality: Path | None, workdir: Path) -> tuple[list[Row], list[str], list[str]]:
    reps = 2 if quick else 3
    log: list[str] = []
    rows: list[Row] = []
    rows += _section("snapshot ingest", lambda: bench_ingest.snapshot_rows(reps, 1000 if quick else 2000), log)  # fmt: skip
    rows += _section("atom", lambda: bench_ingest.atom_rows(300 if quick else 1000, reps), log)
    extra: dict = {}

    def embedding() -> list[Row]:
        got, data = bench_embed.measure(60 if quick else 1002, 3)
        extra.update(data)
        return got

    rows += _section("embedding", embedding, log)
    known = dict(zip(extra.get("texts", []), extra.get("vectors", {}).get(bench_embed.REFERENCE, []), strict=False))  # fmt: skip
    emb = _find(rows, bench_embed.SECTION, "onnx-int8: abstracts")
    rows += _section("classification", lambda: bench_pipeline.classify_rows(100 if quick else 300, reps, known, emb.value if emb else None), log)  # fmt: skip
    rows += _section("nightly", lambda: bench_pipeline.nightly_rows(reps), log)
    sizes = (10_000, 100_000) if quick else bench_queries.SIZES
    dbs: dict = {}

    def dashboard_queries() -> list[Row]:
        got, built = bench_queries.measure(workdir, sizes, reps)
        dbs.update(built)
        return got

    rows += _section("dashboard queries", dashboard_queries, log)
    rows += _section("export", lambda: bench_pipeline.export_rows(dbs.get(100_000), reps), log)
    t = time.perf_counter()
    dash = dashboard_bench(timeout=300)
    log.append(f"bench_dashboard.py: {time.perf_counter() - t:.0f} s")
    extra = ["## Dashboard first render", "", *dash, ""]
    if quality and quality.exists():
        import embed_quality

        report = json.loads(quality.read_text())
        extra += ["## Embedding quality (bench/embed_quality.py)", "", embed_quality.render(report)]
        extra += ["", f"From `{quality.name}`, written by `bench/embed_quality.py --json`.", ""]
    import bench_nightly  # the whole job takes ~7 minutes: run on its own, its last result kept

    if bench_nightly.RESULT.exists():
        extra += [bench_nightly.render(json.loads(bench_nightly.RESULT.read_text())), ""]
    return rows, extra, log


def render(rows: list[Row], extra: list[str], log: list[str], meta: dict) -> str:
    m = meta["machine"]
    out = [
        "# Benchmarks",
        "",
        f"Produced by `{meta['command']}` on {meta['date']} in {meta['minutes']:.1f} minutes; "
        "do not edit by hand. Methods: `bench/README.md`.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}; memory {m['memory']}; {m['os']}; Python {m['python']}",
        f"- libraries: {m['libraries']}",
        f"- load average (1/5/15 min) at start: {meta['load_start']}; at end: {meta['load_end']}. "
        "The 2 cores are shared with other jobs, so absolute figures move with the load; each "
        "baseline ran interleaved with its contender in the same run, so the ratios hold better.",
        f"- snapshot: {meta['snapshot'] or 'absent (the sections that need it were skipped)'}",
        "- section times: " + "; ".join(log),
        "",
        "## Goals of issue 7",
        "",
        *goals(rows, meta.get("quality")),
        "",
    ]
    sections: dict[str, list[Row]] = {}
    for r in rows:
        sections.setdefault(r.section, []).append(r)
    for name, rs in sections.items():
        out += [f"## {name}", "", *table(rs), ""]
    return "\n".join(out + extra)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 2 reps: a smoke run")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--quality",
        type=Path,
        default=REPO / "bench" / "embed_quality.json",
        help="embed_quality.py --json output to include (default: bench/embed_quality.json)",
    )
    args = ap.parse_args()
    start, t0, load_start = datetime.now(UTC), time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory(prefix="litmine-bench-") as tmp:
        rows, extra, log = run(args.quick, args.quality, Path(tmp))
    meta = {
        "command": " ".join([".venv/bin/python", "bench/run_all.py", *sys.argv[1:]]),
        "date": start.strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": (time.perf_counter() - t0) / 60,
        "machine": machine(),
        "load_start": load_start,
        "load_end": load_average(),
        "snapshot": str(snapshot_path()) if snapshot_path() else None,
        "quality": json.loads(args.quality.read_text())
        if args.quality and args.quality.exists()
        else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows, extra, log, meta))
    print(f"wrote {args.out} ({meta['minutes']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
