"""The fine-tuned label model: `litmine tune` on a small fixture with the real packaged encoder,
its ONNX export, its calibration, its card's cuts, its blend with the classifier, and bad files.
"""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pytest

from litmine import calibration, classify, cli, embed, ingest, labels, store, training, tuned
from litmine.config import Scope
from litmine.errors import LitmineError
from litmine.labelspace import LABELS, layout
from litmine.model import TrainConfig
from tests.classify_fixtures import corpus, snapshot_lines, write_gold


@pytest.fixture(scope="module")
def trained(tmp_path_factory, embedder):
    """A classifier (`litmine train`) and its tuned heads (`litmine tune`, one epoch, 2 folds)."""
    tmp = tmp_path_factory.mktemp("tuned")
    papers = corpus(per_kind=8)
    snap = tmp / "snap.jsonl"
    snap.write_text("".join(json.dumps(r) + "\n" for r in snapshot_lines(papers)))
    db = tmp / "train.duckdb"
    with store.connect(db) as con:
        ingest.ingest_snapshot(con, snap, Scope())
        labels.import_labels(con, write_gold(papers, tmp / "gold.jsonl"))
        embed.embed_missing(con, embedder)
        training.train(con, tmp / "models", TrainConfig(calib_folds=2), folds=2)
    args = ["tune", "--db", str(db), "--out", str(tmp / "models"), "--epochs", "1",
            "--folds", "2", "--work", str(tmp / "work"), "--quiet"]  # fmt: skip
    assert cli.main(args) == 0
    classify.load.cache_clear()
    classify._tuned.cache_clear()
    return {"db": db, "models": tmp / "models", "papers": papers, "tmp": tmp}


def copy_models(trained, tmp_path):
    out = tmp_path / "models"
    shutil.copytree(trained["models"], out)
    classify.load.cache_clear()
    classify._tuned.cache_clear()
    return out


def test_tune_writes_weights_card_and_out_of_fold_logits(trained):
    models = trained["models"]
    card = tuned.read_card(models)
    lr = classify.read_card(models, blended=False)
    assert card["lr_model_id"] == lr["model_id"]
    assert card["model_id"] == f"{lr['model_id']}+{card['tuned_id']}"
    assert classify.read_card(models)["model_id"] == card["model_id"]  # the blend labels papers
    assert set(card["metrics"]) == {"blend", "tuned_alone", "logistic_regression"}
    assert card["metrics"]["blend"]["all_gold"]["post_training"]["n"] == len(trained["papers"])
    assert all(t > 0 for t in card["calibration"]["temperature"].values())
    with np.load(models / tuned.OOF_FILE, allow_pickle=False) as z:
        assert len(z["ids"]) == len(trained["papers"]) and set(z["fold"]) == {0, 1}
        assert z["logits"].shape == (len(trained["papers"]), sum(len(v) for _, v in layout()))
    assert (models / tuned.TUNED_MD).read_text().startswith(f"# Model card: {card['model_id']}")


def test_a_rerun_resumes_from_its_checkpoints(trained, tmp_path):
    models = copy_models(trained, tmp_path)
    from litmine import tuning

    with store.connect(trained["db"], read_only=True) as con:
        gold = tuning.gold_set(con, models)
    work = trained["tmp"] / "work"
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    from litmine.finetune import TuneConfig

    card = tuning.tune(gold, models, TuneConfig(epochs=1), folds=2, work=work)
    after = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    assert after == before  # states, folds and final net all reused
    assert card["tuned_id"] == tuned.read_card(trained["models"])["tuned_id"]


def test_classify_uses_the_blend_and_the_cuts_of_its_card(trained, tmp_path):
    models = copy_models(trained, tmp_path)
    db = tmp_path / "db.duckdb"
    shutil.copy(trained["db"], db)
    card = tuned.read_card(models)
    with store.connect(db) as con:
        assert classify.predict_missing(con, models) == len(trained["papers"])
        ids = {r[0] for r in con.execute("SELECT DISTINCT model_id FROM predictions").fetchall()}
        assert ids == {card["model_id"]}
        n_yes = con.execute("SELECT count(*) FROM predictions WHERE post_training").fetchone()[0]
    assert 0 < n_yes < len(trained["papers"])
    # a cut read from the card: nothing clears a post_training cut above every probability
    card["blend"]["thresholds"]["post_training"]["yes"] = 1.01
    card["tuned_id"] = "ft-strictcut"
    card["model_id"] = f"{card['lr_model_id']}+ft-strictcut"
    tuned.write_card(card, models)
    classify.load.cache_clear()
    classify._tuned.cache_clear()
    with store.connect(db) as con:
        assert classify.predict_missing(con, models) == len(trained["papers"])
        got = con.execute(
            "SELECT count(*) FILTER (post_training), count(*) FROM predictions WHERE model_id = ?",
            [card["model_id"]],
        ).fetchone()
    assert got == (0, len(trained["papers"]))


