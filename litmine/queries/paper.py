"""One paper: its metadata and every label with its probability, source and evidence."""

from __future__ import annotations

import duckdb
import pandas as pd

from litmine.queries.base import frame
from litmine.taxonomy import AXES, MULTI_AXES


def paper(con: duckdb.DuckDBPyConnection, arxiv_id: str) -> pd.DataFrame:
    """One paper's metadata and current labels (zero rows if unknown)."""
    return frame(
        con,
        "SELECT arxiv_id, title, abstract, authors, categories, submitted_month AS month, "
        "is_gold, label_source, model_id, labelled_at FROM paper_labels WHERE arxiv_id = ?",
        [arxiv_id],
    )


def _evidence_sql(name: str, label: str) -> str:
    """The model's evidence sentence: JSON ``{axis: {label: sentence}}`` or ``{axis: sentence}``."""
    path = f"'$.{name}'"
    return (
        f"coalesce(json_extract_string(evidence_by_axis, '$.{name}.' || {label}), "
        f"CASE WHEN json_type(evidence_by_axis, {path}) = 'VARCHAR' "
        f"THEN json_extract_string(evidence_by_axis, {path}) END)"
    )


def paper_label_rows(con: duckdb.DuckDBPyConnection, arxiv_id: str) -> pd.DataFrame:
    """Every label of one paper: axis, label, probability, source (gold or model id), evidence."""
    parts = [
        "SELECT 'post_training' AS axis, CASE WHEN post_training THEN 'yes' ELSE 'no' END AS label,"
        " CASE WHEN is_gold THEN 1.0 WHEN post_training THEN post_training_prob"
        " ELSE 1 - post_training_prob END AS probability, label_source AS source,"
        f" CASE WHEN is_gold THEN evidence ELSE {_evidence_sql('post_training', 'label')} END"
        " AS evidence, 0 AS ord FROM base WHERE post_training IS NOT NULL"
    ]
    for i, name in enumerate([*AXES][1:], 1):
        if name in MULTI_AXES:
            prob = f"CAST(json_extract_string({name}_probs, '$.' || label) AS DOUBLE)"
            src = f"(SELECT *, unnest({name}) AS label FROM base)"
        else:
            prob, src = f"{name}_prob", f"(SELECT *, {name} AS label FROM base)"
        parts.append(
            f"SELECT '{name}', label, CASE WHEN is_gold THEN 1.0 ELSE {prob} END, label_source, "
            f"CASE WHEN NOT is_gold THEN {_evidence_sql(name, 'label')} END, {i} "
            f"FROM {src} WHERE post_training AND label IS NOT NULL"
        )
    border_evidence = _evidence_sql("borderline", "'borderline'")
    parts.append(
        "SELECT 'borderline', 'yes', NULL, label_source, "
        f"CASE WHEN NOT is_gold THEN {border_evidence} END, 99 FROM base WHERE borderline"
    )
    sql = (
        "WITH base AS (SELECT * FROM paper_labels WHERE arxiv_id = ?) "
        "SELECT axis, label, probability, source, evidence FROM ("
        + " UNION ALL ".join(parts)
        + ") ORDER BY ord, probability DESC NULLS LAST, label"
    )
    return frame(con, sql, [arxiv_id])
