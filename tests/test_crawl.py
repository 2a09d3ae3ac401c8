"""The live crawl: the real ``arxiv`` client against a loopback server serving Atom pages."""

from datetime import datetime, timedelta

import pytest

from litmine import ingest, store
from litmine.config import Scope
from litmine.crawl import ArxivSource
from litmine.errors import FetchError, LitmineError
from tests.atom_server import Entry
from tests.conftest import make_entries

T0 = datetime(2026, 1, 1)
UNTIL = datetime(2026, 1, 5)


def source(atom, scope, retries=3):
    return ArxivSource(
        scope, base_url=atom.url, delay_seconds=0.0, max_retries=retries, backoff_seconds=0.01
    )


def stored(con):
    return con.execute("SELECT count(*), count(DISTINCT arxiv_id) FROM papers").fetchone()


def test_nightly_crawl_pages_windows_and_is_idempotent(con, atom, scope):
    atom.entries = make_entries(18, T0)  # 18 papers over 90 hours, page size 3
    counts = ingest.ingest_live(con, source(atom, scope), until=UNTIL)
    assert counts.inserted == 18 and stored(con) == (18, 18)
    assert store.get_cursor(con, ingest.CURSOR) == UNTIL
    assert any("start=3" in r for r in atom.requests)  # more than one page per window
    # second run re-reads the overlap only, and changes nothing
    atom.requests.clear()
    again = ingest.ingest_live(con, source(atom, scope), until=UNTIL)
    assert (again.inserted, again.updated) == (0, 0) and again.unchanged > 0
    assert stored(con) == (18, 18)
    assert len(atom.requests) <= 2 * scope.overlap_days + 2


def test_changed_abstract_in_new_version_is_updated(con, atom, scope):
    atom.entries = make_entries(3, T0)
    ingest.ingest_live(con, source(atom, scope), until=UNTIL)
    old = con.execute("SELECT content_hash FROM papers WHERE arxiv_id='2601.10001'").fetchone()[0]
    e = atom.entries[1]
    atom.entries[1] = Entry(
        e.arxiv_id, e.title, "A new abstract.", UNTIL + timedelta(hours=2), version=2
    )
    c = ingest.ingest_live(con, source(atom, scope), until=UNTIL + timedelta(days=1))
    assert (c.inserted, c.updated) == (0, 1)
    new, version = con.execute(
        "SELECT content_hash, version FROM papers WHERE arxiv_id='2601.10001'"
    ).fetchone()
    assert new != old and version == 2


@pytest.mark.parametrize("fault", [429, 503, 500, "drop", "malformed"])
def test_transient_faults_are_retried(con, atom, scope, fault):
    atom.entries = make_entries(6, T0)
    atom.faults = [None, fault, fault]  # the second request fails twice, then succeeds
    counts = ingest.ingest_live(con, source(atom, scope), until=UNTIL)
    assert counts.inserted == 6 and stored(con) == (6, 6)


def test_empty_page_mid_window_is_retried(con, atom, scope):
    atom.entries = make_entries(5, T0, step_hours=1)  # one window, two pages
    atom.faults = [None, "empty"]
    assert ingest.ingest_live(con, source(atom, scope), until=UNTIL).inserted == 5


def test_persistent_failure_keeps_what_was_stored(con, atom, scope):
    atom.entries = make_entries(18, T0)
    ok = ingest.ingest_live(con, source(atom, scope), until=T0 + timedelta(days=1))
    cursor = store.get_cursor(con, ingest.CURSOR)
    atom.faults = [503] * 10
    with pytest.raises(FetchError) as exc:
        ingest.ingest_live(con, source(atom, scope, retries=2), until=UNTIL)
    assert exc.value.exit_code == 75 and "cursor was not moved" in str(exc.value)
    assert store.get_cursor(con, ingest.CURSOR) == cursor
    assert stored(con)[0] == ok.inserted
    assert (
        con.execute("SELECT status FROM runs ORDER BY started DESC LIMIT 1").fetchone()[0]
        == "failed"
    )
    atom.faults = []
    ingest.ingest_live(con, source(atom, scope), until=UNTIL)
    assert stored(con) == (18, 18)


def test_client_error_is_not_retried(con, atom, scope):
    atom.faults = [400]
    with pytest.raises(LitmineError, match="HTTP 400") as exc:
        ingest.ingest_live(con, source(atom, scope), until=UNTIL)
    assert exc.value.exit_code == 1
    assert len(atom.requests) == 1


def test_entries_missing_fields_are_skipped(con, atom, scope):
    atom.entries = make_entries(4, T0, step_hours=1)
    atom.entries[1].omit = ("summary",)
    atom.entries[2].omit = ("published",)
    counts = ingest.ingest_live(con, source(atom, scope), until=UNTIL)
    assert counts.inserted == 2
    ids = {r[0] for r in con.execute("SELECT arxiv_id FROM papers").fetchall()}
    assert ids == {"2601.10000", "2601.10003"}


def test_backfill_never_moves_the_cursor(con, atom, scope):
    atom.entries = make_entries(10, T0)
    ingest.ingest_live(con, source(atom, scope), since=T0, until=T0 + timedelta(days=2))
    assert store.get_cursor(con, ingest.CURSOR) is None
    assert stored(con)[0] == len([e for e in atom.entries if e.updated < T0 + timedelta(days=2)])


def test_large_window_is_halved(con, atom):
    scope = Scope(start_date="2026-01-01", window_days=2, page_size=5, max_window_results=4)
    atom.entries = make_entries(12, T0, step_hours=4)
    counts = ingest.ingest_live(con, source(atom, scope), until=T0 + timedelta(days=2))
    assert counts.inserted == 12 and stored(con) == (12, 12)
