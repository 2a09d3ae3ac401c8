"""Evaluation: stratified k-fold cross-validation of the label model and three baselines.

Every method is scored on the same folds. Dependent axes are scored on the gold post-training
papers (the gate is scored by ``post_training`` itself).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from litmine.baselines import keyword_probs, label_vectors, svm_fold, zero_shot_probs
from litmine.calibration import take
from litmine.model import MULTI, SINGLE, LabelModel, TrainConfig, targets
from litmine.taxonomy import Annotation
from litmine.text import cue_matrix

log = logging.getLogger(__name__)
AXES_ORDER = (*SINGLE, *MULTI)


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean probability - observed rate| per bin, weighted by size.

    Single-label axes pass the top label's probability and whether it was right; multi-label
    axes and flags pass each label's probability and whether the label is present.
    """
    conf, correct = np.asarray(conf, float), np.asarray(correct, float)
    if not len(conf):
        return 0.0
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    return float(
        sum(
            abs(conf[idx == b].mean() - correct[idx == b].mean()) * (idx == b).mean()
            for b in range(bins)
            if (idx == b).any()
        )
    )


def _per_label(labels, prec, rec, f1, sup) -> dict:  # noqa: ANN001
    return {
        lab: {
            "precision": float(prec[j]),
            "recall": float(rec[j]),
            "f1": float(f1[j]),
            "support": int(sup[j]),
        }
        for j, lab in enumerate(labels)
    }


def axis_metrics(axis: str, y_true, probs: dict[str, np.ndarray], threshold: float = 0.5) -> dict:
    """Metrics of one axis from gold values and a {label: probability array} dict."""
    labels = list(probs)
    p = np.stack([probs[lab] for lab in labels], axis=1)
    if axis in MULTI and len(labels) == 1:  # a flag: score its positive class
        yt, pp = np.asarray(y_true, int).ravel(), p.ravel()
        yp = (pp >= _cuts(threshold, labels, len(yt))[:, 0]).astype(int)
        prec, rec, f1, sup = precision_recall_fscore_support(yt, yp, labels=[1], zero_division=0)
        f = float(f1[0])
        return {
            "n": int(len(yt)),
            "micro_f1": f,
            "macro_f1": f,
            "ece": ece(pp, yt),
            "per_label": {
                labels[0]: {
                    "precision": float(prec[0]),
                    "recall": float(rec[0]),
                    "f1": f,
                    "support": int(sup[0]),
                }
            },
        }
    if axis in MULTI:
        yt = np.asarray(y_true, int)
        yp = (p >= _cuts(threshold, labels, len(yt))).astype(int)
        prec, rec, f1, sup = precision_recall_fscore_support(yt, yp, zero_division=0)
        return {
            "n": int(len(yt)),
            "micro_f1": float(f1_score(yt, yp, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(yt, yp, average="macro", zero_division=0)),
            "ece": ece(p.ravel(), yt.ravel()),  # each label's P(present) against presence
            "per_label": _per_label(labels, prec, rec, f1, sup),
        }
    yt = np.asarray(y_true, dtype=object)
    w = _cuts(threshold, labels, len(yt), 1.0) if isinstance(threshold, dict) else 1.0
    pick = (p * w).argmax(1)  # dict cuts: argmax weights
    yp = np.array(labels, dtype=object)[pick]
    if axis == "post_training":  # the model's own cut on P(yes) (0.5: the argmax)
        yp = np.where(probs["yes"] >= _cuts(threshold, ["yes"], len(yt))[:, 0], "yes", "no")
        yp = yp.astype(object)
    prec, rec, f1, sup = precision_recall_fscore_support(yt, yp, labels=labels, zero_division=0)
    out = {
        "n": int(len(yt)),
        "micro_f1": float(f1_score(yt, yp, average="micro", labels=labels, zero_division=0)),
        "macro_f1": float(f1_score(yt, yp, average="macro", labels=labels, zero_division=0)),
        "ece": ece(p[np.arange(len(yt)), pick], yp == yt),  # the decided label's probability
        "per_label": _per_label(labels, prec, rec, f1, sup),
        "confusion": {"labels": labels, "matrix": confusion_matrix(yt, yp, labels=labels).tolist()},
    }
    if axis == "post_training":
        out["f1"] = float(f1_score(yt, yp, pos_label="yes", zero_division=0))
        out["ece"] = ece(probs["yes"], yt == "yes")  # the calibration of P(yes) itself
    return out


def _cuts(threshold, labels: list[str], n: int, default: float = 0.5) -> np.ndarray:  # noqa: ANN001
    """Cuts as an [n, labels] array from one number, {label: number} or {label: per-row array}."""
    if not isinstance(threshold, dict):
        return np.full((n, len(labels)), float(threshold))
    return np.stack(
        [np.broadcast_to(np.asarray(threshold.get(lab, default), float), (n,)) for lab in labels],
        1,
    )


def _truth(anns: list[Annotation]) -> dict:
    return {axis: targets(anns, axis) for axis in AXES_ORDER}


def score(anns: list[Annotation], probs: dict, thresholds: dict | None = None) -> dict:
    """Per-axis metrics of out-of-fold probabilities {axis: {label: array over all papers}}."""
    out = {}
    for axis, (mask, y) in _truth(anns).items():
        sub = {lab: v[mask] for lab, v in probs[axis].items()}
        cut = (thresholds or {}).get(axis, 0.5)
        if isinstance(cut, dict):  # per-row cuts are masked with their rows
            cut = {lab: v[mask] if np.ndim(v) else v for lab, v in cut.items()}
        out[axis] = axis_metrics(axis, y[mask], sub, cut)
    return out


def _stitch(parts: list[tuple[np.ndarray, dict]], n: int) -> dict:
    out: dict = {}
    for idx, probs in parts:
        for axis, d in probs.items():
            for lab, v in d.items():
                out.setdefault(axis, {}).setdefault(lab, np.zeros(n))[idx] = v
    return out


def fold_split(anns: list[Annotation], folds: int = 5, seed: int = 13) -> list:
    """Stratified folds (by post_training and first family) shared by every model's CV."""
    strata = [
        a.families[0] if a.post_training and a.families else str(a.post_training) for a in anns
    ]
    counts = {s: strata.count(s) for s in set(strata)}
    strata = [s if counts[s] >= folds else "rare" for s in strata]
    return list(
        StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(anns)), strata)
    )


