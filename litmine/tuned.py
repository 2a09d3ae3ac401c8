"""The fine-tuned label model at inference time, and its blend with the logistic regression.

``models/`` holds four files for it: ``litmine-tuned.safetensors`` (the trained top layers and
heads, the only weights that differ from the packaged all-MiniLM-L6-v2), ``tuned_card.json``
(its configuration, calibration, blend, per-label cuts and cross-validated metrics),
``TUNED_CARD.md`` and ``tuned_oof.npz`` (ids, folds and out-of-fold logits, which ``litmine
eval`` scores against the baselines). Loading reads tensors and JSON only, so no code runs. The
ONNX graph is built once, offline, from the packaged lower layers and the saved top; it is
cached under a fingerprint of both and then run by ONNX Runtime, without torch.

The blend is what ``classify`` uses when the card names the logistic regression that is saved
beside it. A tuned model left over from another logistic regression is ignored with a warning,
and the logistic regression alone labels papers until ``litmine tune`` is run again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from litmine import calibration
from litmine.errors import LitmineError
from litmine.labelspace import layout
from litmine.onnx_embed import (
    _fuse,
    _quiet_tools,
    _require_onnx,
    _writable,
    cache_dir,
    default_threads,
    ffn_output_nodes,
    reference_model_dir,
)
from litmine.onnx_embed import fingerprint as base_fingerprint

log = logging.getLogger(__name__)

TUNED_FILE = "litmine-tuned.safetensors"
TUNED_CARD = "tuned_card.json"
TUNED_MD = "TUNED_CARD.md"
OOF_FILE = "tuned_oof.npz"
RECIPE_VERSION = 3  # 2: int8 only on the lower layers' weights; 3: their attention fused
OPSET = 17
VARIANTS = ("fp32", "int8")


def read_card(model_dir: Path) -> dict | None:
    """The tuned model's card, or None when ``model_dir`` holds no tuned model."""
    path = Path(model_dir) / TUNED_CARD
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LitmineError(
            f"{path} is not a readable model card: {exc}", hint="run `litmine tune` again"
        ) from exc


def check_file(path: Path) -> None:
    """A clear error when the safetensors file is missing, truncated or not safetensors."""
    from safetensors import safe_open

    if not path.exists():
        raise LitmineError(f"{path} is missing", hint="run `litmine tune` or restore models/")
    try:
        with safe_open(str(path), framework="numpy") as f:
            json.loads(f.metadata()["config"])
            for k in f.keys():  # noqa: SIM118
                f.get_slice(k)
    except Exception as exc:
        raise LitmineError(
            f"{path} is truncated or corrupted ({type(exc).__name__}: {exc})",
            hint="restore it from git (`git checkout models/`) or run `litmine tune` again",
        ) from exc


def fingerprint(model_dir: Path, variant: str) -> str:
    """A hash of the saved top, the packaged body, the recipe and the ONNX variant."""
    h = hashlib.sha256((Path(model_dir) / TUNED_FILE).read_bytes())
    h.update(repr((RECIPE_VERSION, OPSET, variant)).encode())
    h.update(base_fingerprint(reference_model_dir(), "fp32").encode())
    return h.hexdigest()[:12]


def _export(model_dir: Path, out: Path) -> None:
    import torch

    from litmine import finetune

    class Logits(torch.nn.Module):
        def __init__(self, net: torch.nn.Module):
            super().__init__()
            self.net = net

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.net(input_ids, attention_mask)[0]

    top, cfg = finetune.load_top(Path(model_dir) / TUNED_FILE)
    net = Logits(finetune.full_net(top, cfg)).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            net, (ids, mask), str(out), dynamo=False,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
            opset_version=OPSET, do_constant_folding=True,
        )  # fmt: skip


def build(model_dir: Path, variant: str = "int8", out_dir: Path | None = None) -> Path:
    """The ONNX file of the tuned model (fp32, or int8 weights with fp32 FFN outputs)."""
    if variant not in VARIANTS:
        raise LitmineError(f"unknown variant {variant!r}", hint=f"use one of {VARIANTS}")
    _require_onnx()
    model_dir = Path(model_dir)
    check_file(model_dir / TUNED_FILE)
    out_dir = Path(out_dir) if out_dir else _writable(cache_dir())
    target = out_dir / f"litmine-tuned-{variant}-{fingerprint(model_dir, variant)}.onnx"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    log.info("building %s (one time, offline)", target.name)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp, _quiet_tools():
        raw, fused, final = (Path(tmp) / f"{n}.onnx" for n in ("raw", "fused", "model"))
        try:
            _export(model_dir, raw)
            _fuse(raw, fused if variant == "int8" else final, reference_model_dir())
            if variant == "int8":
                import onnx
                from onnxruntime.quantization import QuantType, quantize_dynamic

                quantize_dynamic(
                    str(fused), str(final), weight_type=QuantType.QInt8, per_channel=True,
                    reduce_range=True, op_types_to_quantize=["MatMul", "Attention"],
                    nodes_to_exclude=_keep_fp32(fused),
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )  # fmt: skip
        except LitmineError:
            raise
        except Exception as exc:
            raise LitmineError(
                f"cannot build the ONNX model {target.name}: {exc}",
                hint="check that torch, transformers, onnx and onnxruntime are installed at the "
                "versions pinned in pyproject.toml",
            ) from exc
        os.replace(final, target)
    return target


