"""The nightly job's stages: each one a method that does only the work still missing.

``litmine.nightly`` holds the lock and the ``runs`` rows and calls these in pipeline order.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from litmine import config, store
from litmine.errors import SnapshotError

log = logging.getLogger(__name__)

LABEL_DIRS = ("labels", "corrections")
PAUSE_ENV = "LITMINE_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "LITMINE_TEST_PAUSE_FILE"


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


class Stages:
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

    def gate(self) -> dict[str, int]:
        from litmine import gate

        state = gate.activate(
            self.con, self.model_dir, self.opts.get("gate_recall"), self.opts.get("gate_basis")
        )
        if state is None:
            log.info("no relevance gate in the model directory: every paper is embedded")
            return {"skipped_stage": 1}
        log.info("gate %s: cut %.4f (recall %s of %s)", state["gate_id"], state["cut"],
                 state["recall"], state["basis"])  # fmt: skip
        todo = gate.count_unscored(self.con)
        if todo == 0:
            return {"inserted": 0}
        with self._ticker("gate", todo, "paper") as tick:
            done = gate.score_missing(self.con, self.model_dir, progress=tick)
        return {"fetched": todo, "inserted": done}

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

        with self._ticker("methods", text.count_missing(self.con), "paper") as tick:
            return {"inserted": int(text.extract_missing(self.con, progress=tick))}

    def classify(self) -> dict[str, int]:
        from litmine import classify

        chunk = self.opts.get("classify_chunk_size")
        kw = {"chunk": chunk} if chunk else {}
        todo = classify.count_missing(self.con, model_dir=self.model_dir)
        with self._ticker("classify", todo, "paper") as tick:
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
