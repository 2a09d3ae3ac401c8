"""Feature matrices for the classifiers: embedding, spaCy cue counts and tf-idf terms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from litmine.text import cue_matrix


@dataclass(frozen=True)
class FeatureConfig:
    embed_weight: float = 1.0
    cue_weight: float = 0.5
    tfidf_max_features: int = 15000
    tfidf_min_df: int = 2


def make_vectorizer(cfg: FeatureConfig) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=cfg.tfidf_min_df,
        max_features=cfg.tfidf_max_features,
        sublinear_tf=True,
        lowercase=True,
        strip_accents="unicode",
        dtype=np.float32,
    )


def assemble(
    emb: np.ndarray, cues: np.ndarray, terms: sp.spmatrix, cfg: FeatureConfig
) -> sp.csr_matrix:
    """[embedding | cue counts | tf-idf] as one sparse matrix; tf-idf columns come last."""
    return sp.hstack(
        [
            sp.csr_matrix(emb.astype(np.float32) * cfg.embed_weight),
            sp.csr_matrix(cues.astype(np.float32) * cfg.cue_weight),
            terms,
        ],
        format="csr",
        dtype=np.float32,
    )


def featurize(
    emb: np.ndarray, texts: list[str], vectorizer: TfidfVectorizer, cfg: FeatureConfig
) -> sp.csr_matrix:
    return assemble(emb, cue_matrix(texts), vectorizer.transform(texts), cfg)


def tfidf_offset(emb_dim: int, n_cues: int) -> int:
    """Index of the first tf-idf column in an assembled matrix."""
    return emb_dim + n_cues
