"""The nightly job: ingest, labels, embed, methods, classify, map, publish; each only the missing work.

One run at a time (an OS lock on ``<db>.lock``). Every run and stage writes a row to ``runs``
(stages point at their nightly run through ``parent_id``). A run that was killed leaves rows in
state ``running``; the next run marks them ``interrupted`` and simply does the work still missing,
because every stage is incremental and stores its work in transactions.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from litmine import config, store
from litmine.errors import LitmineError, SnapshotError, TransientError

log = logging.getLogger(__name__)

STAGES = ("ingest", "labels", "embed", "methods", "classify", "map", "publish")
LABEL_DIRS = ("labels", "corrections")
PAUSE_ENV = "LITMINE_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "LITMINE_TEST_PAUSE_FILE"


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
            f"{self.labels_added} label events; {self.embedded} embedded; "
            f"{self.methods} method extractions; {self.classified} classified; "
            f"{self.mapped} mapped; published {'yes' if self.published else 'no'} "
            f"({self.seconds:.1f}s)"
        )


def pause_point(stage: str) -> None:
    """Test hook: with ``LITMINE_TEST_PAUSE_AT=<stage>`` wait here so a test can kill the process.

    The process writes its pid to ``LITMINE_TEST_PAUSE_FILE`` and waits until that file is
    removed (or two minutes pass). Unset in production, this returns at once.
    """
    if os.environ.get(PAUSE_ENV) != stage:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    log.warning("test hook: pausing at stage %s", stage)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


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


def label_dirs(db_path: Path) -> list[Path]:
    """Directories whose ``*.jsonl`` files are imported: next to the database, then the project's."""
    roots = [Path(db_path).parent, config.project_dir() / "corpus"]
    out: list[Path] = []
    for root in roots:
        for name in LABEL_DIRS:
            d = (root / name).resolve()
            if d.is_dir() and d not in out:
                out.append(d)
    return out


def file_digest(paths: Sequence[Path], extra: str = "") -> str:
    """SHA-256 over the names and contents of ``paths`` (and ``extra``)."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(str(p).encode() + b"\0")
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


class _Stages:
    """The stage functions of one run; each returns the counts for its ``runs`` row."""

    def __init__(self, con, db_path: Path, progress: bool, model_dir: Path | None, **opts):
        self.con = con
        self.db_path = db_path
        self.progress = progress
        self.model_dir = model_dir
        self.opts = opts

    @contextmanager
    def _ticker(self, stage: str, total: int | None, unit: str) -> Iterator[Callable[[int], None]]:
        """A progress callback that updates a bar and hits the test pause point after one step."""
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=stage, unit=unit, leave=False)

        def tick(n: int = 1) -> None:
            if bar is not None:
                bar.update(n)
            pause_point(stage)

        with bar if bar is not None else nullcontext():
            yield tick

    def ingest(self) -> dict[str, int]:
        from litmine import ingest

        snapshot = self.opts.get("snapshot")
        if snapshot is not None:
            return self._ingest_snapshot(Path(snapshot))
        source = self.opts.get("source") or default_source()
        with self._ticker("ingest", None, "window") as tick:
            counts = ingest.ingest_live(self.con, source, progress=tick)
        return counts.as_dict()

    def _ingest_snapshot(self, snapshot: Path) -> dict[str, int]:
        from litmine import ingest

        if not snapshot.is_file():
            raise SnapshotError(
                f"snapshot file {snapshot} not found", hint="pass a .jsonl or .jsonl.gz file"
            )
        scope = config.load_scope()
        key = f"nightly.snapshot:{snapshot.resolve()}"
        digest = file_digest([snapshot], extra=",".join(scope.categories))
        if store.get_meta(self.con, key) == digest:
            log.info("snapshot %s already ingested (same content and scope); skipped", snapshot)
            return {"skipped_stage": 1}
        pause_point("ingest")
        counts = ingest.ingest_snapshot(self.con, snapshot, scope)
        store.set_meta(self.con, key, digest)
        return counts.as_dict()

    def labels(self) -> dict[str, int]:
        from litmine import labels

        dirs = [d for d in label_dirs(self.db_path) if any(d.glob("*.jsonl"))]
        files = sorted(f for d in dirs for f in d.glob("*.jsonl"))
        digest = file_digest(files)
        if store.get_meta(self.con, "nightly.labels") == digest:
            return {"skipped_stage": 1}
        added = existing = records = 0
        for d in dirs:
            c = labels.import_labels(self.con, d)
            added, existing, records = (
                added + c.events_added,
                existing + c.events_existing,
                records + c.records,
            )
        store.set_meta(self.con, "nightly.labels", digest)
        return {"fetched": records, "inserted": added, "unchanged": existing}

    def embed(self) -> dict[str, int]:
        from litmine import classify, embed

        embedder = self.opts.get("embedder")
        # the vectors the classifier reads: its card names the model it was trained on
        name = embedder.name if embedder else classify.embedding_model(self.model_dir)
        if store.get_meta(self.con, "embedding_model") != name:
            store.set_meta(self.con, "embedding_model", name)
        todo = embed.count_missing(self.con, name)
        if todo == 0:
            return {"inserted": 0}
        chunk = self.opts.get("embed_chunk_size") or 512
        with self._ticker("embed", todo, "paper") as tick:
            done = embed.embed_missing(
                self.con, embedder, chunk_size=chunk, progress=tick, model=name
            )
        return {"fetched": todo, "inserted": done}

    def methods(self) -> dict[str, int]:
        from litmine import text

        with self._ticker("methods", None, "paper") as tick:
            return {"inserted": int(text.extract_missing(self.con, progress=tick))}

    def classify(self) -> dict[str, int]:
        from litmine import classify

        chunk = self.opts.get("classify_chunk_size")
        kw = {"chunk": chunk} if chunk else {}
        with self._ticker("classify", None, "paper") as tick:
            n = classify.predict_missing(self.con, model_dir=self.model_dir, progress=tick, **kw)
        return {"inserted": int(n)}

    def map(self) -> dict[str, int]:
        from litmine import projection

        return {"inserted": int(projection.project_map(self.con))}

    def publish(self) -> dict[str, int]:
        from litmine import publish

        res = publish.publish_copy(
            self.con, self.db_path, before_replace=lambda: pause_point("publish")
        )
        self.published_path = res.path
        return {
            "inserted": int(res.written),
            "unchanged": int(not res.written),
            "skipped_stage": int(not res.written),
        }


def default_source():
    """The arXiv API source for the project's crawl scope (``LITMINE_ARXIV_URL`` overrides)."""
    from litmine.crawl import ArxivSource

    base = os.environ.get("LITMINE_ARXIV_URL") or config.ARXIV_API_URL
    return ArxivSource(config.load_scope(), base_url=base)


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
) -> NightlyResult:
    """Run the nightly pipeline on ``db_path``; each stage does only the work still missing.

    ``snapshot`` ingests a snapshot file instead of crawling ``source`` (an ``ArxivSource``,
    by default built from the crawl scope). ``stages`` runs a subset, in pipeline order;
    ``embedder`` reuses a loaded embedding model (else it is loaded only when papers need it);
    the chunk sizes set how much work each stored transaction holds.
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
        steps = _Stages(
            con,
            db_path,
            progress,
            model_dir,
            snapshot=snapshot,
            source=source,
            embed_chunk_size=embed_chunk_size,
            classify_chunk_size=classify_chunk_size,
            embedder=embedder,
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
