"""The relevance gate: a cheap P(post-training) from the text alone, run before anything is embedded.

Most of the crawl is not about post-training, and embedding is the nightly job's dominant cost.
The gate is a logistic regression over tf-idf terms of title + abstract and the codebook's cue
counts, Platt-calibrated on out-of-fold scores, that scores thousands of papers a second. Papers
below its cut are not embedded or classified: they read as ``post_training = no`` with their gate
probability and ``label_source = 'gate'`` (the ``gate_state`` and ``paper_labels`` views). A gold
label always wins, and gold papers are always embedded.

The cut is chosen on out-of-fold predictions of the same folds that score the classifier: by
default the highest cut that keeps 99.5% of the gold post-training papers the classifier finds
(basis ``found``), i.e. the gate costs at most 0.5 point of post_training recall; basis ``gold``
counts every gold post-training paper instead. The card keeps both curves, so a recall target
can be changed without retraining (``litmine nightly --gate-recall``); a lower cut re-opens the
papers it now passes, which the next embed and classify stages pick up.

Saved as NumPy arrays (``allow_pickle=False``) plus a JSON card: nothing executes on load.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from litmine import store
from litmine.config import models_dir
from litmine.embed import paper_text
from litmine.errors import LitmineError

GATE_FILE = "litmine-gate.npz"
GATE_CARD = "gate_card.json"
DEFAULT_RECALL = 0.995
BASES = ("found", "gold")
TARGETS = (0.98, 0.99, 0.995, 0.999, 1.0)


@dataclass(frozen=True)
class GateConfig:
    C: float = 4.0
    cue_weight: float = 0.5
    min_df: int = 2
    max_features: int = 200_000


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def tokens(text: str) -> list[str]:
    """Lower-cased, accent-stripped word tokens: one pass serves tf-idf and the cue counts."""
    from sklearn.feature_extraction.text import strip_accents_unicode

    return _TOKEN.findall(strip_accents_unicode(text.lower()))


def _ngrams(toks: list[str]) -> list[str]:
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]


def _vectorizer(cfg: GateConfig, vocabulary: list[str] | None = None):  # noqa: ANN202
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer=_ngrams,  # documents are token lists (``tokens``)
        min_df=1 if vocabulary is not None else cfg.min_df,
        max_features=None if vocabulary is not None else cfg.max_features,
        sublinear_tf=True,
        dtype=np.float32,
        vocabulary=vocabulary,
    )


@lru_cache(maxsize=1)
def _cue_index() -> tuple[dict[str, list[tuple[tuple[str, ...], tuple[int, ...]]]], int]:
    """The codebook's cue phrases (``cues.toml``) as token sequences, indexed by first token."""
    from litmine.text import cues

    phrases: dict[tuple[str, ...], list[int]] = {}
    for k, group in enumerate(cues().values()):
        for phrase in group:
            if toks := tuple(tokens(phrase)):
                phrases.setdefault(toks, []).append(k)
    first: dict[str, list] = {}
    for toks, groups in phrases.items():
        first.setdefault(toks[0], []).append((toks[1:], tuple(groups)))
    return first, len(cues())


def cue_counts(docs: list[list[str]]) -> np.ndarray:
    """log1p matches per cue group over token lists (the gate's own, fast cue features)."""
    first, n_groups = _cue_index()
    out = np.zeros((len(docs), n_groups), np.float32)
    for i, toks in enumerate(docs):
        row = out[i]
        for j, tok in enumerate(toks):
            for rest, groups in first.get(tok, ()):
                if not rest or tuple(toks[j + 1 : j + 1 + len(rest)]) == rest:
                    for k in groups:
                        row[k] += 1
    return np.log1p(out)


