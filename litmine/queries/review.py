"""The Review queue: papers to check first, and the corrections reviewers append.

The one write the dashboard makes, a review correction, goes to an append-only JSONL file that
``litmine labels import`` reads (:func:`append_correction`), never to the database.
"""

from __future__ import annotations

import fcntl
import json
import logging
from pathlib import Path

import duckdb
import pandas as pd

from litmine import store
from litmine.errors import LitmineError
from litmine.queries.base import PAPER_COLUMNS, Filters, frame
from litmine.taxonomy import TAXONOMY_VERSION, parse_record

log = logging.getLogger(__name__)

CORRECTION_PREFIX = "dashboard:"


def review_queue(
    con: duckdb.DuckDBPyConnection, f: Filters, exclude: tuple[str, ...] = (), limit: int = 50
) -> pd.DataFrame:
    """Model-labelled papers to review: borderline first, then the least confident call.

    ``confidence`` is the probability of the least certain single-label decision.
    """
    where, params = f.sql()
    return frame(
        con,
        f"""
        SELECT {PAPER_COLUMNS},
            CASE WHEN post_training THEN least(post_training_prob, provenance_prob,
                                               dominant_role_prob, contribution_prob)
                 ELSE 1 - post_training_prob END AS confidence
        FROM paper_labels
        WHERE NOT is_gold AND label_source IS NOT NULL AND NOT list_contains(?, arxiv_id)
              AND {where}
        ORDER BY coalesce(borderline, false) DESC, confidence ASC, arxiv_id LIMIT ?
        """,
        [list(exclude), *params, limit],
    )


def corrections_dir(db_path: Path | str) -> Path:
    """Where review corrections are appended: ``corrections/`` next to the working database."""
    return Path(db_path).parent / "corrections"


def pending_corrections(directory: Path) -> set[str]:
    """Paper ids with a correction on file (imported or not)."""
    out: set[str] = set()
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.add(json.loads(line)["arxiv_id"])
            except (ValueError, KeyError, TypeError):
                log.warning("%s: skipping a line that is not a correction record", path)
    return out


def append_correction(directory: Path, record: dict) -> Path:
    """Validate a codebook record and append it to today's corrections file (locked append)."""
    ann = parse_record(record)
    name = ann.annotator.removeprefix(CORRECTION_PREFIX)
    if name == ann.annotator or not name.strip():
        raise LitmineError(
            f"a correction's annotator must be '{CORRECTION_PREFIX}<name>', got {ann.annotator!r}",
            hint="enter your name in the review form",
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"dashboard-{store.now():%Y-%m-%d}.jsonl"
    line = json.dumps({**record, "taxonomy_version": TAXONOMY_VERSION}, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return path