def _keep_fp32(path: Path) -> list[str]:
    """MatMuls left in fp32 by the int8 variant: the fine-tuned top and heads, the attention
    score products (activations times activations) and the feed-forward output projections,
    whose outlier channels per-tensor int8 cannot resolve (as for the embedder)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    keep = set(ffn_output_nodes(path))
    for n in model.graph.node:
        if n.op_type in ("MatMul", "Gemm") and (
            "/top/" in n.name or not all(_is_weight(model, i) for i in n.input[1:2])
        ):
            keep.add(n.name)
    return sorted(keep)


def _is_weight(model, name: str) -> bool:  # noqa: ANN001
    return any(t.name == name for t in model.graph.initializer)


class TunedModel:
    """The fine-tuned heads on ONNX Runtime: raw logits and calibrated probabilities."""

    def __init__(self, model_dir: Path, variant: str | None = None, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.card = read_card(self.model_dir)
        if self.card is None:
            raise LitmineError(f"no tuned model in {self.model_dir}", hint="run `litmine tune`")
        self.variant = variant or self.card.get("onnx", {}).get("variant", "int8")
        self.path = build(self.model_dir, self.variant)
        self.tokenizer = Tokenizer.from_file(str(reference_model_dir() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=int(self.card["config"]["max_tokens"]))
        self.tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path), opts, providers=["CPUExecutionProvider"]
        )
        self.width = sum(len(labels) for _, labels in layout())

    def logits(self, texts: list[str], batch_size: int = 8) -> np.ndarray:
        out = np.zeros((len(texts), self.width), np.float32)
        if not texts:
            return out
        enc = self.tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in enc])
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            ids = np.zeros((len(idx), int(lengths[idx].max())), np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(idx):
                ids[r, : lengths[i]], mask[r, : lengths[i]] = enc[i].ids, 1
            out[idx] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def probabilities(self, texts: list[str]) -> dict:
        return calibration.probabilities(
            self.logits(texts), self.card["calibration"], use_stage2=False
        )


class Blended:
    """The logistic regression and the tuned heads, stacked: the model ``classify`` runs."""

    def __init__(self, lr, tuned: TunedModel):  # noqa: ANN001
        self.lr, self.tuned = lr, tuned
        self.config = lr.config
        self.params = tuned.card["blend"]

    def predict_proba(self, emb: np.ndarray, texts: list[str], cues=None) -> dict:  # noqa: ANN001
        """The blend's probabilities; where the classifier's P(post_training) is below the card's
        ``skip_below`` (no out-of-fold paper there was called post-training by the blend), the
        heads are not run and the classifier's probabilities stand."""
        lr = self.lr.predict_proba(emb, texts, cues)
        run = np.flatnonzero(lr["post_training"]["yes"] >= self.params.get("skip_below", 0.0))
        if not len(run):
            return lr
        part = calibration.blend(
            calibration.take(lr, run), self.tuned.probabilities([texts[i] for i in run]),
            self.params,
        )  # fmt: skip
        out = {ax: {lab: v.copy() for lab, v in d.items()} for ax, d in lr.items()}
        for ax, d in part.items():
            for lab, v in d.items():
                out[ax][lab][run] = v
        return out

    def predict(self, emb: np.ndarray, texts: list[str], evidence: bool = True) -> list[dict]:
        probs = self.predict_proba(emb, texts)
        return self.lr.predict(emb, texts, evidence, probs=probs, cuts=self.params["thresholds"])


def applies(model_dir: Path, lr_card: dict) -> dict | None:
    """The tuned card when it was blended with the saved logistic regression, else None."""
    card = read_card(model_dir)
    if card is None:
        return None
    if card.get("lr_model_id") != lr_card.get("model_id"):
        log.warning(
            "the tuned model %s was blended with %s, not with the saved %s: labelling with the "
            "logistic regression alone (run `litmine tune`)",
            card.get("tuned_id"), card.get("lr_model_id"), lr_card.get("model_id"),
        )  # fmt: skip
        return None
    return card


def read_oof(model_dir: Path, ids: list[str]) -> tuple[list, np.ndarray] | None:
    """(folds, out-of-fold logits) saved by ``litmine tune``, when they cover exactly ``ids``
    in that order (the gold set the classifier is evaluated on); None otherwise."""
    path = Path(model_dir) / OOF_FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        saved, fold, logits = list(z["ids"]), z["fold"], z["logits"]
    if saved != list(ids):
        log.warning("%s was computed on another gold set; run `litmine tune` to score the "
                    "tuned model again", path)  # fmt: skip
        return None
    split = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in np.unique(fold)]
    return split, logits


