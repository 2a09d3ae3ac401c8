"""``litmine status``: what the database holds, where the cursor is, how the last runs went."""

from __future__ import annotations

from pathlib import Path

from litmine import embed, projection, schema, store, text
from litmine.config import DEFAULT_MODEL_NAME
from litmine.ingest import CURSOR


def pending(con) -> dict[str, int]:  # noqa: ANN001
    """Papers each nightly stage still has to do (what the next run will work on)."""
    one = lambda q, p=(): con.execute(q, list(p)).fetchone()[0]  # noqa: E731
    model = store.get_meta(con, "embedding_model") or DEFAULT_MODEL_NAME
    current = store.get_meta(con, "current_model") or ""
    return {
        "gate": one("SELECT count(*) FROM gate_state WHERE gate = 'unscored'"),
        "embed": embed.count_missing(con, model),
        "methods": text.count_missing(con),
        "classify": one(f"SELECT count(*) FROM ({schema.UNPREDICTED})", [model, current]),
        "map": projection.count_missing(con, model),
    }


def _gate_and_pending(con) -> dict:  # noqa: ANN001
    """The gate's state and each stage's backlog; empty on a database older than the gate."""
    if store.schema_version(con) < 8:  # read-only: the next write migrates it
        return {"gate": [], "gate_id": None, "gate_cut": None, "pending": {}}
    return {
        "gate": con.execute(
            "SELECT gate, count(*) FROM gate_state GROUP BY gate ORDER BY gate"
        ).fetchall(),
        "gate_id": store.get_meta(con, "current_gate") or None,
        "gate_cut": store.get_meta(con, "gate_cut"),
        "pending": pending(con),
    }


def status(db_path: Path) -> dict:
    """A summary of the database, read without taking the write lock when it is busy."""
    if not Path(db_path).exists():
        return {"db": str(db_path), "exists": False}
    try:
        con = store.open_db(db_path, read_only=True)
    except store.DatabaseLocked:
        return {"db": str(db_path), "exists": True, "locked": True}
    try:
        one = lambda q: con.execute(q).fetchone()[0]  # noqa: E731
        return {
            "db": str(db_path),
            "exists": True,
            "schema_version": store.schema_version(con),
            "papers": one("SELECT count(*) FROM papers"),
            "embedded": one("SELECT count(*) FROM embeddings"),
            "predicted": one(
                "SELECT count(*) FROM predictions WHERE model_id = "
                "(SELECT value FROM meta WHERE key = 'current_model')"
            ),
            "gold_papers": one("SELECT count(*) FROM gold_current"),
            **_gate_and_pending(con),
            "current_model": store.get_meta(con, "current_model"),
            "cursor": store.get_cursor(con, CURSOR),
            "runs": con.execute(
                "SELECT stage, status, started, ended, fetched, inserted, updated, unchanged, error "
                "FROM runs WHERE parent_id IS NULL OR parent_id IN "
                "(SELECT run_id FROM runs WHERE stage = 'nightly') ORDER BY started DESC LIMIT 12"
            ).fetchall(),
        }
    finally:
        con.close()


def render(s: dict) -> str:
    if not s.get("exists"):
        return f"no database at {s['db']}\n  run `litmine nightly` (or `litmine ingest --snapshot FILE`)"
    if s.get("locked"):
        return f"database {s['db']} is being written by another process; try again shortly"
    lines = [
        f"database      {s['db']} (schema v{s['schema_version']})",
        f"papers        {s['papers']:,}",
        f"embedded      {s['embedded']:,}",
        f"predicted     {s['predicted']:,} (model {s['current_model'] or 'none'})",
        f"gold papers   {s['gold_papers']:,}",
        "gate          "
        + (
            f"{s['gate_id']} (cut {float(s['gate_cut']):.4f}): "
            + ", ".join(f"{n:,} {g}" for g, n in s["gate"])
            if s["gate_id"]
            else "off (every paper is embedded)"
        ),
        "still to do   "
        + (", ".join(f"{stage} {n:,}" for stage, n in s["pending"].items()) or "unknown")
        + (" (run `litmine nightly`)" if any(s["pending"].values()) or not s["pending"] else ""),
        f"cursor        {s['cursor'] or 'not set (next crawl starts at the scope start_date)'}",
        "last runs:",
    ]
    for stage, st, started, ended, fetched, ins, upd, unch, err in s["runs"]:
        took = f"{(ended - started).total_seconds():.1f}s" if ended else "-"
        line = f"  {started:%Y-%m-%d %H:%M} {stage:<9} {st:<8} {took:>8}  fetched {fetched} new {ins} changed {upd} same {unch}"
        lines.append(line + (f"  error: {err.splitlines()[0][:80]}" if err else ""))
    return "\n".join(lines)
