import json
from pathlib import Path

import pytest

from litmine import labels, taxonomy
from litmine.errors import UnknownLabel

REPO = Path(__file__).resolve().parents[1]


def rec(**over):
    r = {
        "arxiv_id": "2501.00001",
        "post_training": True,
        "provenance": "on_policy",
        "interface": ["rewards"],
        "roles": ["reshaping"],
        "dominant_role": "reshaping",
        "families": ["rl_rewards"],
        "contribution": "method",
        "borderline": False,
        "annotator": "tester",
        "taxonomy_version": taxonomy.TAXONOMY_VERSION,
    }
    r.update(over)
    return r


def test_codebook_axes_and_labels():
    assert set(taxonomy.AXES) == {
        "post_training", "provenance", "interface", "roles", "dominant_role", "families",
        "contribution",
    }  # fmt: skip
    assert len(taxonomy.FAMILIES.names) == 10
    assert taxonomy.PROVENANCE.names == ("off_policy", "on_policy", "mixed", "unspecified")


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"provenance": "online"}, "valid labels: off_policy, on_policy, mixed, unspecified"),
        ({"families": ["grpo"]}, "unknown families label 'grpo'"),
        ({"dominant_role": "expansion"}, "not among roles"),
        ({"roles": []}, "at least one role"),
        ({"post_training": "yes"}, "true or false"),
        ({"taxonomy_version": "old"}, "taxonomy version"),
        ({"annotator": ""}, "no annotator"),
    ],
)
def test_invalid_records_are_rejected_with_valid_names(over, message):
    with pytest.raises(UnknownLabel) as exc:
        taxonomy.parse_record(rec(**over))
    assert message in str(exc.value)


def test_negative_record_needs_no_other_axes():
    a = taxonomy.parse_record({"arxiv_id": "1", "post_training": False, "annotator": "x"})
    assert a.axis_values() == {"post_training": "no"}


def test_committed_gold_set_validates_and_meets_the_brief():
    anns = labels.load_annotations(REPO / "corpus" / "labels")
    ids = [a.arxiv_id for a in anns]
    assert len(ids) == len(set(ids)) >= 1200
    yes = [a for a in anns if a.post_training]
    assert len(yes) >= 700 and len(anns) - len(yes) >= 300
    for fam in taxonomy.FAMILIES.names:
        assert sum(fam in a.families for a in yes) >= 30, fam
    assert all(a.annotator for a in anns)


def test_committed_labels_hold_no_text():
    for path in (REPO / "corpus").rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            assert not {"title", "abstract"} & set(r)
            assert not r.get("evidence"), f"{path}: evidence quotes belong outside the repo"


def test_import_is_append_only_and_idempotent(con, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(
        json.dumps(rec())
        + "\n"
        + json.dumps(rec(arxiv_id="2501.00002", post_training=False))
        + "\n"
    )
    first = labels.import_labels(con, f)
    assert first.records == 2 and first.events_added > 0
    again = labels.import_labels(con, f)
    assert again.events_added == 0
    # a correction is a newer event that becomes the current gold label
    fix = tmp_path / "fix.jsonl"
    fix.write_text(
        json.dumps(rec(provenance="mixed", families=["hybrid_pipeline"], annotator="dashboard:ann"))
        + "\n"
    )
    labels.import_labels(con, fix)
    cur = con.execute(
        "SELECT provenance, families, annotator FROM gold_current WHERE arxiv_id = '2501.00001'"
    ).fetchone()
    assert cur == ("mixed", ["hybrid_pipeline"], "dashboard:ann")
    n = con.execute(
        "SELECT count(*) FROM label_events WHERE arxiv_id = '2501.00001' AND axis = 'provenance'"
    ).fetchone()[0]
    assert n == 2  # the first label is kept as history
    s = labels.stats(con)
    assert s["provenance"] == {"mixed": 1} and s["post_training"] == {"no": 1, "yes": 1}


def test_a_bad_file_imports_nothing(con, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(rec()) + "\n" + json.dumps(rec(arxiv_id="2", families=["nope"])) + "\n")
    with pytest.raises(UnknownLabel, match="bad.jsonl"):
        labels.import_labels(con, f)
    assert con.execute("SELECT count(*) FROM label_events").fetchone()[0] == 0
