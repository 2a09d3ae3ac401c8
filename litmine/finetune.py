"""Training side of the fine-tuned label encoder (imports torch; the nightly job never does).

The packaged all-MiniLM-L6-v2 body is fine-tuned end to end at its top: its lower layers stay
frozen, so their hidden states are computed once per paper and cached, and only the top
``TuneConfig.top_layers`` transformer layers and one head per axis are trained. Each head pools
the top layer's token states with its own attention query (so a provenance head can read the
clause that decides provenance) next to the mean of all tokens, over the full 256-token window.

``fit`` trains on gold papers; ``cross_validate`` gives out-of-fold logits on fixed folds, with a
checkpoint per fold so an interrupted run resumes; :mod:`litmine.calibration` turns those logits
into temperatures, Platt scales and per-label thresholds. ``save`` writes only what differs from
the packaged weights (``safetensors``, never pickle) next to a JSON head spec;
:mod:`litmine.tuned` rebuilds the ONNX graph from them for inference.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from litmine.labelspace import HEAD_AXES, layout, target_arrays
from litmine.taxonomy import Annotation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneConfig:
    """Hyper-parameters of one fine-tuning run (round-trips through the model card)."""

    top_layers: int = 1
    epochs: int = 3
    batch_size: int = 16
    lr_layers: float = 1e-4
    lr_heads: float = 2e-3
    weight_decay: float = 0.01
    dropout: float = 0.1
    class_weight_power: float = 0.5  # class weights (n / n_c) ** power; 0 = unweighted
    max_tokens: int = 256
    seed: int = 0
    threads: int = 0  # 0: torch's default


class Heads(nn.Module):
    """One attention-pooling query and one linear layer per axis, over [attended | mean]."""

    def __init__(self, hidden: int, sizes: dict[str, int], dropout: float):
        super().__init__()
        self.axes = list(sizes)
        self.query = nn.Parameter(torch.zeros(len(self.axes), hidden))
        self.drop = nn.Dropout(dropout)
        self.out = nn.ModuleList(nn.Linear(2 * hidden, sizes[a]) for a in self.axes)
        self.scale = 1.0 / math.sqrt(hidden)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, labels], attention [B, axes, T]) from token states and a 0/1 mask."""
        m = mask.to(h.dtype)
        scores = torch.einsum("bth,ah->bat", h, self.query) * self.scale
        scores = scores + (1.0 - m)[:, None, :] * -1e4
        attn = torch.softmax(scores, dim=-1)
        attended = torch.einsum("bat,bth->bah", attn, h)
        mean = (h * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0)
        logits = [
            head(self.drop(torch.cat([attended[:, i], mean], dim=-1)))
            for i, head in enumerate(self.out)
        ]
        return torch.cat(logits, dim=-1), attn


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """BERT's [B, 1, 1, T] additive attention mask from a 0/1 mask."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class TopNet(nn.Module):
    """The trainable part: the top transformer layers and the heads."""

    def __init__(self, layers: Sequence[nn.Module], hidden: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.heads = Heads(hidden, {a: len(labs) for a, labs in layout()}, dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ext = additive_mask(mask, h.dtype)
        for layer in self.layers:
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
        return self.heads(h, mask)


class FullNet(nn.Module):
    """Tokens in, logits and head attention out: the graph exported to ONNX."""

    def __init__(self, bert: nn.Module, top: TopNet):
        super().__init__()
        self.bert, self.top = bert, top
        self.lower = len(bert.encoder.layer)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # the packaged lower layers through BertModel's own forward: the exported graph then has
        # the pattern ONNX Runtime fuses into its Attention operator (as for the embedder)
        h = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        return self.top(h, attention_mask)


def load_bert(model_dir: Path | None = None) -> nn.Module:
    """The packaged all-MiniLM-L6-v2 body (eager attention: the additive mask is honoured)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from litmine.onnx_embed import reference_model_dir

    hf_logging.disable_progress_bar()
    path = Path(model_dir) if model_dir else reference_model_dir()
    return AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()


def tokenizer(max_tokens: int = 256, model_dir: Path | None = None):  # noqa: ANN201
    """The packaged fast tokenizer, truncating like the reference (no padding)."""
    from tokenizers import Tokenizer

    from litmine.onnx_embed import reference_model_dir

    path = Path(model_dir) if model_dir else reference_model_dir()
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()
    return tok


