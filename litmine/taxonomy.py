"""The survey framework's label schema: the one source of axis and label names.

Label names, descriptions and record rules follow ``docs/codebook.md`` (taxonomy ``zhao2026-v1``,
after Zhao et al. 2026, arXiv 2604.07941).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litmine.errors import UnknownLabel

TAXONOMY_VERSION = "zhao2026-v1"


@dataclass(frozen=True)
class Axis:
    """One labelling axis. ``multi`` axes hold a list of labels, the others exactly one."""

    name: str
    multi: bool
    labels: dict[str, str]  # label -> one-line description
    question: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.labels)


POST_TRAINING = Axis(
    "post_training",
    False,
    {
        "yes": "The main contribution concerns post-training of a language model (LLM, VLM or "
        "LLM agent): a training method, post-training data, reward models or verifiers used for "
        "training, analysis of post-training, RLHF/RL infrastructure, or a survey/benchmark of it.",
        "no": "Pretraining only, compression without behavioural training, prompting, RAG or "
        "inference-time search, RL outside language models, evaluation not about post-training.",
    },
    "Is the paper's main contribution about post-training a language model?",
)
PROVENANCE = Axis(
    "provenance",
    False,
    {
        "off_policy": "Training learns from externally supplied trajectories: demonstrations, "
        "preference datasets, teacher traces or logits, samples generated once then filtered.",
        "on_policy": "Training learns from rollouts the current policy samples during training: "
        "PPO/GRPO/RLHF/RLVR, online preference optimization, self-improvement on fresh samples.",
        "mixed": "The method deliberately combines external and learner-generated trajectories: "
        "SFT->RL recipes, interleaved SFT-RL, teacher traces injected into RL.",
        "unspecified": "A post-training paper whose abstract fixes no training regime.",
    },
    "Where do the trajectories that training learns from come from?",
)
INTERFACE = Axis(
    "interface",
    True,
    {
        "token_targets": "Supervised targets on tokens: demonstrations or synthetic traces.",
        "preferences": "Pairwise or ranked comparisons: chosen vs rejected responses.",
        "rewards": "Scalar rewards from a reward model, rules, tests or verifiable answers.",
        "process_feedback": "Step-level signal: process reward models, step verifiers, critiques.",
        "teacher_targets": "A teacher's logits, or teacher-generated or teacher-corrected traces.",
    },
    "How is the learning signal attached to the trajectories?",
)
ROLE_LABELS = {
    "expansion": "Makes useful behaviour reachable that the model did not reliably produce: new "
    "skills, formats, domains, long reasoning or tool use; guidance that lets RL reach new solutions.",
    "reshaping": "Moves probability among behaviours the model can already reach: alignment, "
    "safety, helpfulness, calibration; RL that sharpens pass@1.",
    "consolidation": "Preserves, transfers or amortizes behaviour: distillation into a student, "
    "keeping gains across stages, mitigating forgetting, merging, internalizing search.",
}
ROLES = Axis("roles", True, ROLE_LABELS, "What behavioural changes does training make?")
DOMINANT_ROLE = Axis(
    "dominant_role", False, ROLE_LABELS, "Which role best explains the headline contribution?"
)
FAMILIES = Axis(
    "families",
    True,
    {
        "sft": "Supervised fine-tuning: instruction tuning, task fine-tuning, SFT data selection.",
        "offline_preference": "Preference optimization on a fixed preference set: DPO, IPO, KTO, "
        "ORPO, SimPO, CPO.",
        "online_preference": "Preference optimization on fresh policy samples: online or iterative "
        "DPO, self-rewarding.",
        "offline_filtering": "Rejection-sampling fine-tuning, RAFT, reward-filtered or replayed data.",
        "rl_rewards": "RL from scalar rewards: RLHF with PPO, RLAIF, RLVR, GRPO, DAPO; reward "
        "models trained for RL.",
        "process_verifier": "Process reward models, step-level verifiers, verifier-guided correction.",
        "self_improvement": "Critique-revise loops, STaR, ReST-EM, self-correction learned by RL.",
        "offpolicy_distillation": "Distillation from teacher traces or logits on fixed data.",
        "onpolicy_distillation": "Teacher feedback on the student's own rollouts: GKD, MiniLLM.",
        "hybrid_pipeline": "Coordinated multi-stage recipes: SFT->RL->distillation, interleaved "
        "SFT-RL, full technical reports.",
    },
    "Which of the survey's method families does the paper use?",
)
CONTRIBUTION = Axis(
    "contribution",
    False,
    {
        "method": "A new training method or recipe.",
        "analysis": "A study of what post-training does.",
        "data": "A dataset or data pipeline for post-training.",
        "system": "Training infrastructure or a framework.",
        "benchmark": "An evaluation of post-training.",
        "survey": "A survey of post-training.",
    },
    "What kind of contribution is the paper?",
)

AXES: dict[str, Axis] = {
    a.name: a
    for a in (POST_TRAINING, PROVENANCE, INTERFACE, ROLES, DOMINANT_ROLE, FAMILIES, CONTRIBUTION)
}
# Axes filled only when post_training is yes.
DEPENDENT_AXES = ("provenance", "interface", "roles", "dominant_role", "families", "contribution")
SINGLE_AXES = tuple(n for n, a in AXES.items() if not a.multi)
MULTI_AXES = tuple(n for n, a in AXES.items() if a.multi)


def axis(name: str) -> Axis:
    """Look up an axis by name; the error lists the valid names."""
    try:
        return AXES[name]
    except KeyError:
        raise UnknownLabel(
            f"unknown axis {name!r}", hint=f"valid axes: {', '.join(AXES)}, borderline"
        ) from None


def check_label(axis_name: str, value: str) -> str:
    """Return ``value`` if the axis defines it, else raise with the valid labels."""
    ax = axis(axis_name)
    if value not in ax.labels:
        raise UnknownLabel(
            f"unknown {axis_name} label {value!r}", hint=f"valid labels: {', '.join(ax.names)}"
        )
    return value


@dataclass(frozen=True)
class Annotation:
    """One paper's labels in the codebook's record format."""

    arxiv_id: str
    post_training: bool
    provenance: str | None = None
    interface: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    dominant_role: str | None = None
    families: tuple[str, ...] = ()
    contribution: str | None = None
    borderline: bool = False
    evidence: str = ""
    annotator: str = ""
    taxonomy_version: str = TAXONOMY_VERSION

    def axis_values(self) -> dict[str, Any]:
        """Axis name -> value (``yes``/``no`` for post_training; lists for multi-label axes)."""
        out: dict[str, Any] = {"post_training": "yes" if self.post_training else "no"}
        if self.post_training:
            out.update(
                provenance=self.provenance,
                interface=list(self.interface),
                roles=list(self.roles),
                dominant_role=self.dominant_role,
                families=list(self.families),
                contribution=self.contribution,
                borderline=self.borderline,
            )
        return out


def _as_list(rec: dict, key: str) -> tuple[str, ...]:
    val = rec.get(key) or []
    if isinstance(val, str):
        val = [val]
    if not isinstance(val, list):
        raise UnknownLabel(f"{key} must be a list of labels, got {val!r}")
    return tuple(check_label(key, v) for v in val)


def parse_record(rec: dict) -> Annotation:
    """Validate one codebook record (a dict from JSON) and return it as an ``Annotation``."""
    arxiv_id = rec.get("arxiv_id")
    if not arxiv_id or not isinstance(arxiv_id, str):
        raise UnknownLabel(f"record without an arxiv_id: {rec!r:.120}")
    where = f"{arxiv_id}: "
    version = rec.get("taxonomy_version", TAXONOMY_VERSION)
    if version != TAXONOMY_VERSION:
        raise UnknownLabel(
            f"{where}taxonomy version {version!r} is not {TAXONOMY_VERSION!r}",
            hint="relabel under the current codebook",
        )
    pt = rec.get("post_training")
    if not isinstance(pt, bool):
        raise UnknownLabel(f"{where}post_training must be true or false, got {pt!r}")
    base = dict(
        arxiv_id=arxiv_id,
        post_training=pt,
        evidence=str(rec.get("evidence") or ""),
        annotator=str(rec.get("annotator") or ""),
    )
    if not base["annotator"]:
        raise UnknownLabel(
            f"{where}record has no annotator", hint="every gold row names who labelled it"
        )
    if not pt:
        return Annotation(**base)
    try:
        roles = _as_list(rec, "roles")
        dominant = check_label("dominant_role", rec.get("dominant_role") or "")
        if not roles:
            raise UnknownLabel("roles must hold at least one role")
        if dominant not in roles:
            raise UnknownLabel(f"dominant_role {dominant!r} is not among roles {list(roles)}")
        border = rec.get("borderline", False)
        if not isinstance(border, bool):
            raise UnknownLabel(f"borderline must be true or false, got {border!r}")
        return Annotation(
            **base,
            provenance=check_label("provenance", rec.get("provenance") or ""),
            interface=_as_list(rec, "interface"),
            roles=roles,
            dominant_role=dominant,
            families=_as_list(rec, "families"),
            contribution=check_label("contribution", rec.get("contribution") or ""),
            borderline=border,
        )
    except UnknownLabel as exc:
        raise UnknownLabel(where + exc.args[0], hint=exc.hint) from None
