"""Export: download the filtered, labelled rows as CSV, Parquet or JSON lines.

The same code path as ``litmine export``: ``litmine.export.export_frame`` and ``to_bytes``.
"""

from __future__ import annotations

import app
import streamlit as st

from litmine.errors import LitmineError
from litmine.queries.export import export_count
from litmine.taxonomy import AXES

CLI_FLAGS = {"roles": "role", "families": "family", "dominant_role": "dominant-role"}


def command(filters, fmt: str) -> str:  # noqa: ANN001  (litmine.export.ExportFilters)
    """The ``litmine export`` command line that writes the same rows."""
    parts = ["litmine export", f"--format {fmt}", "--out exports/"]
    parts += [f"--since {filters.since}"] if filters.since else []
    parts += [f"--until {filters.until}"] if filters.until else []
    parts += ["--post-training-only"] if filters.post_training_only else []
    parts += ["--gold-only"] if filters.gold_only else []
    parts += [f"--min-confidence {filters.min_confidence}"] if filters.min_confidence else []
    for axis in AXES:
        flag = CLI_FLAGS.get(axis, axis)
        parts += [f"--{flag} {v}" for v in getattr(filters, axis, ())]
    return " ".join(parts)


ctx = app.context()
st.title("Export")
try:
    from litmine import export
except ImportError:
    st.info("Exports need `litmine.export`, which this installation does not have yet.")
    st.stop()

f = ctx.filters
c1, c2, c3 = st.columns(3)
pt_only = c1.toggle("Post-training papers only", True, key="export_pt")
gold_only = c2.toggle("Gold labels only", False, key="export_gold")
fmt = c3.radio("Format", list(export.FORMATS), key="export_format", horizontal=True)
with st.expander("Filter by label"):
    cols = st.columns(3)
    axes = {
        axis: tuple(
            cols[i % 3].multiselect(axis.replace("_", " "), AXES[axis].names, key=f"export_{axis}")
        )
        for i, axis in enumerate(export.FILTER_AXES)
    }
try:
    filters = export.ExportFilters(
        since=f.start.strftime("%Y-%m") if f.start else None,
        until=f.end.strftime("%Y-%m") if f.end else None,
        post_training_only=pt_only,
        gold_only=gold_only,
        min_confidence=f.min_confidence,
        **axes,
    )
except LitmineError as exc:
    st.error(str(exc))
    st.stop()

rows = app.load(export_count, ctx.key, filters)
st.metric("Rows to export", f"{rows:,}")
st.caption(
    "Month range and confidence come from the sidebar."
    + (" The category filter does not apply to exports." if f.categories else "")
    + " The same rows from the command line:"
)
st.code(command(filters, fmt), language="bash")


def _data() -> bytes:
    with app.cursor(ctx.key) as cur:
        return export.to_bytes(export.export_frame(cur, filters), fmt)


st.download_button(
    f"Download {rows:,} rows as {fmt}",
    data=_data,
    file_name=f"litmine-labels.{fmt}",
    mime={"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}.get(
        fmt, "application/jsonl"
    ),
    on_click="ignore",
    disabled=rows == 0,
    key="export_download",
    type="primary",
)
