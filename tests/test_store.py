import pytest

from litmine import store
from litmine.errors import DatabaseLocked, LitmineError


def test_migrations_recorded_once(db_path):
    with store.connect(db_path) as con:
        assert store.schema_version(con) == store.SCHEMA_VERSION
        assert store.migrate(con) == []
        rows = con.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()
        names = [r[0] for r in rows]
    assert names == [m[1] for m in store.MIGRATIONS]


def test_cursor_only_moves_forward(con):
    from datetime import datetime

    store.set_cursor(con, "c", datetime(2026, 1, 5))
    store.set_cursor(con, "c", datetime(2026, 1, 3))
    assert store.get_cursor(con, "c") == datetime(2026, 1, 5)


def test_locked_database_is_transient(db_path, hold_write_lock):
    store.open_db(db_path).close()
    hold_write_lock(db_path)
    with pytest.raises(DatabaseLocked) as exc:
        store.open_db(db_path)
    assert exc.value.exit_code == 75
    assert "locked" in str(exc.value)


def test_missing_read_only_db_says_what_to_run(tmp_path):
    with pytest.raises(LitmineError, match="litmine nightly"):
        store.open_db(tmp_path / "none.duckdb", read_only=True)
