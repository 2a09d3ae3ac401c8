"""The Evolution page: monthly post-training papers, their share, and their labels per axis."""

from __future__ import annotations

import duckdb
import pandas as pd

from litmine.errors import UnknownLabel
from litmine.queries.base import Filters, frame
from litmine.taxonomy import AXES, MULTI_AXES


def monthly_totals(
    con: duckdb.DuckDBPyConnection, f: Filters, by_month: bool = True
) -> pd.DataFrame:
    """Papers crawled, classified, post-training (gold among them) and the post-training share.

    One row per month, or a single row for the whole range with ``by_month=False``.
    """
    scope, params = f.scope_sql()
    label_where, label_params = Filters(min_confidence=f.min_confidence, labels=f.labels).sql()
    pt = f"count(*) FILTER (WHERE post_training AND {label_where})"
    month, group = ("submitted_month AS month, ", "GROUP BY 1 ORDER BY 1") if by_month else ("", "")
    return frame(
        con,
        f"""
        SELECT {month}count(*) AS papers,
               count(*) FILTER (WHERE post_training IS NOT NULL) AS classified,
               {pt} AS post_training,
               count(*) FILTER (WHERE post_training AND is_gold AND {label_where}) AS gold,
               {pt} / nullif(count(*), 0) AS share
        FROM paper_labels WHERE {scope} AND submitted_month IS NOT NULL {group}
        """,
        [*label_params, *label_params, *label_params, *params],
    )


def _label_expr(name: str) -> str:
    """One label per row: multi-label axes are unnested; an empty list counts as '(none)'."""
    if name in MULTI_AXES:
        return f"unnest(CASE WHEN len({name}) > 0 THEN {name} ELSE ['(none)'] END)"
    return f"coalesce({name}, '(none)')"


def monthly_by_axis(con: duckdb.DuckDBPyConnection, name: str, f: Filters) -> pd.DataFrame:
    """Post-training papers per month and label of one axis, with each label's monthly share.

    For a multi-label axis a paper counts once under each of its labels, so ``share`` is the
    label's share of that month's label assignments.
    """
    if name not in AXES or name == "post_training":
        raise UnknownLabel(f"cannot break post-training papers down by {name!r}")
    where, params = f.sql()
    return frame(
        con,
        f"""
        WITH t AS (
            SELECT submitted_month AS month, {_label_expr(name)} AS label
            FROM paper_labels WHERE post_training AND submitted_month IS NOT NULL AND {where}
        ), c AS (SELECT month, label, count(*) AS papers FROM t GROUP BY 1, 2),
        grid AS (SELECT * FROM (SELECT DISTINCT month FROM t), (SELECT DISTINCT label FROM t))
        SELECT month, label, coalesce(papers, 0) AS papers,
               coalesce(papers, 0) / sum(coalesce(papers, 0)) OVER (PARTITION BY month) AS share
        FROM grid LEFT JOIN c USING (month, label) ORDER BY 1, 2
        """,
        params,
    )
