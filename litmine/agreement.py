"""Agreement between two independent annotations of the same papers, axis by axis.

``post_training`` is compared on every paper both annotated; the dependent axes on the papers
both called post-training. Multi-label axes pool one yes/no decision per label (Cohen's kappa
over the pooled decisions) and report exact-set agreement beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from litmine.errors import LitmineError
from litmine.taxonomy import AXES, Annotation

SINGLE = ("provenance", "dominant_role", "contribution")
MULTI = ("interface", "roles", "families")


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa of two equal-length label sequences (1.0 when both are constant and equal)."""
    n = len(a)
    if n == 0 or n != len(b):
        raise LitmineError("kappa needs two non-empty sequences of equal length")
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    labels = set(a) | set(b)
    expected = sum((list(a).count(lab) / n) * (list(b).count(lab) / n) for lab in labels)
    return 1.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)


def _row(kappa: float, raw: float, n: int) -> dict:
    return {"kappa": round(kappa, 3), "raw": round(raw, 3), "n": n}


def agreement(first: Sequence[Annotation], second: Sequence[Annotation]) -> dict[str, dict]:
    """Per-axis kappa, raw agreement and paper count of the papers present in both lists."""
    a = {x.arxiv_id: x for x in first}
    b = {x.arxiv_id: x for x in second}
    both = sorted(set(a) & set(b))
    if not both:
        raise LitmineError("the two annotation sets share no paper")
    pt = [a[i].post_training for i in both], [b[i].post_training for i in both]
    out = {"post_training": _row(cohen_kappa(*pt), _raw(*pt), len(both))}
    dep = [i for i in both if a[i].post_training and b[i].post_training]
    if not dep:
        return out
    for axis in (*SINGLE, "borderline"):
        x = [getattr(a[i], axis) for i in dep]
        y = [getattr(b[i], axis) for i in dep]
        out[axis] = _row(cohen_kappa(x, y), _raw(x, y), len(dep))
    for axis in MULTI:
        names = AXES[axis].names
        x = [lab in getattr(a[i], axis) for i in dep for lab in names]
        y = [lab in getattr(b[i], axis) for i in dep for lab in names]
        sets = [set(getattr(a[i], axis)) == set(getattr(b[i], axis)) for i in dep]
        out[axis] = _row(cohen_kappa(x, y), sum(sets) / len(sets), len(dep))
    return out


def _raw(x: Sequence, y: Sequence) -> float:
    return sum(p == q for p, q in zip(x, y, strict=True)) / len(x)


def render_agreement(result: dict[str, dict]) -> str:
    """A Markdown table of :func:`agreement`'s result."""
    lines = ["| axis | kappa | raw agreement | n |", "|---|---|---|---|"]
    for axis, r in result.items():
        exact = " (exact set)" if axis in MULTI else ""
        lines.append(f"| {axis} | {r['kappa']:.3f} | {r['raw']:.3f}{exact} | {r['n']} |")
    return "\n".join(lines)
