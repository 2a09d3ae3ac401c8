"""The label space every classifier predicts: axis order, label order, and gold targets.

Both label models (the fine-tuned encoder and the logistic-regression baseline), their
evaluation and the prediction rows share this layout, so it lives below all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

from litmine.taxonomy import AXES, MULTI_AXES, Annotation

SINGLE = ("post_training", "provenance", "dominant_role", "contribution")
MULTI = (*MULTI_AXES, "borderline")  # borderline is learned as a one-label multi axis
LABELS: dict[str, tuple[str, ...]] = {
    **{a: AXES[a].names for a in AXES},
    "borderline": ("borderline",),
}
HEAD_AXES = SimpleNamespace(single=SINGLE, multi=MULTI, all=(*SINGLE, *MULTI))


def layout() -> list[tuple[str, tuple[str, ...]]]:
    """(axis, labels) in the order of a model's output columns."""
    return [(axis, LABELS[axis]) for axis in HEAD_AXES.all]


def targets(anns: Sequence[Annotation], axis: str) -> tuple[np.ndarray, np.ndarray]:
    """(row mask, y) for an axis: dependent axes use post-training papers only.

    One-label axes give label names ("" where missing), multi-label axes a 0/1 matrix.
    """
    if axis == "post_training":
        return np.ones(len(anns), bool), np.array(
            ["yes" if a.post_training else "no" for a in anns]
        )
    mask = np.array([a.post_training for a in anns], dtype=bool)
    if axis in MULTI:
        labels = LABELS[axis]
        if axis == "borderline":
            y = np.array([[int(bool(a.borderline))] for a in anns], dtype=int)
        else:
            y = np.array([[int(lab in getattr(a, axis)) for lab in labels] for a in anns], int)
        return mask, y.reshape(len(anns), len(labels))
    return mask, np.array([getattr(a, axis) or "" for a in anns], dtype=object)


def target_arrays(anns: Sequence[Annotation]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Targets of every axis as numbers: label indices (-1 missing) or 0/1 matrices."""
    out = {}
    for axis, labels in layout():
        mask, y = targets(anns, axis)
        if axis in MULTI:
            out[axis] = (mask, y.astype(np.int64))
        else:
            index = {lab: k for k, lab in enumerate(labels)}
            out[axis] = (mask, np.array([index.get(v, -1) for v in y], dtype=np.int64))
    return out