class Gate:
    """A fitted gate: tf-idf vocabulary and weights, cue weights, Platt parameters."""

    def __init__(self, cfg, vectorizer, coef, intercept, platt=(1.0, 0.0)):  # noqa: ANN001
        self.cfg, self.vectorizer = cfg, vectorizer
        self.coef, self.intercept = np.asarray(coef, np.float32), float(intercept)
        self.platt = (float(platt[0]), float(platt[1]))

    def _x(self, docs: list[list[str]]):  # noqa: ANN202
        import scipy.sparse as sp

        cues = sp.csr_matrix(cue_counts(docs) * self.cfg.cue_weight)
        return sp.hstack([self.vectorizer.transform(docs), cues], format="csr")

    def logit(self, texts: list[str]) -> np.ndarray:
        return self._logit([tokens(t) for t in texts])

    def _logit(self, docs: list[list[str]]) -> np.ndarray:
        return self._x(docs) @ self.coef + self.intercept

    def prob(self, texts: list[str]) -> np.ndarray:
        """Calibrated P(post-training) for each text."""
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * self.logit(texts) + b)))


def fit(docs: list[list[str]], y: np.ndarray, cfg: GateConfig | None = None) -> Gate:
    """Fit an uncalibrated gate on labelled token lists (``tokens`` of each text)."""
    from sklearn.linear_model import LogisticRegression

    cfg = cfg or GateConfig()
    vec = _vectorizer(cfg).fit(docs)
    gate = Gate(cfg, vec, np.zeros(0), 0.0)
    lr = LogisticRegression(C=cfg.C, max_iter=3000).fit(gate._x(docs), y)
    return Gate(cfg, vec, lr.coef_[0], lr.intercept_[0])


def _platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logits.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def cut_for(values: list[float], recall: float) -> float:
    """The highest cut that keeps at least ``recall`` of ``values`` (scores of positives)."""
    v = np.sort(np.asarray(values, dtype=float))
    if recall >= 1.0 or not len(v):
        return 0.0
    k = int(np.floor((1.0 - recall) * len(v) + 1e-9))  # 1 - 0.9 is 0.0999...: not 0 of 10
    return float(v[k])


def _ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return float(
        sum(abs(p[idx == b].mean() - y[idx == b].mean()) * (idx == b).mean()
            for b in range(bins) if (idx == b).any())
    )  # fmt: skip


def train(
    texts: list[str],
    y: np.ndarray,
    ids: list[str],
    split: list[tuple[np.ndarray, np.ndarray]],
    found: np.ndarray,
    random_ids: set[str] | None = None,
    cfg: GateConfig | None = None,
    classifier: str = "",
) -> tuple[Gate, dict]:
    """Fit the gate on every gold paper and write its card from out-of-fold scores on ``split``.

    ``found`` marks the gold post-training papers the classifier found on the same folds;
    ``random_ids`` the gold papers drawn at random, whose pass rate estimates the embedded share.
    """
    cfg = cfg or GateConfig()
    y = np.asarray(y, bool)
    docs = [tokens(t) for t in texts]
    logits = np.zeros(len(y))
    for tr, te in split:
        logits[te] = fit([docs[i] for i in tr], y[tr], cfg)._logit([docs[i] for i in te])
    platt = _platt(logits, y)
    oof = 1.0 / (1.0 + np.exp(-(platt[0] * logits + platt[1])))
    final = fit(docs, y, cfg)
    gate = Gate(cfg, final.vectorizer, final.coef, final.intercept, platt)
    rnd = np.array([a in (random_ids or set()) for a in ids])
    curves = {"gold": np.sort(oof[y]).tolist(), "found": np.sort(oof[y & found]).tolist()}
    table = []
    for basis in BASES:
        for target in TARGETS:
            cut = cut_for(curves[basis], target)
            table.append({
                "basis": basis, "recall": target, "cut": round(cut, 6),
                "gold_pass": float((oof[y] >= cut).mean()),
                "found_pass": float((oof[y & found] >= cut).mean()) if (y & found).any() else None,
                "post_training_recall_cost": float(((~(oof >= cut)) & y & found).sum() / y.sum()),
                "random_pass": float((oof[rnd] >= cut).mean()) if rnd.any() else None,
            })  # fmt: skip
    card = {
        "gate_id": fingerprint(gate),
        "classifier": classifier,
        "config": asdict(cfg),
        "training_data": {"papers": len(y), "post_training_yes": int(y.sum()),
                          "found_by_classifier": int((y & found).sum()),
                          "random_sample": int(rnd.sum())},
        "cv_folds": len(split),
        "platt": list(platt),
        "ece": _ece(oof, y.astype(float)),
        "default": {"recall": DEFAULT_RECALL, "basis": "found"},
        "table": table,
        "oof_positive_scores": {k: [round(v, 6) for v in c] for k, c in curves.items()},
    }  # fmt: skip
    return gate, card


