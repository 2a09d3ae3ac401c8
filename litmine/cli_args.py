"""The command line's arguments: one sub-parser per verb, each with an example."""

from __future__ import annotations

import argparse
from datetime import datetime

from litmine import config


def _date(s: str) -> datetime:
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", help="database file (default: $LITMINE_DB or corpus/litmine.duckdb)"
    )
    common.add_argument("-q", "--quiet", action="store_true", help="print only errors (for cron)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p = argparse.ArgumentParser(
        prog="litmine",
        description="Track LLM post-training research under the Zhao et al. 2026 framework. "
        "Every command takes --db, --quiet and --verbose.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help, epilog=example)

    s = add(
        "ingest",
        "crawl arXiv (nightly cursor or backfill) or load a snapshot",
        "examples: litmine ingest | litmine ingest --since 2025-01-01 --until 2025-02-01 | "
        "litmine ingest --snapshot arxiv-metadata-oai-snapshot.json.gz",
    )
    s.add_argument("--snapshot", help="Kaggle arxiv-metadata-oai-snapshot JSON lines (.gz ok)")
    s.add_argument("--since", type=_date, help="backfill from this date (never moves the cursor)")
    s.add_argument("--until", type=_date, help="backfill up to this date")
    s.add_argument("--scope", help="crawl scope TOML (default corpus/scope.toml)")
    s.add_argument("--base-url", help="arXiv API URL format, e.g. http://127.0.0.1:8000/api?{}")
    s.add_argument("--delay", type=float, default=3.0, help="seconds between API requests (3)")

    add("status", "counts, cursor and the last runs", "example: litmine status")

    s = add(
        "labels",
        "import gold labels, show their statistics, or compare two annotations of the same papers",
        "examples: litmine labels import corpus/labels | litmine labels stats | "
        "litmine labels agreement corpus/agreement/round2_first.jsonl "
        "corpus/agreement/round2_second.jsonl",
    )
    s.add_argument("action", choices=["import", "stats", "agreement"])
    s.add_argument(
        "files",
        nargs="*",
        default=[str(config.project_dir() / "corpus" / "labels")],
        help="JSONL files or directories (default corpus/labels)",
    )

    s = add(
        "embed",
        "embed papers that lack a current vector",
        "example: litmine embed --model all-MiniLM-L6-v2",
    )
    s.add_argument(
        "--model",
        help="embedding model name or path (default: the one the saved classifier reads, "
        f"{config.DEFAULT_MODEL_NAME} for the committed model)",
    )
    s.add_argument("--limit", type=int, help="embed at most this many papers")

    s = add(
        "train",
        "train the classifiers on the gold labels",
        "example: litmine train --out models/",
    )
    s.add_argument("--out", help="model directory (default models/)")
    s.add_argument(
        "--model",
        default=config.DEFAULT_MODEL_NAME,
        help="embedding model whose vectors the classifiers read (gold papers are embedded first)",
    )

    s = add(
        "tune",
        "fine-tune the encoder's top layers and heads, blend them with the trained classifiers",
        "example: litmine tune --epochs 3 --folds 5 (about an hour on 2 cores for 5,000 papers)",
    )
    s.add_argument("--out", help="model directory holding the trained classifiers (models/)")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--top-layers", type=int, default=1, help="layers fine-tuned (1)")
    s.add_argument("--folds", type=int, default=5, help="cross-validation folds (5)")
    s.add_argument("--work", help="checkpoints, reused by a rerun (default artifacts/tune)")

    s = add("classify", "label papers that lack a prediction", "example: litmine classify")
    s.add_argument("--model-dir", help="trained model directory (default models/)")

    s = add(
        "eval",
        "cross-validate the classifiers and baselines",
        "example: litmine eval --folds 5 --out docs/",
    )
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--out", help="directory for eval.md and eval.json (default docs/)")
    s.add_argument(
        "--model", help="embedding model (default: the one the saved classifier was trained on)"
    )

    s = add(
        "export",
        "write the labelled dataset",
        "example: litmine export --format parquet --out exports/ "
        "--post-training-only --family rl_rewards",
    )
    s.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--since", help="first submission month, YYYY-MM")
    s.add_argument("--until", help="last submission month, YYYY-MM")
    s.add_argument("--post-training-only", action="store_true")
    s.add_argument("--gold-only", action="store_true")
    s.add_argument("--min-confidence", type=float, default=0.0)
    for axis in ("provenance", "interface", "role", "dominant-role", "family", "contribution"):
        s.add_argument(
            f"--{axis}", action="append", help=f"keep rows with this {axis} (repeatable)"
        )

    s = add(
        "nightly",
        "ingest, gate, embed, classify, project, publish",
        "example (cron): litmine nightly --quiet | "
        "offline: litmine nightly --snapshot arxiv-snapshot.jsonl.gz",
    )
    s.add_argument("--snapshot", help="ingest this snapshot instead of crawling the API")
    s.add_argument("--base-url", help="arXiv API URL format (tests, mirrors)")
    s.add_argument("--delay", type=float, default=3.0, help="seconds between API requests (3)")
    s.add_argument("--gate-recall", type=float, help="relevance gate recall target, kept for "
                   "later runs (default 0.995, from the gate card; 1 embeds every paper)")  # fmt: skip
    s.add_argument("--gate-basis", choices=("found", "gold"), help="what that recall counts: "
                   "gold post-training papers the classifier finds (found) or all (gold)")  # fmt: skip

    s = add(
        "dashboard",
        "start the Streamlit dashboard",
        "example: litmine dashboard --port 8501",
    )
    s.add_argument("--port", type=int, default=8501)
    return p