def save(net, cfg, card: dict, out_dir: Path, oof: dict | None = None) -> dict:  # noqa: ANN001
    """Write the top (safetensors), the card (JSON, Markdown) and the out-of-fold logits."""
    from litmine import finetune

    out_dir = Path(out_dir)
    finetune.save_top(net, cfg, out_dir / TUNED_FILE)
    h = hashlib.sha256((out_dir / TUNED_FILE).read_bytes())
    h.update(json.dumps([card["calibration"], card["blend"]], sort_keys=True).encode())
    card["tuned_id"] = "ft-" + h.hexdigest()[:10]
    card["model_id"] = f"{card['lr_model_id']}+{card['tuned_id']}"
    if oof is not None:
        tmp = out_dir / (OOF_FILE + ".tmp.npz")
        np.savez_compressed(tmp, **oof)
        tmp.replace(out_dir / OOF_FILE)
    write_card(card, out_dir)
    return card


def write_card(card: dict, out_dir: Path) -> None:
    text = json.dumps(card, indent=1, sort_keys=True, default=float) + "\n"
    (Path(out_dir) / TUNED_CARD).write_text(text)
    (Path(out_dir) / TUNED_MD).write_text(render_card(card))


def agreement(model_dir: Path, texts: list[str]) -> dict:
    """How far the ONNX variants' calibrated outputs are from torch's, on ``texts``."""
    import torch

    from litmine import finetune

    top, cfg = finetune.load_top(Path(model_dir) / TUNED_FILE)
    net = finetune.full_net(top, cfg)
    tok = finetune.tokenizer(cfg.max_tokens)
    rows = []
    with torch.inference_mode():
        for e in tok.encode_batch(list(texts)):
            ids = torch.tensor([e.ids])
            rows.append(net(ids, torch.ones_like(ids))[0].numpy()[0])
    cal = read_card(model_dir)["calibration"]
    ref = calibration.probabilities(np.stack(rows), cal, use_stage2=False)
    out = {}
    for variant in VARIANTS:
        got = TunedModel(model_dir, variant).probabilities(texts)
        diff = max(float(np.abs(got[a][k] - ref[a][k]).max()) for a in ref for k in ref[a])
        same = {
            a: float(np.mean(_argmax(got[a]) == _argmax(ref[a]))) for a in ("post_training",
                                                                         "provenance", "dominant_role")
        }  # fmt: skip
        out[variant] = {"max_abs_prob_diff": round(diff, 5), "same_decision": same}
    return out


def _argmax(probs: dict) -> np.ndarray:
    return np.stack(list(probs.values()), 1).argmax(1)


def render_card(card: dict) -> str:
    """The tuned model's card as Markdown."""
    td, cfg = card["training_data"], card["config"]
    lines = [
        f"# Model card: {card['model_id']}",
        "",
        f"all-MiniLM-L6-v2 (the packaged weights) with its top {cfg['top_layers']} layer(s) "
        f"fine-tuned end to end and one attention-pooling head per axis, {cfg['epochs']} epochs "
        f"over the first {cfg['max_tokens']} tokens of title and abstract, class-weighted. "
        "Each head is calibrated on out-of-fold logits (temperature or Platt), then stacked "
        f"with the logistic regression `{card['lr_model_id']}`; the cuts are per label.",
        "",
        f"- training data: {td['papers']} gold papers ({td['post_training_yes']} post-training)",
        f"- cross-validation: {card['cv_folds']} folds, the logistic regression's; blend and "
        "cuts fitted on four folds, scored on the fifth",
        f"- training time: {card.get('seconds', {})} (seconds, 2 CPU cores)",
        f"- ONNX: {json.dumps(card.get('onnx', {}))}",
        "",
        "| axis | blend | tuned alone | logistic regression | blend, random sample |",
        "|---|---|---|---|---|",
    ]
    m = card["metrics"]
    for axis in m["blend"]["all_gold"]:
        vals = [_headline(axis, m[k]["all_gold"][axis]) for k in
                ("blend", "tuned_alone", "logistic_regression")]  # fmt: skip
        rnd = m["blend"].get("random_sample", {}).get(axis)
        lines.append(f"| {axis} | " + " | ".join(f"{v:.3f}" for v in vals)
                     + f" | {_headline(axis, rnd) if rnd else float('nan'):.3f} |")  # fmt: skip
    lines += ["", "post_training: F1 of 'yes'; multi-label axes: micro F1; others: macro F1."]
    return "\n".join(lines) + "\n"


def _headline(axis: str, m: dict) -> float:
    if axis == "post_training":
        return m["f1"]
    return m["micro_f1"] if axis in ("interface", "roles", "families") else m["macro_f1"]
