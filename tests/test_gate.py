"""The relevance gate: trained with the classifier, run by the nightly job before anything is embedded.

A small synthetic corpus (tests/classify_fixtures.py) trains the classifier and the gate with the
real embedding model; a fresh project then runs the nightly job on the same papers.
"""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest

from litmine import classify, embed, gate, ingest, labels, nightly, status, store, training
from litmine.config import Scope
from litmine.errors import LitmineError
from litmine.model import TrainConfig
from tests.classify_fixtures import corpus, snapshot_lines, write_gold

STAGES = ("ingest", "labels", "gate", "embed", "classify")


@pytest.fixture(scope="module")
def models(tmp_path_factory, embedder):
    """A classifier and a gate trained by `litmine train` on the fixture's gold labels."""
    tmp = tmp_path_factory.mktemp("gate_models")
    papers = corpus()
    snap = tmp / "snap.jsonl"
    snap.write_text("".join(json.dumps(r) + "\n" for r in snapshot_lines(papers)))
    with store.connect(tmp / "train.duckdb") as con:
        ingest.ingest_snapshot(con, snap, Scope())
        labels.import_labels(con, write_gold(papers, tmp / "gold.jsonl"))
        embed.embed_missing(con, embedder)
        training.train(con, tmp / "models", TrainConfig(calib_folds=2), folds=3)
    classify.load.cache_clear()
    gate.load.cache_clear()
    return tmp / "models"


@pytest.fixture
def project(tmp_path, models, monkeypatch):
    """A fresh project: the fixture's papers as a snapshot, one gold correction, the models."""
    home = tmp_path / "home"
    (home / "corpus" / "labels").mkdir(parents=True)
    shutil.copytree(models, home / "models")
    papers = corpus()
    snap = tmp_path / "snap.jsonl.gz"
    with gzip.open(snap, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in snapshot_lines(papers))
    # a gold label on a paper the gate will stop: an annotator says it is post-training
    vision = next(p for p in papers if p["kind"] == "neg_vision")
    correction = {**vision["gold"], "post_training": True, "provenance": "off_policy",
                  "interface": ["token_targets"], "roles": ["expansion"],
                  "dominant_role": "expansion", "families": ["sft"], "contribution": "method",
                  "annotator": "reviewer"}  # fmt: skip
    (home / "corpus" / "labels" / "correction.jsonl").write_text(json.dumps(correction) + "\n")
    monkeypatch.setenv("LITMINE_HOME", str(home))
    return {"db": home / "corpus" / "litmine.duckdb", "snap": snap, "models": home / "models",
            "papers": papers, "corrected": vision["id"]}  # fmt: skip


def run(p, embedder, **kw):
    kw.setdefault("stages", STAGES)
    return nightly.run_nightly(
        p["db"], snapshot=p["snap"], progress=False, model_dir=p["models"], embedder=embedder, **kw
    )


