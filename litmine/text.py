"""Text features with spaCy: sentences, codebook cue phrases and method names defined in abstracts.

Only ``spacy.blank("en")`` with the rule-based sentencizer, ``PhraseMatcher`` and ``Matcher`` is
used, so no statistical model has to be downloaded. The cue phrases are data, in
``litmine/cues.toml``, read on first use.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

import duckdb
import numpy as np
import pandas as pd

from litmine import store
from litmine.errors import LitmineError

log = logging.getLogger(__name__)

CUES_FILE = "cues.toml"  # package data next to this module


@lru_cache(maxsize=1)
def cues() -> MappingProxyType[str, tuple[str, ...]]:
    """The codebook's cue phrases by group, in feature-column order (read once, on first use)."""
    raw = tomllib.loads(resources.files(__package__).joinpath(CUES_FILE).read_text("utf-8"))
    bad = [
        g
        for g, phrases in raw.items()
        if not isinstance(phrases, list)
        or not phrases
        or not all(isinstance(c, str) and c.strip() for c in phrases)
    ]
    if bad:
        raise LitmineError(
            f"{CUES_FILE}: cue groups {bad} are not non-empty lists of phrases",
            hint=f'fix litmine/{CUES_FILE}: each group is `name = ["phrase", ...]`',
        )
    return MappingProxyType({g: tuple(phrases) for g, phrases in raw.items()})


def __getattr__(name: str) -> object:
    """``CUES`` (:func:`cues`) and ``CUE_GROUPS`` (the group names: feature columns), lazily."""
    if name == "CUES":
        return cues()
    if name == "CUE_GROUPS":
        return tuple(cues())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    for group, phrases in cues().items():
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
    counts = dict.fromkeys(cues(), 0)
    for match_id, _start, _end in matcher(doc):
        counts[doc.vocab.strings[match_id]] += 1
    return counts


def cue_matrix(texts: Iterable[str], batch_size: int = 256) -> np.ndarray:
    """log1p cue counts, one row per text and one column per cue group."""
    pipe, _ = nlp()
    groups = tuple(cues())
    # the phrase matcher needs tokens only: the tokenizer alone is 2.5x faster than the pipeline
    docs = pipe.tokenizer.pipe(texts, batch_size=batch_size)
    rows = [[cue_counts(doc)[g] for g in groups] for doc in docs]
    return np.log1p(np.asarray(rows, dtype=np.float32).reshape(-1, len(groups)))


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


UNPROCESSED = """
    SELECT p.arxiv_id, p.abstract, p.content_hash FROM papers p
    LEFT JOIN text_processed t ON t.arxiv_id = p.arxiv_id
    WHERE t.arxiv_id IS NULL OR t.content_hash <> p.content_hash
"""


def count_missing(con: duckdb.DuckDBPyConnection) -> int:
    """Papers whose current text the method-name extractor has not seen."""
    return con.execute(f"SELECT count(*) FROM ({UNPROCESSED})").fetchone()[0]


def extract_missing(
    con: duckdb.DuckDBPyConnection, progress: Callable[[int], None] | None = None, chunk: int = 5000
) -> int:
    """Record defined method names for papers not yet processed at their current text."""
    rows = con.execute(UNPROCESSED + " ORDER BY p.arxiv_id").fetchall()
    if not rows:
        return 0
    pipe, _ = nlp()
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        # a name is defined as "Long Name (ACRONYM)": abstracts without "(" need no tokens
        defining = [r for r in part if "(" in (r[1] or "")]
        found = [
            (aid, m.name, m.expansion, h)
            for (aid, _, h), doc in zip(
                defining, pipe.tokenizer.pipe(r[1] for r in defining), strict=True
            )
            for m in defined_methods(doc)
        ]
        names = pd.DataFrame(found, columns=["arxiv_id", "name", "expansion", "content_hash"])
        seen = pd.DataFrame([(r[0], r[2]) for r in part], columns=["arxiv_id", "content_hash"])
        with store.transaction(con):
            con.execute(
                "DELETE FROM methods WHERE arxiv_id IN (SELECT unnest(?::VARCHAR[]))",
                [[r[0] for r in part]],
            )
            store.insert_frame(con, "methods", names)
            store.insert_frame(con, "text_processed", seen)
        if progress:
            progress(len(part))
    return len(rows)
