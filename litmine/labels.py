"""Gold labels as append-only events: import, current state and statistics.

Every import writes one event per paper and axis; importing the same file twice writes nothing
new (an event's id is a hash of its content). The latest event per paper and axis is the gold
label, so corrections made later are simply newer events.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from litmine import config, store
from litmine.errors import LitmineError, UnknownLabel
from litmine.taxonomy import AXES, TAXONOMY_VERSION, Annotation, parse_record

log = logging.getLogger(__name__)

GOLD_AXES = (*AXES, "borderline")


def read_jsonl(path: Path) -> Iterator[dict]:
    """Records of a JSON-lines file; a bad line raises with its line number."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise LitmineError(f"{path}:{n}: not valid JSON ({exc.msg})") from None


def load_annotations(path: Path | str) -> list[Annotation]:
    """Validate every record of an annotation file (or a directory of ``*.jsonl`` files)."""
    return [a for a, _ in _records_with_keys(Path(path))]


def _event_rows(ann: Annotation, created, source_file: str, timestamp_key: str) -> Iterable[tuple]:
    for axis, value in ann.axis_values().items():
        payload = json.dumps(value, sort_keys=True)
        key = "|".join([ann.arxiv_id, axis, payload, ann.annotator, timestamp_key])
        event_id = hashlib.sha1(key.encode()).hexdigest()[:20]
        yield (
            event_id,
            ann.arxiv_id,
            axis,
            payload,
            ann.annotator,
            ann.taxonomy_version,
            ann.evidence,
            source_file,
            created,
        )


@dataclass(frozen=True)
class ImportCounts:
    records: int
    events_added: int
    events_existing: int


def _records_with_keys(path: Path) -> list[tuple[Annotation, str]]:
    """Validated annotations of a file or directory, each with its ``created`` key if any."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise LitmineError(f"no annotation file at {path}")
    out = []
    for f in files:
        for rec in read_jsonl(f):
            try:
                out.append((parse_record(rec), str(rec.get("created") or "")))
            except UnknownLabel as exc:
                raise UnknownLabel(f"{f}: {exc.args[0]}", hint=exc.hint) from None
    return out


def import_labels(
    con: duckdb.DuckDBPyConnection, path: Path | str, timestamp_key: str = ""
) -> ImportCounts:
    """Append the annotations in ``path`` as label events; re-importing adds nothing.

    A record's ``created`` field (dashboard corrections carry one), or ``timestamp_key``,
    distinguishes a deliberate repeat of an earlier label, e.g. a correction that restores it.
    """
    path = Path(path)
    anns = _records_with_keys(path)
    created = store.now()
    rows = [r for a, key in anns for r in _event_rows(a, created, path.name, key or timestamp_key)]
    with store.transaction(con):
        before = con.execute("SELECT count(*) FROM label_events").fetchall()[0][0]
        con.execute("CREATE OR REPLACE TEMP TABLE _ev AS SELECT * FROM label_events LIMIT 0")
        if rows:
            import pandas as pd

            cols = ["event_id", "arxiv_id", "axis", "value", "annotator", "taxonomy_version",
                    "evidence", "source_file", "created"]  # fmt: skip
            store.insert_frame(con, "_ev", pd.DataFrame(rows, columns=cols), verb="INSERT")
        con.execute(
            "INSERT INTO label_events SELECT DISTINCT ON (event_id) * FROM _ev "
            "WHERE event_id NOT IN (SELECT event_id FROM label_events)"
        )
        con.execute("DROP TABLE _ev")
        added = con.execute("SELECT count(*) FROM label_events").fetchall()[0][0] - before
    return ImportCounts(len(anns), added, len(rows) - added)


def stats(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Counts of current gold labels per axis and label."""
    out: dict[str, dict[str, int]] = {}
    for axis in GOLD_AXES:
        rows = con.execute(
            """
            WITH cur AS (
                SELECT value FROM label_events WHERE axis = ?
                QUALIFY row_number() OVER (PARTITION BY arxiv_id ORDER BY created DESC, event_id DESC) = 1
            )
            SELECT label, count(*) FROM (
                SELECT unnest(CASE WHEN json_type(value) = 'ARRAY'
                                   THEN CAST(value AS VARCHAR[])
                                   ELSE [trim(CAST(value AS VARCHAR), '"')] END) AS label
                FROM cur
            ) GROUP BY label ORDER BY count(*) DESC, label
            """,
            [axis],
        ).fetchall()
        out[axis] = {str(k): int(v) for k, v in rows}
    n = con.execute("SELECT count(DISTINCT arxiv_id) FROM label_events").fetchone()[0]
    out["papers"] = {"total": int(n), "taxonomy_version": TAXONOMY_VERSION}
    return out


def render_stats(s: dict[str, dict[str, int]]) -> str:
    lines = [f"gold papers: {s['papers']['total']} (taxonomy {s['papers']['taxonomy_version']})"]
    for axis in GOLD_AXES:
        counts = s.get(axis, {})
        lines.append(f"{axis}:")
        lines += [f"  {label:<24} {n:>6}" for label, n in counts.items()]
    return "\n".join(lines)


def drawn_ids(kind: str, draws_dir: Path | None = None) -> set[str]:
    """Gold ids of the batches drawn a given way (``corpus/draws/*.json``, e.g. ``random``)."""
    folder = Path(draws_dir) if draws_dir else config.project_dir() / "corpus" / "draws"
    ids: set[str] = set()
    for f in sorted(folder.glob("*.json")):
        d = json.loads(f.read_text())
        if d.get("kind") == kind:
            ids.update(d.get("ids") or d.get("why") or ())
    return ids
