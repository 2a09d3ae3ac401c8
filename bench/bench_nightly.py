"""The whole main job, stage by stage: a snapshot run on a fresh database, a night, a no-op night.

    .venv/bin/python bench/bench_nightly.py [--snapshot FILE] [--night 1000] [--keep DIR]

1. ``litmine nightly --snapshot SNAPSHOT`` on a fresh database, as the README's snapshot set-up
   runs it (in its own process, with the committed models and gold labels).
2. A simulated night: 1,000 in-scope snapshot records drawn at random (seeded), given new
   December 2026 ids so they are new papers, as a delta snapshot on the full database.
3. The same command again: a night with nothing new.

Each stage's seconds and counts come from the ``runs`` rows the job writes. Without the relevance
gate every in-scope paper would be embedded and classified; that run is not repeated here (it
takes over an hour): its time is extrapolated from the embed and classify rates measured in
step 1, and said so. Results go to ``bench/nightly.json`` and the section of
``docs/benchmarks.md`` between the ``bench_nightly`` markers (``run_all.py`` keeps it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PYTHON, REPO, load_average, machine, snapshot_path  # noqa: E402

from litmine import store  # noqa: E402
from litmine.config import load_scope  # noqa: E402

RESULT = REPO / "bench" / "nightly.json"
PAGE = REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench_nightly -->", "<!-- /bench_nightly -->"


def delta_snapshot(snapshot: Path, out: Path, n: int, seed: int = 0) -> int:
    """``n`` random in-scope records of ``snapshot`` under new ids (2612.9xxxx), as a new file."""
    cats = set(load_scope().categories)
    with gzip.open(snapshot, "rt", encoding="utf-8") as f:
        recs = [r for line in f if (r := json.loads(line)).get("abstract")
                and cats & set((r.get("categories") or "").split())]  # fmt: skip
    picked = random.Random(seed).sample(recs, n)
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for i, r in enumerate(picked):
            r = {**r, "id": f"2612.9{i:04d}", "update_date": "2026-12-02",
                 "versions": [{"version": "v1", "created": "Wed, 2 Dec 2026 10:00:00 GMT"}]}  # fmt: skip
            f.write(json.dumps(r) + "\n")
    return len(recs)


def nightly(db: Path, snapshot: Path, log: Path) -> float:
    """Wall seconds of one ``litmine nightly --snapshot`` in a fresh process."""
    cmd = [PYTHON, "-m", "litmine.cli", "nightly", "--snapshot", str(snapshot), "--db", str(db)]
    t = time.perf_counter()
    with log.open("a") as out:
        subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    return time.perf_counter() - t


def stages(db: Path) -> list[dict]:
    """The stage rows of the last nightly run."""
    with store.connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT stage, status, epoch(ended) - epoch(started), fetched, inserted FROM runs "
            "WHERE parent_id = (SELECT run_id FROM runs WHERE stage = 'nightly' "
            "ORDER BY started DESC LIMIT 1) ORDER BY started"
        ).fetchall()
    return [
        dict(zip(("stage", "status", "seconds", "fetched", "done"), r, strict=True)) for r in rows
    ]


def facts(db: Path) -> dict:
    with store.connect(db, read_only=True) as con:
        one = lambda q: con.execute(q).fetchone()[0]  # noqa: E731
        return {
            "papers": one("SELECT count(*) FROM papers"),
            "embedded": one("SELECT count(*) FROM embeddings"),
            "gated": one("SELECT count(*) FROM paper_labels WHERE label_source = 'gate'"),
            "classified": one("SELECT count(*) FROM paper_labels WHERE post_training IS NOT NULL"),
            "gate": store.get_meta(con, "current_gate"),
            "cut": float(store.get_meta(con, "gate_cut") or 0),
            "db_mib": round(db.stat().st_size / 2**20),
        }


def run(snapshot: Path, n_night: int, keep: Path | None) -> dict:
    work = keep or Path(tempfile.mkdtemp(prefix="bench_nightly_"))
    work.mkdir(parents=True, exist_ok=True)
    db, log = work / "litmine.duckdb", work / "nightly.log"
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    res: dict = {"snapshot": str(snapshot), "work": str(work), "machine": machine()}
    res["snapshot_run"] = {"seconds": nightly(db, snapshot, log), "stages": stages(db), **facts(db)}
    delta = work / "night.jsonl.gz"
    res["in_scope_records"] = delta_snapshot(snapshot, delta, n_night)
    res["night"] = {"papers": n_night, "seconds": nightly(db, delta, log), "stages": stages(db)}
    res["noop"] = {"seconds": nightly(db, delta, log), "stages": stages(db)}
    res["after"] = facts(db)
    return res


def _stage(res: dict, run: str, name: str) -> dict:
    return next((s for s in res[run]["stages"] if s["stage"] == name), {})


def render(res: dict) -> str:
    snap = res["snapshot_run"]
    lines = [
        START,
        "## The whole main job (bench/bench_nightly.py)",
        "",
        f"Produced by `.venv/bin/python bench/bench_nightly.py` on {res['date']} "
        f"({res['machine']['cpu']}, {res['machine']['memory']}; load average {res['load']}); each run is `litmine nightly --snapshot FILE` in a fresh process.",
        "",
        "| stage | snapshot run, fresh database: s | done | night of "
        f"{res['night']['papers']:,} new papers: s | done | nothing new: s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in snap["stages"]:
        night, noop = _stage(res, "night", s["stage"]), _stage(res, "noop", s["stage"])
        lines.append(
            f"| {s['stage']} | {s['seconds']:.1f} | {s['done'] or 0:,} | "
            f"{night.get('seconds', 0):.1f} | {night.get('done') or 0:,} | "
            f"{noop.get('seconds', 0):.2f} |"
        )
    lines.append(
        f"| **whole command** (wall, incl. start-up) | **{snap['seconds']:.0f}** | | "
        f"**{res['night']['seconds']:.1f}** | | **{res['noop']['seconds']:.2f}** |"
    )
    emb, cls, ing = (_stage(res, "snapshot_run", k) for k in ("embed", "classify", "ingest"))
    gate = _stage(res, "snapshot_run", "gate")
    embed_rate = (emb["done"] or 0) / emb["seconds"] if emb.get("seconds") else 0
    cls_rate = (cls["done"] or 0) / cls["seconds"] if cls.get("seconds") else 0
    papers = snap["papers"]
    others = (
        snap["seconds"] - emb.get("seconds", 0) - cls.get("seconds", 0) - gate.get("seconds", 0)
    )
    ungated = others + papers / embed_rate + papers / cls_rate if embed_rate and cls_rate else None
    lines += [
        "",
        "`done`: papers the stage worked on (labels: label events; publish: copies written).",
        "",
        f"- crawl: {papers:,} in-scope papers; embedded {snap['embedded']:,} "
        f"(**{snap['embedded'] / papers:.1%}** of the crawl: gold papers and those above the "
        f"gate's cut {snap['cut']:.4f}); {snap['gated']:,} labelled by the gate "
        f"(`label_source = gate`); database {snap['db_mib']} MiB",
        f"- ingest: {ing.get('fetched') or 0:,} snapshot lines in {ing.get('seconds', 0):.1f} s "
        f"(**{(ing.get('fetched') or 0) / max(ing.get('seconds', 1e-9), 1e-9):,.0f} records/s**, "
        "the stage's own time)",
        f"- gate: {gate.get('done') or 0:,} papers in {gate.get('seconds', 0):.1f} s "
        f"({(gate.get('done') or 0) / max(gate.get('seconds', 1e-9), 1e-9):,.0f} papers/s); "
        f"embed {embed_rate:.1f} papers/s; classify {cls_rate:.0f} papers/s",
    ]
    if ungated:
        lines.append(
            f"- without the gate (today before this change; **extrapolated**, not run): every "
            f"paper embedded and classified at the rates above, the other stages as measured: "
            f"about **{ungated / 60:.0f} minutes**, against {snap['seconds'] / 60:.1f} minutes "
            f"measured ({ungated / snap['seconds']:.1f}x)"
        )
    lines += [
        f"- the night: {res['night']['papers']:,} in-scope snapshot records drawn at random "
        "(seed 0) under new December 2026 ids, as a delta snapshot on the full database",
        END,
    ]
    return "\n".join(lines)


def splice(section: str) -> None:
    """Put ``section`` into docs/benchmarks.md, replacing an earlier one."""
    page = PAGE.read_text() if PAGE.exists() else ""
    if START in page and END in page:
        head, rest = page.split(START, 1)
        page = head + section + rest.split(END, 1)[1]
    else:
        page = page.rstrip("\n") + "\n\n" + section + "\n"
    PAGE.write_text(page)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshot", type=Path, default=snapshot_path())
    ap.add_argument("--night", type=int, default=1000, help="papers in the simulated night")
    ap.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    args = ap.parse_args()
    if args.snapshot is None or not args.snapshot.is_file():
        print(f"no snapshot at {args.snapshot}: set LITMINE_SNAPSHOT", file=sys.stderr)
        return 2
    load = load_average()
    res = run(args.snapshot, args.night, args.keep)
    res["load"] = f"{load} at start, {load_average()} at end"
    res["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULT.write_text(json.dumps(res, indent=1, default=str) + "\n")
    section = render(res)
    splice(section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
