"""Classification verbs: train on the gold set, save/load safely, label papers that lack labels.

Models are saved with ``skops`` (no code runs on load; only scikit-learn, NumPy and SciPy types
are trusted) next to a model card. ``predict_missing`` writes one prediction row per paper and
model; gold labels override predictions in the ``paper_labels`` view.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from litmine import schema, store
from litmine.config import DEFAULT_MODEL_NAME, models_dir
from litmine.embed import paper_text
from litmine.errors import LitmineError
from litmine.taxonomy import TAXONOMY_VERSION, Annotation

if TYPE_CHECKING:  # scikit-learn is imported only when a model is trained or loaded
    from litmine.model import LabelModel

log = logging.getLogger(__name__)

MODEL_FILE = "litmine-classifier.skops"
CARD_FILE = "model_card.json"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "litmine.features.")


def gold_training_set(
    con: duckdb.DuckDBPyConnection, embed_model: str = DEFAULT_MODEL_NAME
) -> tuple[list[Annotation], np.ndarray, list[str]]:
    """Current gold labels with their papers' embeddings and texts (papers in the store only)."""
    df = con.execute(
        """
        SELECT g.*, p.title, p.abstract, e.vector
        FROM gold_current g JOIN papers p USING (arxiv_id)
        JOIN embeddings e ON e.arxiv_id = g.arxiv_id AND e.model = ?
            AND e.content_hash = p.content_hash
        ORDER BY g.arxiv_id
        """,
        [embed_model],
    ).df()
    anns = [
        Annotation(
            arxiv_id=r.arxiv_id,
            post_training=bool(r.post_training),
            provenance=r.provenance,
            interface=tuple(r.interface) if r.post_training else (),
            roles=tuple(r.roles) if r.post_training else (),
            dominant_role=r.dominant_role,
            families=tuple(r.families) if r.post_training else (),
            contribution=r.contribution,
            borderline=bool(r.borderline) if r.post_training else False,
            annotator=r.annotator,
        )
        for r in df.itertuples()
    ]
    emb = np.stack(df["vector"].to_numpy()).astype(np.float32) if len(df) else np.zeros((0, 384))
    texts = [paper_text(t, a) for t, a in zip(df["title"], df["abstract"], strict=True)]
    return anns, emb, texts


