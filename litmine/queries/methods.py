"""The Trending methods page: method names defined in abstracts whose share rises."""

from __future__ import annotations

import duckdb
import pandas as pd

from litmine.queries.base import PAPER_COLUMNS, Filters, frame


def trending_methods(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    window: int = 3,
    min_recent: int = 2,
    limit: int = 20,
    post_training_only: bool = True,
) -> pd.DataFrame:
    """Method names whose share of papers rose: last ``window`` months against the window before.

    ``growth`` compares the rate per paper crawled in each window (+1 smoothed), so a corpus
    that simply grows, or a last month still being crawled, does not make every name trend.
    """
    where, params = f.sql()
    pt = "post_training" if post_training_only else "TRUE"
    return frame(
        con,
        f"""
        WITH scope AS (
            SELECT arxiv_id, submitted_month AS month, post_training FROM paper_labels
            WHERE submitted_month IS NOT NULL AND {where}
        ), last AS (SELECT max(month) AS m FROM scope),
        w AS (
            SELECT arxiv_id, post_training,
                CASE WHEN month > m - to_months(?) THEN 'recent'
                     WHEN month > m - to_months(2 * ?) THEN 'previous' END AS period, month
            FROM scope, last
        ), corpus AS (
            SELECT count(*) FILTER (WHERE period = 'recent') AS n_recent,
                   count(*) FILTER (WHERE period = 'previous') AS n_previous
            FROM w WHERE {pt}
        ), mw AS (
            SELECT DISTINCT m.name, m.expansion, w.arxiv_id, w.period, w.month
            FROM methods m JOIN w USING (arxiv_id) WHERE {pt}
        ), agg AS (
            SELECT name, mode(expansion) AS expansion, count(DISTINCT arxiv_id) AS papers,
                count(DISTINCT arxiv_id) FILTER (WHERE period = 'recent') AS recent,
                count(DISTINCT arxiv_id) FILTER (WHERE period = 'previous') AS previous,
                min(month) AS first_month
            FROM mw GROUP BY name
        )
        SELECT name, expansion, papers, recent, previous, first_month,
            ((recent + 1.0) / (n_recent + 1)) / ((previous + 1.0) / (n_previous + 1)) AS growth
        FROM agg, corpus WHERE recent >= ?
        ORDER BY growth DESC, recent DESC, name LIMIT ?
        """,
        [*params, window, window, min_recent, limit],
    )


def method_monthly(
    con: duckdb.DuckDBPyConnection, names: list[str], f: Filters, post_training_only: bool = True
) -> pd.DataFrame:
    """Papers per month defining each of ``names`` (zero-filled over the months in range)."""
    where, params = f.sql()
    pt = " AND post_training" if post_training_only else ""
    return frame(
        con,
        f"""
        WITH l AS (
            SELECT arxiv_id, submitted_month AS month FROM paper_labels
            WHERE submitted_month IS NOT NULL AND {where}{pt}
        ), c AS (
            SELECT m.name, l.month, count(DISTINCT m.arxiv_id) AS papers
            FROM methods m JOIN l USING (arxiv_id) WHERE list_contains(?, m.name) GROUP BY 1, 2
        ), grid AS (
            SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS name), (SELECT DISTINCT month FROM l)
        )
        SELECT name, month, coalesce(papers, 0) AS papers
        FROM grid LEFT JOIN c USING (name, month) ORDER BY list_position(?, name), month
        """,
        [*params, list(names), list(names), list(names)],
    )


def method_papers(
    con: duckdb.DuckDBPyConnection, name: str, f: Filters, limit: int = 200
) -> pd.DataFrame:
    """Papers that define the method ``name``, newest first."""
    where, params = f.sql()
    return frame(
        con,
        f"SELECT m.expansion, {PAPER_COLUMNS} FROM methods m JOIN paper_labels USING (arxiv_id) "
        f"WHERE m.name = ? AND {where} ORDER BY submitted_month DESC, arxiv_id DESC LIMIT ?",
        [name, *params, limit],
    )
