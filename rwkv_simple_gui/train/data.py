"""Training samples from a binidx dataset: the ``pad`` / ``only`` / ``get`` modes and the loss masks.

An epoch is one pass over the documents (pad/only) or ``epoch_steps`` random slices (get). Batches are
planned per optimizer step for all ranks at once, so a run on N processes sees exactly the documents a
one-process run with N times the micro batch sees, in the same order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rwkv_simple_gui.data.stats import align_tokens


@dataclass(frozen=True)
class DataInfo:
    prefix: str
    n_docs: int
    num_tokens: int
    max_doc_len: int
    tokenizer: str


@dataclass
class Batch:
    """One micro batch: inputs ``x``, targets ``y`` and per-target loss weights ``w`` (all [B, T])."""

    x: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    tokens: int  # real (non-padding) input tokens

    @property
    def weight(self) -> float:
        return float(self.w.sum())


def open_dataset(prefix):
    from rwkv_simple_gui.data.binidx import read_binidx

    prefix = str(prefix)
    for ext in (".bin", ".idx"):
        if not Path(prefix + ext).is_file():
            raise FileNotFoundError(f"dataset {prefix}{ext} not found: data_path must be a binidx prefix "
                                    f"(the path without .bin/.idx) written by the tokenize step")
    return read_binidx(prefix)


def tokenizer_spec(prefix) -> str:
    """The tokenizer the dataset was written with (PREFIX.meta.json), "world" when not recorded."""
    meta = Path(str(prefix) + ".meta.json")
    if meta.is_file():
        try:
            tok = json.loads(meta.read_text(encoding="utf-8")).get("tokenizer") or "world"
        except (json.JSONDecodeError, AttributeError):
            raise ValueError(f"{meta}: not a valid JSON object; re-run the tokenize step") from None
        # the tokenize step records the tokenizer's identity: {"kind", "name", "vocab_size", "spec"}
        return tok.get("spec") or "world" if isinstance(tok, dict) else str(tok)
    return "world"


def data_info(prefix) -> DataInfo:
    from rwkv_simple_gui.data.preference import pair_layout

    ds = open_dataset(prefix)
    sizes = np.asarray(ds.sizes)
    layout = pair_layout(ds)
    if layout is not None:  # a pair's longest sequence is its prompt and its longer reply
        prompt, chosen = layout
        sizes = prompt + np.maximum(chosen, sizes - prompt - chosen)
    return DataInfo(str(prefix), int(len(ds)), int(ds.num_tokens), int(sizes.max()) if len(sizes) else 0,
                    tokenizer_spec(prefix))


def find_all(tokens: np.ndarray, pattern: list[int]) -> np.ndarray:
    """Start positions of every occurrence of the token sequence ``pattern`` in ``tokens``."""
    n, k = len(tokens), len(pattern)
    if k == 0 or n < k:
        return np.zeros(0, dtype=np.int64)
    hits = np.ones(n - k + 1, dtype=bool)
    for j, t in enumerate(pattern):
        hits &= tokens[j:n - k + 1 + j] == t
    return np.flatnonzero(hits)


def toggle_mask(tokens: np.ndarray, off: list[int], on: list[int]) -> np.ndarray:
    """Per-position 0/1: 0 from the start and from each ``off`` sequence, 1 from each ``on`` sequence.

    The ``on`` marker itself is inside the learned part (as RWKV-PEFT's qa mask), so the model learns
    to begin its reply and, via the final EOF token, to end it.
    """
    events = [(int(p), 0.0) for p in find_all(tokens, off)] + [(int(p), 1.0) for p in find_all(tokens, on)]
    mask = np.zeros(len(tokens), dtype=np.float32)
    for start, value in sorted(events):
        mask[start:] = value
    return mask


class MaskBuilder:
    """Loss weights per target position for the ``qa`` and ``se`` masks, from the dataset's tokenizer."""

    def __init__(self, kind: str, tokenizer_spec: str = "world", mask0: str = "User:", mask1: str = "Assistant:"):
        self.kind = kind
        if kind in ("qa", "se"):
            from rwkv_simple_gui.data.tokenizer import get_tokenizer

            tok = get_tokenizer(tokenizer_spec)
            off, on = ("User:", "Assistant:") if kind == "qa" else (mask0, mask1)
            self.off, self.on = tok.encode(off), tok.encode(on)

    def target_weights(self, doc: np.ndarray) -> np.ndarray | None:
        """Weights for targets doc[1:], or None for "every target"."""
        if self.kind not in ("qa", "se"):
            return None
        m = toggle_mask(doc, self.off, self.on)[1:]
        # a document without any marked turn is learned whole rather than silently ignored
        return m if m.any() else None


def held_out_count(n_docs: int, fraction: float) -> int:
    """Documents a val_split of ``fraction`` holds out: at least one, and never all."""
    if fraction <= 0 or n_docs < 2:
        return 0
    return min(max(round(n_docs * fraction), 1), n_docs - 1)


def split_documents(n_docs: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) document numbers, each in file order; the held-out ones drawn with ``seed``."""
    held = np.sort(np.random.default_rng([seed, 0x7A1]).permutation(n_docs)[:held_out_count(n_docs, fraction)])
    return np.setdiff1d(np.arange(n_docs), held), held


class Documents:
    """pad / only: one document per sample, cut to ctx_len + 1 tokens; ``docs`` are the document numbers of
    the dataset it draws from (default: all), so sample i is document ``docs[i]``."""

    def __init__(self, ds, ctx_len: int, masks: MaskBuilder, pad_to_ctx: bool, docs=None):
        self.ds, self.ctx_len, self.masks, self.pad_to_ctx = ds, ctx_len, masks, pad_to_ctx
        self.docs = np.arange(len(ds)) if docs is None else np.asarray(docs, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.docs)

    def batch(self, indices: list[int]) -> Batch:
        docs = [np.asarray(self.ds[int(self.docs[i])][: self.ctx_len + 1], dtype=np.int64) for i in indices]
        longest = max(len(d) - 1 for d in docs)
        T = self.ctx_len if self.pad_to_ctx else min(self.ctx_len, align_tokens(max(longest, 1)))
        x = np.zeros((len(docs), T), dtype=np.int64)
        y = np.zeros((len(docs), T), dtype=np.int64)
        w = np.zeros((len(docs), T), dtype=np.float32)
        for b, d in enumerate(docs):
            n = len(d) - 1
            x[b, :n], y[b, :n] = d[:-1], d[1:]
            m = self.masks.target_weights(d)
            w[b, :n] = 1.0 if m is None else m
        return Batch(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w), sum(len(d) - 1 for d in docs))


class Slices:
    """get: contiguous ctx_len + 1 token windows at random offsets of the whole token stream."""

    def __init__(self, ds, ctx_len: int):
        self.tokens, self.ctx_len = ds.tokens, ctx_len
        if len(self.tokens) <= ctx_len + 1:
            raise ValueError(f"the dataset has {len(self.tokens)} tokens, fewer than ctx_len+1={ctx_len + 1}: "
                             f"lower ctx_len or use dataload pad")

    def batch(self, offsets: list[int]) -> Batch:
        win = np.stack([np.asarray(self.tokens[o:o + self.ctx_len + 1], dtype=np.int64) for o in offsets])
        x, y = torch.from_numpy(win[:, :-1].copy()), torch.from_numpy(win[:, 1:].copy())
        return Batch(x, y, torch.ones(x.shape, dtype=torch.float32), x.numel())


@dataclass(frozen=True)
class Plan:
    """How an epoch splits into optimizer steps and micro batches, for ``world`` ranks."""

    micro_bsz: int
    mini_bsz: int
    world: int
    micro_steps: int  # micro batches per rank per epoch

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.micro_steps / self.mini_bsz)

    def step_slices(self, step: int) -> range:
        """Micro-step numbers (within the epoch) that make up optimizer step ``step`` of the epoch."""
        return range(step * self.mini_bsz, min((step + 1) * self.mini_bsz, self.micro_steps))


def make_plan(cfg, n_docs: int, world: int) -> Plan:
    if cfg.dataload == "get":
        micro_steps = cfg.epoch_steps
    else:
        micro_steps = math.ceil(n_docs / (cfg.micro_bsz * world))
    return Plan(cfg.micro_bsz, cfg.mini_bsz, world, micro_steps)


class EpochSampler:
    """The samples of each micro step of an epoch, for one rank; identical plans on every rank."""

    def __init__(self, cfg, source, plan: Plan, rank: int, seed: int):
        self.cfg, self.source, self.plan, self.rank, self.seed = cfg, source, plan, rank, seed
        self._epoch, self._order = None, None

    def _prepare(self, epoch: int) -> None:
        if self._epoch == epoch:
            return
        per_micro = self.plan.micro_bsz * self.plan.world
        needed = self.plan.micro_steps * per_micro
        rng = np.random.default_rng([self.seed, epoch])
        if isinstance(self.source, Slices):
            self._order = rng.integers(0, len(self.source.tokens) - self.cfg.ctx_len - 1, size=needed)
        else:
            n = len(self.source)
            order = rng.permutation(n) if self.cfg.data_shuffle else np.arange(n)
            # the last global micro batch is filled up from the start of the order, as DistributedSampler does
            self._order = np.resize(order, needed)
        self._epoch = epoch

    def batch(self, epoch: int, micro_step: int) -> Batch:
        self._prepare(epoch)
        start = (micro_step * self.plan.world + self.rank) * self.plan.micro_bsz
        return self.source.batch(self._order[start:start + self.plan.micro_bsz].tolist())


def build_source(cfg, ds, tokenizer: str = "world", docs=None):
    """The training samples: windows of the token stream (get), the documents ``docs`` (default: all), or for
    dpo / orpo the pairs ``docs``."""
    if cfg.stage != "sft":  # dpo / orpo: pairs of replies
        from .preference import Pairs

        return Pairs(ds, cfg.ctx_len, docs)
    if cfg.dataload == "get":
        return Slices(ds, cfg.ctx_len)
    masks = MaskBuilder(cfg.loss_mask, tokenizer, cfg.mask0, cfg.mask1)
    return Documents(ds, cfg.ctx_len, masks, pad_to_ctx=cfg.dataload == "pad", docs=docs)
