"""`litmine nightly`: the stages end to end, the lock, the no-op run, the run log and publishing.

Stages whose module does not exist yet (``text``, ``classify`` with its committed model,
``projection``) are left out of the runs here, and their own tests skip with the reason.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from litmine import config, nightly, publish, store
from litmine.errors import LitmineError
from tests.conftest import snapshot_record

MODEL_DIR = config.models_dir()  # the committed model (LITMINE_MODELS overrides)
NEEDS = {"methods": "text", "classify": "classify", "map": "projection"}


def missing_reason(stage: str) -> str | None:
    """Why a stage cannot run yet, or None when it can."""
    mod = NEEDS.get(stage)
    if mod and importlib.util.find_spec(f"litmine.{mod}") is None:
        return f"litmine.{mod} is not written yet"
    if stage == "classify" and not (MODEL_DIR / "model_card.json").is_file():
        return f"no committed model under {MODEL_DIR}"
    return None


AVAILABLE = tuple(s for s in nightly.STAGES if missing_reason(s) is None)


def needs_stage(stage: str):
    return pytest.mark.skipif(missing_reason(stage) is not None, reason=str(missing_reason(stage)))


def write_snapshot(path: Path, records: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return path


def gold_record(arxiv_id: str, yes: bool) -> dict:
    if not yes:
        return {"arxiv_id": arxiv_id, "post_training": False, "annotator": "tester"}
    return {
        "arxiv_id": arxiv_id,
        "post_training": True,
        "provenance": "on_policy",
        "interface": ["rewards"],
        "roles": ["expansion"],
        "dominant_role": "expansion",
        "families": ["rl_rewards"],
        "contribution": "method",
        "annotator": "tester",
    }


def run(db_path: Path, **kw) -> nightly.NightlyResult:
    kw.setdefault("stages", AVAILABLE)
    kw.setdefault("progress", False)
    kw.setdefault("model_dir", MODEL_DIR)
    kw.setdefault("gate_recall", 1.0)  # the stages, not the gate (tests/test_gate.py), are tested
    return nightly.run_nightly(db_path, **kw)


def counts(db_path: Path) -> dict[str, int]:
    """What a database holds, read-only."""
    with store.connect(db_path, read_only=True) as con:
        one = lambda q: con.execute(q).fetchone()[0]  # noqa: E731
        return {
            "papers": one("SELECT count(*) FROM papers"),
            "ids": one("SELECT count(DISTINCT arxiv_id) FROM papers"),
            "embedded": one(
                "SELECT count(*) FROM embeddings e JOIN papers p USING (arxiv_id) "
                "WHERE e.content_hash = p.content_hash"
            ),
            "gold": one("SELECT count(*) FROM gold_current"),
        }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedder):
    """A project directory with a database after one full nightly run on a small snapshot."""
    home = tmp_path_factory.mktemp("home")
    (home / "corpus" / "labels").mkdir(parents=True)
    recs = [snapshot_record(i) for i in range(20)]
    snap = write_snapshot(home / "snap1.jsonl.gz", recs)
    gold = [gold_record(r["id"], i % 2 == 0) for i, r in enumerate(recs[:6])]
    (home / "corpus" / "labels" / "gold.jsonl").write_text(
        "".join(json.dumps(g) + "\n" for g in gold)
    )
    db = home / "corpus" / "litmine.duckdb"
    mp = pytest.MonkeyPatch()
    mp.setenv("LITMINE_HOME", str(home))
    try:
        first = run(db, snapshot=snap, embedder=embedder)
    finally:
        mp.undo()
    return home, db, snap, first


@pytest.fixture
def project(seeded, tmp_path, monkeypatch):
    """A private copy of the seeded project, with ``LITMINE_HOME`` pointing at it."""
    home, _, snap, first = seeded
    shutil.copytree(home, tmp_path / "home")
    monkeypatch.setenv("LITMINE_HOME", str(tmp_path / "home"))
    return tmp_path / "home", tmp_path / "home" / "corpus" / "litmine.duckdb", snap, first


def test_first_run_does_every_stage(project):
    home, db, _, first = project
    assert (first.inserted, first.embedded, first.labels_added) == (20, 20, 3 * 8 + 3 * 1)
    assert first.published and not first.nothing_new
    c = counts(db)
    assert c == {"papers": 20, "ids": 20, "embedded": 20, "gold": 6}
    with store.connect(db, read_only=True) as con:
        runs = con.execute("SELECT run_id, parent_id, stage, status FROM runs").fetchall()
    top = [r for r in runs if r[2] == "nightly"]
    assert len(top) == 1 and top[0][3] == "ok"
    stage_rows = {r[2]: r for r in runs if r[1] == top[0][0]}
    assert set(stage_rows) == set(AVAILABLE)
    assert all(r[3] == "ok" for r in stage_rows.values())
    inner = [r for r in runs if r[1] not in (None, top[0][0])]  # ingest/embed's own rows
    assert {r[2] for r in inner} >= {"ingest", "embed"}
    pub = config.published_db_path(db)
    with store.connect(pub, read_only=True) as pcon:
        assert pcon.execute("SELECT count(*) FROM papers").fetchone()[0] == 20
        assert pcon.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 20
        assert pcon.execute("SELECT count(*) FROM paper_labels").fetchone()[0] == 20
        version = pcon.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0]
    with store.connect(db, read_only=True) as con:
        assert store.get_meta(con, publish.PUBLISHED_VERSION_KEY) == version


def test_second_run_is_a_noop_that_loads_no_model(project):
    """The no-op run in a fresh process: nothing new, no model or scikit-learn loaded (its wall time
    is a benchmark figure, `bench/bench_pipeline.py`, not a test)."""
    home, db, snap, _ = project
    script = (
        "import json, sys; from pathlib import Path; from litmine.nightly import run_nightly\n"
        f"r = run_nightly(Path({str(db)!r}), snapshot=Path({str(snap)!r}), progress=False, "
        f"stages={AVAILABLE!r}, model_dir=Path({str(MODEL_DIR)!r}))\n"
        "print(json.dumps({'nothing_new': r.nothing_new, "
        "'published': r.published, 'loaded': sorted({'sentence_transformers', 'onnxruntime', "
        "'torch', 'sklearn'} & set(sys.modules))}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["nothing_new"] and not got["published"]
    assert got["loaded"] == [], "a no-op run must load no model and not import scikit-learn"
    with store.connect(db, read_only=True) as con:
        last = con.execute(
            "SELECT status FROM runs WHERE stage = 'publish' ORDER BY started DESC LIMIT 1"
        ).fetchone()[0]
    assert last == "skipped"


def test_new_and_changed_papers_reach_the_published_copy(project, embedder):
    home, db, _, _ = project
    pub = config.published_db_path(db)
    reader = store.open_db(pub, read_only=True)  # a dashboard reading during the run
    changed = snapshot_record(3, abstract="A rewritten abstract about reward models.")
    changed["versions"].append({"version": "v2", "created": "Tue, 4 Feb 2025 10:00:00 GMT"})
    snap2 = write_snapshot(home / "snap2.jsonl.gz", [snapshot_record(i) for i in range(20, 25)])
    write_snapshot(home / "snap3.jsonl.gz", [changed])
    r1 = run(db, snapshot=snap2, embedder=embedder, progress=True)  # with progress bars
    r2 = run(db, snapshot=home / "snap3.jsonl.gz", embedder=embedder)
    assert (r1.inserted, r1.embedded, r1.published) == (5, 5, True)
    assert (r2.inserted, r2.updated, r2.embedded, r2.published) == (0, 1, 1, True)
    assert reader.execute("SELECT count(*) FROM papers").fetchone()[0] == 20  # old copy intact
    reader.close()
    assert counts(db) == {"papers": 25, "ids": 25, "embedded": 25, "gold": 6}
    with store.connect(pub, read_only=True) as pcon:
        assert pcon.execute("SELECT count(*) FROM papers").fetchone()[0] == 25
        abstract = pcon.execute(
            "SELECT abstract FROM papers WHERE arxiv_id = ?", [changed["id"]]
        ).fetchone()[0]
    assert abstract.startswith("A rewritten abstract")
    assert not list(pub.parent.glob(".*.tmp*"))


def test_label_files_next_to_the_db_are_imported_once(project):
    home, db, _, _ = project
    corrections = home / "corpus" / "corrections"
    corrections.mkdir()
    rec = gold_record(snapshot_record(10)["id"], True)
    (corrections / "review-1.jsonl").write_text(json.dumps(rec) + "\n")
    r = run(db, stages=("labels", "publish"))
    assert r.labels_added == 8 and r.published  # one event per axis
    again = run(db, stages=("labels", "publish"))
    assert again.nothing_new and again.labels_added == 0
    assert counts(db)["gold"] == 7


def test_second_run_while_one_holds_the_lock_is_transient(project):
    _, db, snap, _ = project
    with nightly.nightly_lock(db):
        with pytest.raises(nightly.NightlyRunning) as exc:
            run(db, snapshot=snap)
    assert exc.value.exit_code == 75
    assert "already running" in str(exc.value) and str(os.getpid()) in str(exc.value)
    assert run(db, snapshot=snap, stages=("ingest",)).nothing_new  # the lock was released


def test_cli_exits_75_while_another_run_holds_the_lock(project):
    from litmine import cli

    if "nightly" not in cli.COMMANDS:
        pytest.skip("litmine.cli has no `nightly` command yet")
    _, db, snap, _ = project
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from litmine.nightly import nightly_lock\n"
         f"with nightly_lock(Path({str(db)!r})):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        out = subprocess.run(
            [sys.executable, "-m", "litmine.cli", "nightly", "--db", str(db), "--snapshot",
             str(snap), "--quiet"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert out.returncode == 75, out.stderr
    assert "already running" in out.stderr and out.stdout == ""


def test_failed_stage_is_logged_and_the_next_run_recovers(project):
    _, db, snap, _ = project
    with pytest.raises(LitmineError, match="not found"):
        run(db, snapshot=snap.parent / "missing.jsonl.gz")
    with store.connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT stage, status, error FROM runs WHERE status <> 'ok' AND status <> 'skipped' "
            "ORDER BY started"
        ).fetchall()
    assert [(s, st) for s, st, _ in rows] == [("nightly", "failed"), ("ingest", "failed")]
    assert all("not found" in err for _, _, err in rows)
    assert run(db, snapshot=snap).nothing_new


def test_unknown_stage_is_rejected(db_path):
    with pytest.raises(LitmineError, match="unknown nightly stage"):
        nightly.run_nightly(db_path, stages=("ingest", "train"))


def test_publish_skips_unchanged_data_and_replaces_atomically(db_path, tmp_path):
    with store.connect(db_path) as con:
        con.execute("INSERT INTO meta VALUES ('k', 'v1')")
        first = publish.publish_copy(con, db_path)
        again = publish.publish_copy(con, db_path)
        assert first.written and not again.written and first.path == again.path
        inode = first.path.stat().st_ino
        # a temp file left by a killed publisher is cleaned up
        stale = first.path.with_name(f".{first.path.name}.999999999.tmp")
        stale.write_bytes(b"half a file")
        con.execute("UPDATE meta SET value = 'v2' WHERE key = 'k'")
        third = publish.publish_copy(con, db_path)
        assert third.written and third.data_version != first.data_version
        assert first.path.stat().st_ino != inode and not stale.exists()
    assert publish.publish(db_path) == first.path
    with store.connect(first.path, read_only=True) as pcon:
        assert pcon.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v2"


@pytest.mark.parametrize("stage", ["methods", "classify", "map"])
def test_stages_written_by_others_run_in_the_pipeline(stage, project):
    reason = missing_reason(stage)
    if reason:
        pytest.skip(reason)
    _, db, _, first = project
    key = {"methods": "methods", "classify": "classified", "map": "mapped"}[stage]
    assert getattr(first, key) == 20  # every paper of the seed snapshot
    with store.connect(db, read_only=True) as con:
        status = con.execute(
            "SELECT status FROM runs WHERE stage = ? AND parent_id IS NOT NULL "
            "AND parent_id IN (SELECT run_id FROM runs WHERE stage = 'nightly')",
            [stage],
        ).fetchall()
    assert status == [("ok",)]