def cross_validate(
    emb: np.ndarray,
    texts: list[str],
    anns: list[Annotation],
    config: TrainConfig | None = None,
    folds: int = 5,
    baselines: bool = True,
    embedder=None,  # noqa: ANN001
    seed: int = 13,
    subsets: dict[str, set[str]] | None = None,
    oof: dict | None = None,
    split: list | None = None,
    tuned_logits: np.ndarray | None = None,
) -> dict:
    """Out-of-fold metrics for the model (and baselines) on the same stratified folds.

    ``subsets`` names groups of gold ids (e.g. the random sample drawn at natural prevalence)
    that are scored again on their own, from the same out-of-fold predictions. A dict passed
    as ``oof`` receives the folds (``split``) and the model's out-of-fold ``probs``.

    With the fine-tuned heads' out-of-fold ``tuned_logits`` (on these folds), the model scored
    is their blend with the logistic regression (fitted nested, on the other folds' rows), and
    the logistic regression
    and the tuned heads alone are reported as baselines.
    """
    n = len(anns)
    split = split or fold_split(anns, folds, seed)
    folds = len(split)
    model_parts, svm_parts = [], []
    cues = cue_matrix(texts)
    for k, (tr, te) in enumerate(split):
        log.info("fold %d/%d", k + 1, folds)
        m = LabelModel(config).fit(
            emb[tr], [texts[i] for i in tr], [anns[i] for i in tr], cues=cues[tr]
        )
        model_parts.append((te, m.predict_proba(emb[te], [texts[i] for i in te], cues=cues[te])))
        if baselines:
            svm_parts.append(
                (
                    te,
                    svm_fold([texts[i] for i in tr], [texts[i] for i in te], [anns[i] for i in tr]),
                )
            )
    cfg = config or TrainConfig()
    cut = {"borderline": cfg.borderline_threshold, "post_training": cfg.gate}
    methods = {"model": (_stitch(model_parts, n), cut)}
    replay_cuts = None
    if tuned_logits is not None:
        from litmine.calibration import nested

        lr = methods.pop("model")
        tuned, blend = nested(tuned_logits, lr[0], anns, split)
        methods = {"model": blend, "logistic_regression": lr, "tuned_alone": tuned}
        replay_cuts = blend[1]
    if oof is not None:
        oof.update(split=split, probs=methods["model"][0])
        oof["lr_probs"] = methods.get("logistic_regression", methods["model"])[0]
    if baselines:
        from litmine.embed import load_embedder

        vecs = label_vectors(embedder or load_embedder())
        methods["keyword_rules"] = (keyword_probs(texts), None)
        methods["tfidf_linear_svm"] = (_stitch(svm_parts, n), None)
        methods["zero_shot_similarity"] = (zero_shot_probs(emb, vecs), None)
    report = {"folds": folds, "papers": n, "model": score(anns, *methods["model"])}
    report["review_replay"] = review_replay(anns, methods["model"][0], config, replay_cuts)
    if len(methods) > 1:
        report["baselines"] = {k: score(anns, *v) for k, v in methods.items() if k != "model"}
    for name, ids in (subsets or {}).items():
        idx = np.array([i for i, a in enumerate(anns) if a.arxiv_id in ids], dtype=int)
        if not len(idx):
            continue
        sub = [anns[i] for i in idx]
        scored = {k: score(sub, take(p, idx), _take_cuts(c, idx)) for k, (p, c) in methods.items()}
        report.setdefault("subsets", {})[name] = {
            "papers": len(idx),
            "post_training": int(sum(a.post_training for a in sub)),
            "model": scored.pop("model"),
            "baselines": scored,
            "review_replay": review_replay(
                sub, take(methods["model"][0], idx), config, _take_cuts(replay_cuts, idx)
            ),
        }
    return report


