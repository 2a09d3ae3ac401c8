"""The nightly job: ingest, labels, gate, embed, methods, classify, map, publish; only missing work.

The relevance gate scores every paper from its text; only gold papers and papers above its cut
are embedded and classified (``litmine.gate``), which is what keeps a snapshot run in minutes.

One run at a time (an OS lock on ``<db>.lock``). Every run and stage writes a row to ``runs``
(stages point at their nightly run through ``parent_id``). A run that was killed leaves rows in
state ``running``; the next run marks them ``interrupted`` and simply does the work still missing,
because every stage is incremental and stores its work in transactions.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from litmine import store
from litmine.errors import LitmineError, TransientError
from litmine.stages import PAUSE_ENV, PAUSE_FILE_ENV, Stages, pause_point  # noqa: F401

log = logging.getLogger(__name__)

STAGES = ("ingest", "labels", "gate", "embed", "methods", "classify", "map", "publish")


class NightlyRunning(TransientError):
    """Another nightly run holds the lock on this database."""


@dataclass(frozen=True)
class NightlyResult:
    """What one nightly run did, stage by stage."""

    run_id: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    labels_added: int = 0
    gate_scored: int = 0
    embedded: int = 0
    methods: int = 0
    classified: int = 0
    mapped: int = 0
    published: bool = False
    published_path: Path | None = None
    interrupted_before: int = 0
    seconds: float = 0.0
    nothing_new: bool = True

    def summary(self) -> str:
        """One line for the console and the log."""
        if self.nothing_new:
            return f"nightly: nothing new ({self.seconds:.1f}s)"
        return (
            f"nightly: {self.inserted} new, {self.updated} changed papers; "
            f"{self.labels_added} label events; {self.gate_scored} gate-scored; "
            f"{self.embedded} embedded; "
            f"{self.methods} method extractions; {self.classified} classified; "
            f"{self.mapped} mapped; published {'yes' if self.published else 'no'} "
            f"({self.seconds:.1f}s)"
        )


def lock_path(db_path: Path) -> Path:
    return Path(f"{db_path}.lock")


@contextmanager
def nightly_lock(db_path: Path) -> Iterator[Path]:
    """Hold the exclusive nightly lock on ``db_path``; raise ``NightlyRunning`` if it is taken."""
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise NightlyRunning(
            f"another `litmine nightly` is already running on {db_path} (pid {holder})",
            hint="wait for it to finish; this run changed nothing and the next scheduled run "
            "will catch up (exit 75 means: try again later)",
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def mark_interrupted(con: duckdb.DuckDBPyConnection) -> int:
    """Mark runs left ``running`` by a killed process as ``interrupted``; return how many."""
    n = con.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
    if n:
        con.execute(
            "UPDATE runs SET status = 'interrupted', error = coalesce(error, "
            "'the process ended before this run finished (killed or crashed); "
            "the next run resumes the missing work') WHERE status = 'running'"
        )
        log.warning("%d run(s) of an earlier, interrupted job marked 'interrupted'", n)
    return n


def _adopt_inner_runs(con, stage_run: str, since) -> None:
    """Rows that a stage function logged itself (e.g. ``ingest``) become children of the stage row."""
    con.execute(
        "UPDATE runs SET parent_id = ? WHERE parent_id IS NULL AND started >= ? AND run_id <> ?",
        [stage_run, since, stage_run],
    )


def _run_stage(con, parent: str, name: str, fn: Callable[[], dict[str, int]]) -> dict[str, int]:
    """Run one stage inside its own ``runs`` row; failures are logged there and re-raised."""
    since = store.now()
    run_id = store.start_run(con, name, parent_id=parent)
    t0 = time.monotonic()
    try:
        counts = fn()
    except BaseException as exc:
        status = "failed" if isinstance(exc, Exception) else "interrupted"
        try:
            _adopt_inner_runs(con, run_id, since)
            store.finish_run(con, run_id, status, error=f"{type(exc).__name__}: {exc}")
        except duckdb.Error as db_exc:
            log.error("could not record the failure of stage %s: %s", name, db_exc)
        raise
    _adopt_inner_runs(con, run_id, since)
    status = "skipped" if counts.pop("skipped_stage", 0) else "ok"
    store.finish_run(con, run_id, status, counts)
    log.info("stage %-8s %-7s %5.1fs %s", name, status, time.monotonic() - t0, counts or "")
    return counts


def _result(run_id: str, c: dict[str, dict[str, int]], **kw) -> NightlyResult:
    def get(stage: str, key: str = "inserted") -> int:
        return int(c.get(stage, {}).get(key, 0))

    work = dict(
        fetched=get("ingest", "fetched"),
        inserted=get("ingest"),
        updated=get("ingest", "updated"),
        labels_added=get("labels"),
        gate_scored=get("gate"),
        embedded=get("embed"),
        methods=get("methods"),
        classified=get("classify"),
        mapped=get("map"),
        published=bool(get("publish")),
    )
    busy = any(v for k, v in work.items() if k != "fetched")
    return NightlyResult(run_id=run_id, nothing_new=not busy, **work, **kw)


def run_nightly(
    db_path: Path,
    snapshot: Path | None = None,
    source=None,
    progress: bool = True,
    model_dir: Path | None = None,
    stages: Sequence[str] | None = None,
    embed_chunk_size: int | None = None,
    classify_chunk_size: int | None = None,
    embedder=None,
    gate_recall: float | None = None,
    gate_basis: str | None = None,
) -> NightlyResult:
    """Run the nightly pipeline on ``db_path``; each stage does only the work still missing.

    ``snapshot`` ingests a snapshot file instead of crawling ``source`` (an ``ArxivSource``,
    by default built from the crawl scope). ``stages`` runs a subset, in pipeline order;
    ``embedder`` reuses a loaded embedding model (else it is loaded only when papers need it);
    the chunk sizes set how much work each stored transaction holds; ``gate_recall`` and
    ``gate_basis`` change the relevance gate's recall target (kept for later runs).
    Raises ``NightlyRunning`` (exit 75) when another run holds the lock.
    """
    wanted = tuple(STAGES if stages is None else stages)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise LitmineError(
            f"unknown nightly stage(s) {unknown}", hint=f"stages: {', '.join(STAGES)}"
        )
    db_path = Path(db_path)
    t0 = time.monotonic()
    with nightly_lock(db_path), store.connect(db_path) as con:
        interrupted = mark_interrupted(con)
        params = f"snapshot={snapshot}" if snapshot else "live"
        run_id = store.start_run(con, "nightly", params=params)
        steps = Stages(
            con,
            db_path,
            progress,
            model_dir,
            snapshot=snapshot,
            source=source,
            embed_chunk_size=embed_chunk_size,
            classify_chunk_size=classify_chunk_size,
            embedder=embedder,
            gate_recall=gate_recall,
            gate_basis=gate_basis,
        )
        counts: dict[str, dict[str, int]] = {}
        try:
            for name in (s for s in STAGES if s in wanted):
                counts[name] = _run_stage(con, run_id, name, getattr(steps, name))
        except BaseException as exc:
            status = "failed" if isinstance(exc, Exception) else "interrupted"
            with suppress(duckdb.Error):
                store.finish_run(con, run_id, status, error=f"{type(exc).__name__}: {exc}")
            raise
        result = _result(
            run_id,
            counts,
            published_path=getattr(steps, "published_path", None),
            interrupted_before=interrupted,
            seconds=time.monotonic() - t0,
        )
        store.finish_run(con, run_id, "ok", counts.get("ingest", {}))
    log.info("%s", result.summary())
    return result
