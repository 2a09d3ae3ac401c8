"""The Export page: how many rows ``litmine export`` would write for the chosen filters."""

from __future__ import annotations

import duckdb

from litmine import export


def export_count(con: duckdb.DuckDBPyConnection, filters: export.ExportFilters) -> int:
    """How many rows ``litmine export`` writes for ``filters``."""
    sql, params = export.export_query(filters)
    return int(con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0])
