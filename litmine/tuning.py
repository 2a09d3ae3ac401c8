"""Fine-tuning the label encoder on the gold set (``litmine tune``), resumable at every step.

The fine-tuned heads are cross-validated on the very folds the logistic regression is scored on
(:func:`litmine.evaluate.fold_split`), so the two models' out-of-fold probabilities line up row
by row: the blend is fitted on them and scored nested (calibration, stacker and cuts fitted on
four folds, scored on the fifth). Then the top layers and heads are trained on all gold papers
and saved next to the logistic regression they were blended with (:func:`litmine.tuned.save`).

Work files (the frozen layers' states, each finished fold, the final net) go under ``work``
(default ``artifacts/tune``), keyed by what they depend on, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from litmine import config
from litmine.classify import data_hash, gold_training_set, load, read_card
from litmine.errors import LitmineError

if TYPE_CHECKING:  # torch is imported only when a model is fine-tuned
    from litmine.finetune import TuneConfig

log = logging.getLogger(__name__)

# the int8 graph is used when it takes the same one-label decisions as torch on this share
INT8_AGREEMENT = 0.99
INT8_MAX_PROB_DIFF = 0.05  # and when no calibrated probability moves more than this
SKIP_GRID = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2)


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def heavy_parts(anns: list, texts: list[str], cfg: TuneConfig, folds: int, work: Path) -> dict:
    """The costly, checkpointed steps: frozen states, out-of-fold logits, the final net."""
    from litmine import evaluate, finetune

    t0 = time.time()
    states_path = work / f"states-top{cfg.top_layers}-{_key(texts, cfg.max_tokens)}.npz"
    if states_path.exists():
        states = finetune.load_states(states_path)
    else:
        states = finetune.lower_states(texts, cfg.top_layers, cfg.max_tokens)
        finetune.save_states(states, states_path)
    t1 = time.time()
    split = evaluate.fold_split(anns, folds)
    run_key = _key(asdict(cfg), data_hash(anns), folds)
    oof_logits = finetune.cross_validate(states, anns, split, cfg, work / f"cv-{run_key}")
    t2 = time.time()
    final = work / f"final-{run_key}.safetensors"
    if final.exists():
        net, _ = finetune.load_top(final)
    else:
        net = finetune.fit(states, anns, np.arange(len(anns)), cfg)
        finetune.save_top(net, cfg, final)
    seconds = {"lower_states": t1 - t0, "cv": t2 - t1, "final_fit": time.time() - t2}
    # the time each step took when it ran, not when a rerun reused it
    times = work / f"seconds-{run_key}.json"
    kept = json.loads(times.read_text()) if times.exists() else {}
    seconds = {k: kept.get(k) if kept.get(k, 0) > v else round(v) for k, v in seconds.items()}
    if seconds != kept:
        times.write_text(json.dumps(seconds))
    return {"split": split, "oof_logits": oof_logits, "net": net, "seconds": seconds}


def skip_point(lr_yes: np.ndarray, blend_yes: np.ndarray, cut: float) -> tuple[float, dict]:
    """The highest P(post_training) of the classifier below which the blend called no
    out-of-fold paper post-training: there the tuned heads need not run (a cheaper nightly)."""
    best = 0.0
    for eps in SKIP_GRID:
        if not ((lr_yes < eps) & (blend_yes >= cut)).any():
            best = eps
    below = lr_yes < best
    return best, {"papers_below": int(below.sum()), "papers": len(lr_yes),
                  "blend_yes_below": int((below & (blend_yes >= cut)).sum())}  # fmt: skip


def gold_set(con: duckdb.DuckDBPyConnection, out_dir: Path | None = None) -> tuple:
    """The gold papers, vectors and texts the saved classifier was trained on (read at once, so
    a long run holds no database connection and the nightly job can write meanwhile)."""
    lr_card = read_card(out_dir or config.models_dir(), blended=False)
    return gold_training_set(con, lr_card["embedding_model"])


def tune(
    gold: tuple,
    out_dir: Path | None = None,
    cfg: TuneConfig | None = None,
    folds: int = 5,
    work: Path | None = None,
) -> dict:
    """Cross-validate, blend, train on all ``gold`` (:func:`gold_set`) and save; the card."""
    from litmine import calibration, evaluate, finetune, labels, tuned

    out_dir = Path(out_dir or config.models_dir())
    work = Path(work or config.project_dir() / "artifacts" / "tune")
    lr_card = read_card(out_dir, blended=False)
    anns, emb, texts = gold
    if data_hash(anns) != lr_card["training_data"]["sha256"]:
        raise LitmineError(
            f"the classifier {lr_card['model_id']} was trained on other gold labels than the "
            "database holds now",
            hint="run `litmine train` first: the fine-tuned heads are blended with its output",
        )
    if len(anns) < 5 * folds:
        raise LitmineError(f"only {len(anns)} gold papers; too few for {folds} folds")
    cfg = cfg or finetune.TuneConfig()
    parts = heavy_parts(anns, texts, cfg, folds, work)
    split, oof_logits, net = parts["split"], parts["oof_logits"], parts["net"]
    lr_model = load(out_dir)[0]
    lr_oof: dict = {}
    random_ids = labels.drawn_ids("random")
    report = evaluate.cross_validate(
        emb, texts, anns, lr_model.config, baselines=False, oof=lr_oof, split=split,
        subsets={"random_sample": random_ids}, tuned_logits=oof_logits,
    )  # fmt: skip
    metrics = {
        name: {"all_gold": report[where] if name == "blend" else report["baselines"][name]}
        for name, where in (("blend", "model"), ("tuned_alone", ""), ("logistic_regression", ""))
    }
    for sub in report.get("subsets", {}).values():
        metrics["blend"]["random_sample"] = sub["model"]
        for name in ("tuned_alone", "logistic_regression"):
            metrics[name]["random_sample"] = sub["baselines"][name]
    lr_probs = lr_oof["lr_probs"]
    cal = calibration.fit(oof_logits, anns, stage2=False)
    ft_probs = calibration.probabilities(oof_logits, cal, use_stage2=False)
    blend = calibration.fit_blend(lr_probs, ft_probs, anns)
    blend["skip_below"], blend["skip_evidence"] = skip_point(
        lr_probs["post_training"]["yes"], lr_oof["probs"]["post_training"]["yes"],
        blend["thresholds"]["post_training"]["yes"],
    )  # fmt: skip
    card = {
        "lr_model_id": lr_card["model_id"],
        "training_data": {**lr_card["training_data"]},
        "config": asdict(cfg),
        "cv_folds": folds,
        "calibration": cal,
        "blend": blend,
        "metrics": metrics,
        "seconds": parts["seconds"],
    }
    fold_of = np.zeros(len(anns), np.int16)
    for k, (_, te) in enumerate(split):
        fold_of[te] = k
    oof = {"ids": np.array([a.arxiv_id for a in anns]), "fold": fold_of, "logits": oof_logits}
    card = tuned.save(net, cfg, card, out_dir, oof=oof)
    # int8 where its decisions agree with torch's on gold papers, else fp32
    sample = [texts[i] for i in np.linspace(0, len(texts) - 1, min(200, len(texts))).astype(int)]
    agree = tuned.agreement(out_dir, sample)
    same = min(agree["int8"]["same_decision"].values())
    close = agree["int8"]["max_abs_prob_diff"] <= INT8_MAX_PROB_DIFF
    card["onnx"] = {"variant": "int8" if same >= INT8_AGREEMENT and close else "fp32",
                    "agreement_with_torch": agree, "papers": len(sample)}  # fmt: skip
    tuned.write_card(card, out_dir)
    return card
