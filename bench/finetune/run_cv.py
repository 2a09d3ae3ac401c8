"""Cross-validate the fine-tuned label encoder (work in progress for issue 11) on the gold set.

    .venv/bin/python bench/finetune/run_cv.py --top 1 --epochs 4 --work artifacts/finetune

Reads the gold labels from corpus/labels and the abstracts from ../shared/data (skips if absent).
The lower-layer states and every finished fold are cached under --work, so a rerun resumes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO)]

import calibration  # noqa: E402
import finetune  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from litmine.embed import paper_text  # noqa: E402
from litmine.evaluate import score  # noqa: E402
from litmine.labels import load_annotations  # noqa: E402

SNAPSHOT = REPO.parent / "shared" / "data" / "arxiv-snapshot.jsonl.gz"


def gold_texts() -> tuple[list, list[str]]:
    anns = {a.arxiv_id: a for a in load_annotations(REPO / "corpus" / "labels")}
    texts = {}
    with gzip.open(SNAPSHOT, "rt") as f:
        for line in f:
            r = json.loads(line)
            if r["id"] in anns and r.get("abstract"):
                texts[r["id"]] = paper_text(
                    " ".join(r["title"].split()), " ".join(r["abstract"].split())
                )
    keep = sorted(set(anns) & set(texts))
    return [anns[a] for a in keep], [texts[a] for a in keep]


def folds(anns: list, k: int = 5) -> list:
    strata = [
        a.families[0] if a.post_training and a.families else str(a.post_training) for a in anns
    ]
    counts = {s: strata.count(s) for s in set(strata)}
    strata = [s if counts[s] >= k else "rare" for s in strata]
    return list(
        StratifiedKFold(k, shuffle=True, random_state=13).split(np.zeros(len(anns)), strata)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--work", type=Path, default=REPO / "artifacts" / "finetune")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not SNAPSHOT.exists():
        sys.exit(f"skipped: {SNAPSHOT} is not there")
    anns, texts = gold_texts()
    cache = args.work / f"states_top{args.top}_{len(anns)}.npy"
    if cache.exists():
        states = finetune.LowerStates(list(np.load(cache, allow_pickle=True)))
    else:
        states = finetune.lower_states(texts, top_layers=args.top)
        args.work.mkdir(parents=True, exist_ok=True)
        np.save(cache, np.array(states.states, dtype=object), allow_pickle=True)
    split = folds(anns)
    cfg = finetune.TuneConfig(top_layers=args.top, epochs=args.epochs)
    t0 = time.time()
    tag = f"top{args.top}_e{args.epochs}_{len(anns)}"
    oof = finetune.cross_validate(states, anns, split, cfg, args.work / tag)
    log = {"config": tag, "cv_seconds": round(time.time() - t0)}
    for stage2 in (False, True):
        parts: dict = {}
        for tr, te in split:  # calibration fitted on the other folds' out-of-fold logits
            cal = calibration.fit(oof[tr], [anns[i] for i in tr], stage2=stage2)
            for ax, d in calibration.probabilities(oof[te], cal).items():
                for lab, v in d.items():
                    parts.setdefault(ax, {}).setdefault(lab, np.zeros(len(anns)))[te] = v
        m = score(anns, parts)
        log["stage2" if stage2 else "stage1"] = {
            ax: round(m[ax].get("f1", m[ax]["macro_f1"]), 3) for ax in m
        }
    print(json.dumps(log))
    (args.work / f"{tag}.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
