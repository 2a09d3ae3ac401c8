"""Ingest: store papers from the live arXiv crawl or a bulk snapshot, each row exactly once.

Both paths load rows into a temporary ``staging`` table and merge it into ``papers`` with
:func:`merge_staging`: new ids are inserted, a paper whose title or abstract changed is updated
(its embedding and prediction become stale through ``content_hash``), anything else is untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from litmine import store
from litmine.config import Scope, load_scope
from litmine.errors import LitmineError, SnapshotError

log = logging.getLogger(__name__)

CURSOR = "arxiv_last_updated"

STAGING_COLUMNS = (
    "arxiv_id VARCHAR, version INTEGER, title VARCHAR, abstract VARCHAR, authors VARCHAR, "
    "categories VARCHAR[], primary_category VARCHAR, published TIMESTAMP, updated TIMESTAMP, "
    "source VARCHAR"
)

# Submission month from the identifier: new style 2501.18723, old style hep-th/9901001.
_MONTH_SQL = """
    CASE
      WHEN regexp_matches(s.arxiv_id, '^\\d{4}\\.\\d{4,5}$') THEN
        make_date(2000 + CAST(substr(s.arxiv_id, 1, 2) AS INTEGER),
                  CAST(substr(s.arxiv_id, 3, 2) AS INTEGER), 1)
      WHEN regexp_matches(s.arxiv_id, '/\\d{7}$') THEN
        make_date(CASE WHEN CAST(regexp_extract(s.arxiv_id, '/(\\d{2})', 1) AS INTEGER) > 90
                       THEN 1900 ELSE 2000 END
                  + CAST(regexp_extract(s.arxiv_id, '/(\\d{2})', 1) AS INTEGER),
                  CAST(regexp_extract(s.arxiv_id, '/\\d{2}(\\d{2})', 1) AS INTEGER), 1)
      ELSE CAST(date_trunc('month', s.published) AS DATE)
    END
"""
# trim() is slow on long strings: run it only when the first or last character is one it removes.
_CLEAN = (
    "CASE WHEN contains({col}, chr(10)) OR contains({col}, '  ') OR contains({col}, chr(9))"
    " OR contains({col}, chr(13)) THEN trim(regexp_replace({col}, '\\s+', ' ', 'g'))"
    " WHEN trim(left({col}, 1)) = '' OR trim(right({col}, 1)) = '' THEN trim({col})"
    " ELSE {col} END"
)


@dataclass(frozen=True)
class MergeCounts:
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return self.__dict__.copy()

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(
            *(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values(), strict=True))
        )


def create_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE staging ({STAGING_COLUMNS})")


def merge_staging(con: duckdb.DuckDBPyConnection) -> MergeCounts:
    """Merge ``staging`` into ``papers`` (caller holds the transaction); return the counts."""
    ts = store.now()
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT arxiv_id) FROM staging WHERE arxiv_id IS NOT NULL"
    ).fetchone()
    dedupe = (
        """QUALIFY row_number() OVER (PARTITION BY s.arxiv_id
                                      ORDER BY s.version DESC NULLS LAST,
                                               s.updated DESC NULLS LAST) = 1"""
        if distinct < total
        else ""
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE staged AS
        SELECT c.*, md5(lower(c.title || chr(10) || c.abstract)) AS content_hash
        FROM (
            SELECT s.arxiv_id, s.version, {_CLEAN.format(col="s.title")} AS title,
                   {_CLEAN.format(col="s.abstract")} AS abstract, s.authors, s.categories,
                   s.primary_category, {_MONTH_SQL} AS submitted_month, s.published, s.updated,
                   s.source
            FROM staging s
            WHERE s.arxiv_id IS NOT NULL
            {dedupe}
        ) c
        WHERE coalesce(c.title, '') <> '' AND coalesce(c.abstract, '') <> ''
        ORDER BY c.arxiv_id
        """
    )
    fetched, valid = con.execute(
        "SELECT (SELECT count(*) FROM staging), (SELECT count(*) FROM staged)"
    ).fetchone()
    new, changed = con.execute(
        """
        SELECT count(*) FILTER (WHERE p.arxiv_id IS NULL),
               count(*) FILTER (WHERE p.arxiv_id IS NOT NULL AND p.content_hash <> s.content_hash
                                AND coalesce(s.version, 0) >= coalesce(p.version, 0))
        FROM staged s LEFT JOIN papers p USING (arxiv_id)
        """
    ).fetchone()
    con.execute(
        """
        UPDATE papers p SET version = s.version, title = s.title, abstract = s.abstract,
            authors = s.authors, categories = s.categories, primary_category = s.primary_category,
            updated = s.updated, content_hash = s.content_hash, source = s.source,
            last_changed = ?
        FROM staged s
        WHERE p.arxiv_id = s.arxiv_id AND p.content_hash <> s.content_hash
          AND coalesce(s.version, 0) >= coalesce(p.version, 0)
        """,
        [ts],
    )
    con.execute(
        """
        INSERT INTO papers
        SELECT s.arxiv_id, s.version, s.title, s.abstract, s.authors, s.categories,
               s.primary_category, s.submitted_month, s.published, s.updated, s.content_hash,
               s.source, ?::TIMESTAMP, ?::TIMESTAMP
        FROM staged s ANTI JOIN papers p USING (arxiv_id)
        """,
        [ts, ts],
    )
    con.execute("DROP TABLE staged")
    con.execute("DELETE FROM staging")
    return MergeCounts(
        fetched=fetched,
        inserted=new,
        updated=changed,
        unchanged=valid - new - changed,
        skipped=fetched - valid,
    )