@dataclass
class LowerStates:
    """Cached hidden states entering the first trainable layer, one [T_i, H] array per paper."""

    states: list[np.ndarray]  # float16

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(self.states[i]) for i in idx)
        hidden = self.states[idx[0]].shape[1]
        h = torch.zeros(len(idx), width, hidden)
        m = torch.zeros(len(idx), width)
        for r, i in enumerate(idx):
            n = len(self.states[i])
            h[r, :n] = torch.from_numpy(self.states[i].astype(np.float32))
            m[r, :n] = 1.0
        return h, m


def save_states(states: LowerStates, path: Path) -> None:
    """The cached states as one float16 block plus offsets (``np.savez``, no pickle)."""
    lengths = np.array([len(s) for s in states.states], dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, lengths=lengths, block=np.concatenate(states.states))
    tmp.replace(path)


def load_states(path: Path) -> LowerStates:
    with np.load(path, allow_pickle=False) as z:
        block, ends = z["block"], np.cumsum(z["lengths"])
    return LowerStates(
        [block[e - n : e] for e, n in zip(ends, np.diff(ends, prepend=0), strict=True)]
    )


def lower_states(
    texts: list[str], top_layers: int, max_tokens: int = 256, batch_size: int = 16
) -> LowerStates:
    """Run the frozen lower layers once over every text (length-sorted batches)."""
    bert = load_bert()
    n_layers = len(bert.encoder.layer)
    lower = _truncated(bert, n_layers - top_layers)
    enc = tokenizer(max_tokens).encode_batch(list(texts))
    lengths = np.array([len(e.ids) for e in enc])
    order = np.argsort(-lengths, kind="stable")
    out: list[np.ndarray | None] = [None] * len(texts)
    t0 = time.time()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            ids = torch.zeros(len(idx), width, dtype=torch.long)
            mask = torch.zeros(len(idx), width, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : lengths[i]] = torch.tensor(enc[i].ids)
                mask[r, : lengths[i]] = 1
            h = lower(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
            h = h.last_hidden_state  # the same forward as FullNet's at inference
            for r, i in enumerate(idx):
                out[i] = h[r, : lengths[i]].numpy().astype(np.float16)
    log.info("lower states of %d texts in %.0f s", len(texts), time.time() - t0)
    return LowerStates(out)  # type: ignore[arg-type]


def _truncated(bert: nn.Module, keep: int) -> nn.Module:
    """A shallow copy of ``bert`` whose encoder keeps only its first ``keep`` layers."""
    lower = copy.copy(bert)
    lower.encoder = copy.copy(bert.encoder)
    lower.encoder.layer = nn.ModuleList(list(bert.encoder.layer)[:keep])
    return lower


def _loss_fn(anns: Sequence[Annotation], cfg: TuneConfig) -> Callable:
    """Multi-task loss: CE for one-label axes, BCE for the others, dependent axes masked."""
    tgt = target_arrays(anns)
    spans = dict(_spans())
    weights = {}
    for axis, labels in layout():
        mask, y = tgt[axis]
        if axis in HEAD_AXES.single:
            counts = np.bincount(y[mask & (y >= 0)], minlength=len(labels)).astype(float)
            w = (counts.sum() / np.maximum(counts, 1.0)) ** cfg.class_weight_power
            weights[axis] = torch.tensor(w / w[counts > 0].mean(), dtype=torch.float32)
        else:
            pos = y[mask].sum(0).astype(float)
            neg = mask.sum() - pos
            weights[axis] = torch.tensor(
                (np.maximum(neg, 1.0) / np.maximum(pos, 1.0)) ** cfg.class_weight_power,
                dtype=torch.float32,
            )
    tensors = {a: (torch.from_numpy(m), torch.from_numpy(y)) for a, (m, y) in tgt.items()}

    def loss(logits: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        total = logits.new_zeros(())
        for axis, (lo, hi) in spans.items():
            m, y = tensors[axis]
            m, y = m[rows], y[rows]
            if axis in HEAD_AXES.single:
                m = m & (y >= 0)
                if m.any():
                    total = total + nn.functional.cross_entropy(
                        logits[m, lo:hi], y[m], weight=weights[axis]
                    )
            elif m.any():
                total = total + nn.functional.binary_cross_entropy_with_logits(
                    logits[m, lo:hi], y[m].float(), pos_weight=weights[axis]
                )
        return total

    return loss


def _spans() -> list[tuple[str, tuple[int, int]]]:
    out, lo = [], 0
    for axis, labels in layout():
        out.append((axis, (lo, lo + len(labels))))
        lo += len(labels)
    return out


def fit(
    states: LowerStates,
    anns: Sequence[Annotation],
    rows: Sequence[int],
    cfg: TuneConfig,
    progress: Callable[[int], None] | None = None,
) -> TopNet:
    """Train a fresh copy of the top layers and the heads on ``rows`` of the cached states."""
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    bert = load_bert()
    top_layers = copy.deepcopy(
        list(bert.encoder.layer)[-cfg.top_layers :] if cfg.top_layers else []
    )
    net = TopNet(top_layers, bert.config.hidden_size, cfg.dropout)
    loss_fn = _loss_fn(anns, cfg)
    opt = torch.optim.AdamW(
        [
            {"params": net.layers.parameters(), "lr": cfg.lr_layers},
            {"params": net.heads.parameters(), "lr": cfg.lr_heads},
        ],
        weight_decay=cfg.weight_decay,
    )
    rows = np.asarray(rows)
    rng = np.random.default_rng(cfg.seed)
    steps = cfg.epochs * math.ceil(len(rows) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[cfg.lr_layers, cfg.lr_heads], total_steps=max(steps, 1), pct_start=0.1
    )
    lengths = np.array([len(states.states[i]) for i in rows])
    net.train()
    for epoch in range(cfg.epochs):
        t0, seen, total = time.time(), 0, 0.0
        for batch in _length_buckets(lengths, cfg.batch_size, rng):
            idx = rows[batch]
            h, m = states.batch(idx)
            logits, _ = net(h, m)
            loss = loss_fn(logits, idx)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            seen += len(idx)
            total += float(loss.detach()) * len(idx)
            if progress:
                progress(len(idx))
        log.info(
            "epoch %d/%d: loss %.4f, %.0f s", epoch + 1, cfg.epochs, total / seen, time.time() - t0
        )
    return net.eval()


def _length_buckets(lengths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length (little padding), in shuffled order."""
    noisy = lengths + rng.uniform(0, 8, len(lengths))
    order = np.argsort(noisy)
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def predict_logits(net: TopNet, states: LowerStates, rows: Sequence[int], batch: int = 32):
    """(logits [n, labels], head attention list) of ``rows`` under a trained net."""
    rows = list(rows)
    order = sorted(range(len(rows)), key=lambda k: len(states.states[rows[k]]))
    logits = np.zeros((len(rows), sum(len(lab) for _, lab in layout())), np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch):
            ks = order[s : s + batch]
            h, m = states.batch([rows[k] for k in ks])
            out, _ = net(h, m)
            logits[ks] = out.numpy()
    return logits


def cross_validate(
    states: LowerStates,
    anns: Sequence[Annotation],
    split: list[tuple[np.ndarray, np.ndarray]],
    cfg: TuneConfig,
    checkpoint_dir: Path | None = None,
) -> np.ndarray:
    """Out-of-fold logits on the given folds; each finished fold is saved and reused on rerun."""
    n_labels = sum(len(lab) for _, lab in layout())
    oof = np.zeros((len(anns), n_labels), np.float32)
    for k, (tr, te) in enumerate(split):
        ckpt = checkpoint_dir / f"fold{k}.npy" if checkpoint_dir else None
        if ckpt and ckpt.exists():
            oof[te] = np.load(ckpt)
            log.info("fold %d/%d: reused %s", k + 1, len(split), ckpt)
            continue
        log.info("fold %d/%d: training on %d papers", k + 1, len(split), len(tr))
        net = fit(states, anns, tr, cfg)
        oof[te] = predict_logits(net, states, te)
        if ckpt:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp.npy")
            np.save(tmp, oof[te])
            tmp.replace(ckpt)
    return oof


def save_top(net: TopNet, cfg: TuneConfig, path: Path) -> None:
    """The trained top layers and heads as safetensors (no code runs on load)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"config": json.dumps(asdict(cfg))})
    tmp.replace(path)


def load_top(path: Path) -> tuple[TopNet, TuneConfig]:
    """A saved :class:`TopNet` on top of the packaged layers it replaces."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        cfg = TuneConfig(**json.loads(f.metadata()["config"]))
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    bert = load_bert()
    top_layers = copy.deepcopy(
        list(bert.encoder.layer)[-cfg.top_layers :] if cfg.top_layers else []
    )
    net = TopNet(top_layers, bert.config.hidden_size, cfg.dropout)
    net.load_state_dict(tensors, strict=True)
    return net.eval(), cfg


def full_net(net: TopNet, cfg: TuneConfig) -> FullNet:
    """Packaged lower layers + the trained top: tokens in, logits and attention out."""
    bert = load_bert()
    return FullNet(_truncated(bert, len(bert.encoder.layer) - cfg.top_layers), net).eval()
