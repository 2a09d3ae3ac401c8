"""Command line: each command parses its arguments and calls the library function of its name."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from litmine import config
from litmine.errors import EXIT_FAILURE, EXIT_OK, LitmineError

log = logging.getLogger("litmine")
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    COMMANDS[fn.__name__.removeprefix("cmd_").replace("_", "-")] = fn
    return fn


def _progress(args: argparse.Namespace, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=args.quiet or total == 0, unit="it", leave=False)


def _db(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db else config.default_db_path()


def _out(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def _date(s: str) -> datetime:
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


@command
def cmd_ingest(args: argparse.Namespace) -> int:
    from litmine import ingest, store
    from litmine.crawl import ArxivSource

    scope = config.load_scope(Path(args.scope) if args.scope else None)
    with store.connect(_db(args)) as con:
        if args.snapshot:
            counts = ingest.ingest_snapshot(con, args.snapshot, scope)
        else:
            base = args.base_url or os.environ.get("LITMINE_ARXIV_URL") or config.ARXIV_API_URL
            source = ArxivSource(scope, base_url=base, delay_seconds=args.delay)
            since, until = args.since, args.until
            if until and not since:
                raise LitmineError("--until needs --since (a backfill range)")
            start, end = (
                (since, until or datetime.now())
                if since
                else ingest.nightly_range(con, scope, datetime.now())
            )
            days = len(ingest.plan_windows(start, end, scope.window_days))
            with _progress(args, days, "windows") as bar:
                counts = ingest.ingest_live(con, source, since, until, progress=bar.update)
    _out(args, "ingest: " + ", ".join(f"{k} {v}" for k, v in counts.as_dict().items()))
    return EXIT_OK


@command
def cmd_status(args: argparse.Namespace) -> int:
    from litmine import status

    print(status.render(status.status(_db(args))))
    return EXIT_OK


@command
def cmd_labels(args: argparse.Namespace) -> int:
    from litmine import labels, store

    if args.action == "agreement":  # two annotation files; no database needed
        from litmine.agreement import agreement, render_agreement

        if len(args.files) != 2:
            raise LitmineError("labels agreement needs two files: FIRST SECOND")
        first, second = (labels.load_annotations(f) for f in args.files)
        print(render_agreement(agreement(first, second)))
        return EXIT_OK
    with store.connect(_db(args)) as con:
        if args.action == "import":
            corrections = _db(args).parent / "corrections"
            defaults = [config.project_dir() / "corpus" / "labels"]
            defaults += [corrections] if any(corrections.glob("*.jsonl")) else []
            for f in args.files or defaults:
                c = labels.import_labels(con, f)
                _out(
                    args,
                    f"{f}: {c.records} records, {c.events_added} new events, "
                    f"{c.events_existing} already present",
                )
        else:
            print(labels.render_stats(labels.stats(con)))
    return EXIT_OK


@command
def cmd_embed(args: argparse.Namespace) -> int:
    from litmine import classify, embed, store

    model = args.model or classify.embedding_model()
    with store.connect(_db(args)) as con:
        todo = embed.count_missing(con, model)
        if args.limit is not None:
            todo = min(todo, args.limit)
        with _progress(args, todo, "embed") as bar:
            n = embed.embed_missing(
                con,
                embed.load_embedder(model) if todo else None,
                progress=bar.update,
                limit=args.limit,
                model=model,
            )
    _out(args, f"embed: {n} papers embedded with {model}")
    return EXIT_OK


@command
def cmd_train(args: argparse.Namespace) -> int:
    from litmine import gate, store, training

    with store.connect(_db(args)) as con:
        card = training.train(con, Path(args.out) if args.out else None, embed_model=args.model)
    m = card["metrics"]
    _out(
        args,
        f"train: model {card['model_id']} on {card['training_data']['papers']} gold papers; "
        + ", ".join(f"{a} {v['macro_f1']:.3f}" for a, v in m.items())
        + " (CV macro F1)",
    )
    _out(args, "train: " + gate.summary(gate.read_card(Path(args.out) if args.out else None)))
    return EXIT_OK


@command
def cmd_classify(args: argparse.Namespace) -> int:
    from litmine import classify, store

    with store.connect(_db(args)) as con:
        n = classify.predict_missing(con, Path(args.model_dir) if args.model_dir else None)
    _out(args, f"classify: {n} papers labelled")
    return EXIT_OK


@command
def cmd_eval(args: argparse.Namespace) -> int:
    from litmine import classify, evaluate, labels, store
    from litmine.embed import load_embedder

    model = args.model or classify.embedding_model()
    with store.connect(_db(args)) as con:
        anns, emb, texts = classify.gold_training_set(con, model)
    if len(anns) < 5 * args.folds:
        raise LitmineError(
            f"only {len(anns)} embedded gold papers; too few for {args.folds} folds",
            hint=f"run `litmine labels import` and `litmine embed --model {model}` first",
        )
    subsets = {"random_sample": labels.drawn_ids("random")}  # natural prevalence
    report = evaluate.cross_validate(
        emb, texts, anns, folds=args.folds, embedder=load_embedder(model), subsets=subsets
    )
    report["embedding_model"] = model
    out = Path(args.out) if args.out else config.project_dir() / "docs"
    js, md = evaluate.write_report(report, out)
    _out(args, f"eval: wrote {md} and {js}")
    return EXIT_OK


@command
def cmd_export(args: argparse.Namespace) -> int:
    from litmine import export, store

    filters = export.ExportFilters(
        since=args.since,
        until=args.until,
        post_training_only=args.post_training_only,
        gold_only=args.gold_only,
        min_confidence=args.min_confidence,
        provenance=tuple(args.provenance or ()),
        interface=tuple(args.interface or ()),
        roles=tuple(args.role or ()),
        dominant_role=tuple(args.dominant_role or ()),
        families=tuple(args.family or ()),
        contribution=tuple(args.contribution or ()),
    )
    db = _db(args)
    try:
        con = store.open_db(db, read_only=True)
    except store.DatabaseLocked:  # the nightly job is writing: read its published copy
        log.info("database is being written; exporting from the published copy")
        con = store.open_db(config.published_db_path(db), read_only=True)
    try:
        res = export.export_dataset(con, Path(args.out), args.format, filters)
    finally:
        con.close()
    _out(args, f"export: {res.rows} rows -> {res.data_path}")
    return EXIT_OK


@command
def cmd_nightly(args: argparse.Namespace) -> int:
    from litmine import nightly
    from litmine.crawl import ArxivSource

    source = None
    if not args.snapshot:
        base = args.base_url or os.environ.get("LITMINE_ARXIV_URL") or config.ARXIV_API_URL
        source = ArxivSource(config.load_scope(), base_url=base, delay_seconds=args.delay)
    res = nightly.run_nightly(
        _db(args),
        snapshot=Path(args.snapshot) if args.snapshot else None,
        source=source,
        progress=not args.quiet,
        gate_recall=args.gate_recall,
        gate_basis=args.gate_basis,
    )
    _out(args, res.summary())
    return EXIT_OK


@command
def cmd_dashboard(args: argparse.Namespace) -> int:
    import subprocess

    app = config.REPO_ROOT / "dashboard" / "app.py"
    env = {**os.environ, "LITMINE_DB": str(_db(args))}
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    return subprocess.call(cmd, env=env)


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


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    log_dir = Path(os.environ.get("LITMINE_LOG_DIR") or _db(args).parent / "logs")
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(
            log_dir / "litmine.log", maxBytes=5_000_000, backupCount=3
        )
        fh.setLevel(logging.INFO)
        fh.setFormatter(
            logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(fh)
    except OSError as exc:
        log.warning("cannot write log file in %s: %s", log_dir, exc)
    for noisy in ("urllib3", "arxiv", "sentence_transformers", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    try:
        return COMMANDS[args.command](args)
    except LitmineError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted; rerun to finish the missing work")
        return 130
    except BrokenPipeError:  # output piped into `head` and closed
        sys.stderr.close()
        return EXIT_OK
    except Exception:
        log.exception("unexpected failure")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