def data_hash(anns: list[Annotation]) -> str:
    """A hash of the training labels, independent of row order."""
    lines = sorted(json.dumps(asdict(a), sort_keys=True, default=list) for a in anns)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def save(model: LabelModel, card: dict, out_dir: Path) -> None:
    import skops.io as sio

    out_dir.mkdir(parents=True, exist_ok=True)
    if hasattr(model.vectorizer_, "stop_words_"):  # only the pruned vocabulary: not needed
        del model.vectorizer_.stop_words_
    state = {
        "config": json.dumps(asdict(model.config)),
        "vectorizer": model.vectorizer_,
        "models": {f"{a}": m for a, m in model.models_.items()},
        "priors": {json.dumps(k): v for k, v in model.priors_.items()},
        "offset": model.offset_,
    }
    tmp = out_dir / (MODEL_FILE + ".tmp")
    sio.dump(state, tmp)
    tmp.replace(out_dir / MODEL_FILE)
    (out_dir / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(render_card(card))


def read_card(model_dir: Path | None = None, blended: bool = True) -> dict:
    """The model card of the saved model (cheap: no model is loaded).

    With a tuned model blended with this classifier (:func:`litmine.tuned.applies`), the card's
    ``model_id`` is the blend's and ``tuned`` holds the tuned card; ``blended=False`` gives the
    logistic regression's own card.
    """
    from litmine import tuned

    path = Path(model_dir or models_dir()) / CARD_FILE
    if not path.exists():
        raise LitmineError(f"no trained model in {path.parent}", hint="run `litmine train`")
    card = json.loads(path.read_text())
    extra = tuned.applies(path.parent, card) if blended else None
    if extra:
        card = {**card, "model_id": extra["model_id"], "tuned": extra}
    return card


def embedding_model(model_dir: Path | None = None) -> str:
    """The embedding model the saved classifier was trained on (the default without one)."""
    try:
        return read_card(model_dir)["embedding_model"]
    except LitmineError:
        return DEFAULT_MODEL_NAME


@lru_cache(maxsize=4)
def load(model_dir: Path | None = None) -> tuple[LabelModel, dict]:
    """The saved model and its card; only scikit-learn/NumPy/SciPy types are trusted."""
    import skops.io as sio

    from litmine.features import FeatureConfig
    from litmine.model import LabelModel, TrainConfig

    model_dir = Path(model_dir or models_dir())
    path, card_path = model_dir / MODEL_FILE, model_dir / CARD_FILE
    if not path.exists() or not card_path.exists():
        raise LitmineError(f"no trained model in {model_dir}", hint="run `litmine train`")
    untrusted = sio.get_untrusted_types(file=path)
    bad = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if bad:
        raise LitmineError(f"{path} holds types that are not trusted: {bad}")
    state = sio.load(path, trusted=untrusted)
    cfg = json.loads(state["config"])
    cfg["features"] = FeatureConfig(**cfg["features"])
    model = LabelModel(TrainConfig(**cfg))
    model.vectorizer_ = state["vectorizer"]
    model.models_ = state["models"]
    model.priors_ = {
        (tuple(k) if isinstance(k := json.loads(key), list) else k): v
        for key, v in state["priors"].items()
    }
    model.offset_ = state["offset"]
    model.term_weights_ = model._term_weights()
    return model, json.loads(card_path.read_text())


def predictor(model_dir: Path | None = None):  # noqa: ANN201
    """What labels papers: the blend of the classifier with its tuned heads, or the classifier."""
    from litmine import tuned

    model_dir = Path(model_dir or models_dir())
    model, _ = load(model_dir)
    card = read_card(model_dir)
    return tuned.Blended(model, _tuned(model_dir)) if "tuned" in card else model


@lru_cache(maxsize=2)
def _tuned(model_dir: Path):  # noqa: ANN202 - one ONNX session per process
    from litmine import tuned

    return tuned.TunedModel(model_dir)


PRED_COLUMNS = (
    "arxiv_id", "model_id", "content_hash", "taxonomy_version", "post_training",
    "post_training_prob", "provenance", "provenance_prob", "interface", "interface_probs",
    "roles", "roles_probs", "dominant_role", "dominant_role_prob", "families", "families_probs",
    "contribution", "contribution_prob", "borderline", "evidence", "created",
)  # fmt: skip


def prediction_frame(
    rows: list[dict], ids: list[str], hashes: list[str], model_id: str
) -> pd.DataFrame:
    now = store.now()
    recs = []
    for r, aid, h in zip(rows, ids, hashes, strict=True):
        rec = {c: r.get(c) for c in PRED_COLUMNS}
        rec.update(arxiv_id=aid, model_id=model_id, content_hash=h, created=now)
        rec["taxonomy_version"] = TAXONOMY_VERSION
        for c in ("interface_probs", "roles_probs", "families_probs", "evidence"):
            rec[c] = json.dumps(r[c], sort_keys=True) if r.get(c) is not None else None
        recs.append(rec)
    return pd.DataFrame(recs, columns=list(PRED_COLUMNS))


def count_missing(con: duckdb.DuckDBPyConnection, model_dir: Path | None = None) -> int:
    """Embedded papers without a prediction from the saved model (0 without a model)."""
    try:
        card = read_card(Path(model_dir) if model_dir else None)
    except LitmineError:
        return 0
    sql = f"SELECT count(*) FROM ({schema.UNPREDICTED})"
    return con.execute(sql, [card["embedding_model"], card["model_id"]]).fetchone()[0]


def predict_missing(
    con: duckdb.DuckDBPyConnection,
    model_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 4000,
) -> int:
    """Predict every embedded paper without a current prediction from the current model."""
    card = read_card(Path(model_dir) if model_dir else None)
    model_id, emb_model = card["model_id"], card["embedding_model"]
    store.set_meta(con, "current_model", model_id)
    store.set_meta(con, "embedding_model", emb_model)
    ids = [
        r[0]
        for r in con.execute(
            schema.UNPREDICTED + " ORDER BY p.arxiv_id", [emb_model, model_id]
        ).fetchall()
    ]
    if not ids:
        return 0
    model = predictor(Path(model_dir) if model_dir else None)
    run_id = store.start_run(con, "classify", params=model_id)
    # Chunks are fetched by id: the missing set is computed once, not again for every chunk.
    by_id = """
        SELECT p.arxiv_id, p.title, p.abstract, p.content_hash, e.vector
        FROM papers p
        JOIN embeddings e ON e.arxiv_id = p.arxiv_id AND e.model = ?
            AND e.content_hash = p.content_hash
        WHERE p.arxiv_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY p.arxiv_id
    """
    done = 0
    for start in range(0, len(ids), chunk):
        df = con.execute(by_id, [emb_model, ids[start : start + chunk]]).df()
        if df.empty:
            continue
        emb = np.stack(df["vector"].to_numpy()).astype(np.float32)
        texts = [paper_text(t, a) for t, a in zip(df["title"], df["abstract"], strict=True)]
        frame = prediction_frame(
            model.predict(emb, texts), list(df["arxiv_id"]), list(df["content_hash"]), model_id
        )
        with store.transaction(con):
            store.insert_frame(con, "predictions", frame)
        done += len(frame)
        if progress:
            progress(len(frame))
    store.finish_run(con, run_id, "ok", {"fetched": len(ids), "inserted": done})
    return done


def render_card(card: dict) -> str:
    """The model card as Markdown."""
    td = card["training_data"]
    lines = [
        f"# Model card: {card['model_id']}",
        "",
        "Calibrated logistic-regression classifiers, one per axis of the codebook "
        f"(taxonomy `{card['taxonomy_version']}`), over {card['embedding_model']} embeddings, "
        "spaCy cue-phrase counts and tf-idf terms of title and abstract. Probabilities are "
        "calibrated with Platt scaling; a paper whose `post_training` probability is below "
        f"{card['config']['gate']} gets no other labels. Saved with skops.",
        "",
        f"- training data: {td['papers']} gold papers ({td['post_training_yes']} post-training), "
        f"sha256 `{td['sha256'][:16]}…`, annotators {', '.join(td['annotators'])}",
        f"- cross-validation: stratified {card['cv_folds']}-fold on the gold set",
        "",
        "| axis | macro F1 | micro F1 | ECE | n |",
        "|---|---|---|---|---|",
    ]
    for axis, m in card["metrics"].items():
        lines.append(
            f"| {axis} | {m['macro_f1']:.3f} | {m['micro_f1']:.3f} | {m['ece']:.3f} | {m['n']} |"
        )
    lines += ["", "Per-label precision and recall, baselines and confusion tables: `docs/eval.md`."]
    return "\n".join(lines) + "\n"
