import json

import pytest

from litmine.agreement import agreement, cohen_kappa, render_agreement
from litmine.errors import LitmineError
from litmine.taxonomy import parse_record


def rec(aid, pt=True, prov="off_policy", fams=("sft",), annotator="a"):
    r = {"arxiv_id": aid, "post_training": pt, "annotator": annotator,
         "taxonomy_version": "zhao2026-v1"}  # fmt: skip
    if pt:
        r.update(provenance=prov, interface=["token_targets"], roles=["expansion"],
                 dominant_role="expansion", families=list(fams), contribution="method",
                 borderline=False)  # fmt: skip
    return parse_record(r)


def test_kappa_matches_the_textbook_example():
    # 2x2 table [[20, 5], [10, 15]]: po = 0.7, pe = 0.5, kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0


def test_dependent_axes_count_only_papers_both_call_post_training():
    first = [rec("1"), rec("2"), rec("3", prov="on_policy"), rec("4", pt=False)]
    second = [rec("1"), rec("2", pt=False), rec("3"), rec("4", pt=False), rec("5")]
    out = agreement(first, second)
    assert out["post_training"]["n"] == 4  # paper 5 is in one set only
    assert out["post_training"]["raw"] == 0.75
    assert out["provenance"]["n"] == 2 and out["provenance"]["raw"] == 0.5
    assert out["families"]["raw"] == 1.0
    assert "| provenance |" in render_agreement(out)
    json.dumps(out)


def test_disjoint_sets_are_an_error():
    with pytest.raises(LitmineError, match="share no paper"):
        agreement([rec("1")], [rec("2")])


def test_drawn_ids_reads_the_batches_of_one_kind(tmp_path):
    from litmine.labels import drawn_ids

    (tmp_path / "a.json").write_text(json.dumps({"kind": "random", "ids": ["1", "2"]}))
    (tmp_path / "b.json").write_text(json.dumps({"kind": "active", "why": {"3": "rare:x"}}))
    (tmp_path / "c.json").write_text(json.dumps({"kind": "random", "ids": ["2", "4"]}))
    assert drawn_ids("random", tmp_path) == {"1", "2", "4"}
    assert drawn_ids("active", tmp_path) == {"3"}
    assert drawn_ids("random", tmp_path / "missing") == set()


def test_the_committed_random_batch_is_labelled():
    from litmine.config import project_dir
    from litmine.labels import drawn_ids, load_annotations

    gold = {a.arxiv_id for a in load_annotations(project_dir() / "corpus" / "labels")}
    random_ids = drawn_ids("random")
    assert len(random_ids) >= 400 and random_ids <= gold
