"""Does the fast embedding path keep the reference's vectors? The gate for making it the default.

    .venv/bin/python bench/embed_quality.py [--n 2000] [--variants int8 int8-all fp32] [--cv] [--sweep]
        [--json OUT]

On ``--n`` shared-snapshot abstracts (the gold-labelled papers first, then a fixed sample of
others) it embeds title + abstract with the reference path (``litmine.embed``'s
sentence-transformers model) and with each ONNX variant, and reports the cosine of each
paper's two vectors: min, 1st percentile, mean, and how many fall below 0.99.
The product rule (issue 7): the fast path may become the default only with min and mean >= 0.99
and the classifiers' cross-validated scores dropping by no more than 0.01.

``--cv`` also compares the classifiers: through ``litmine.classify.cross_validate_embeddings``
when it exists, else ``litmine.evaluate.cross_validate`` on the gold set (same folds, same
texts, only the vectors differ), reporting each axis's macro F1 for both and the drop.

``--sweep`` measures what each layer's feed-forward output projection costs when it alone is
quantized (every other one kept fp32): the evidence for which layers the ``int8`` recipe keeps
in fp32.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from harness import REPO, snapshot_path  # noqa: E402

from litmine.config import REFERENCE_MODEL_NAME  # noqa: E402
from litmine.embed import load_embedder, paper_text  # noqa: E402

FLOOR = 0.99


def gold_annotations() -> dict:
    """The gold annotations in ``corpus/labels`` by paper id (a later record wins)."""
    from litmine.labels import load_annotations

    out = {}
    for path in sorted((REPO / "corpus" / "labels").glob("*.jsonl")):
        for ann in load_annotations(path):
            out[ann.arxiv_id] = ann
    return out


def papers(n: int, gold_ids: set[str]) -> list[dict]:
    """Gold papers found in the snapshot first, then every 37th other record, up to ``n``."""
    gold, other = [], []
    with gzip.open(snapshot_path(), "rt") as f:
        for i, line in enumerate(f):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not (rec.get("title") and rec.get("abstract")):
                continue
            if rec["id"] in gold_ids:
                gold.append(rec)
            elif i % 37 == 0 and len(other) < n:
                other.append(rec)
    return (gold + other)[:n]


def cosine_stats(vecs: np.ndarray, ref: np.ndarray) -> dict:
    cos = (vecs * ref).sum(axis=1)
    return {
        "min": float(cos.min()),
        "p01": float(np.percentile(cos, 1)),
        "mean": float(cos.mean()),
        "below_0.99": int((cos < FLOOR).sum()),
        "n": len(cos),
        "passes": bool(cos.min() >= FLOOR and cos.mean() >= FLOOR),
    }


def cross_validation(vectors: dict[str, np.ndarray], recs: list[dict], gold: dict) -> dict:
    """Macro F1 per axis for each set of vectors, and the drop from the reference."""
    from litmine import classify

    ids = [r["id"] for r in recs]
    if hasattr(classify, "cross_validate_embeddings"):
        return {
            name: classify.cross_validate_embeddings(dict(zip(ids, v, strict=True)))
            for name, v in vectors.items()
        }
    from litmine.evaluate import cross_validate

    keep = [i for i, r in enumerate(recs) if r["id"] in gold]
    anns = [gold[recs[i]["id"]] for i in keep]
    texts = [paper_text(recs[i]["title"], recs[i]["abstract"]) for i in keep]
    out: dict = {}
    for name, v in vectors.items():
        rep = cross_validate(v[keep], texts, anns, baselines=False)
        out[name] = {axis: m["macro_f1"] for axis, m in rep["model"].items()}
    ref = out["reference"]
    for name in vectors:
        if name != "reference":
            out[f"{name} drop"] = {a: ref[a] - out[name][a] for a in ref}
    return out


def run(n: int, variants: list[str], cv: bool, sweep: bool = False) -> dict:
    gold = gold_annotations() if cv else {}
    recs = papers(n, set(gold) or set(_gold_ids_quick()))
    texts = [paper_text(r["title"], r["abstract"]) for r in recs]
    report: dict = {"papers": len(texts), "variants": {}}
    t = time.perf_counter()
    ref = load_embedder(REFERENCE_MODEL_NAME).encode(texts)
    report["reference_seconds"] = time.perf_counter() - t
    vectors = {"reference": ref}
    from litmine.onnx_embed import OnnxEmbedder

    for v in variants:
        emb = OnnxEmbedder(v)
        t = time.perf_counter()
        vecs = emb.encode(texts)
        took = time.perf_counter() - t
        vectors[v] = vecs
        report["variants"][v] = {"name": emb.name, "seconds": took, **cosine_stats(vecs, ref)}
    if cv:
        report["cross_validation"] = cross_validation(vectors, recs, gold)
    if sweep:
        report["sweep"] = layer_sweep(texts, ref)
    return report


def layer_sweep(texts: list[str], ref: np.ndarray) -> dict:
    """Cosine to the reference with only layer k's feed-forward output quantized, per k."""
    import tempfile

    from litmine import onnx_embed

    out = {}
    with tempfile.TemporaryDirectory() as cache:
        layers = range(onnx_embed.num_layers())
        for k in layers:
            name = f"sweep-ffn{k}"
            keep = tuple(i for i in layers if i != k)
            onnx_embed.VARIANTS[name] = onnx_embed.Variant(True, True, keep)
            vecs = onnx_embed.OnnxEmbedder(name, cache=Path(cache)).encode(texts)
            out[str(k)] = cosine_stats(vecs, ref)
            del onnx_embed.VARIANTS[name]
    return out


