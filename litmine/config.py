"""Paths and settings: the one place that knows where things live."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from litmine.errors import LitmineError

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
# The packaged sentence-transformers model, its two ONNX Runtime paths, and the one litmine embeds
# with by default: the int8 path (cosine >= 0.99 to the reference on 2,000 snapshot abstracts,
# classifier CV within 0.01; docs/benchmarks.md). The reference stays selectable.
REFERENCE_MODEL_NAME = "all-MiniLM-L6-v2"
ONNX_FP32_NAME = f"{REFERENCE_MODEL_NAME}-onnx"
ONNX_INT8_NAME = f"{REFERENCE_MODEL_NAME}-onnx-int8"
DEFAULT_MODEL_NAME = ONNX_INT8_NAME
ARXIV_API_URL = "https://export.arxiv.org/api/query?{}"


def project_dir() -> Path:
    """Directory holding ``corpus/`` and ``models/``: ``LITMINE_HOME``, the repo, or the cwd."""
    env = os.environ.get("LITMINE_HOME")
    if env:
        return Path(env)
    if (REPO_ROOT / "corpus").is_dir():
        return REPO_ROOT
    return Path.cwd()


def default_db_path() -> Path:
    env = os.environ.get("LITMINE_DB")
    return Path(env) if env else project_dir() / "corpus" / "litmine.duckdb"


def published_db_path(db_path: Path) -> Path:
    """The read-only copy the dashboard reads, next to the working database."""
    return db_path.parent / "published" / (db_path.stem + ".published.duckdb")


def models_dir() -> Path:
    env = os.environ.get("LITMINE_MODELS")
    return Path(env) if env else project_dir() / "models"


ARCHIVES = {
    "cs",
    "stat",
    "math",
    "eess",
    "econ",
    "q-bio",
    "q-fin",
    "physics",
    "astro-ph",
    "cond-mat",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "quant-ph",
}
CS_CLASSES = {
    "AI",
    "AR",
    "CC",
    "CE",
    "CG",
    "CL",
    "CR",
    "CV",
    "CY",
    "DB",
    "DC",
    "DL",
    "DM",
    "DS",
    "ET",
    "FL",
    "GL",
    "GR",
    "GT",
    "HC",
    "IR",
    "IT",
    "LG",
    "LO",
    "MA",
    "MM",
    "MS",
    "NA",
    "NE",
    "NI",
    "OH",
    "OS",
    "PF",
    "PL",
    "RO",
    "SC",
    "SD",
    "SE",
    "SI",
    "SY",
}
_CATEGORY = re.compile(r"^([a-z-]+)(?:\.([A-Za-z-]+))?$")


def is_known_category(name: object) -> bool:
    """True for an arXiv category name such as ``cs.CL`` or ``stat.ML``."""
    m = _CATEGORY.match(name) if isinstance(name, str) else None
    if not m or m.group(1) not in ARCHIVES:
        return False
    return m.group(1) != "cs" or m.group(2) in CS_CLASSES


@dataclass(frozen=True)
class Scope:
    """What the crawler pulls: arXiv categories and how it slices time."""

    categories: tuple[str, ...] = ("cs.CL", "cs.LG", "cs.AI", "stat.ML")
    start_date: str = "2024-12-01"
    window_days: int = 1
    overlap_days: int = 3
    page_size: int = 200
    max_window_results: int = 8000


def load_scope(path: Path | None = None) -> Scope:
    """Read the crawl scope file (``corpus/scope.toml``); defaults when it is absent."""
    path = path or project_dir() / "corpus" / "scope.toml"
    if not path.exists():
        return Scope()
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise LitmineError(f"crawl scope {path} is not valid TOML: {exc}") from exc
    crawl = data.get("crawl", {})
    cats = crawl.get("categories", list(Scope.categories))
    bad = [c for c in cats if not is_known_category(c)] if isinstance(cats, list) else [cats]
    if not cats or bad:
        raise LitmineError(
            f"crawl scope {path}: unknown arXiv categories {bad}",
            hint="use arXiv names such as 'cs.CL', 'cs.LG', 'stat.ML' (see arxiv.org/category_taxonomy)",
        )
    return Scope(
        categories=tuple(cats),
        start_date=str(crawl.get("start_date", Scope.start_date)),
        window_days=int(crawl.get("window_days", Scope.window_days)),
        overlap_days=int(crawl.get("overlap_days", Scope.overlap_days)),
        page_size=int(crawl.get("page_size", Scope.page_size)),
        max_window_results=int(crawl.get("max_window_results", Scope.max_window_results)),
    )
