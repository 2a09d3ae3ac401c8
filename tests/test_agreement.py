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
