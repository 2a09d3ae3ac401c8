"""The label model: one calibrated scikit-learn classifier per axis, trained on gold labels.

``LabelModel`` follows the scikit-learn style: ``fit`` on precomputed embeddings, texts and
annotations; learned attributes end in ``_``. A paper whose ``post_training`` probability is
below the gate gets no other labels. Every predicted label comes with the abstract sentence that
supports it best under the model's own term weights.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from litmine.features import FeatureConfig, assemble, make_vectorizer, tfidf_offset
from litmine.labelspace import LABELS, MULTI, SINGLE, targets
from litmine.taxonomy import Annotation
from litmine.text import CUE_GROUPS, cue_matrix, nlp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    C: float = 4.0
    calib_folds: int = 3
    # P(post_training) cut: 0.4 maximises F1 on the random-sample gold batches at natural
    # prevalence (nested on out-of-fold predictions: 0.764 against 0.721 at 0.5, docs/quality.md)
    gate: float = 0.4
    threshold: float = 0.5
    # Calibrated probabilities make ~F*/2 the F1-optimal cut; the borderline flag's F* is ~0.45.
    borderline_threshold: float = 0.25
    seed: int = 0
    features: FeatureConfig = field(default_factory=FeatureConfig)


def _calibrated(cfg: TrainConfig, y: np.ndarray) -> CalibratedClassifierCV | None:
    counts = np.unique(y, return_counts=True)[1]
    if len(counts) < 2 or counts.min() < cfg.calib_folds:
        return None
    base = LogisticRegression(C=cfg.C, max_iter=3000, class_weight="balanced")
    cv = StratifiedKFold(cfg.calib_folds, shuffle=True, random_state=cfg.seed)
    return CalibratedClassifierCV(base, method="sigmoid", cv=cv)


def _coef(est: CalibratedClassifierCV) -> np.ndarray:
    """Mean linear coefficients over the calibration folds, one row per class."""
    return np.mean([c.estimator.coef_ for c in est.calibrated_classifiers_], axis=0)


class LabelModel:
    """All axes' classifiers over [embedding | cues | tf-idf] features."""

    def __init__(self, config: TrainConfig | None = None):
        self.config = config or TrainConfig()

    def _x(self, emb: np.ndarray, texts: list[str], cues: np.ndarray | None) -> sp.csr_matrix:
        cues = cue_matrix(texts) if cues is None else cues
        return assemble(emb, cues, self.vectorizer_.transform(texts), self.config.features)

    def fit(
        self,
        emb: np.ndarray,
        texts: list[str],
        anns: list[Annotation],
        cues: np.ndarray | None = None,
    ) -> LabelModel:
        """Fit every axis; ``cues`` may pass precomputed ``text.cue_matrix(texts)``."""
        cfg = self.config
        self.vectorizer_ = make_vectorizer(cfg.features).fit(texts)
        x = self._x(emb, texts, cues)
        self.offset_ = tfidf_offset(emb.shape[1], len(CUE_GROUPS))
        self.models_: dict = {}
        self.priors_: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for axis in SINGLE:
                mask, y = targets(anns, axis)
                keep = mask & (y != "")
                labels, counts = np.unique(y[keep], return_counts=True)
                keep &= np.isin(y, labels[counts >= cfg.calib_folds])
                est = _calibrated(cfg, y[keep])
                self.models_[axis] = est.fit(x[keep], y[keep]) if est else None
                self.priors_[axis] = dict(zip(*np.unique(y[keep], return_counts=True), strict=True))
            for axis in MULTI:
                mask, y = targets(anns, axis)
                self.models_[axis] = {}
                for j, label in enumerate(LABELS[axis]):
                    est = _calibrated(cfg, y[mask, j])
                    self.models_[axis][label] = est.fit(x[mask], y[mask, j]) if est else None
                    self.priors_[(axis, label)] = float(y[mask, j].mean()) if mask.any() else 0.0
        self.term_weights_ = self._term_weights()
        return self

    def _term_weights(self) -> dict[tuple[str, str], np.ndarray]:
        """Per (axis, label): weights of the tf-idf columns, used to pick evidence sentences."""
        out = {}
        for axis in SINGLE:
            est = self.models_[axis]
            if est is None:
                continue
            coef = _coef(est)[:, self.offset_ :]
            if coef.shape[0] == 1:  # binary: row is the second class
                out[(axis, est.classes_[1])] = coef[0]
                out[(axis, est.classes_[0])] = -coef[0]
            else:
                for k, label in enumerate(est.classes_):
                    out[(axis, label)] = coef[k]
        for axis in MULTI:
            for label, est in self.models_[axis].items():
                if est is not None:
                    out[(axis, label)] = _coef(est)[0, self.offset_ :]
        return out

    def predict_proba(
        self, emb: np.ndarray, texts: list[str], cues: np.ndarray | None = None
    ) -> dict:
        """Axis -> {label: array of probabilities}, for every paper."""
        x = self._x(emb, texts, cues)
        n = x.shape[0]
        out: dict[str, dict[str, np.ndarray]] = {}
        for axis in SINGLE:
            est = self.models_[axis]
            if est is None:
                top = max(self.priors_[axis], key=self.priors_[axis].get)
                out[axis] = {lab: np.full(n, float(lab == top)) for lab in LABELS[axis]}
                continue
            p = est.predict_proba(x)
            out[axis] = {lab: np.zeros(n) for lab in LABELS[axis]}
            for k, label in enumerate(est.classes_):
                out[axis][label] = p[:, k]
        for axis in MULTI:
            out[axis] = {}
            for label, est in self.models_[axis].items():
                out[axis][label] = (
                    est.predict_proba(x)[:, 1]
                    if est is not None
                    else np.full(n, self.priors_[(axis, label)])
                )
        return out

    def decide(self, probs: dict, i: int, cuts: dict | None = None) -> dict:
        """Labels of paper ``i`` from its probabilities (gated by post_training).

        ``cuts`` ({axis: {label: threshold}}, e.g. from the tuned model's card) overrides the
        configured cuts label by label; on a one-label axis they weigh the argmax instead.
        """
        cfg, cuts = self.config, cuts or {}

        def cut(axis: str, label: str, default: float) -> float:
            return float(cuts.get(axis, {}).get(label, default))

        pt = float(probs["post_training"]["yes"][i])
        res: dict = {"post_training": pt >= cut("post_training", "yes", cfg.gate)}
        res["post_training_prob"] = pt
        if not res["post_training"]:
            return res
        for axis in ("provenance", "dominant_role", "contribution"):  # cuts: argmax weights
            label = max(LABELS[axis], key=lambda lab: probs[axis][lab][i] * cut(axis, lab, 1.0))
            res[axis], res[f"{axis}_prob"] = label, float(probs[axis][label][i])
        for axis in ("interface", "roles", "families"):
            ps = {lab: round(float(probs[axis][lab][i]), 4) for lab in LABELS[axis]}
            res[axis] = [lab for lab in LABELS[axis] if ps[lab] >= cut(axis, lab, cfg.threshold)]
            res[f"{axis}_probs"] = ps
        if res["dominant_role"] not in res["roles"]:
            res["roles"] = sorted({*res["roles"], res["dominant_role"]}, key=LABELS["roles"].index)
        flag = cut("borderline", "borderline", cfg.borderline_threshold)
        res["borderline"] = bool(probs["borderline"]["borderline"][i] >= flag)
        return res

    def predict(
        self,
        emb: np.ndarray,
        texts: list[str],
        evidence: bool = True,
        probs: dict | None = None,
        cuts: dict | None = None,
    ) -> list[dict]:
        """Decided labels per paper (from ``probs`` when given, e.g. a blend with this model's)."""
        probs = self.predict_proba(emb, texts) if probs is None else probs
        rows = [self.decide(probs, i, cuts) for i in range(len(texts))]
        if evidence:
            for row, ev in zip(rows, self.evidence(texts, rows), strict=True):
                row["evidence"] = ev
        return rows

    def evidence(self, texts: list[str], rows: list[dict]) -> list[dict]:
        """For each predicted label, the sentence whose terms support it most."""
        pipe, _ = nlp()
        sents = [[s.text.strip() for s in d.sents if s.text.strip()] for d in pipe.pipe(texts)]
        flat = [s for ss in sents for s in ss] or [""]
        keys = list(self.term_weights_)
        w = np.stack([self.term_weights_[k] for k in keys], axis=1)
        scores = np.asarray(self.vectorizer_.transform(flat) @ w)
        col = {k: j for j, k in enumerate(keys)}
        out, start = [], 0
        for ss, row in zip(sents, rows, strict=True):
            block = scores[start : start + len(ss)]
            start += len(ss)
            ev: dict[str, dict[str, str]] = {}
            for axis, label in _predicted_labels(row):
                j = col.get((axis, label))
                if j is not None and len(ss):
                    ev.setdefault(axis, {})[label] = ss[int(np.argmax(block[:, j]))]
            out.append(ev)
        return out


def _predicted_labels(row: dict) -> list[tuple[str, str]]:
    pairs = [("post_training", "yes" if row["post_training"] else "no")]
    if row["post_training"]:
        pairs += [(a, row[a]) for a in ("provenance", "dominant_role", "contribution")]
        pairs += [(a, lab) for a in ("interface", "roles", "families") for lab in row[a]]
        if row.get("borderline"):
            pairs.append(("borderline", "borderline"))
    return pairs
