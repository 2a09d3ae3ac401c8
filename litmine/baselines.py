"""The baselines every label model is scored against: keyword rules over the codebook's cue
phrases, a tf-idf linear SVM, and zero-shot similarity to label descriptions."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from litmine.labelspace import HEAD_AXES, LABELS, MULTI, targets
from litmine.taxonomy import AXES, Annotation
from litmine.text import CUE_GROUPS, cue_matrix

AXES_ORDER = HEAD_AXES.all


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
