"""Text features with spaCy: sentences, codebook cue phrases and method names defined in abstracts.

Only ``spacy.blank("en")`` with the rule-based sentencizer, ``PhraseMatcher`` and ``Matcher`` is
used, so no statistical model has to be downloaded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import numpy as np

from litmine import store

log = logging.getLogger(__name__)

# Cue phrases from the codebook, grouped; each group is one interpretable feature.
CUES: dict[str, tuple[str, ...]] = {
    "llm": (
        "large language model",
        "large language models",
        "language model",
        "language models",
        "llm",
        "llms",
        "vlm",
        "vlms",
        "mllm",
        "mllms",
        "multimodal large language model",
        "reasoning model",
        "chatbot",
        "gpt",
        "llama",
        "qwen",
        "mistral",
        "deepseek",
        "agent",
        "agents",
    ),
    "post_training": (
        "post-training",
        "post training",
        "fine-tuning",
        "fine-tune",
        "fine-tuned",
        "finetuning",
        "alignment",
        "align",
        "aligned",
        "instruction tuning",
        "instruction-tuned",
        "rlhf",
        "training",
    ),
    "sft": (
        "supervised fine-tuning",
        "sft",
        "instruction tuning",
        "instruction-tuning",
        "instruction-tuned",
        "instruction data",
        "demonstrations",
        "fine-tuned on",
        "lora",
        "synthetic data",
        "cold-start",
        "cold start",
    ),
    "offline_preference": (
        "dpo",
        "direct preference optimization",
        "ipo",
        "kto",
        "orpo",
        "simpo",
        "cpo",
        "preference pairs",
        "preference dataset",
        "chosen and rejected",
        "offline preference",
    ),
    "online_preference": (
        "online dpo",
        "iterative dpo",
        "online preference",
        "self-rewarding",
        "on-policy preference",
        "iterative preference",
        "online alignment",
    ),
    "preferences": ("preference", "preferences", "pairwise", "chosen", "rejected", "ranking"),
    "offline_filtering": (
        "rejection sampling",
        "rejection-sampling",
        "raft",
        "best-of-n",
        "filtered",
        "filtering",
        "reward-filtered",
        "self-generated data",
    ),
    "rl_rewards": (
        "reinforcement learning",
        "rl",
        "ppo",
        "grpo",
        "dapo",
        "gspo",
        "rlvr",
        "rlaif",
        "rlhf",
        "policy optimization",
        "policy gradient",
        "verifiable reward",
        "verifiable rewards",
        "reward model",
        "reward models",
        "reward",
        "rewards",
        "rollouts",
        "rollout",
        "advantage",
    ),
    "process_verifier": (
        "process reward",
        "process reward model",
        "prm",
        "prms",
        "step-level",
        "process supervision",
        "verifier",
        "verifiers",
        "step-wise",
        "stepwise",
        "critique",
        "critic",
    ),
    "self_improvement": (
        "self-improvement",
        "self-improving",
        "self-training",
        "self-train",
        "self-evolving",
        "self-evolution",
        "self-correction",
        "self-correct",
        "self-refine",
        "star",
        "rest-em",
        "self-play",
        "bootstrapping",
    ),
    "offpolicy_distillation": (
        "distillation",
        "distill",
        "distilled",
        "knowledge distillation",
        "teacher",
        "student",
        "reasoning traces",
        "teacher model",
    ),
    "onpolicy_distillation": (
        "on-policy distillation",
        "gkd",
        "minillm",
        "student-generated",
        "reverse kl",
        "self-distillation",
        "on-policy distill",
    ),
    "hybrid_pipeline": (
        "sft and rl",
        "sft followed by",
        "followed by reinforcement",
        "multi-stage",
        "two-stage",
        "technical report",
        "cold-start",
        "sft-rl",
        "sft then rl",
        "interleaved",
        "unified sft",
    ),
    "on_policy": (
        "on-policy",
        "on policy",
        "online",
        "own samples",
        "own rollouts",
        "self-generated",
        "policy's own",
        "fresh samples",
        "iterative",
    ),
    "off_policy": (
        "off-policy",
        "off policy",
        "offline",
        "static dataset",
        "fixed dataset",
        "curated dataset",
        "human-annotated",
        "demonstrations",
    ),
    "expansion": (
        "new skills",
        "capability boundary",
        "pass@k",
        "unseen",
        "long chain-of-thought",
        "tool use",
        "new domain",
        "new capabilities",
        "exploration",
        "hint",
        "hints",
        "guidance",
        "knowledge injection",
        "teach",
    ),
    "reshaping": (
        "safety",
        "harmless",
        "helpful",
        "helpfulness",
        "refusal",
        "calibration",
        "human preferences",
        "alignment",
        "pass@1",
        "sharpen",
        "jailbreak",
    ),
    "consolidation": (
        "forgetting",
        "catastrophic forgetting",
        "merging",
        "model merging",
        "compress",
        "compression",
        "smaller model",
        "student",
        "retain",
        "preserve",
        "internalize",
        "amortize",
        "efficient reasoning",
    ),
    "analysis": (
        "we analyze",
        "we study",
        "we investigate",
        "empirical study",
        "we find",
        "our analysis",
        "understanding",
        "why",
        "theoretical",
    ),
    "data": (
        "dataset",
        "we release",
        "we construct",
        "data pipeline",
        "we curate",
        "corpus",
        "data synthesis",
        "synthetic data",
    ),
    "system": (
        "framework",
        "system",
        "infrastructure",
        "open-source",
        "throughput",
        "scalable",
        "library",
        "asynchronous",
        "gpu",
    ),
    "benchmark": ("benchmark", "evaluation", "evaluate", "leaderboard", "test suite"),
    "survey": ("survey", "review", "overview", "taxonomy", "we summarize", "position paper"),
    "negative": (
        "quantization",
        "pruning",
        "compression",
        "prompting",
        "in-context learning",
        "retrieval-augmented",
        "rag",
        "test-time",
        "inference-time",
        "tree search",
        "mcts",
        "pretraining",
        "pre-training",
        "robot",
        "robotic",
        "locomotion",
        "diffusion",
        "image generation",
        "atari",
        "mujoco",
        "zero-shot prompting",
    ),
}
CUE_GROUPS = tuple(CUES)

# Acronyms that name things other than methods.
NOT_METHODS = frozenset(
    "LLM LLMs VLM VLMs MLLM MLLMs LM LMs LRM LRMs NLP NLU NLG AI ML DL QA VQA CoT API APIs GPU GPUs "
    "SOTA KG KGs MoE NN DNN CNN RNN".split()
)
_ACRONYM = re.compile(r"^[A-Za-z][A-Za-z0-9\-]*$")


@lru_cache(maxsize=1)
def nlp():
    """The shared spaCy pipeline: blank English, sentencizer, cue matcher."""
    import spacy
    from spacy.matcher import PhraseMatcher

    pipe = spacy.blank("en")
    pipe.add_pipe("sentencizer")
    matcher = PhraseMatcher(pipe.vocab, attr="LOWER")
    for group, phrases in CUES.items():
        matcher.add(group, list(pipe.tokenizer.pipe(phrases)))
    pipe.vocab.strings.add("cue_matcher")
    return pipe, matcher


def sentences(text: str) -> list[str]:
    """The abstract split into sentences."""
    pipe, _ = nlp()
    return [s.text.strip() for s in pipe(text).sents if s.text.strip()]


def cue_counts(doc) -> dict[str, int]:  # noqa: ANN001
    """Matches per cue group in a spaCy ``Doc``."""
    _, matcher = nlp()
    counts = dict.fromkeys(CUE_GROUPS, 0)
    for match_id, _start, _end in matcher(doc):
        counts[doc.vocab.strings[match_id]] += 1
    return counts


def cue_matrix(texts: Iterable[str], batch_size: int = 256) -> np.ndarray:
    """log1p cue counts, one row per text and one column per cue group."""
    pipe, _ = nlp()
    rows = [
        [cue_counts(doc)[g] for g in CUE_GROUPS] for doc in pipe.pipe(texts, batch_size=batch_size)
    ]
    return np.log1p(np.asarray(rows, dtype=np.float32).reshape(-1, len(CUE_GROUPS)))


def _initials_match(words: list[str], acronym: str) -> bool:
    letters = [c.lower() for c in acronym if c.isalpha()]
    initials = "".join(w[0].lower() for w in words if w[:1].isalpha())
    joined = "".join(w.lower() for w in words)
    if not letters or initials[:1] != letters[0]:
        return False
    # each acronym letter appears in order in the expansion, the first at a word start
    pos = 0
    for ch in letters:
        pos = joined.find(ch, pos)
        if pos < 0:
            return False
        pos += 1
    return len(words) <= len(letters) + 2


@dataclass(frozen=True)
class MethodName:
    name: str
    expansion: str


def defined_methods(doc) -> list[MethodName]:  # noqa: ANN001
    """Names defined as "Long Name (ACRONYM)" in a spaCy ``Doc``, e.g. GRPO."""
    out: dict[str, MethodName] = {}
    toks = list(doc)
    for i in range(1, len(toks) - 2):
        if toks[i].text != "(" or toks[i + 2].text != ")":
            continue
        acr = toks[i + 1].text
        if acr in NOT_METHODS or not _ACRONYM.match(acr) or sum(c.isupper() for c in acr) < 2:
            continue
        if len(acr) > 15:
            continue
        n_letters = sum(c.isalpha() for c in acr)
        for n in range(min(n_letters + 2, i), 0, -1):
            words = [t.text for t in toks[i - n : i]]
            if any(t.is_punct and t.text != "-" for t in toks[i - n : i]):
                continue
            words = [w for w in words if w != "-"]
            if _initials_match(words, acr):
                out.setdefault(acr, MethodName(acr, " ".join(t.text for t in toks[i - n : i])))
                break
    return list(out.values())


def extract_missing(
    con: duckdb.DuckDBPyConnection, progress: Callable[[int], None] | None = None, chunk: int = 5000
) -> int:
    """Record defined method names for papers not yet processed at their current text."""
    rows = con.execute(
        """
        SELECT p.arxiv_id, p.abstract, p.content_hash FROM papers p
        LEFT JOIN text_processed t ON t.arxiv_id = p.arxiv_id
        WHERE t.arxiv_id IS NULL OR t.content_hash <> p.content_hash
        ORDER BY p.arxiv_id
        """
    ).fetchall()
    if not rows:
        return 0
    pipe, _ = nlp()
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        found = []
        with pipe.select_pipes(disable=["sentencizer"]):
            for (aid, _, h), doc in zip(part, pipe.pipe(r[1] for r in part), strict=True):
                found += [(aid, m.name, m.expansion, h) for m in defined_methods(doc)]
        ids = [r[0] for r in part]
        with store.transaction(con):
            con.execute("DELETE FROM methods WHERE list_contains(?, arxiv_id)", [ids])
            if found:
                con.executemany("INSERT OR REPLACE INTO methods VALUES (?, ?, ?, ?)", found)
            con.executemany(
                "INSERT OR REPLACE INTO text_processed VALUES (?, ?)", [(r[0], r[2]) for r in part]
            )
        if progress:
            progress(len(part))
    return len(rows)