def fingerprint(gate: Gate) -> str:
    """The gate's id: a hash of everything that decides its scores (vocabulary, idf, weights)."""
    vec = gate.vectorizer
    h = hashlib.sha256("\n".join(sorted(vec.vocabulary_, key=vec.vocabulary_.get)).encode())
    for arr in (vec.idf_, gate.coef, np.array([gate.intercept, *gate.platt])):
        h.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
    return "gate-" + h.hexdigest()[:10]


def save(gate: Gate, card: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = sorted(gate.vectorizer.vocabulary_, key=gate.vectorizer.vocabulary_.get)
    tmp = out_dir / (GATE_FILE + ".tmp.npz")
    np.savez_compressed(
        tmp,
        vocabulary=np.array(vocab),
        idf=gate.vectorizer.idf_.astype(np.float32),
        coef=gate.coef,
        intercept=np.array([gate.intercept]),
        platt=np.array(gate.platt),
    )
    tmp.replace(out_dir / GATE_FILE)
    (out_dir / GATE_CARD).write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    (out_dir / "GATE_CARD.md").write_text(render_card(card))


def summary(card: dict) -> str:
    """One line on the default cut: its recall cost and the share of random papers it passes."""
    d = card["default"]
    r = next(r for r in card["table"] if (r["basis"], r["recall"]) == (d["basis"], d["recall"]))
    share = (
        "no random sample"
        if r["random_pass"] is None
        else (f"{r['random_pass']:.1%} of the random sample passes")
    )
    return (f"gate {card['gate_id']} cut {r['cut']:.4f}: post_training recall cost "
            f"{100 * r['post_training_recall_cost']:.2f} pt, {share}")  # fmt: skip


def render_card(card: dict) -> str:
    """The gate's card as Markdown: what it is, and the cut for each recall target."""
    td = card["training_data"]
    lines = [
        f"# Relevance gate: {card['gate_id']}",
        "",
        "Logistic regression over tf-idf terms (1-2 grams) of title + abstract and the codebook's "
        "cue-group counts, Platt-calibrated on out-of-fold scores (ECE "
        f"{card['ece']:.3f}); trained on {td['papers']:,} gold papers ({td['post_training_yes']:,} "
        f"post-training, {td['found_by_classifier']:,} of them found by the classifier "
        f"`{card['classifier']}` on the same {card['cv_folds']} folds). Papers below the cut are "
        "not embedded; they read as post_training = no with label source `gate`.",
        "",
        f"Default: recall {card['default']['recall']} on basis `{card['default']['basis']}`. "
        "`found`: the gold post-training papers the classifier finds; `gold`: all of them. "
        "Recall cost: gold post-training papers the classifier finds but the gate stops, over all "
        "gold post-training papers. Random pass: the share of the random-sample gold batches "
        "(natural prevalence) above the cut, i.e. the expected share of the crawl embedded.",
        "",
        "| basis | recall | cut | gold pass | found pass | recall cost | random pass |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in card["table"]:
        found = "-" if r["found_pass"] is None else f"{r['found_pass']:.3f}"
        rnd = "-" if r["random_pass"] is None else f"{r['random_pass']:.3f}"
        lines.append(
            f"| {r['basis']} | {r['recall']} | {r['cut']:.4f} | {r['gold_pass']:.3f} | {found} | "
            f"{100 * r['post_training_recall_cost']:.2f} pt | {rnd} |"
        )
    return "\n".join(lines) + "\n"


def read_card(model_dir: Path | None = None) -> dict | None:
    """The gate's card, or None when the model directory has no gate."""
    path = Path(model_dir or models_dir()) / GATE_CARD
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LitmineError(
            f"gate card {path} is not valid JSON ({exc})", hint="run `litmine train` to rebuild it"
        ) from None


@lru_cache(maxsize=4)
def load(model_dir: Path | None = None) -> tuple[Gate, dict]:
    """The saved gate and its card; a missing, truncated or corrupted file is a clear error."""
    model_dir = Path(model_dir or models_dir())
    card, path = read_card(model_dir), model_dir / GATE_FILE
    if card is None or not path.exists():
        raise LitmineError(f"no relevance gate in {model_dir}", hint="run `litmine train`")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("vocabulary", "idf", "coef", "intercept", "platt")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise LitmineError(
            f"gate file {path} is truncated or corrupted ({type(exc).__name__}: {exc})",
            hint="restore it from git (`git checkout models/`) or run `litmine train`",
        ) from None
    cfg = GateConfig(**card["config"])
    vec = _vectorizer(cfg, vocabulary=arrays["vocabulary"].tolist())
    if (
        len(arrays["idf"]) != len(arrays["vocabulary"])
        or len(arrays["coef"]) != len(arrays["vocabulary"]) + _cue_index()[1]
    ):
        raise LitmineError(f"gate file {path} does not match its vocabulary or cue groups",
                           hint="run `litmine train`")  # fmt: skip
    vec.idf_ = arrays["idf"]
    return Gate(cfg, vec, arrays["coef"], arrays["intercept"][0], arrays["platt"]), card


def choose_cut(card: dict, recall: float | None = None, basis: str | None = None) -> float:
    """The cut for a recall target on a basis (default: the card's)."""
    recall = card["default"]["recall"] if recall is None else float(recall)
    basis = basis or card["default"]["basis"]
    if basis not in BASES:
        raise LitmineError(f"unknown gate basis {basis!r}", hint=f"use one of {', '.join(BASES)}")
    if not 0.0 < recall <= 1.0:
        raise LitmineError(f"gate recall {recall} is not in (0, 1]", hint="e.g. 0.995")
    return cut_for(card["oof_positive_scores"][basis], recall)


def activate(
    con: duckdb.DuckDBPyConnection,
    model_dir: Path | None = None,
    recall: float | None = None,
    basis: str | None = None,
) -> dict | None:
    """Make the saved gate current with its cut; without a gate in ``model_dir`` nothing is gated.

    ``recall`` and ``basis`` are kept in ``meta`` so later runs (cron) keep a changed target.
    """
    card = read_card(model_dir)
    if card is None:
        store.set_meta(con, "current_gate", "")
        return None
    if recall is not None:
        store.set_meta(con, "gate_recall", str(float(recall)))
    if basis is not None:
        store.set_meta(con, "gate_basis", basis)
    recall = float(store.get_meta(con, "gate_recall") or card["default"]["recall"])
    basis = store.get_meta(con, "gate_basis") or card["default"]["basis"]
    cut = choose_cut(card, recall, basis)
    store.set_meta(con, "current_gate", card["gate_id"])
    store.set_meta(con, "gate_cut", repr(cut))
    return {"gate_id": card["gate_id"], "cut": cut, "recall": recall, "basis": basis}


UNSCORED = "SELECT arxiv_id FROM gate_state WHERE gate = 'unscored' ORDER BY arxiv_id"


def count_unscored(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"SELECT count(*) FROM ({UNSCORED})").fetchone()[0]


def score_missing(
    con: duckdb.DuckDBPyConnection,
    model_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = 10_000,
) -> int:
    """Score every paper without a score from the current gate (``activate`` first)."""
    ids = [r[0] for r in con.execute(UNSCORED).fetchall()]
    if not ids:
        return 0
    gate, card = load(Path(model_dir) if model_dir else None)
    by_id = """
        SELECT arxiv_id, title, abstract, content_hash FROM papers
        WHERE arxiv_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY arxiv_id
    """
    done = 0
    for start in range(0, len(ids), chunk):
        rows = con.execute(by_id, [ids[start : start + chunk]]).fetchall()
        probs = gate.prob([paper_text(t, a) for _, t, a, _ in rows])
        frame = pd.DataFrame({
            "arxiv_id": [r[0] for r in rows], "gate_id": card["gate_id"],
            "content_hash": [r[3] for r in rows], "prob": probs.astype(float),
        })  # fmt: skip
        with store.transaction(con):
            store.insert_frame(con, "gate_scores", frame)
        done += len(frame)
        if progress:
            progress(len(frame))
    return done