_SNAPSHOT_COLUMNS = (
    "{id: 'VARCHAR', title: 'VARCHAR', abstract: 'VARCHAR', categories: 'VARCHAR', "
    "authors: 'VARCHAR', versions: 'STRUCT(version VARCHAR, created VARCHAR)[]', "
    "update_date: 'VARCHAR'}"
)
_GMT = "'%a, %d %b %Y %H:%M:%S GMT'"


def _stage_snapshot(
    con: duckdb.DuckDBPyConnection, path: Path, scope: Scope
) -> tuple[int, int, int]:
    """Load in-scope snapshot rows into ``staging``; return (lines, bad lines, out of scope).

    DuckDB's NDJSON reader parses each line once; a malformed line comes back as an all-NULL
    row (counted as bad), blank lines are skipped. Out-of-scope rows keep only their flags.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE snap AS
        SELECT CASE WHEN in_scope THEN id END AS id, greatest(len(versions), 1) AS version,
               CASE WHEN in_scope THEN title END AS title,
               CASE WHEN in_scope THEN abstract END AS abstract,
               CASE WHEN in_scope THEN authors END AS authors, cats,
               try_strptime(versions[1].created, {_GMT}) AS published,
               coalesce(try_strptime(versions[-1].created, {_GMT}),
                        try_cast(update_date AS TIMESTAMP)) AS updated,
               bad, in_scope
        FROM (
            SELECT *, (id IS NULL AND title IS NULL AND abstract IS NULL AND categories IS NULL
                       AND authors IS NULL AND versions IS NULL AND update_date IS NULL) AS bad,
                   string_split(trim(coalesce(categories, '')), ' ') AS cats,
                   list_has_any(string_split(trim(coalesce(categories, '')), ' '), ?) AS in_scope
            FROM read_json(?, format = 'newline_delimited', columns = {_SNAPSHOT_COLUMNS},
                           ignore_errors = true, maximum_object_size = 50000000)
        )
        """,
        [list(scope.categories), str(path)],
    )
    lines, bad = con.execute("SELECT count(*), count(*) FILTER (WHERE bad) FROM snap").fetchone()
    con.execute(
        """
        INSERT INTO staging
        SELECT id, version, title, abstract, authors, cats, cats[1], published, updated, 'snapshot'
        FROM snap WHERE NOT bad AND in_scope
        """
    )
    staged = con.execute("SELECT count(*) FROM staging").fetchone()[0]
    con.execute("DROP TABLE snap")
    return lines, bad, lines - bad - staged


