import os
import re
import subprocess
import sys
from pathlib import Path

from litmine import cli

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_readme_opens_with_two_setup_commands_and_ci_runs_the_test_one():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert "litmine nightly" in block[0] and "pytest" in block[1]
    assert block[1] in (REPO / ".ci" / "run").read_text()


def test_every_command_is_documented_with_an_example():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert f"litmine {name}" in README, name
        assert p.epilog and "litmine" in p.epilog, name
    assert set(sub.choices) == set(cli.COMMANDS)


def test_snapshot_ingest_and_status(tmp_path, write_snapshot, capsys):
    from tests.conftest import snapshot_record

    db = tmp_path / "x.duckdb"
    snap = write_snapshot([snapshot_record(i) for i in range(4)])
    assert cli.main(["ingest", "--db", str(db), "--snapshot", str(snap)]) == 0
    assert "inserted 4" in capsys.readouterr().out
    assert cli.main(["ingest", "--db", str(db), "--snapshot", str(snap), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "papers        4" in out and "ingest" in out


def test_embed_uses_the_classifiers_model_unless_told(tmp_path, write_snapshot, capsys):
    from litmine import store
    from litmine.config import DEFAULT_MODEL_NAME, REFERENCE_MODEL_NAME
    from tests.conftest import snapshot_record

    db = tmp_path / "e.duckdb"
    snap = write_snapshot([snapshot_record(i) for i in range(3)])
    assert cli.main(["ingest", "--db", str(db), "--snapshot", str(snap), "--quiet"]) == 0
    ref = ["embed", "--db", str(db), "--model", REFERENCE_MODEL_NAME]
    assert cli.main([*ref, "--limit", "2"]) == 0
    assert f"2 papers embedded with {REFERENCE_MODEL_NAME}" in capsys.readouterr().out
    assert cli.main(ref) == 0  # the third paper, still with the model asked for
    assert f"1 papers embedded with {REFERENCE_MODEL_NAME}" in capsys.readouterr().out
    assert cli.main(["embed", "--db", str(db)]) == 0  # the committed classifier's model
    assert f"3 papers embedded with {DEFAULT_MODEL_NAME}" in capsys.readouterr().out
    with store.connect(db, read_only=True) as con:
        got = con.execute("SELECT model, count(*) FROM embeddings GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [(REFERENCE_MODEL_NAME, 3), (DEFAULT_MODEL_NAME, 3)]


def test_errors_have_exit_codes(tmp_path, capsys):
    assert cli.main(["ingest", "--db", str(tmp_path / "d.duckdb"), "--snapshot", "missing.gz"]) == 1
    assert "not found" in capsys.readouterr().err
    assert cli.main(["status", "--db", str(tmp_path / "none.duckdb")]) == 0
    assert "litmine nightly" in capsys.readouterr().out


def test_locked_database_exits_75(tmp_path, hold_write_lock):
    db = tmp_path / "l.duckdb"
    hold_write_lock(db)
    r = subprocess.run(
        [sys.executable, "-m", "litmine.cli", "labels", "stats", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 75
    assert "locked" in r.stderr and "wait for it" in r.stderr


def test_unreachable_arxiv_exits_75_and_suggests_snapshot(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "litmine.cli",
            "ingest",
            "--db",
            str(tmp_path / "n.duckdb"),
            "--base-url",
            "http://127.0.0.1:9/api?{}",
            "--delay",
            "0",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-02",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "LITMINE_FETCH_RETRIES": "1", "LITMINE_FETCH_BACKOFF": "0.01"},
    )
    assert r.returncode == 75
    assert "--snapshot" in r.stderr
