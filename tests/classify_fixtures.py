"""A small labelled corpus of synthetic abstracts for training tests (no shared data)."""

from __future__ import annotations

import json
import random
from pathlib import Path

KINDS = {
    "rl": (
        "We train a large language model with reinforcement learning from verifiable rewards "
        "using GRPO. The policy samples rollouts on {topic} problems and is rewarded for correct "
        "answers. Accuracy on {topic} benchmarks improves by {n} points.",
        dict(
            provenance="on_policy",
            interface=["rewards"],
            roles=["reshaping"],
            dominant_role="reshaping",
            families=["rl_rewards"],
            contribution="method",
        ),
    ),
    "dpo": (
        "We align a language model with direct preference optimization on a fixed dataset of "
        "chosen and rejected responses about {topic}. Our offline preference loss improves "
        "helpfulness and harmlessness by {n} percent.",
        dict(
            provenance="off_policy",
            interface=["preferences"],
            roles=["reshaping"],
            dominant_role="reshaping",
            families=["offline_preference"],
            contribution="method",
        ),
    ),
    "distill": (
        "We distill chain-of-thought reasoning traces from a large teacher model into a small "
        "student language model for {topic}. The student keeps {n} percent of the teacher's "
        "accuracy at a fraction of the cost.",
        dict(
            provenance="off_policy",
            interface=["teacher_targets"],
            roles=["consolidation"],
            dominant_role="consolidation",
            families=["offpolicy_distillation"],
            contribution="method",
        ),
    ),
    "neg_vision": (
        "We propose a convolutional network for {topic} image segmentation. Experiments on "
        "medical scans show a Dice score gain of {n} points over prior architectures.",
        None,
    ),
    "neg_robot": (
        "We learn a locomotion controller for a quadruped robot in simulation for {topic} "
        "terrain. The controller transfers to hardware and walks {n} percent faster.",
        None,
    ),
}
TOPICS = [
    "math",
    "coding",
    "chemistry",
    "legal",
    "medical",
    "finance",
    "physics",
    "logic",
    "geometry",
    "biology",
    "history",
    "poetry",
]


def corpus(per_kind: int = 12, seed: int = 0) -> list[dict]:
    """Synthetic papers: id, title, abstract, kind and the gold record."""
    rng = random.Random(seed)
    out = []
    for k, (kind, (template, labels)) in enumerate(KINDS.items()):
        for i in range(per_kind):
            topic = TOPICS[(i + k) % len(TOPICS)]
            aid = f"2503.{k * 100 + i + 10000:05d}"
            gold = {
                "arxiv_id": aid,
                "post_training": labels is not None,
                "annotator": "fixture",
                "taxonomy_version": "zhao2026-v1",
            }
            if labels:
                gold.update(labels, borderline=False)
            out.append(
                {
                    "id": aid,
                    "kind": kind,
                    "gold": gold,
                    "title": f"{kind.replace('_', ' ').title()} study {i} on {topic}",
                    "abstract": template.format(topic=topic, n=rng.randint(2, 30)),
                }
            )
    return out


def snapshot_lines(papers: list[dict]) -> list[dict]:
    return [
        {
            "id": p["id"],
            "title": p["title"],
            "abstract": p["abstract"],
            "authors": "A. Tester",
            "categories": "cs.CL",
            "versions": [],
            "update_date": "2025-03-10",
        }
        for p in papers
    ]


def write_gold(papers: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(p["gold"]) + "\n" for p in papers))
    return path
