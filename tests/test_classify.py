"""Training and prediction on a small fixture with the real embedding model."""

import json

import numpy as np
import pytest

from litmine import classify, embed, ingest, labels, store, training
from litmine.config import Scope
from litmine.model import TrainConfig
from tests.classify_fixtures import corpus, snapshot_lines, write_gold


@pytest.fixture(scope="module")
def trained(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("clf")
    papers = corpus()
    train_set, held_out = papers[::2] + papers[1::4], papers[3::4]
    db = tmp / "db.duckdb"
    snap = tmp / "snap.jsonl"
    snap.write_text("".join(json.dumps(r) + "\n" for r in snapshot_lines(papers)))
    with store.connect(db) as con:
        ingest.ingest_snapshot(con, snap, Scope())
        labels.import_labels(con, write_gold(train_set, tmp / "gold.jsonl"))
        embed.embed_missing(con, embedder)
        card = training.train(con, tmp / "models", TrainConfig(calib_folds=2), folds=3)
    classify.load.cache_clear()
    return {
        "db": db,
        "models": tmp / "models",
        "card": card,
        "held_out": held_out,
        "train": train_set,
    }


def test_model_card_and_safe_format(trained):
    card = trained["card"]
    files = {p.name for p in trained["models"].iterdir()}
    assert {"litmine-classifier.skops", "model_card.json", "MODEL_CARD.md"} <= files
    assert card["training_data"]["papers"] == len(trained["train"])
    assert card["taxonomy_version"] == "zhao2026-v1" and card["model_id"].startswith("lm-")
    assert set(card["metrics"]) >= {"post_training", "provenance", "families", "dominant_role"}
    assert 0 <= card["metrics"]["post_training"]["ece"] <= 1
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=trained["models"] / classify.MODEL_FILE)
    assert all(t.startswith(classify.TRUSTED_PREFIXES) for t in untrusted)


def test_predict_missing_labels_held_out_papers_and_is_idempotent(trained):
    with store.connect(trained["db"]) as con:
        n = classify.predict_missing(con, trained["models"])
        assert n == con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        assert classify.predict_missing(con, trained["models"]) == 0
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT arxiv_id, post_training, post_training_prob, provenance, families, evidence "
                "FROM predictions"
            ).fetchall()
        }
    correct = 0
    for p in trained["held_out"]:
        pt, prob, prov, fams, ev = rows[p["id"]]
        assert 0.0 <= prob <= 1.0
        correct += pt == p["gold"]["post_training"]
        if not pt:
            assert prov is None and fams is None  # the gate: no other labels
        ev = json.loads(ev)
        sent = ev["post_training"]["yes" if pt else "no"]
        assert sent in p["abstract"]
    assert correct >= len(trained["held_out"]) - 1


def test_probabilities_are_calibrated_on_training_like_data(trained, embedder):
    model, _ = classify.load(trained["models"])
    papers = corpus(per_kind=6, seed=5)
    texts = [embed.paper_text(p["title"], p["abstract"]) for p in papers]
    emb = embedder.encode(texts)
    p = model.predict_proba(emb, texts)["post_training"]["yes"]
    y = np.array([q["gold"]["post_training"] for q in papers])
    assert p[y].mean() > 0.7 and p[~y].mean() < 0.3


def test_gold_labels_override_predictions(trained):
    gold_id = trained["train"][0]["id"]
    with store.connect(trained["db"]) as con:
        classify.predict_missing(con, trained["models"])
        con.execute(
            "UPDATE predictions SET provenance = 'mixed', post_training = true WHERE arxiv_id = ?",
            [gold_id],
        )
        row = con.execute(
            "SELECT label_source, provenance, post_training_prob FROM paper_labels WHERE arxiv_id = ?",
            [gold_id],
        ).fetchone()
        model_row = con.execute(
            "SELECT label_source FROM paper_labels WHERE arxiv_id = ?",
            [trained["held_out"][0]["id"]],
        ).fetchone()
    assert row == ("gold", trained["train"][0]["gold"].get("provenance"), 1.0)
    assert model_row[0] == trained["card"]["model_id"]


def test_missing_model_is_a_clear_error(tmp_path):
    from litmine.errors import LitmineError

    with pytest.raises(LitmineError, match="litmine train"):
        classify.load(tmp_path)


def test_eval_scores_model_and_three_baselines_on_the_same_folds(trained, embedder, tmp_path):
    from litmine import evaluate
    from litmine.model import TrainConfig

    with store.connect(trained["db"]) as con:
        anns, emb, texts = classify.gold_training_set(con)
    part = {a.arxiv_id for a in anns[::3]}  # e.g. the random-sample batch
    report = evaluate.cross_validate(
        emb, texts, anns, TrainConfig(calib_folds=2), folds=3, embedder=embedder,
        subsets={"random_sample": part, "empty": set()},
    )  # fmt: skip
    sub = report["subsets"]["random_sample"]
    assert "empty" not in report["subsets"]
    assert sub["papers"] == len(part) == sub["model"]["post_training"]["n"]
    assert sub["post_training"] == sum(a.post_training for a in anns if a.arxiv_id in part)
    assert set(sub["baselines"]) == set(report["baselines"])
    assert set(report["baselines"]) == {"keyword_rules", "tfidf_linear_svm", "zero_shot_similarity"}
    for scores in [report["model"], *report["baselines"].values()]:
        assert scores["post_training"]["n"] == len(anns)
        assert 0.0 <= scores["families"]["micro_f1"] <= 1.0
    # the fixture is separable: the model finds post-training papers
    assert report["model"]["post_training"]["f1"] >= 0.9
    js, md = evaluate.write_report(report, tmp_path)
    text = md.read_text()
    assert "| post_training | f1 |" in text and "tfidf_linear_svm" in text and "Confusion" in text
    assert f"Subset `random_sample`: {len(part)} papers" in text
    replay = report["review_replay"]
    assert replay["papers"] == len(anns) and set(replay["per_100"]) >= {str(len(anns))}
    assert all(0.0 <= v <= 100.0 for v in replay["per_100"].values())
    assert "Review-queue replay" in text and "corrections per 100" in text


