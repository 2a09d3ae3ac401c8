"""The corpus as a whole: its size and coverage, its months and categories (sidebar, overview)."""

from __future__ import annotations

import duckdb
import pandas as pd

from litmine.queries.base import frame


def overview(con: duckdb.DuckDBPyConnection) -> dict:
    """Corpus size, label coverage, the current model and when the copy was published.

    ``gated``: papers the relevance gate stopped before embedding (labelled by the gate).
    """
    row = con.execute(
        """
        SELECT (SELECT count(*) FROM papers),
               (SELECT count(*) FROM paper_labels WHERE post_training IS NOT NULL),
               (SELECT count(*) FROM gold_current),
               (SELECT count(*) FROM embeddings),
               (SELECT count(*) FROM map_coords),
               (SELECT count(*) FROM methods),
               (SELECT min(submitted_month) FROM papers),
               (SELECT max(submitted_month) FROM papers),
               (SELECT value FROM meta WHERE key = 'current_model'),
               (SELECT value FROM meta WHERE key = 'published_at'),
               (SELECT count(*) FROM paper_labels WHERE label_source = 'gate')
        """
    ).fetchall()[0]
    keys = ("papers", "classified", "gold", "embedded", "mapped", "methods")
    out = dict(zip(keys, (int(v) for v in row[:6]), strict=True))
    out.update(first_month=row[6], last_month=row[7], current_model=row[8], published_at=row[9])
    out["gated"] = int(row[10])
    return out


def month_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Papers per submission month over the whole corpus (for the date-range control)."""
    return frame(
        con,
        "SELECT submitted_month AS month, count(*) AS papers FROM papers "
        "WHERE submitted_month IS NOT NULL GROUP BY 1 ORDER BY 1",
    )


def top_categories(con: duckdb.DuckDBPyConnection, limit: int = 40) -> pd.DataFrame:
    """The most frequent arXiv categories with their paper counts."""
    return frame(
        con,
        "SELECT category, count(*) AS papers FROM "
        "(SELECT unnest(categories) AS category FROM papers) "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
        [limit],
    )