REPLAY_AXES = ("post_training", "provenance", "dominant_role", "contribution", "interface",
               "roles", "families")  # fmt: skip


def review_replay(
    anns: list[Annotation], probs: dict, config: TrainConfig | None = None, cuts: dict | None = None
) -> dict:
    """Replay the review queue on out-of-fold predictions (as ASReview's simulation mode does).

    The queue is read as the dashboard orders it: borderline calls first, then by the least
    certain single-label decision. A paper needs a correction when any label the reviewer sees
    differs from its gold label. Returns corrections per 100 papers read, at several depths.
    """
    model = LabelModel(config)
    rows = [model.decide(probs, i, _take_cuts(cuts, i)) for i in range(len(anns))]

    def confidence(r: dict) -> float:
        if not r["post_training"]:
            return 1 - r["post_training_prob"]
        return min(r["post_training_prob"], r["provenance_prob"], r["dominant_role_prob"],
                   r["contribution_prob"])  # fmt: skip

    def wrong(a: Annotation, r: dict) -> list[str]:
        if a.post_training != r["post_training"]:
            return ["post_training"]
        if not a.post_training:
            return []
        gold = {"provenance": a.provenance, "dominant_role": a.dominant_role,
                "contribution": a.contribution, "interface": set(a.interface),
                "roles": set(a.roles), "families": set(a.families)}  # fmt: skip
        return [ax for ax in REPLAY_AXES[1:] if gold[ax] != (set(r[ax]) if ax in
                ("interface", "roles", "families") else r[ax])]  # fmt: skip

    order = sorted(range(len(anns)), key=lambda i: (not rows[i].get("borderline", False),
                                                     confidence(rows[i]), anns[i].arxiv_id))  # fmt: skip
    errs = [wrong(anns[i], rows[i]) for i in order]
    hit = np.array([bool(e) for e in errs])
    depths = [d for d in (50, 100, 200, 500) if d < len(order)] + [len(order)]
    return {
        "papers": len(order),
        "per_100": {str(d): float(100 * hit[:d].mean()) for d in depths},
        "by_axis": {ax: int(sum(ax in e for e in errs)) for ax in REPLAY_AXES},
    }


def _take_cuts(cuts: dict | None, idx):  # noqa: ANN001, ANN202
    """Per-row cuts ({axis: {label: array}}) at ``idx``; scalar cuts as they are."""
    if not cuts:
        return cuts
    return {a: ({k: (v[idx] if np.ndim(v) else v) for k, v in d.items()}
                if isinstance(d, dict) else d) for a, d in cuts.items()}  # fmt: skip


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """``eval.json`` and ``eval.md`` in ``out_dir``."""
    from litmine.report import render_eval

    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "eval.json", out_dir / "eval.md"
    js.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    md.write_text(render_eval(report))
    return js, md