def test_review_replay_counts_corrections_in_queue_order():
    from litmine.evaluate import review_replay
    from litmine.taxonomy import Annotation

    def ann(i: int, yes: bool) -> Annotation:
        return Annotation(arxiv_id=f"2501.{i:05d}", post_training=yes, annotator="t")

    anns = [ann(i, i % 2 == 0) for i in range(120)]
    p_yes = np.array([0.9 if i % 2 == 0 else 0.1 for i in range(120)])
    p_yes[[1, 3]] = 0.55, 0.52  # two wrong calls, the least confident ones: read first
    probs = {"post_training": {"yes": p_yes, "no": 1 - p_yes},
             "borderline": {"borderline": np.zeros(120)}}  # fmt: skip
    from litmine.taxonomy import AXES

    for axis in ("provenance", "dominant_role", "contribution", "interface", "roles", "families"):
        probs[axis] = {lab: np.full(120, 0.0) for lab in AXES[axis].names}
    probs["provenance"]["off_policy"][:] = probs["dominant_role"]["reshaping"][:] = 1.0
    probs["contribution"]["method"][:] = 1.0
    r = review_replay([a if not a.post_training else Annotation(
        arxiv_id=a.arxiv_id, post_training=True, provenance="off_policy", roles=("reshaping",),
        dominant_role="reshaping", contribution="method", annotator="t") for a in anns], probs)  # fmt: skip
    assert r["per_100"]["50"] == pytest.approx(4.0)  # the 2 wrong calls lead the queue
    assert r["per_100"]["120"] == pytest.approx(100 * 2 / 120)
    assert r["by_axis"]["post_training"] == 2 and r["by_axis"]["provenance"] == 0


def test_ece_of_perfect_and_overconfident_predictions():
    from litmine.evaluate import ece

    assert ece(np.array([1.0, 1.0]), np.array([1, 1])) == 0.0
    assert abs(ece(np.array([0.9, 0.9, 0.9, 0.9]), np.array([1, 0, 0, 0])) - 0.65) < 1e-9


def test_the_classifier_card_decides_which_vectors_the_database_serves(trained, tmp_path):
    """A classifier over the reference's vectors: its card, id, predictions and searches follow it."""
    import shutil

    from litmine.config import DEFAULT_MODEL_NAME, REFERENCE_MODEL_NAME
    from litmine.queries.base import Filters
    from litmine.queries.search import nearest_papers, search_semantic

    db = tmp_path / "db.duckdb"
    shutil.copy(trained["db"], db)
    assert trained["card"]["embedding_model"] == DEFAULT_MODEL_NAME
    assert classify.embedding_model(trained["models"]) == DEFAULT_MODEL_NAME
    assert classify.embedding_model(tmp_path / "no-model") == DEFAULT_MODEL_NAME
    with store.connect(db) as con:
        assert store.embedding_model(con) == DEFAULT_MODEL_NAME  # nothing recorded yet
        card = training.train(
            con, tmp_path / "ref", TrainConfig(calib_folds=2), 3, embed_model=REFERENCE_MODEL_NAME
        )
        assert card["embedding_model"] == REFERENCE_MODEL_NAME
        assert card["model_id"] != trained["card"]["model_id"]  # same labels, other vectors
        assert classify.embedding_model(tmp_path / "ref") == REFERENCE_MODEL_NAME
        # training embedded only the gold papers with the reference; the rest follow
        assert embed.embed_missing(con, model=REFERENCE_MODEL_NAME) == len(trained["held_out"])
        n = classify.predict_missing(con, tmp_path / "ref")
        assert n == len(corpus())
        assert store.embedding_model(con) == REFERENCE_MODEL_NAME
        aid = trained["held_out"][0]["id"]
        near = nearest_papers(con, aid, k=3)
        ref_vec = con.execute(
            "SELECT vector FROM embeddings WHERE arxiv_id = ? AND model = ?",
            [aid, REFERENCE_MODEL_NAME],
        ).fetchone()[0]
        expected = search_semantic(con, ref_vec, Filters(), REFERENCE_MODEL_NAME, 3, exclude=aid)
        assert list(near["arxiv_id"]) == list(expected["arxiv_id"]) and len(near) == 3
        # the int8 vectors give other similarities: equality shows the reference's were read
        assert near["similarity"].tolist() == expected["similarity"].tolist()
    classify.load.cache_clear()


def test_prediction_goes_in_chunks_even_on_a_first_run(trained, tmp_path):
    """The first run of a model (no prediction of it yet) still stores chunk by chunk."""
    import shutil

    db = tmp_path / "db.duckdb"
    shutil.copy(trained["db"], db)
    sizes: list[int] = []
    with store.connect(db) as con:
        con.execute("DELETE FROM predictions")
        n = classify.predict_missing(con, trained["models"], progress=sizes.append, chunk=7)
        assert n == len(corpus()) == sum(sizes)
        assert max(sizes) == 7 and len(sizes) == -(-n // 7)