def test_a_tuned_model_of_another_classifier_is_ignored(trained, tmp_path, caplog):
    models = copy_models(trained, tmp_path)
    card = tuned.read_card(models)
    card["lr_model_id"] = "lm-someoneelse"
    tuned.write_card(card, models)
    lr = classify.read_card(models, blended=False)
    assert classify.read_card(models)["model_id"] == lr["model_id"]
    assert "blended with lm-someoneelse" in caplog.text
    assert type(classify.predictor(models)).__name__ == "LabelModel"


def test_onnx_agrees_with_torch(trained):
    texts = [f"{p['title']}. {p['abstract']}" for p in trained["papers"][::3]]
    agree = tuned.agreement(trained["models"], texts)
    assert agree["fp32"]["max_abs_prob_diff"] < 1e-3
    assert all(v == 1.0 for v in agree["fp32"]["same_decision"].values())
    assert agree["int8"]["max_abs_prob_diff"] < 0.15
    assert agree["int8"]["same_decision"]["post_training"] >= 0.9


def test_loads_and_predicts_offline_with_sockets_blocked(trained, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("LITMINE_ONNX_CACHE", str(tmp_path / "onnx"))  # a fresh build, offline
    model = tuned.TunedModel(trained["models"])
    probs = model.probabilities([trained["papers"][0]["abstract"]])
    assert model.path.parent == tmp_path / "onnx"
    total = sum(probs["provenance"][lab] for lab in LABELS["provenance"])
    assert np.allclose(total, 1.0)


def test_temperature_and_platt_undo_a_known_miscalibration():
    rng = np.random.default_rng(0)
    n = 4000
    true = rng.normal(0, 1.5, (n, 3))
    p = np.exp(true) / np.exp(true).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    assert abs(calibration._temperature(3.0 * true, y) - 3.0) < 0.3  # overconfident by 3x
    z = rng.normal(0, 2, n)
    yb = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))).astype(int)
    a, b = calibration._platt(z, yb)
    assert abs(a - 0.5) < 0.1 and abs(b + 1.0) < 0.15


def test_blended_probabilities_are_calibrated_out_of_fold(trained):
    card = tuned.read_card(trained["models"])
    m = card["metrics"]["blend"]["all_gold"]
    for axis in ("post_training", "provenance", "families"):
        assert 0.0 <= m[axis]["ece"] <= 0.25, axis


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_weights_file_gives_a_clear_error(trained, tmp_path, damage):
    models = copy_models(trained, tmp_path)
    path = models / tuned.TUNED_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 64)
    with pytest.raises(LitmineError, match="truncated or corrupted"):
        tuned.TunedModel(models)


def test_a_damaged_card_gives_a_clear_error(trained, tmp_path):
    models = copy_models(trained, tmp_path)
    (models / tuned.TUNED_CARD).write_text('{"model_id": ')
    with pytest.raises(LitmineError, match="not a readable model card"):
        classify.read_card(models)


def test_tune_refuses_a_classifier_trained_on_other_labels(trained, tmp_path):
    from litmine import tuning

    models = copy_models(trained, tmp_path)
    card = json.loads((models / classify.CARD_FILE).read_text())
    card["training_data"]["sha256"] = "0" * 64
    (models / classify.CARD_FILE).write_text(json.dumps(card))
    with store.connect(trained["db"], read_only=True) as con:
        gold = tuning.gold_set(con, models)
    with pytest.raises(LitmineError, match="trained on other gold labels"):
        tuning.tune(gold, models, folds=2, work=tmp_path / "work")


def test_argmax_weights_lift_a_rare_class_without_touching_probabilities():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    y = rng.choice(3, 3000, p=[0.6, 0.3, 0.1])
    z = rng.normal(0, 1, (3000, 3)) + 1.2 * np.eye(3)[y] + np.log([0.6, 0.3, 0.1])
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    w = calibration.best_weights(p, y)
    assert w[2] > w[1] > w[0]  # the rarer the class, the heavier its weight
    plain = f1_score(y, p.argmax(1), average="macro")
    assert f1_score(y, (p * w).argmax(1), average="macro") > plain + 0.01
    assert calibration.best_weights(np.eye(3)[y], y) == [1.0, 1.0, 1.0]  # perfect: no weighting


def test_the_heads_run_only_above_the_skip_point_of_the_card(trained, tmp_path, embedder):
    models = copy_models(trained, tmp_path)
    card = tuned.read_card(models)
    assert 0.0 <= card["blend"]["skip_below"] <= 0.2
    assert card["blend"]["skip_evidence"]["blend_yes_below"] == 0
    texts = [f"{p['title']}. {p['abstract']}" for p in trained["papers"]]
    emb = embedder.encode(texts)
    lr = classify.load(models)[0]
    plain = lr.predict_proba(emb, texts)
    for skip, same in ((1.01, True), (0.0, False)):
        card["blend"]["skip_below"] = skip
        tuned.write_card(card, models)
        classify._tuned.cache_clear()
        got = tuned.Blended(lr, tuned.TunedModel(models)).predict_proba(emb, texts)
        assert np.allclose(got["post_training"]["yes"], plain["post_training"]["yes"]) == same
