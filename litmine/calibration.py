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

from litmine.labelspace import HEAD_AXES, LABELS, layout, target_arrays
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


ARGMAX_AXES = ("provenance", "dominant_role", "contribution")  # decided by a weighted argmax


def best_weights(p: np.ndarray, y: np.ndarray) -> list[float]:
    """Per-class multipliers of a one-label axis's probabilities before the argmax.

    Calibrated probabilities favour the frequent classes; macro-F1 weighs every class alike.
    The weights are (n / n_c) ** beta, beta in 0-1 chosen for macro-F1 on these rows (beta 0
    is the plain argmax), so the probabilities themselves stay calibrated.
    """
    from sklearn.metrics import f1_score

    k = p.shape[1]
    counts = np.bincount(y, minlength=k) + 1.0
    best, out = -1.0, np.ones(k)
    for beta in (0.0, 0.25, 0.5, 0.75, 1.0):
        w = (counts.sum() / counts) ** beta
        w = w / w.max()
        f = f1_score(y, (p * w).argmax(1), average="macro", labels=list(range(k)), zero_division=0)
        if f > best + 1e-9:
            best, out = f, w
    return [float(v) for v in out]


def _argmax_cuts(probs: dict, tgt: dict) -> dict:
    out = {}
    for axis in ARGMAX_AXES:
        mask, y = tgt[axis]
        keep = mask & (y >= 0)
        p = np.stack([probs[axis][lab] for lab in LABELS[axis]], 1)[keep]
        out[axis] = dict(zip(LABELS[axis], best_weights(p, y[keep]), strict=True))
    return out


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
    cal["thresholds"].update(_argmax_cuts(probabilities(logits, cal, stage2), tgt))
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


# --- the blend of the fine-tuned heads with the logistic regression ----------------------------


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-4, 1.0))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _stack_single(lr: dict, ft: dict, axis: str) -> np.ndarray:
    return np.stack([_log(m[axis][lab]) for m in (lr, ft) for lab in LABELS[axis]], axis=1)


def fit_blend(lr: dict, ft: dict, anns: Sequence[Annotation]) -> dict:
    """A stacker per label over the two models' calibrated probabilities, plus decision cuts.

    One-label axes: a multinomial logistic regression on both models' log-probabilities; each
    multi-label axis label: a logistic regression on the two logits. The cuts of post_training
    and of the multi-label axes are F1-optimal on all gold rows of their axis (choosing the
    post_training cut on the random-sample rows alone scored lower, nested: 0.739 against
    0.752 on four folds), and the one-label axes get argmax weights (:func:`best_weights`).
    """
    from sklearn.linear_model import LogisticRegression

    tgt = target_arrays(anns)
    params: dict = {"single": {}, "multi": {}, "thresholds": {}}
    for axis in HEAD_AXES.single:
        mask, y = tgt[axis]
        keep = mask & (y >= 0)
        x = _stack_single(lr, ft, axis)
        k = len(LABELS[axis])
        coef, icpt = np.zeros((k, x.shape[1])), np.full(k, -30.0)
        classes = np.unique(y[keep])
        if len(classes) == 1:
            icpt[classes[0]] = 0.0
        else:
            m = LogisticRegression(C=1.0, max_iter=2000).fit(x[keep], y[keep])
            if len(classes) == 2:  # one row of weights: the log-odds of the second class
                coef[m.classes_[1]], icpt[m.classes_[0]], icpt[m.classes_[1]] = (
                    m.coef_[0], 0.0, m.intercept_[0],
                )  # fmt: skip
            else:
                coef[m.classes_], icpt[m.classes_] = m.coef_, m.intercept_
        params["single"][axis] = {"coef": coef.tolist(), "intercept": icpt.tolist()}
    for axis in HEAD_AXES.multi:
        mask, y = tgt[axis]
        params["multi"][axis] = {}
        for j, lab in enumerate(LABELS[axis]):
            x = np.stack([_logit(lr[axis][lab]), _logit(ft[axis][lab])], axis=1)[mask]
            if len(np.unique(y[mask, j])) < 2:
                params["multi"][axis][lab] = [0.5, 0.5, 0.0]
                continue
            m = LogisticRegression(C=1.0, max_iter=1000).fit(x, y[mask, j])
            params["multi"][axis][lab] = [*map(float, m.coef_[0]), float(m.intercept_[0])]
    probs = blend(lr, ft, params)
    mask, y = tgt["post_training"]
    yes = (y == LABELS["post_training"].index("yes")).astype(int)
    params["thresholds"]["post_training"] = {
        "yes": best_threshold(probs["post_training"]["yes"], yes)
    }
    for axis in HEAD_AXES.multi:
        mask, y = tgt[axis]
        params["thresholds"][axis] = {
            lab: best_threshold(probs[axis][lab][mask], y[mask, j])
            for j, lab in enumerate(LABELS[axis])
        }
    params["thresholds"].update(_argmax_cuts(probs, tgt))
    return params


def blend(lr: dict, ft: dict, params: dict) -> dict:
    """Axis -> {label: blended probability} from both models' probabilities and the stacker."""
    out: dict = {}
    for axis in HEAD_AXES.single:
        s = params["single"][axis]
        p = _softmax(_stack_single(lr, ft, axis) @ np.asarray(s["coef"]).T + s["intercept"])
        out[axis] = {lab: p[:, k] for k, lab in enumerate(LABELS[axis])}
    for axis in HEAD_AXES.multi:
        out[axis] = {}
        for lab in LABELS[axis]:
            a, b, c = params["multi"][axis][lab]
            out[axis][lab] = _sigmoid(a * _logit(lr[axis][lab]) + b * _logit(ft[axis][lab]) + c)
    return out


def take(probs: dict, idx: np.ndarray) -> dict:
    """The rows ``idx`` of every {axis: {label: array}} probability."""
    return {ax: {lab: v[idx] for lab, v in d.items()} for ax, d in probs.items()}


def _put(out: dict, idx: np.ndarray, probs: dict, n: int) -> None:
    for ax, d in probs.items():
        for lab, v in d.items():
            out.setdefault(ax, {}).setdefault(lab, np.full(n, np.nan))[idx] = v


def nested(oof_logits: np.ndarray, lr_probs: dict, anns: list, split: list):  # noqa: ANN201
    """Out-of-fold probabilities and per-row cuts of the tuned heads alone and of the blend.

    Everything fitted (temperatures, Platt scales, stacker, cuts) is fitted on the other folds'
    rows only, so each fold's scores are honest: ``((tuned, cuts), (blend, cuts))``.
    """
    n = len(anns)
    ft, ft_cuts, bl, bl_cuts = {}, {}, {}, {}
    for tr, te in split:
        sub = [anns[i] for i in tr]
        cal = fit(oof_logits[tr], sub, stage2=False)
        probs = probabilities(oof_logits, cal, use_stage2=False)
        _put(ft, te, take(probs, te), n)
        _put(ft_cuts, te, _rows(cal["thresholds"], len(te)), n)
        params = fit_blend(take(lr_probs, tr), take(probs, tr), sub)
        _put(bl, te, blend(take(lr_probs, te), take(probs, te), params), n)
        _put(bl_cuts, te, _rows(params["thresholds"], len(te)), n)
    return (ft, ft_cuts), (bl, bl_cuts)


def _rows(cuts: dict, n: int) -> dict:
    return {a: {k: np.full(n, t) for k, t in d.items()} for a, d in cuts.items()}
