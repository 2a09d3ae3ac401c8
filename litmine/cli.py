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
from litmine.cli_args import build_parser
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
def cmd_tune(args: argparse.Namespace) -> int:
    from litmine import store, tuned, tuning
    from litmine.finetune import TuneConfig

    cfg = TuneConfig(top_layers=args.top_layers, epochs=args.epochs)
    out = Path(args.out) if args.out else None
    with store.connect(_db(args), read_only=True) as con:
        gold = tuning.gold_set(con, out)
    card = tuning.tune(
        gold, out, cfg, folds=args.folds, work=Path(args.work) if args.work else None
    )
    m = card["metrics"]["blend"].get("random_sample") or card["metrics"]["blend"]["all_gold"]
    _out(args, f"tune: model {card['model_id']} ({card['seconds']} s); random sample: "
         + ", ".join(f"{a} {tuned._headline(a, v):.3f}" for a, v in m.items()))  # fmt: skip
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
    from litmine import classify, evaluate, labels, store, tuned
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
    # the tuned heads' out-of-fold logits fix the folds: every method is scored on them
    split, logits = tuned.read_oof(config.models_dir(), [a.arxiv_id for a in anns]) or (None, None)
    report = evaluate.cross_validate(
        emb, texts, anns, folds=args.folds, embedder=load_embedder(model), subsets=subsets,
        split=split, tuned_logits=logits,
    )  # fmt: skip
    report["embedding_model"] = model
    if logits is not None:
        report["model_name"] = "blend of the logistic regression and the tuned heads"
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
