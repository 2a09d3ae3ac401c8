"""Evaluation: stratified k-fold cross-validation of the label model and three baselines.

Every method is scored on the same folds. Dependent axes are scored on the gold post-training
papers (the gate is scored by ``post_training`` itself).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from litmine.model import LABELS, MULTI, SINGLE, LabelModel, TrainConfig, targets
from litmine.taxonomy import AXES, Annotation
from litmine.text import CUE_GROUPS, cue_matrix

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
        yp = (pp >= threshold).astype(int)
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
        yp = (p >= 0.5).astype(int)
        prec, rec, f1, sup = precision_recall_fscore_support(yt, yp, zero_division=0)
        return {
            "n": int(len(yt)),
            "micro_f1": float(f1_score(yt, yp, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(yt, yp, average="macro", zero_division=0)),
            "ece": ece(p.ravel(), yt.ravel()),  # each label's P(present) against presence
            "per_label": _per_label(labels, prec, rec, f1, sup),
        }
    yt = np.asarray(y_true, dtype=object)
    yp = np.array(labels, dtype=object)[p.argmax(1)]
    if axis == "post_training":  # the model's own cut on P(yes) (0.5: the argmax)
        yp = np.where(probs["yes"] >= threshold, "yes", "no").astype(object)
    prec, rec, f1, sup = precision_recall_fscore_support(yt, yp, labels=labels, zero_division=0)
    out = {
        "n": int(len(yt)),
        "micro_f1": float(f1_score(yt, yp, average="micro", labels=labels, zero_division=0)),
        "macro_f1": float(f1_score(yt, yp, average="macro", labels=labels, zero_division=0)),
        "ece": ece(p.max(1), yp == yt),
        "per_label": _per_label(labels, prec, rec, f1, sup),
        "confusion": {"labels": labels, "matrix": confusion_matrix(yt, yp, labels=labels).tolist()},
    }
    if axis == "post_training":
        out["f1"] = float(f1_score(yt, yp, pos_label="yes", zero_division=0))
        out["ece"] = ece(probs["yes"], yt == "yes")  # the calibration of P(yes) itself
    return out


def _truth(anns: list[Annotation]) -> dict:
    return {axis: targets(anns, axis) for axis in AXES_ORDER}


def score(anns: list[Annotation], probs: dict, thresholds: dict | None = None) -> dict:
    """Per-axis metrics of out-of-fold probabilities {axis: {label: array over all papers}}."""
    out = {}
    for axis, (mask, y) in _truth(anns).items():
        sub = {lab: v[mask] for lab, v in probs[axis].items()}
        out[axis] = axis_metrics(axis, y[mask], sub, (thresholds or {}).get(axis, 0.5))
    return out


# --- baselines -------------------------------------------------------------------------------


def keyword_probs(texts: list[str]) -> dict:
    """Rules on codebook cue phrases (0/1 'probabilities')."""
    cues = cue_matrix(texts) > 0
    c = {g: cues[:, j] for j, g in enumerate(CUE_GROUPS)}
    fam = (
        "sft",
        "offline_preference",
        "online_preference",
        "offline_filtering",
        "rl_rewards",
        "process_verifier",
        "self_improvement",
        "offpolicy_distillation",
        "onpolicy_distillation",
        "hybrid_pipeline",
    )
    any_method = np.any([c[f] for f in fam], axis=0)
    pt = c["llm"] & (c["post_training"] | any_method) & ~c["negative"]
    on = c["rl_rewards"] | c["online_preference"] | c["on_policy"] | c["self_improvement"]
    off = c["sft"] | c["offline_preference"] | c["offpolicy_distillation"] | c["off_policy"]
    prov = np.where(
        on & off, "mixed", np.where(on, "on_policy", np.where(off, "off_policy", "unspecified"))
    )
    dom = np.where(
        c["consolidation"] | c["offpolicy_distillation"],
        "consolidation",
        np.where(c["expansion"], "expansion", "reshaping"),
    )
    contrib = np.select(
        [c["survey"], c["benchmark"], c["data"], c["system"], c["analysis"]],
        ["survey", "benchmark", "data", "system", "analysis"],
        "method",
    )
    onehot = lambda v, axis: {lab: (v == lab).astype(float) for lab in LABELS[axis]}  # noqa: E731
    iface = {
        "token_targets": c["sft"],
        "preferences": c["preferences"] | c["offline_preference"],
        "rewards": c["rl_rewards"],
        "process_feedback": c["process_verifier"],
        "teacher_targets": c["offpolicy_distillation"] | c["onpolicy_distillation"],
    }
    roles = {
        "expansion": c["expansion"],
        "reshaping": ~c["consolidation"] | c["reshaping"],
        "consolidation": c["consolidation"] | c["offpolicy_distillation"],
    }
    return {
        "post_training": {"yes": pt.astype(float), "no": (~pt).astype(float)},
        "provenance": onehot(prov, "provenance"),
        "dominant_role": onehot(dom, "dominant_role"),
        "contribution": onehot(contrib, "contribution"),
        "interface": {k: v.astype(float) for k, v in iface.items()},
        "roles": {k: v.astype(float) for k, v in roles.items()},
        "families": {f: c[f].astype(float) for f in fam},
        "borderline": {"borderline": np.zeros(len(texts))},
    }


def svm_fold(tr_texts, te_texts, anns_tr: list[Annotation]) -> dict:
    """tf-idf + linear SVM per axis (one-vs-rest for multi-label); hard 0/1 outputs."""
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    xtr, xte = vec.fit_transform(tr_texts), vec.transform(te_texts)
    out = {}
    for axis in AXES_ORDER:
        mask, y = targets(anns_tr, axis)
        if axis in MULTI:
            out[axis] = {}
            for j, lab in enumerate(LABELS[axis]):
                yy = y[mask, j]
                pred = (
                    LinearSVC(C=0.5, class_weight="balanced").fit(xtr[mask], yy).predict(xte)
                    if len(set(yy)) > 1
                    else np.full(xte.shape[0], yy[0] if len(yy) else 0)
                )
                out[axis][lab] = pred.astype(float)
        else:
            keep = mask & (y != "")
            classes = np.unique(y[keep])
            pred = (
                LinearSVC(C=0.5, class_weight="balanced").fit(xtr[keep], y[keep]).predict(xte)
                if len(classes) > 1
                else np.full(xte.shape[0], classes[0] if len(classes) else "", dtype=object)
            )
            out[axis] = {lab: (pred == lab).astype(float) for lab in LABELS[axis]}
    return out


def zero_shot_probs(emb: np.ndarray, label_vecs: dict) -> dict:
    """Cosine similarity between paper and label-description embeddings, softmaxed per axis."""
    out = {}
    for axis in AXES_ORDER:
        names = LABELS[axis]
        if axis == "borderline":
            out[axis] = {"borderline": np.zeros(len(emb))}
            continue
        sims = emb @ np.stack([label_vecs[(axis, n)] for n in names]).T
        e = np.exp((sims - sims.max(1, keepdims=True)) * 20)
        p = e / e.sum(1, keepdims=True)
        if axis in MULTI:  # labels within 0.02 cosine of the best one
            p = (sims >= sims.max(1, keepdims=True) - 0.02).astype(float)
        out[axis] = {n: p[:, j] for j, n in enumerate(names)}
    return out


def label_vectors(embedder) -> dict:  # noqa: ANN001
    keys, texts = [], []
    for axis in AXES_ORDER:
        ax = AXES.get(axis)
        for n in LABELS[axis]:
            keys.append((axis, n))
            texts.append(f"{n.replace('_', ' ')}: {ax.labels[n]}" if ax else n)
    return dict(zip(keys, embedder.encode(texts), strict=True))


def _stitch(parts: list[tuple[np.ndarray, dict]], n: int) -> dict:
    out: dict = {}
    for idx, probs in parts:
        for axis, d in probs.items():
            for lab, v in d.items():
                out.setdefault(axis, {}).setdefault(lab, np.zeros(n))[idx] = v
    return out


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
) -> dict:
    """Out-of-fold metrics for the model (and baselines) on the same stratified folds.

    ``subsets`` names groups of gold ids (e.g. the random sample drawn at natural prevalence)
    that are scored again on their own, from the same out-of-fold predictions. A dict passed
    as ``oof`` receives the folds (``split``) and the model's out-of-fold ``probs``.
    """
    n = len(anns)
    strata = [
        a.families[0] if a.post_training and a.families else str(a.post_training) for a in anns
    ]
    counts = {s: strata.count(s) for s in set(strata)}
    strata = [s if counts[s] >= folds else "rare" for s in strata]
    split = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(n), strata))
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
    if oof is not None:
        oof.update(split=split, probs=methods["model"][0])
    if baselines:
        from litmine.embed import load_embedder

        vecs = label_vectors(embedder or load_embedder())
        methods["keyword_rules"] = (keyword_probs(texts), None)
        methods["tfidf_linear_svm"] = (_stitch(svm_parts, n), None)
        methods["zero_shot_similarity"] = (zero_shot_probs(emb, vecs), None)
    report = {"folds": folds, "papers": n, "model": score(anns, *methods["model"])}
    report["review_replay"] = review_replay(anns, methods["model"][0], config)
    if baselines:
        report["baselines"] = {k: score(anns, *v) for k, v in methods.items() if k != "model"}
    for name, ids in (subsets or {}).items():
        idx = np.array([i for i, a in enumerate(anns) if a.arxiv_id in ids], dtype=int)
        if not len(idx):
            continue
        sub = [anns[i] for i in idx]
        scored = {k: score(sub, _take(p, idx), c) for k, (p, c) in methods.items()}
        report.setdefault("subsets", {})[name] = {
            "papers": len(idx),
            "post_training": int(sum(a.post_training for a in sub)),
            "model": scored.pop("model"),
            "baselines": scored,
            "review_replay": review_replay(sub, _take(methods["model"][0], idx), config),
        }
    return report


REPLAY_AXES = ("post_training", "provenance", "dominant_role", "contribution", "interface",
               "roles", "families")  # fmt: skip


def review_replay(anns: list[Annotation], probs: dict, config: TrainConfig | None = None) -> dict:
    """Replay the review queue on out-of-fold predictions (as ASReview's simulation mode does).

    The queue is read as the dashboard orders it: borderline calls first, then by the least
    certain single-label decision. A paper needs a correction when any label the reviewer sees
    differs from its gold label. Returns corrections per 100 papers read, at several depths.
    """
    model = LabelModel(config)
    rows = [model.decide(probs, i) for i in range(len(anns))]

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


def _take(probs: dict, idx: np.ndarray) -> dict:
    return {axis: {lab: v[idx] for lab, v in d.items()} for axis, d in probs.items()}


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """``eval.json`` and ``eval.md`` in ``out_dir``."""
    from litmine.report import render_eval

    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "eval.json", out_dir / "eval.md"
    js.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    md.write_text(render_eval(report))
    return js, md
