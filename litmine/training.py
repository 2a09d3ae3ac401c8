"""Training: fit the label model on the gold set, cross-validate it for its card, save it.

Training sits above both prediction (:mod:`litmine.classify`, which saves and loads models and
labels papers) and evaluation (:mod:`litmine.evaluate`, whose cross-validation fills the model
card), so prediction never depends on evaluation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from litmine.classify import data_hash, gold_training_set, save
from litmine.config import DEFAULT_MODEL_NAME, models_dir
from litmine.embed import embed_missing, load_embedder
from litmine.errors import LitmineError
from litmine.taxonomy import TAXONOMY_VERSION

if TYPE_CHECKING:  # scikit-learn is imported only when a model is trained
    from litmine.model import TrainConfig


def train(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path | None = None,
    config: TrainConfig | None = None,
    folds: int = 5,
    embed_model: str = DEFAULT_MODEL_NAME,
) -> dict:
    """Embed any gold paper without a vector, fit every axis, cross-validate, save model and card."""
    from litmine import evaluate
    from litmine.model import LabelModel, TrainConfig

    out_dir = Path(out_dir or models_dir())
    embed_missing(con, load_embedder(embed_model), only_gold=True)
    anns, emb, texts = gold_training_set(con, embed_model)
    if sum(a.post_training for a in anns) < 10 or len(anns) < 20:
        raise LitmineError(
            f"only {len(anns)} gold papers with embeddings; too few to train",
            hint="run `litmine labels import` and ingest the papers the gold labels name",
        )
    config = config or TrainConfig()
    oof: dict = {}
    report = evaluate.cross_validate(
        emb, texts, anns, config, folds=folds, baselines=False, oof=oof
    )
    model = LabelModel(config).fit(emb, texts, anns)
    card = {
        "model_id": "",
        "taxonomy_version": TAXONOMY_VERSION,
        "embedding_model": embed_model,
        "training_data": {
            "sha256": data_hash(anns),
            "papers": len(anns),
            "post_training_yes": int(sum(a.post_training for a in anns)),
            "annotators": sorted({a.annotator.split(":")[0] for a in anns}),
        },
        "config": asdict(config),
        "cv_folds": folds,
        "metrics": report["model"],
    }
    card["model_id"] = (
        "lm-"
        + hashlib.sha256(
            (
                card["training_data"]["sha256"]
                + json.dumps(card["config"], sort_keys=True)
                + embed_model  # vectors from another model make another classifier
            ).encode()
        ).hexdigest()[:10]
    )
    save(model, card, out_dir)
    _train_gate(anns, texts, oof, config.gate, card["model_id"], out_dir)
    return card


def _train_gate(anns, texts, oof: dict, threshold: float, model_id: str, out_dir: Path) -> None:  # noqa: ANN001
    """Fit the relevance gate on the same folds; its cut keeps what the classifier finds."""
    from litmine import gate, labels

    y = np.array([a.post_training for a in anns])
    found = oof["probs"]["post_training"]["yes"] >= threshold
    g, gcard = gate.train(
        texts,
        y,
        [a.arxiv_id for a in anns],
        oof["split"],
        found,
        random_ids=labels.drawn_ids("random"),
        classifier=model_id,
    )
    gate.save(g, gcard, out_dir)
