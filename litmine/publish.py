"""Publish: the dashboard's read-only copy of the database, replaced atomically.

The copy is written to a temporary file in the same directory, checkpointed, fsynced and then
renamed over the old copy with ``os.replace``. A reader that opened the old copy keeps reading it;
a new reader sees the new one; nobody ever sees a half-written file. A copy is skipped when the
data has not changed since the last publish (the data version is kept in the ``meta`` table).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from litmine import store
from litmine.config import published_db_path
from litmine.errors import LitmineError

log = logging.getLogger(__name__)

PUBLISHED_VERSION_KEY = "published_version"
PUBLISHED_AT_KEY = "published_at"
# meta keys that describe publishing or job bookkeeping, not data: left out of the data version.
_BOOKKEEPING_PREFIXES = ("published", "nightly.")
# tables that are a log, not data: a new run row alone does not make a new publish.
_LOG_TABLES = ("runs",)
_ALIAS = "litmine_publish"


@dataclass(frozen=True)
class PublishResult:
    """Where the copy is, whether this call wrote it, and the data version it holds."""

    path: Path
    written: bool
    data_version: str


def _base_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary "
        "ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows if r[0] not in _LOG_TABLES]


def data_version(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of every table's rows (order-independent); equal when nothing changed."""
    parts = [f"schema={store.schema_version(con)}"]
    for table in _base_tables(con):
        where = ""
        if table == "meta":
            where = " WHERE " + " AND ".join(
                f"NOT starts_with(key, '{p}')" for p in _BOOKKEEPING_PREFIXES
            )
        n, h = con.execute(f'SELECT count(*), bit_xor(hash(t)) FROM "{table}" t{where}').fetchone()
        parts.append(f"{table}={n}:{h}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_path(target: Path, pid: int) -> Path:
    return target.with_name(f".{target.name}.{pid}.tmp")


def remove_stale_temps(target: Path) -> int:
    """Delete temporary copies left by publishers that died (their pid is gone)."""
    removed = 0
    for tmp in target.parent.glob(f".{target.name}.*.tmp*"):
        pid = tmp.name.removeprefix(f".{target.name}.").split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("removed %d temporary file(s) of an interrupted publish", removed)
    return removed


def _write_copy(con: duckdb.DuckDBPyConnection, tmp: Path, version: str) -> None:
    """Copy every table and view of the open database into a fresh file at ``tmp``."""
    for leftover in (tmp, Path(f"{tmp}.wal")):
        leftover.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchone()[0]
    quoted = str(tmp).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS {_ALIAS}")
    try:
        con.execute(f'COPY FROM DATABASE "{source}" TO {_ALIAS}')
        con.execute(
            f"INSERT OR REPLACE INTO {_ALIAS}.meta VALUES ('data_version', ?), ('published_at', ?)",
            [version, store.now().isoformat(timespec="seconds")],
        )
        con.execute(f"CHECKPOINT {_ALIAS}")
    finally:
        con.execute(f"DETACH {_ALIAS}")
    wal = Path(f"{tmp}.wal")
    if wal.exists() and wal.stat().st_size:
        raise LitmineError(f"publishing left a write-ahead log at {wal}; the copy is incomplete")
    wal.unlink(missing_ok=True)


def publish_copy(
    con: duckdb.DuckDBPyConnection,
    db_path: Path | str,
    force: bool = False,
    before_replace: Callable[[], None] | None = None,
) -> PublishResult:
    """Write the read-only copy atomically unless it already holds the current data version.

    ``con`` must be the writable connection of ``db_path``. ``before_replace`` is called after the
    new copy is complete and synced, just before it replaces the old one.
    """
    target = published_db_path(Path(db_path))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    version = data_version(con)
    if not force and target.exists() and store.get_meta(con, PUBLISHED_VERSION_KEY) == version:
        log.info("published copy %s is current (data version %s)", target, version)
        return PublishResult(target, False, version)
    tmp = _temp_path(target, os.getpid())
    try:
        _write_copy(con, tmp, version)
        _fsync(tmp)
        if before_replace:
            before_replace()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        _fsync(target.parent, directory=True)
    store.set_meta(con, PUBLISHED_VERSION_KEY, version)
    store.set_meta(con, PUBLISHED_AT_KEY, store.now().isoformat(timespec="seconds"))
    log.info("published %s (data version %s)", target, version)
    return PublishResult(target, True, version)


def publish(
    con_or_db_path: duckdb.DuckDBPyConnection | Path | str,
    db_path: Path | str | None = None,
    force: bool = False,
) -> Path:
    """Produce the dashboard's read-only copy of the database; return its path.

    Pass an open writable connection and its ``db_path``, or just the database path.
    """
    if isinstance(con_or_db_path, (str, Path)):
        path = Path(db_path or con_or_db_path)
        with store.connect(con_or_db_path) as con:
            return publish_copy(con, path, force=force).path
    if db_path is None:
        raise LitmineError("publish needs the database path to place the copy next to it")
    return publish_copy(con_or_db_path, db_path, force=force).path
