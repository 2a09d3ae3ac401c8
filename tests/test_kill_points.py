"""SIGKILL the nightly job during ingest, embedding, classification and publishing.

Each test runs the real job in a subprocess that pauses at a stage (``LITMINE_TEST_PAUSE_AT``)
after part of that stage's work is stored, kills it there, checks what the kill left behind, then
runs the job again and checks that nothing was lost, nothing duplicated and the published copy is
valid throughout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from litmine import config, nightly, store
from litmine.config import Scope
from litmine.crawl import ArxivSource
from litmine.ingest import CURSOR
from tests import test_nightly
from tests.conftest import make_entries, snapshot_record
from tests.test_nightly import (
    AVAILABLE,
    MODEL_DIR,
    counts,
    gold_record,
    needs_stage,
    run,
    write_snapshot,
)

# the seeded project fixtures of test_nightly, seeded once more for this module
seeded, project = test_nightly.seeded, test_nightly.project

RUNNER = """
import json, sys
from pathlib import Path
from litmine.config import Scope
from litmine.crawl import ArxivSource
from litmine.nightly import run_nightly
a = json.loads(sys.argv[1])
source = None
if a.get("base_url"):
    source = ArxivSource(Scope(**a["scope"]), base_url=a["base_url"], delay_seconds=0, max_retries=0)
run_nightly(Path(a["db"]), snapshot=Path(a["snapshot"]) if a.get("snapshot") else None,
            source=source, progress=False, model_dir=Path(a["model_dir"]), stages=a["stages"],
            embed_chunk_size=a.get("chunk"), classify_chunk_size=a.get("chunk"))
"""


def kill_at(stage: str, db: Path, **args) -> None:
    """Run the nightly job in a subprocess, wait until it pauses in ``stage``, SIGKILL it."""
    marker = db.parent / f"paused-at-{stage}"
    log = db.parent / f"killed-{stage}.log"
    env = {**os.environ, nightly.PAUSE_ENV: stage, nightly.PAUSE_FILE_ENV: str(marker)}
    args = {"db": str(db), "model_dir": str(MODEL_DIR), "stages": list(AVAILABLE), **args}
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, json.dumps(args)], env=env, stderr=err
        )
        deadline = time.monotonic() + 240
        while not marker.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"the job never paused at {stage}: {log.read_text()[-3000:]}")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def run_rows(db: Path) -> list[tuple[str, str]]:
    with store.connect(db, read_only=True) as con:
        return con.execute("SELECT stage, status FROM runs ORDER BY started").fetchall()


def published_count(db: Path, sql: str = "SELECT count(*) FROM papers") -> int:
    with store.connect(config.published_db_path(db), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def assert_recovered(db: Path, result: nightly.NightlyResult, papers: int) -> None:
    """Nothing lost, nothing duplicated, no run left 'running', the copy holds everything."""
    assert result.interrupted_before >= 2, asdict(result)
    c = counts(db)
    assert c["papers"] == c["ids"] == c["embedded"] == papers
    statuses = run_rows(db)
    assert ("nightly", "interrupted") in statuses and ("nightly", "ok") in statuses
    assert not [s for s in statuses if s[1] == "running"]
    assert published_count(db) == papers
    assert not list(config.published_db_path(db).parent.glob(".*.tmp*"))


def test_kill_during_live_ingest(project, embedder, atom):
    _, db, _, _ = project
    start = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)
    atom.entries = make_entries(8, start, step_hours=10)  # 3 in the first one-day window
    scope = dict(categories=["cs.CL"], start_date=start.date().isoformat(), window_days=1,
                 overlap_days=2, page_size=3)  # fmt: skip
    kill_at("ingest", db, base_url=atom.url, scope=scope)

    assert counts(db)["papers"] == 20 + 3  # the first window is stored with its cursor
    with store.connect(db, read_only=True) as con:
        assert store.get_cursor(con, CURSOR) == start + timedelta(days=1)
    assert [s for s in run_rows(db) if s[1] == "running"][:2] == [
        ("nightly", "running"),
        ("ingest", "running"),
    ]
    assert published_count(db) == 20  # the copy is untouched

    source = ArxivSource(Scope(**{**scope, "categories": ("cs.CL",)}), atom.url, delay_seconds=0)
    result = run(db, source=source, embedder=embedder)
    assert (result.inserted, result.embedded) == (5, 8)  # the overlap re-read adds no duplicate
    assert_recovered(db, result, papers=28)


def test_kill_during_embedding(project, embedder):
    home, db, _, _ = project
    snap = write_snapshot(home / "new.jsonl.gz", [snapshot_record(i) for i in range(20, 32)])
    kill_at("embed", db, snapshot=str(snap), chunk=4)

    c = counts(db)
    assert (c["papers"], c["embedded"]) == (32, 24)  # one chunk of 4 was stored before the kill
    assert ("embed", "running") in run_rows(db)

    result = run(db, snapshot=snap, embedder=embedder)
    assert (result.inserted, result.embedded) == (0, 8)  # ingest already done; the rest embedded
    assert_recovered(db, result, papers=32)
    with store.connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 32


@needs_stage("classify")
def test_kill_during_classification(project):
    _, db, snap, _ = project
    with store.connect(db) as con:
        con.execute("DELETE FROM predictions WHERE arxiv_id IN (SELECT arxiv_id FROM papers "
                    "ORDER BY arxiv_id LIMIT 12)")  # fmt: skip
    kill_at("classify", db, snapshot=str(snap), chunk=4)
    sql = (
        "SELECT count(*), count(DISTINCT arxiv_id) FROM predictions "
        "WHERE model_id = (SELECT value FROM meta WHERE key = 'current_model')"
    )
    with store.connect(db, read_only=True) as con:
        assert con.execute(sql).fetchone() == (8 + 4, 8 + 4)  # one chunk of 4 was stored
    assert ("classify", "running") in run_rows(db)

    result = run(db, snapshot=snap)
    assert result.classified == 8
    assert_recovered(db, result, papers=20)
    with store.connect(db, read_only=True) as con:
        assert con.execute(sql).fetchone() == (20, 20)
    assert (
        published_count(db, "SELECT count(*) FROM paper_labels WHERE label_source IS NOT NULL")
        == 20
    )


def test_kill_during_publishing(project):
    home, db, snap, _ = project
    corrections = home / "corpus" / "corrections"
    corrections.mkdir()
    rec = gold_record(snapshot_record(12)["id"], True)
    (corrections / "review.jsonl").write_text(json.dumps(rec) + "\n")
    kill_at("publish", db, snapshot=str(snap))

    pub = config.published_db_path(db)
    leftovers = list(pub.parent.glob(f".{pub.name}.*.tmp"))
    assert len(leftovers) == 1  # the complete new copy that never replaced the old one
    assert published_count(db, "SELECT count(*) FROM gold_current") == 6  # old copy, valid
    assert counts(db)["gold"] == 7

    result = run(db, snapshot=snap)
    assert result.published and result.labels_added == 0  # labels were stored before the kill
    assert published_count(db, "SELECT count(*) FROM gold_current") == 7
    assert_recovered(db, result, papers=20)
