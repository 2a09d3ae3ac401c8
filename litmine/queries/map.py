"""The Map page: the 2-D projection of the embeddings, one colour class per paper."""

from __future__ import annotations

import duckdb
import pandas as pd

from litmine.queries.base import Filters, frame
from litmine.taxonomy import MULTI_AXES, axis, check_label


def map_points(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    color_axis: str = "dominant_role",
    color_label: str | None = None,
    limit: int = 20000,
) -> pd.DataFrame:
    """Map coordinates with a colour class per paper; a fixed hash sample when over ``limit``."""
    where, params = f.sql()
    if color_axis == "post_training":
        color = "CASE WHEN post_training THEN 'post-training' ELSE 'other' END"
    elif color_axis in MULTI_AXES and color_label:
        check_label(color_axis, color_label)
        color = f"CASE WHEN list_contains({color_axis}, ?) THEN ? ELSE 'without it' END"
        params = [color_label, color_label, *params]
    elif color_axis in MULTI_AXES:
        color = (
            f"CASE len({color_axis}) WHEN 0 THEN '(none)' WHEN 1 THEN {color_axis}[1] "
            "ELSE 'several' END"
        )
    else:
        axis(color_axis)
        color = f"coalesce({color_axis}, '(none)')"
    return frame(
        con,
        f"""
        SELECT m.arxiv_id, m.x, m.y, l.title, l.submitted_month AS month,
            CASE WHEN l.post_training IS NULL THEN 'unclassified'
                 WHEN NOT l.post_training THEN 'not post-training' ELSE {color} END AS color,
            l.provenance, l.dominant_role, array_to_string(l.families, ', ') AS families,
            l.label_source
        FROM map_coords m JOIN paper_labels l USING (arxiv_id)
        WHERE {where}
        ORDER BY hash(m.arxiv_id) LIMIT ?
        """,
        [*params, limit],
    )
