"""What every dashboard question shares: the read-only connection, :class:`Filters`, the paper
columns and the list of papers behind a number.

Query functions take a connection (opened with :func:`open_readonly`) and :class:`Filters`, run
their aggregation in DuckDB and return a small frame. Label data always comes from the
``paper_labels`` view, so gold labels override the current model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from litmine import store
from litmine.config import published_db_path
from litmine.errors import LitmineError, UnknownLabel
from litmine.taxonomy import MULTI_AXES, axis, check_label

SETUP_HINT = "load papers with `litmine nightly --snapshot FILE` (or `litmine nightly` to crawl)"
# Values of the filterable pseudo-axes next to the taxonomy's own axes.
EXTRA_FILTERS = {
    "post_training": ("yes", "no", "unclassified"),
    "borderline": ("yes", "no"),
    "source": ("gold", "model"),
}
CONFIDENT = "(is_gold OR greatest(post_training_prob, 1 - post_training_prob) >= ?)"
PAPER_COLUMNS = (
    "arxiv_id, submitted_month AS month, title, post_training, post_training_prob, provenance, "
    "provenance_prob, dominant_role, dominant_role_prob, roles, families, interface, "
    "contribution, contribution_prob, borderline, label_source"
)


def source_path(db_path: Path | str) -> Path | None:
    """The file the dashboard reads: the published copy, else the working database, else None."""
    db_path = Path(db_path)
    for path in (published_db_path(db_path), db_path):
        if path.is_file():
            return path
    return None


def open_readonly(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open the published copy of ``db_path`` (or the database itself) read-only."""
    path = source_path(db_path)
    if path is None:
        raise LitmineError(f"no database at {db_path}", hint=SETUP_HINT)
    return store.open_db(path, read_only=True)


@dataclass(frozen=True)
class Filters:
    """What a page shows: a month range, categories, a confidence floor and label filters.

    ``min_confidence`` applies to the post-training decision (gold rows always pass), as in
    ``litmine export``. ``labels`` holds ``(axis, accepted labels)`` pairs, ANDed across axes;
    a multi-label axis matches when the paper holds any accepted label.
    """

    start: date | None = None
    end: date | None = None
    categories: tuple[str, ...] = ()
    min_confidence: float = 0.0
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def scope_sql(self) -> tuple[str, list]:
        """Conditions on month and category only: the denominator of every share."""
        conds, params = ["TRUE"], []
        if self.start:
            conds.append("submitted_month >= ?")
            params.append(self.start)
        if self.end:
            conds.append("submitted_month <= ?")
            params.append(self.end)
        if self.categories:
            conds.append("list_has_any(categories, ?::VARCHAR[])")
            params.append(list(self.categories))
        return " AND ".join(conds), params

    def sql(self) -> tuple[str, list]:
        """Scope, confidence and label conditions over ``paper_labels`` columns."""
        where, params = self.scope_sql()
        conds = [where]
        if self.min_confidence > 0:
            conds.append(CONFIDENT)
            params.append(float(self.min_confidence))
        for name, values in self.labels:
            cond, extra = _label_condition(name, tuple(values))
            conds.append(cond)
            params += extra
        return " AND ".join(conds), params


def _label_condition(name: str, values: tuple[str, ...]) -> tuple[str, list]:
    if name in EXTRA_FILTERS:
        bad = [v for v in values if v not in EXTRA_FILTERS[name]]
        if bad:
            raise UnknownLabel(f"unknown {name} filter {bad}", hint=f"use {EXTRA_FILTERS[name]}")
        sql = {
            ("post_training", "yes"): "post_training",
            ("post_training", "no"): "NOT post_training",
            ("post_training", "unclassified"): "post_training IS NULL",
            ("borderline", "yes"): "coalesce(borderline, false)",
            ("borderline", "no"): "NOT coalesce(borderline, false)",
            ("source", "gold"): "is_gold",
            ("source", "model"): "(NOT is_gold AND label_source IS NOT NULL)",
        }
        return "(" + " OR ".join([sql[(name, v)] for v in values] or ["FALSE"]) + ")", []
    axis(name)
    labels = [check_label(name, v) for v in values]
    if name in MULTI_AXES:
        return f"list_has_any({name}, ?::VARCHAR[])", [labels]
    return f"list_contains(?::VARCHAR[], {name})", [labels]


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    """The result of ``sql`` as a frame."""
    return con.execute(sql, params or []).df()


def papers(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    month: date | None = None,
    limit: int = 200,
    post_training_only: bool = True,
) -> pd.DataFrame:
    """The papers behind a number: filtered (and optionally one month), newest first."""
    where, params = f.sql()
    if post_training_only:
        where += " AND post_training"
    if month is not None:
        where += " AND submitted_month = ?"
        params.append(month)
    return frame(
        con,
        f"SELECT {PAPER_COLUMNS} FROM paper_labels WHERE {where} "
        "ORDER BY submitted_month DESC, arxiv_id DESC LIMIT ?",
        [*params, limit],
    )
