"""Export: the labelled dataset as Parquet, CSV or JSON lines, with a dataset card and checksums.

Rows come from the ``paper_labels`` view (gold labels override the model's), one per labelled
paper, ordered by arXiv id. Output is deterministic: the same database and filters give the same
bytes. The dashboard's download button uses :func:`export_frame` and :func:`to_bytes`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from litmine import config
from litmine.errors import LitmineError
from litmine.taxonomy import AXES, MULTI_AXES, TAXONOMY_VERSION, check_label

FORMATS = ("parquet", "csv", "jsonl")
FILTER_AXES = ("provenance", "interface", "roles", "dominant_role", "families", "contribution")
_STR, _LIST, _F64, _BOOL = pa.string(), pa.list_(pa.string()), pa.float64(), pa.bool_()


def _probs_type(axis: str) -> pa.DataType:
    return pa.struct([(label, _F64) for label in AXES[axis].names])


COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("arxiv_id", _STR, "arXiv identifier without version, e.g. 2501.12948"),
    ("title", _STR, "title (whitespace normalised)"),
    ("abstract", _STR, "abstract (whitespace normalised)"),
    ("authors", _STR, "author names as arXiv lists them"),
    ("categories", _LIST, "arXiv categories, primary first"),
    ("submitted_month", _STR, "month of first submission, YYYY-MM"),
    ("post_training", _BOOL, "main contribution is about post-training a language model"),
    ("provenance", _STR, "where training trajectories come from (single label)"),
    ("interface", _LIST, "how the learning signal attaches to trajectories (multi-label)"),
    ("roles", _LIST, "behavioural roles of training (multi-label)"),
    ("dominant_role", _STR, "the role behind the headline contribution (single label)"),
    ("families", _LIST, "the survey's method families (multi-label)"),
    ("contribution", _STR, "kind of contribution (single label)"),
    ("borderline", _BOOL, "the paper sits on the post-training boundary"),
    ("post_training_prob", _F64, "probability that post_training is true (gold: 1.0 or 0.0)"),
    ("provenance_prob", _F64, "probability of the provenance label (1.0 for gold)"),
    ("dominant_role_prob", _F64, "probability of the dominant_role label (1.0 for gold)"),
    ("contribution_prob", _F64, "probability of the contribution label (1.0 for gold)"),
    ("interface_probs", _probs_type("interface"), "label -> probability (gold: 1.0 chosen)"),
    ("roles_probs", _probs_type("roles"), "label -> probability (gold: 1.0 chosen)"),
    ("families_probs", _probs_type("families"), "label -> probability (gold: 1.0 chosen)"),
    (
        "label_source",
        _STR,
        "'gold' for codebook annotations (annotator in the gold files); 'gate' for papers the "
        "relevance gate stopped before embedding (post_training false, post_training_prob the "
        "gate's probability); else the predicting model's id",
    ),
    ("taxonomy_version", _STR, "version of the label taxonomy"),
    ("evidence", _STR, "abstract sentence that best supports the post_training label"),
)
SCHEMA = pa.schema([(name, typ) for name, typ, _ in COLUMNS])
# Pinned Parquet writer options: the same rows always give the same bytes.
PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=True,
                       write_statistics=True, version="2.6", data_page_version="1.0",
                       row_group_size=65536)  # fmt: skip
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class ExportFilters:
    """Which rows to export. Axis tuples keep rows holding any of the values (axes are ANDed).

    ``min_confidence`` keeps rows whose post_training decision (and every filtered axis label)
    has at least that probability; gold rows always pass.
    """

    since: str | None = None
    until: str | None = None
    post_training_only: bool = False
    gold_only: bool = False
    min_confidence: float = 0.0
    provenance: tuple[str, ...] = ()
    interface: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    dominant_role: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    contribution: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for month in (self.since, self.until):
            if month is not None and not _MONTH.match(month):
                raise LitmineError(f"month {month!r} is not YYYY-MM", hint="e.g. --since 2025-01")
        if self.since and self.until and self.since > self.until:
            raise LitmineError(f"--since {self.since} is after --until {self.until}")
        if not 0.0 <= float(self.min_confidence) <= 1.0:
            raise LitmineError(f"min_confidence {self.min_confidence} is not between 0 and 1")
        for axis in FILTER_AXES:
            values = getattr(self, axis) or ()
            values = (values,) if isinstance(values, str) else tuple(values)
            object.__setattr__(self, axis, tuple(check_label(axis, v) for v in values))

    def describe(self) -> list[str]:
        """The filters that differ from the defaults, as ``name = value`` lines."""
        default = ExportFilters()
        return [
            f"{f.name} = {getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]


@dataclass(frozen=True)
class ExportResult:
    """The files one export wrote and how many rows they hold."""

    out_dir: Path
    data_path: Path
    card_path: Path
    checksums_path: Path
    rows: int
    fmt: str


def _probs_sql(axis: str) -> str:
    gold = ", ".join(
        f"{lb} := CASE WHEN list_contains({axis}, '{lb}') THEN 1.0 ELSE 0.0 END"
        for lb in AXES[axis].names
    )
    model = ", ".join(
        f"{lb} := TRY_CAST(json_extract_string({axis}_probs, '$.{lb}') AS DOUBLE)"
        for lb in AXES[axis].names
    )
    return (
        f"CASE WHEN is_gold THEN (CASE WHEN {axis} IS NULL THEN NULL ELSE struct_pack({gold}) END) "
        f"WHEN {axis}_probs IS NULL THEN NULL ELSE struct_pack({model}) END AS {axis}_probs"
    )


def _prob_sql(axis: str) -> str:
    return f"CASE WHEN is_gold AND {axis} IS NULL THEN NULL ELSE {axis}_prob END AS {axis}_prob"


def _where(f: ExportFilters) -> tuple[str, list]:
    conds, params = ["label_source IS NOT NULL"], []
    if f.since:
        conds.append("submitted_month >= ?::DATE")
        params.append(f"{f.since}-01")
    if f.until:
        conds.append("submitted_month <= ?::DATE")
        params.append(f"{f.until}-01")
    if f.post_training_only:
        conds.append("post_training")
    if f.gold_only:
        conds.append("is_gold")
    conf = float(f.min_confidence)
    if conf > 0:
        conds.append("(is_gold OR greatest(post_training_prob, 1 - post_training_prob) >= ?)")
        params.append(conf)
    for axis in FILTER_AXES:
        values = list(getattr(f, axis))
        if not values:
            continue
        if axis in MULTI_AXES:
            conds.append(f"list_has_any({axis}, ?::VARCHAR[])")
            params.append(values)
            if conf > 0:
                conds.append(
                    f"(is_gold OR len(list_filter(?::VARCHAR[], lambda x: list_contains({axis}, x)"
                    f" AND coalesce(TRY_CAST(json_extract_string({axis}_probs, '$.' || x) "
                    "AS DOUBLE), 0) >= ?)) > 0)"
                )
                params += [values, conf]
        else:
            conds.append(f"list_contains(?::VARCHAR[], {axis})")
            params.append(values)
            if conf > 0:
                conds.append(f"(is_gold OR {axis}_prob >= ?)")
                params.append(conf)
    return " AND ".join(conds), params


def export_query(filters: ExportFilters) -> tuple[str, list]:
    """The SQL (over ``paper_labels``) and parameters that select the export rows."""
    where, params = _where(filters)
    sql = f"""
        SELECT arxiv_id, title, abstract, authors, categories,
               strftime(submitted_month, '%Y-%m') AS submitted_month,
               post_training, provenance, interface, roles, dominant_role, families,
               contribution, borderline,
               CASE WHEN is_gold THEN post_training::DOUBLE ELSE post_training_prob END
                   AS post_training_prob,
               {_prob_sql("provenance")}, {_prob_sql("dominant_role")},
               {_prob_sql("contribution")},
               {_probs_sql("interface")}, {_probs_sql("roles")}, {_probs_sql("families")},
               label_source, ?::VARCHAR AS taxonomy_version, evidence
        FROM paper_labels
        WHERE {where}
        ORDER BY arxiv_id
    """
    return sql, [TAXONOMY_VERSION, *params]


def export_table(con: duckdb.DuckDBPyConnection, filters: ExportFilters | None = None) -> pa.Table:
    """The export rows as an Arrow table with the fixed :data:`SCHEMA` (works read-only)."""
    sql, params = export_query(filters or ExportFilters())
    try:  # a cursor, so a caller's half-fetched result on ``con`` does not get in the way
        with con.cursor() as cur:
            table = cur.sql(sql, params=params).to_arrow_table()
    except duckdb.CatalogException as exc:
        raise LitmineError(
            f"the database has no labelled papers to export ({exc})",
            hint="run `litmine nightly` (or ingest, embed and classify) first",
        ) from exc
    return table.cast(SCHEMA)


def export_frame(
    con: duckdb.DuckDBPyConnection, filters: ExportFilters | None = None
) -> pd.DataFrame:
    """The export rows as a DataFrame (lists and label -> probability dicts as Python objects)."""
    return export_table(con, filters).to_pandas()


def _as_table(data: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, schema=SCHEMA, preserve_index=False).cast(SCHEMA)
    return data.cast(SCHEMA)


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(_clean(value), ensure_ascii=False)
    return repr(value) if isinstance(value, float) else str(value)


def to_bytes(data: pa.Table | pd.DataFrame, fmt: str) -> bytes:
    """Encode export rows (from :func:`export_table` or :func:`export_frame`) in ``fmt``."""
    if fmt not in FORMATS:
        raise LitmineError(f"unknown export format {fmt!r}", hint=f"use one of {FORMATS}")
    table = _as_table(data).replace_schema_metadata(None)
    if fmt == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **PARQUET_OPTIONS)
        return sink.getvalue().to_pybytes()
    rows = table.to_pylist()
    if fmt == "jsonl":
        lines = [json.dumps(_clean(r), ensure_ascii=False) + "\n" for r in rows]
        return "".join(lines).encode()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SCHEMA.names)
    writer.writerows([_csv_cell(r[name]) for name in SCHEMA.names] for r in rows)
    return buf.getvalue().encode()


def label_counts(table: pa.Table) -> dict[str, Counter]:
    """Counts per label for every axis (multi-label axes count each label of a row)."""
    out: dict[str, Counter] = {}
    for axis in (*AXES, "borderline"):
        col = table.column(axis).to_pylist()
        if axis in MULTI_AXES:
            out[axis] = Counter(v for vals in col if vals for v in vals)
        elif axis in ("post_training", "borderline"):
            out[axis] = Counter({True: "yes", False: "no"}[v] for v in col if v is not None)
        else:
            out[axis] = Counter(v for v in col if v is not None)
    out["label_source"] = Counter(table.column("label_source").to_pylist())
    return out


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


def _metrics_table(metrics: dict) -> list[str]:
    """Axis rows by scalar-metric columns (nested per-label details are left to the model card)."""
    per_axis = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    scalar = (int, float)
    cols = [*dict.fromkeys(k for m in per_axis.values() for k, v in m.items()
                           if isinstance(v, scalar) and not isinstance(v, bool))]  # fmt: skip
    if not cols:
        return ["The model card lists no per-axis metrics."]
    lines = ["| axis | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [
        f"| {axis} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |"
        for axis, m in per_axis.items()
    ]
    return lines


def _model_card_section(path: Path) -> list[str]:
    if not path.is_file():
        return ["No model card was found; model-labelled rows carry their model id."]
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"The model card at `{path.name}` could not be read ({exc})."]
    if not isinstance(card, dict):
        return [f"The model card at `{path.name}` is not a JSON object."]
    tuned = path.with_name("tuned_card.json")  # the blend with fine-tuned heads labels rows
    tuned = json.loads(tuned.read_text(encoding="utf-8")) if tuned.is_file() else {}
    if tuned.get("lr_model_id") == card.get("model_id") and "metrics" in tuned:
        card = {
            **card,
            "model_id": tuned["model_id"],
            "metrics": tuned["metrics"]["blend"]["all_gold"],
        }
    head = [
        f"- {k}: {card[k]}"
        for k in ("model_id", "embedding_model", "taxonomy_version", "cv_folds")
        if k in card
    ]
    data = card.get("training_data")
    if isinstance(data, dict):
        head += [f"- training_data.{k}: {v}" for k, v in data.items() if isinstance(v, (int, str))]
    metrics = card.get("metrics")
    return [*head, "", *_metrics_table(metrics if isinstance(metrics, dict) else {})]


def dataset_card(table: pa.Table, filters: ExportFilters, fmt: str, model_card: Path) -> str:
    """The dataset card (README.md): schema, counts per label, sources, metrics, licence."""
    counts = label_counts(table)
    lines = [
        "# litmine labelled dataset",
        "",
        f"{table.num_rows} arXiv papers labelled under the Zhao et al. 2026 post-training "
        f"framework, taxonomy version `{TAXONOMY_VERSION}`. File: `labels.{fmt}`, one row per "
        "paper, ordered by `arxiv_id`. Gold labels (codebook annotations, each naming its annotator) override model predictions.",
        "",
        "Filters: " + ("; ".join(filters.describe()) or "none (every labelled paper)"),
        "",
        "## Label sources",
        "",
        "| source | rows |",
        "|---|---|",
        *[f"| {s} | {n} |" for s, n in sorted(counts["label_source"].items())],
        "",
        "## Counts per label",
        "",
    ]
    for axis in (*AXES, "borderline"):
        names = AXES[axis].names if axis in AXES else ("yes", "no")
        lines += [f"### {axis}", "", "| label | rows |", "|---|---|"]
        lines += [f"| {lb} | {counts[axis].get(lb, 0)} |" for lb in names] + [""]
    lines += ["## Schema", "", "| column | type | description |", "|---|---|---|"]
    lines += [f"| `{n}` | `{t}` | {d} |" for n, t, d in COLUMNS]
    lines += [
        "",
        "In CSV, list and label -> probability columns are JSON strings; in Parquet they are "
        "lists and structs; single-axis probabilities are those of the chosen label.",
        "",
        "## Model card metrics",
        "",
        *_model_card_section(model_card),
        "",
        "## Licence",
        "",
        "arXiv metadata (identifiers, titles, abstracts, authors, categories) is distributed by "
        "arXiv under CC0 1.0 (public domain dedication). The labels are produced by litmine "
        "(codebook annotators and a trained classifier); see the project's licence for their terms.",
        "",
        "Verify the files with `sha256sum -c SHA256SUMS`.",
    ]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export_dataset(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path | str,
    fmt: str = "parquet",
    filters: ExportFilters | None = None,
    model_card: Path | None = None,
) -> ExportResult:
    """Write ``labels.<fmt>``, ``README.md`` (the dataset card) and ``SHA256SUMS`` to ``out_dir``."""
    filters = filters or ExportFilters()
    data = to_bytes(table := export_table(con, filters), fmt)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    card_src = model_card or config.models_dir() / "model_card.json"
    files = {
        f"labels.{fmt}": data,
        "README.md": dataset_card(table, filters, fmt, card_src).encode(),
    }
    for name, blob in files.items():
        _write_atomic(out / name, blob)
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in sorted(files.items()))
    _write_atomic(out / "SHA256SUMS", sums.encode())
    return ExportResult(
        out, out / f"labels.{fmt}", out / "README.md", out / "SHA256SUMS", table.num_rows, fmt
    )