def ingest_snapshot(
    con: duckdb.DuckDBPyConnection, path: Path | str, scope: Scope | None = None
) -> MergeCounts:
    """Load a Kaggle ``arxiv-metadata-oai-snapshot`` JSON-lines file (plain or .gz).

    Lines that are not JSON are counted and skipped; records outside the crawl scope are
    skipped. The nightly cursor is not moved: a snapshot is a backfill.
    """
    path = Path(path)
    if not path.is_file():
        raise SnapshotError(
            f"snapshot file {path} not found", hint="pass the path of a .jsonl or .jsonl.gz file"
        )
    scope = scope or load_scope()
    run_id = store.start_run(con, "ingest", params=f"snapshot={path}")
    try:
        create_staging(con)
        with store.transaction(con):
            lines, bad, out_of_scope = _stage_snapshot(con, path, scope)
            counts = merge_staging(con)
    except duckdb.Error as exc:
        store.finish_run(con, run_id, "failed", error=str(exc))
        raise SnapshotError(f"cannot read snapshot {path}: {exc}") from exc
    if bad:
        log.warning("%s: %d of %d lines are not valid JSON and were skipped", path, bad, lines)
    counts = MergeCounts(
        fetched=lines,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        skipped=bad + out_of_scope + counts.skipped,
    )
    store.finish_run(
        con, run_id, "ok", counts.as_dict(), error=f"{bad} malformed lines" if bad else None
    )
    return counts


def ingest_rows(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> MergeCounts:
    """Stage and merge rows shaped like ``STAGING_COLUMNS`` (caller holds the transaction)."""
    import pyarrow as pa

    create_staging(con)
    if rows:
        names = [c.split()[0] for c in STAGING_COLUMNS.split(", ")]
        con.register("_rows", pa.table({c: [r[i] for r in rows] for i, c in enumerate(names)}))
        try:
            con.execute("INSERT INTO staging SELECT * FROM _rows")
        finally:
            con.unregister("_rows")
    return merge_staging(con)


def plan_windows(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """Consecutive [start, end) windows of ``days`` days covering the range."""
    if end <= start:
        return []
    out, step, t = [], timedelta(days=days), start
    while t < end:
        out.append((t, min(t + step, end)))
        t += step
    return out


def nightly_range(
    con: duckdb.DuckDBPyConnection, scope: Scope, until: datetime
) -> tuple[datetime, datetime]:
    """The range the nightly crawl reads: from the cursor less the overlap, to ``until``."""
    cursor = store.get_cursor(con, CURSOR)
    if cursor is None:
        try:
            start = datetime.fromisoformat(scope.start_date)
        except ValueError as exc:
            raise LitmineError(
                f"crawl scope start_date {scope.start_date!r} is not a date"
            ) from exc
    else:
        start = cursor - timedelta(days=scope.overlap_days)
    return start, until


def _fetch_parts(source, start: datetime, end: datetime, limit: int) -> list:
    """Fetch a window, halving it while it reports more than ``limit`` results (down to 1 hour)."""
    from litmine.crawl import WindowTooLarge

    try:
        got = source.fetch_window(start, end, limit if end - start > timedelta(hours=1) else 0)
        return [(start, end, got)]
    except WindowTooLarge as exc:
        log.info("window %s..%s holds %d results; halving it", start, end, exc.total)
        mid = (start + (end - start) / 2).replace(second=0, microsecond=0)
        return _fetch_parts(source, start, mid, limit) + _fetch_parts(source, mid, end, limit)


def ingest_live(
    con: duckdb.DuckDBPyConnection,
    source,
    since: datetime | None = None,
    until: datetime | None = None,
    progress=None,
) -> MergeCounts:
    """Crawl the API window by window; each window is stored and (nightly) the cursor moved together.

    Without ``since`` this is the nightly run: it starts at the cursor less the overlap and moves
    the cursor after each stored window. With ``since`` it is a backfill that never moves it.
    """
    scope: Scope = source.scope
    backfill = since is not None
    until = until or store.now().replace(second=0, microsecond=0)
    start, end = (since, until) if backfill else nightly_range(con, scope, until)
    windows = plan_windows(start, end, scope.window_days)
    run_id = store.start_run(con, "ingest", params=f"live {start:%Y-%m-%d}..{end:%Y-%m-%d}")
    total = MergeCounts()
    try:
        for w_start, w_end in windows:
            for _, part_end, got in _fetch_parts(source, w_start, w_end, scope.max_window_results):
                with store.transaction(con):
                    counts = ingest_rows(con, got.rows)
                    if not backfill:
                        store.set_cursor(con, CURSOR, part_end)
                total = total + counts + MergeCounts(skipped=got.skipped)
            if progress:
                progress(1)
    except LitmineError as exc:
        store.finish_run(con, run_id, "failed", total.as_dict(), error=str(exc))
        raise
    store.finish_run(con, run_id, "ok", total.as_dict())
    return total
