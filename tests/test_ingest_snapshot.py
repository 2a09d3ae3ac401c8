from litmine import ingest
from litmine.config import Scope
from tests.conftest import snapshot_record

SCOPE = Scope()


def test_snapshot_loads_in_scope_records_once(con, write_snapshot):
    recs = [snapshot_record(i) for i in range(12)]
    recs.append(snapshot_record(99, categories="cs.CV"))  # out of scope
    recs.append(snapshot_record(98, categories=None))  # no categories at all
    recs.append(
        {"id": "2502.30000", "title": "No abstract", "categories": "cs.CL"}
    )  # missing fields
    path = write_snapshot(recs, raw_lines=['{"id": "broken', "not json at all"])

    first = ingest.ingest_snapshot(con, path, SCOPE)
    assert first.inserted == 12
    assert first.fetched == 17
    assert first.skipped == 5  # 2 bad lines, 2 out of scope, 1 without abstract
    second = ingest.ingest_snapshot(con, path, SCOPE)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 12)
    assert con.execute("SELECT count(*), count(DISTINCT arxiv_id) FROM papers").fetchone() == (
        12,
        12,
    )
    row = con.execute(
        "SELECT abstract, submitted_month, version, categories, primary_category FROM papers "
        "WHERE arxiv_id = '2502.20001'"
    ).fetchone()
    assert row[0].startswith("We ") and "\n" not in row[0] and not row[0].endswith(" ")
    assert str(row[1]) == "2025-02-01" and row[2] == 1
    assert row[3] == ["cs.CL", "cs.LG"] and row[4] == "cs.CL"
    runs = con.execute("SELECT status, error FROM runs WHERE stage = 'ingest'").fetchall()
    assert runs[0] == ("ok", "2 malformed lines")


def test_new_version_with_changed_abstract_is_updated(con, write_snapshot):
    ingest.ingest_snapshot(con, write_snapshot([snapshot_record(1)]), SCOPE)
    h1, changed1 = con.execute("SELECT content_hash, last_changed FROM papers").fetchone()
    v2 = snapshot_record(
        1,
        abstract="A rewritten abstract about online preference optimization.",
        versions=[
            {"version": "v1", "created": "Mon, 3 Feb 2025 10:00:00 GMT"},
            {"version": "v2", "created": "Mon, 10 Mar 2025 10:00:00 GMT"},
        ],
    )
    c = ingest.ingest_snapshot(con, write_snapshot([v2], "v2.jsonl"), SCOPE)
    assert (c.inserted, c.updated) == (0, 1)
    h2, changed2, version = con.execute(
        "SELECT content_hash, last_changed, version FROM papers"
    ).fetchone()
    assert h2 != h1 and changed2 > changed1 and version == 2
    # an older version seen later does not roll the paper back
    c = ingest.ingest_snapshot(con, write_snapshot([snapshot_record(1)], "old.jsonl"), SCOPE)
    assert c.updated == 0
    assert con.execute("SELECT content_hash FROM papers").fetchone()[0] == h2


def test_old_style_ids_get_a_month(con, write_snapshot):
    rec = snapshot_record(1, id="cs/9912001", versions=[])
    ingest.ingest_snapshot(con, write_snapshot([rec]), SCOPE)
    assert str(con.execute("SELECT submitted_month FROM papers").fetchone()[0]) == "1999-12-01"


def test_missing_snapshot_is_a_clear_error(con, tmp_path):
    import pytest

    from litmine.errors import SnapshotError

    with pytest.raises(SnapshotError, match="not found"):
        ingest.ingest_snapshot(con, tmp_path / "nope.jsonl.gz", SCOPE)
