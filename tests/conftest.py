"""Shared fixtures: temporary databases, a loopback Atom server, small snapshot files."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from litmine import store  # noqa: E402
from litmine.config import Scope  # noqa: E402
from tests.atom_server import AtomServer, Entry  # noqa: E402

TOPICS = [
    "We align a large language model with direct preference optimization on a fixed preference set.",
    "We train a reasoning model with group relative policy optimization and verifiable rewards.",
    "We distill chain-of-thought traces from a large teacher into a small student model.",
    "We study quantization of convolutional networks for image classification on mobile devices.",
    "We propose a benchmark of graph algorithms for classical planning in robotics.",
]


def make_entries(n: int, start: datetime, step_hours: int = 5) -> list[Entry]:
    """``n`` synthetic papers updated every ``step_hours`` from ``start``."""
    return [
        Entry(
            arxiv_id=f"2601.{10000 + i:05d}",
            title=f"Synthetic paper {i}",
            abstract=f"{TOPICS[i % len(TOPICS)]} Variant {i}.",
            updated=start + timedelta(hours=step_hours * i),
        )
        for i in range(n)
    ]


@pytest.fixture
def hold_write_lock():
    """Open a database for writing in another process until the test ends."""
    import subprocess
    import sys

    procs = []

    def hold(path: Path) -> None:
        code = f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(60)"
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ok"

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def embedder():
    """litmine's default embedding model, loaded once for the whole run."""
    from litmine import embed

    return embed.load_embedder()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "litmine.duckdb"


@pytest.fixture
def con(db_path: Path):
    c = store.open_db(db_path)
    yield c
    c.close()


@pytest.fixture
def scope() -> Scope:
    return Scope(start_date="2026-01-01", window_days=1, overlap_days=2, page_size=3)


@pytest.fixture
def atom():
    with AtomServer() as server:
        yield server


def snapshot_record(i: int, **over) -> dict:
    rec = {
        "id": f"2502.{20000 + i:05d}",
        "submitter": None,
        "authors": "Grace Hopper and Edsger Dijkstra",
        "title": f"Snapshot paper {i}",
        "comments": None,
        "categories": "cs.CL cs.LG" if i % 3 else "cs.LG",
        "abstract": f"  {TOPICS[i % len(TOPICS)]}\n  Snapshot variant {i}.  ",
        "versions": [{"version": "v1", "created": "Mon, 3 Feb 2025 10:00:00 GMT"}],
        "update_date": "2025-02-05",
    }
    rec.update(over)
    return rec


@pytest.fixture
def write_snapshot(tmp_path: Path):
    def write(records: list, name: str = "snap.jsonl.gz", raw_lines: list[str] = ()) -> Path:
        path = tmp_path / name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
            for line in raw_lines:
                f.write(line + "\n")
        return path

    return write