def rows(db, sql, params=()):
    with store.connect(db, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_the_card_keeps_the_cut_and_both_recall_curves(models):
    card = gate.read_card(models)
    assert card["gate_id"] == gate.fingerprint(gate.load(models)[0])  # new weights, new id
    assert card["classifier"] == classify.read_card(models)["model_id"]
    assert card["default"] == {"recall": 0.995, "basis": "found"}
    assert set(card["oof_positive_scores"]) == {"found", "gold"}
    row = next(r for r in card["table"] if r["basis"] == "found" and r["recall"] == 0.995)
    assert row["found_pass"] >= 0.995 and row["post_training_recall_cost"] <= 0.005
    # the stored curves reproduce the table's cuts
    assert gate.choose_cut(card, 0.995, "found") == pytest.approx(row["cut"], abs=1e-6)
    assert gate.choose_cut(card, 1.0, "gold") == 0.0
    assert f"| found | 0.995 | {row['cut']:.4f} |" in (models / "GATE_CARD.md").read_text()
    assert gate.summary(card).startswith(f"gate {card['gate_id']} cut {row['cut']:.4f}")


def test_cut_keeps_at_least_the_recall_asked_for():
    scores = [0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6, 0.4, 0.05]
    for recall in (0.5, 0.8, 0.9, 0.95, 1.0):
        cut = gate.cut_for(scores, recall)
        assert np.mean(np.array(scores) >= cut) >= recall
    assert gate.cut_for(scores, 0.9) == 0.1  # the highest such cut
    with pytest.raises(LitmineError, match="not in"):
        gate.choose_cut({"default": {"recall": 0.995, "basis": "found"},
                         "oof_positive_scores": {"found": scores}}, 1.5)  # fmt: skip


def test_the_gate_separates_the_fixture_and_loads_without_pickle(models):
    g, _ = gate.load(models)
    papers = corpus()
    probs = g.prob([embed.paper_text(p["title"], p["abstract"]) for p in papers])
    yes = np.array([p["gold"]["post_training"] for p in papers])
    assert probs[yes].min() > probs[~yes].max()
    with np.load(models / gate.GATE_FILE, allow_pickle=False) as z:
        assert z["vocabulary"].dtype.kind == "U"


def test_gated_papers_are_stored_with_source_and_probability(project, embedder):
    res = run(project, embedder)
    db = project["db"]
    (cut,) = rows(db, "SELECT value::DOUBLE FROM meta WHERE key = 'gate_cut'")[0]
    gated = rows(
        db,
        "SELECT l.arxiv_id, l.label_source, l.post_training, l.post_training_prob, s.prob "
        "FROM paper_labels l JOIN gate_scores s USING (arxiv_id) "
        "WHERE l.gate = 'gated' AND NOT l.is_gold",
    )
    negatives = {p["id"] for p in project["papers"] if not p["gold"]["post_training"]}
    assert {r[0] for r in gated} == negatives - {project["corrected"]}
    for _, source, post_training, prob, gate_prob in gated:
        assert (source, post_training) == ("gate", False)
        assert prob == gate_prob < cut
    embedded = {r[0] for r in rows(db, "SELECT arxiv_id FROM embeddings")}
    assert not embedded & {r[0] for r in gated}
    assert res.gate_scored == len(project["papers"])
    assert res.embedded == len(project["papers"]) - len(gated)
    # every paper has a label and says where it came from
    sources = dict(rows(db, "SELECT label_source, count(*) FROM paper_labels GROUP BY 1"))
    assert sum(sources.values()) == len(project["papers"]) and None not in sources


def test_a_gold_label_on_a_gated_paper_wins(project, embedder):
    run(project, embedder)
    aid = project["corrected"]
    (state, source, post_training, prob), = rows(
        project["db"],
        "SELECT gate, label_source, post_training, post_training_prob FROM paper_labels "
        "WHERE arxiv_id = ?",
        [aid],
    )  # fmt: skip
    assert state == "gated" and (source, post_training, prob) == ("gold", True, 1.0)
    assert rows(project["db"], "SELECT count(*) FROM embeddings WHERE arxiv_id = ?", [aid]) == [
        (1,)
    ]


def test_a_second_run_is_a_no_op(project, embedder):
    run(project, embedder)
    again = run(project, embedder)
    assert again.nothing_new and again.gate_scored == 0 and again.embedded == 0
    pending = status.status(project["db"])["pending"]
    assert (pending["gate"], pending["embed"], pending["classify"]) == (0, 0, 0)


def test_a_raised_recall_target_reopens_gated_papers(project, embedder):
    run(project, embedder)
    before = rows(project["db"], "SELECT count(*) FROM gate_state WHERE gate = 'gated'")[0][0]
    assert before > 0
    res = run(project, embedder, gate_recall=1.0)
    assert res.gate_scored == 0 and res.embedded == before - 1  # the corrected one was embedded
    db = project["db"]
    assert rows(db, "SELECT count(*) FROM gate_state WHERE gate = 'gated'") == [(0,)]
    assert rows(db, "SELECT count(*) FROM paper_labels WHERE label_source = 'gate'") == [(0,)]
    model_id = classify.read_card(project["models"])["model_id"]
    # every paper but the one gold correction is now labelled by the classifier
    assert rows(db, "SELECT count(*) FROM paper_labels WHERE label_source = ?", [model_id]) == [
        (len(project["papers"]) - 1,)
    ]
    unlabelled = rows(db, "SELECT count(*) FROM paper_labels WHERE label_source IS NULL")
    assert unlabelled == [(0,)]
    # the target is kept: a later run without the flag does not gate them again
    run(project, embedder)
    assert rows(db, "SELECT count(*) FROM gate_state WHERE gate = 'gated'") == [(0,)]


def test_status_says_what_each_stage_still_has_to_do(project, embedder):
    run(project, embedder, stages=("ingest", "labels", "gate"))
    s = status.status(project["db"])
    n = len(project["papers"])
    gated = dict(s["gate"])["gated"]
    assert s["pending"]["gate"] == 0 and s["pending"]["embed"] == n - gated + 1
    assert s["pending"]["methods"] == n
    text = status.render(s)
    assert "still to do" in text and f"embed {n - gated + 1}" in text and "gated" in text


def test_without_a_gate_every_paper_is_embedded(project, embedder):
    for name in (gate.GATE_FILE, gate.GATE_CARD):
        (project["models"] / name).unlink()
    res = run(project, embedder)
    assert res.embedded == len(project["papers"])
    assert rows(project["db"], "SELECT DISTINCT gate FROM gate_state") == [("open",)]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_gate_file_is_a_clear_error(project, embedder, damage):
    path = project["models"] / gate.GATE_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a gate" * 100)
    gate.load.cache_clear()
    with pytest.raises(LitmineError, match="truncated or corrupted"):
        run(project, embedder)
    gate.load.cache_clear()


def test_the_gates_fast_cue_counts_agree_with_the_spacy_matcher_on_plain_text():
    from litmine.text import cue_matrix

    texts = [
        "We fine-tune a large language model with direct preference optimization (DPO) after SFT.",
        "Reinforcement learning from verifiable rewards with GRPO on the policy's own rollouts.",
        "A convolutional network for image segmentation of medical scans.",
    ]
    fast = gate.cue_counts([gate.tokens(t) for t in texts])
    assert fast.shape == cue_matrix(texts).shape
    np.testing.assert_allclose(fast, cue_matrix(texts))
    assert fast[2].sum() == 0 and fast[0].sum() > 0


def test_status_reads_a_database_from_before_the_gate(tmp_path):
    from litmine import schema

    db = tmp_path / "old.duckdb"
    with store.connect(db) as con:  # schema 7: no gate tables yet
        con.execute("DROP VIEW paper_labels")
        con.execute("DROP VIEW gate_state")
        con.execute("DROP TABLE gate_scores")
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
        con.execute(schema.PAPER_LABELS_V2)
    s = status.status(db)
    assert s["schema_version"] == 7 and s["pending"] == {} and s["gate_id"] is None
    assert "still to do   unknown" in status.render(s)
