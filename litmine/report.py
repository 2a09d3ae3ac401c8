"""Markdown rendering of evaluation reports."""

from __future__ import annotations

GOALS = {
    "post_training": ("f1", 0.95),
    "provenance": ("macro_f1", 0.85),
    "families": ("micro_f1", 0.85),
    "dominant_role": ("macro_f1", 0.75),
}


def _headline(axis: str, m: dict) -> float:
    key = GOALS.get(
        axis, ("micro_f1" if axis in ("interface", "roles", "borderline") else "macro_f1",)
    )[0]
    return m[key]


def _table(model: dict, base: dict) -> list[str]:
    lines = [
        "| axis | metric | model | " + " | ".join(base) + " | goal | ECE |",
        "|---|---|---|" + "---|" * len(base) + "---|---|",
    ]
    for axis, m in model.items():
        metric, goal = GOALS.get(
            axis, ("micro_f1" if axis in ("interface", "roles", "borderline") else "macro_f1", None)
        )
        cells = [f"{m[metric]:.3f}"] + [f"{b[axis][metric]:.3f}" for b in base.values()]
        goal_txt = f">= {goal}" if goal else "-"
        lines.append(
            f"| {axis} | {metric} | " + " | ".join(cells) + f" | {goal_txt} | {m['ece']:.3f} |"
        )
    return lines


def _replay(name: str, rr: dict | None) -> list[str]:
    if not rr:
        return []
    depths = list(rr["per_100"])
    return [
        f"Review-queue replay ({name}, {rr['papers']} papers read in the dashboard's order, "
        "borderline first, then least confident): corrections per 100 papers read.",
        "",
        "| first N papers | " + " | ".join(depths) + " |",
        "|---|" + "---|" * len(depths),
        "| corrections per 100 | " + " | ".join(f"{rr['per_100'][d]:.1f}" for d in depths) + " |",
        "",
        "Wrong labels by axis (a paper can need several): "
        + ", ".join(f"{ax} {n}" for ax, n in rr["by_axis"].items())
        + ".",
        "",
    ]


def _subsets(report: dict) -> list[str]:
    lines = []
    for name, sub in report.get("subsets", {}).items():
        pt = sub["model"]["post_training"]["per_label"]["yes"]
        lines += [
            f"## Subset `{name}`: {sub['papers']} papers, {sub['post_training']} post-training",
            "",
            "The same out-of-fold predictions, scored on this part of the gold set alone "
            f"(post_training precision {pt['precision']:.3f}, recall {pt['recall']:.3f}).",
            "",
            *_table(sub["model"], sub["baselines"]),
            "",
            *_replay(f"subset `{name}`", sub.get("review_replay")),
        ]
    return lines


def render_eval(report: dict) -> str:
    base = report.get("baselines", {})
    lines = [
        "# Evaluation",
        "",
        f"Stratified {report['folds']}-fold cross-validation on {report['papers']} gold papers "
        "(`litmine eval`). Dependent axes are scored on the gold post-training papers. Every "
        "method is scored on the same folds. ECE: expected calibration error, 10 bins."
        + (f" Embeddings: `{report['embedding_model']}`." if report.get("embedding_model") else "")
        + (f" Model: `{report['model_name']}`." if report.get("model_name") else ""),
        "",
        *_table(report["model"], base),
        "",
        *_replay("all gold", report.get("review_replay")),
        *_subsets(report),
    ]
    lines += ["## Per-label precision and recall (model)", ""]
    for axis, m in report["model"].items():
        lines += [
            f"### {axis}",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for lab, s in m["per_label"].items():
            lines.append(
                f"| {lab} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
            )
        if "confusion" in m:
            labs = m["confusion"]["labels"]
            lines += [
                "",
                "Confusion (rows gold, columns predicted):",
                "",
                "| gold \\ predicted | " + " | ".join(labs) + " |",
                "|---|" + "---|" * len(labs),
            ]
            for lab, row in zip(labs, m["confusion"]["matrix"], strict=True):
                lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"
