"""From raw head logits to calibrated probabilities and decisions, with parameters as plain JSON.

Fitted on out-of-fold logits only: a temperature per one-label axis, a Platt scale per label of
the multi-label axes and the borderline flag, a decision threshold per label (the F1-optimal cut
of its calibrated out-of-fold probability), and an optional second stage for provenance that
reads the calibrated provenance, family, interface and role probabilities together. Everything
is numbers in a dict, so the model card carries it and loading runs no code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from labelspace import HEAD_AXES, LABELS, layout, target_arrays

from litmine.taxonomy import Annotation

STAGE2_INPUTS = ("provenance", "families", "interface", "roles")
MIN_SUPPORT_FOR_THRESHOLD = 15


def spans() -> dict[str, slice]:
    out, lo = {}, 0
    for axis, labels in layout():
        out[axis] = slice(lo, lo + len(labels))
        lo += len(labels)
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def _temperature(z: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``y`` under softmax(z/T)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = _softmax(z / np.exp(log_t))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def _platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of p = sigmoid(a z + b), fitted by logistic regression on the logit alone."""
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=100.0, max_iter=1000).fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The F1-optimal cut of ``p`` for 0/1 ``y`` (0.5 when the label is too rare to choose)."""
    if y.sum() < MIN_SUPPORT_FOR_THRESHOLD:
        return 0.5
    grid = np.round(np.arange(0.05, 0.951, 0.025), 3)
    f1 = []
    for t in grid:
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        f1.append(2 * tp / max(pred.sum() + y.sum(), 1))
    return float(grid[int(np.argmax(f1))])


def fit(logits: np.ndarray, anns: Sequence[Annotation], stage2: bool = True) -> dict:
    """Calibration parameters and thresholds from out-of-fold ``logits`` of ``anns``."""
    tgt = target_arrays(anns)
    sp = spans()
    cal: dict = {"temperature": {}, "platt": {}, "thresholds": {}}
    for axis in HEAD_AXES.single:
        mask, y = tgt[axis]
        keep = mask & (y >= 0)
        cal["temperature"][axis] = _temperature(logits[keep, sp[axis]], y[keep])
    for axis in HEAD_AXES.multi:
        mask, y = tgt[axis]
        cal["platt"][axis] = {}
        for j, lab in enumerate(LABELS[axis]):
            cal["platt"][axis][lab] = list(_platt(logits[mask, sp[axis]][:, j], y[mask, j]))
    probs = probabilities(logits, cal)
    mask, y = tgt["post_training"]
    yes = LABELS["post_training"].index("yes")
    cal["thresholds"]["post_training"] = {
        "yes": best_threshold(probs["post_training"]["yes"], (y == yes).astype(int))
    }
    for axis in HEAD_AXES.multi:
        mask, y = tgt[axis]
        cal["thresholds"][axis] = {
            lab: best_threshold(probs[axis][lab][mask], y[mask, j])
            for j, lab in enumerate(LABELS[axis])
        }
    if stage2:
        cal["stage2"] = fit_stage2(probs, anns)
    return cal


def stage2_features(probs: dict) -> np.ndarray:
    return np.stack([probs[a][lab] for a in STAGE2_INPUTS for lab in LABELS[a]], axis=1).astype(
        np.float64
    )


def fit_stage2(probs: dict, anns: Sequence[Annotation]) -> dict:
    """Multinomial logistic regression: provenance from the calibrated first-stage probabilities."""
    from sklearn.linear_model import LogisticRegression

    mask, y = target_arrays(anns)["provenance"]
    keep = mask & (y >= 0)
    x = stage2_features(probs)[keep]
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(np.log(np.clip(x, 1e-4, 1.0)), y[keep])
    coef = np.zeros((len(LABELS["provenance"]), x.shape[1]))
    icpt = np.full(len(LABELS["provenance"]), -30.0)
    coef[lr.classes_] = lr.coef_
    icpt[lr.classes_] = lr.intercept_
    return {"coef": coef.tolist(), "intercept": icpt.tolist()}


def probabilities(logits: np.ndarray, cal: dict, use_stage2: bool = True) -> dict:
    """Axis -> {label: calibrated probability array} from raw logits and parameters."""
    sp = spans()
    out: dict = {}
    for axis in HEAD_AXES.single:
        p = _softmax(logits[:, sp[axis]] / cal["temperature"].get(axis, 1.0))
        out[axis] = {lab: p[:, k] for k, lab in enumerate(LABELS[axis])}
    for axis in HEAD_AXES.multi:
        z = logits[:, sp[axis]]
        out[axis] = {}
        for j, lab in enumerate(LABELS[axis]):
            a, b = cal["platt"].get(axis, {}).get(lab, (1.0, 0.0))
            out[axis][lab] = _sigmoid(a * z[:, j] + b)
    if use_stage2 and cal.get("stage2"):
        s2 = cal["stage2"]
        x = np.log(np.clip(stage2_features(out), 1e-4, 1.0))
        p = _softmax(x @ np.asarray(s2["coef"]).T + np.asarray(s2["intercept"]))
        out["provenance"] = {lab: p[:, k] for k, lab in enumerate(LABELS["provenance"])}
    return out