def _gold_ids_quick() -> list[str]:
    try:
        return list(gold_annotations())
    except Exception:  # noqa: BLE001 - labels are optional for the cosine part
        return []


def render(report: dict) -> str:
    lines = [
        f"Cosine of each paper's fast-path vector to its reference vector, {report['papers']:,} "
        "shared-snapshot abstracts (title + abstract):",
        "",
        "| variant | model name | min | 1st pct | mean | below 0.99 | passes min & mean >= 0.99 |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for v, s in report["variants"].items():
        lines.append(
            f"| {v} | `{s['name']}` | {s['min']:.4f} | {s['p01']:.4f} | {s['mean']:.4f} | "
            f"{s['below_0.99']} | {'yes' if s['passes'] else 'no'} |"
        )
    cv = report.get("cross_validation")
    if cv and "reference" in cv and all(isinstance(x, float) for x in cv["reference"].values()):
        names = [k for k in cv if not k.endswith(" drop")]
        lines += ["", "Cross-validated macro F1 (same folds; only the vectors differ):", ""]
        lines.append("| axis | " + " | ".join(names) + " | largest drop |")
        lines.append("|---|" + "---:|" * (len(names) + 1))
        for axis in cv["reference"]:
            drops = [cv[f"{k} drop"][axis] for k in names if k != "reference"]
            vals = " | ".join(f"{cv[k][axis]:.3f}" for k in names)
            lines.append(f"| {axis} | {vals} | {max(drops):+.3f} |")
    if report.get("sweep"):
        lines += ["", "Only layer k's feed-forward output projection int8 (fast GELU, every other "
                  "feed-forward output fp32):", "", "| layer | min | mean | below 0.99 |",
                  "|---:|---:|---:|---:|"]  # fmt: skip
        for k, s in report["sweep"].items():
            lines.append(f"| {k} | {s['min']:.4f} | {s['mean']:.4f} | {s['below_0.99']} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--variants", nargs="+", default=["int8", "int8-all", "fp32"])
    ap.add_argument("--cv", action="store_true", help="also compare cross-validated classifiers")
    ap.add_argument("--sweep", action="store_true", help="per-layer feed-forward output sweep")
    ap.add_argument("--json", type=Path, help="write the report as JSON here")
    args = ap.parse_args()
    if snapshot_path() is None:
        print("skipped: the shared snapshot is absent")
        return 0
    report = run(args.n, args.variants, args.cv, args.sweep)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
