"""Training samples from a binidx dataset: the ``pad`` / ``only`` / ``get`` modes and the loss masks.

An epoch is ``epoch_steps`` micro-batches (auto: one pass over the documents), see :class:`Plan`. Batches are
planned per optimizer step for all ranks at once, so a run on N processes sees exactly the documents a
one-process run with N times the micro batch sees, in the same order.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rwkv_simple_gui.data import masks
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


class MaskBuilder:
    """Loss weights per target position under ``loss_mask`` (data/masks.py decides: qa knows the chat template's
    roles, se toggles on mask0/mask1), with the dataset's tokenizer."""

    def __init__(self, kind: str, tokenizer_spec: str = "world", mask0: str = "User:", mask1: str = "Assistant:"):
        self.kind, self.mask0, self.mask1 = kind, mask0, mask1
        self.tokenizer = None
        if kind in ("qa", "se"):
            from rwkv_simple_gui.data.tokenizer import get_tokenizer

            self.tokenizer = get_tokenizer(tokenizer_spec)

    def target_weights(self, doc: np.ndarray) -> np.ndarray | None:
        """Weights for targets doc[1:], or None for "every target"."""
        if self.tokenizer is None:
            return None
        return masks.target_weights(self.kind, self.tokenizer, doc, self.mask0, self.mask1)


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
    the dataset it draws from (default: all), so sample i is document ``docs[i]``.

    ``fill_window`` (pad with loss_mask none, as RWKV-PEFT reads pad): the sample is the ctx_len + 1 tokens from
    the document's start, running on into the documents after it (past the end of the data, into the first
    one), and every one of them is learned."""

    def __init__(self, ds, ctx_len: int, masks: MaskBuilder, pad_to_ctx: bool, docs=None, fill_window=False):
        self.ds, self.ctx_len, self.masks, self.pad_to_ctx = ds, ctx_len, masks, pad_to_ctx
        self.fill_window = fill_window
        self.docs = np.arange(len(ds)) if docs is None else np.asarray(docs, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.docs)

    def _window(self, doc: int) -> np.ndarray:
        need, tokens = self.ctx_len + 1, self.ds.tokens
        start = int(self.ds.pointers[doc]) // self.ds.dtype.itemsize
        if start + need <= len(tokens):
            return np.asarray(tokens[start:start + need], dtype=np.int64)
        size, first = int(self.ds.sizes[doc]), int(self.ds.pointers[0]) // self.ds.dtype.itemsize
        return np.concatenate([tokens[start:start + size], tokens[first:first + need - size]]).astype(np.int64)

    def batch(self, indices: list[int]) -> Batch:
        if self.fill_window:
            docs = [self._window(int(self.docs[i])) for i in indices]
        else:
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
    """How a run splits into epochs, optimizer steps and micro-batches, counted as RWKV-PEFT counts them; made by
    :func:`make_plan`, the one place these counts are computed (the trainer, ``--dry-run``, the GUI check, the
    step budget and the presets all read a Plan).

    An epoch is ``epoch_steps`` micro-batches of ``micro_bsz`` samples for all ``world`` processes together
    (RWKV-PEFT's dataset has epoch_steps x micro_bsz samples, shared by the devices): ``samples`` per epoch,
    ``micro_steps`` micro-batches on each process. Each ``mini_bsz`` micro-batches make one optimizer step
    (MINI_BSZ is Lightning's accumulate_grad_batches; an epoch's last step takes the micro-batches that remain).
    For pad/only, sample i of an epoch is document i of its ``documents`` (shuffled when data_shuffle is 1), as
    RWKV-PEFT indexes documents 0 .. epoch_steps x micro_bsz - 1. Epochs ``epoch_begin`` .. ``last_epoch`` are
    trained, and the learning-rate schedule spans ``total_steps`` (counted from the run's epoch 0, so a run that
    continues at epoch_begin continues the schedule); ``until_stopped``: get goes on after the last epoch.
    """

    micro_bsz: int
    mini_bsz: int
    world: int
    micro_steps: int          # micro-batches per process per epoch
    samples: int = 0          # samples per epoch, all processes together: epoch_steps x micro_bsz
    documents: int = 0        # documents an epoch draws from (pad/only; 0 for get windows)
    epoch_begin: int = 0
    epoch_count: int = 1
    until_stopped: bool = False

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.micro_steps / self.mini_bsz)

    @property
    def last_epoch(self) -> int:
        """The last epoch of epoch_count (with until_stopped the run goes on after it)."""
        return self.epoch_begin + self.epoch_count - 1

    @property
    def first_step(self) -> int:
        return self.steps_per_epoch * self.epoch_begin

    @property
    def total_steps(self) -> int:
        """The step the learning-rate schedule ends at (and the run, unless until_stopped)."""
        return self.steps_per_epoch * (self.epoch_begin + self.epoch_count)

    def epochs(self):
        """The epoch numbers to train, in order (endless when until_stopped)."""
        return itertools.count(self.epoch_begin) if self.until_stopped else range(self.epoch_begin,
                                                                                   self.last_epoch + 1)

    def saves(self, epoch: int, epoch_save: int) -> bool:
        """Whether the end of ``epoch`` writes its checkpoint: every epoch_save epochs, and the last one."""
        return (epoch + 1) % epoch_save == 0 or (epoch == self.last_epoch and not self.until_stopped)

    def step_slices(self, step: int) -> range:
        """Micro-step numbers (within the epoch) that make up optimizer step ``step`` of the epoch."""
        return range(step * self.mini_bsz, min((step + 1) * self.mini_bsz, self.micro_steps))

    def to_dict(self) -> dict:
        return {"micro_steps_per_epoch": self.micro_steps, "steps_per_epoch": self.steps_per_epoch,
                "samples_per_epoch": self.samples, "documents_per_epoch": self.documents,
                "first_epoch": self.epoch_begin, "last_epoch": self.last_epoch, "epochs": self.epoch_count,
                "first_step": self.first_step, "total_steps": self.total_steps,
                "steps_this_run": self.total_steps - self.first_step, "until_stopped": self.until_stopped,
                "samples_per_step": self.micro_bsz * self.mini_bsz * self.world}


def make_plan(cfg, n_docs: int, world: int) -> Plan:
    """The Plan of ``cfg`` on a dataset of ``n_docs`` training documents with ``world`` processes.

    epoch_steps auto is the seed's formula, documents / micro_bsz (rounded up: every document is read once per
    epoch; the last global micro-batch is filled from the start of the order). A number set counts as in
    RWKV-PEFT: its epoch_steps x micro_bsz samples are split over the processes, each making whole micro-batches.
    """
    micro, given = cfg.micro_bsz, cfg.epoch_steps_set
    epoch_steps = given if given is not None else max(1, math.ceil(n_docs / micro))
    samples = epoch_steps * micro
    if given is None:
        micro_steps = math.ceil(samples / (micro * world))
    else:
        micro_steps = max(1, math.ceil(samples / world) // micro)
    until_stopped = cfg.dataload == "get" and bool(cfg.run_until_stopped)
    documents = 0 if cfg.dataload == "get" else min(samples, n_docs)
    return Plan(micro, cfg.mini_bsz, world, micro_steps, samples, documents, cfg.epoch_begin, cfg.epoch_count,
                until_stopped)


def plan_warnings(cfg, plan: Plan, n_docs: int) -> list[str]:
    """What a set epoch_steps does with the documents that the user may not expect."""
    out = []
    if cfg.epoch_steps_set is None or cfg.dataload == "get":
        return out
    every = math.ceil(n_docs / cfg.micro_bsz)
    if plan.samples < n_docs:
        out.append(f"epoch_steps {cfg.epoch_steps} x micro_bsz {cfg.micro_bsz} = {plan.samples} samples per epoch: "
                   f"documents {plan.samples}-{n_docs - 1} of the {n_docs} are never trained on (as in RWKV-PEFT, "
                   f"which reads documents 0 .. epoch_steps x micro_bsz - 1); set epoch_steps auto (or {every}) to "
                   f"read every document")
    elif plan.samples > n_docs:
        out.append(f"epoch_steps {cfg.epoch_steps} x micro_bsz {cfg.micro_bsz} = {plan.samples} samples per epoch, "
                   f"more than the {n_docs} documents: RWKV-PEFT would stop with an IndexError here; this run reads "
                   f"documents again from the start of the epoch's order. Set epoch_steps auto (or {every}) to read "
                   f"each document once")
    return out


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
            pool = self.plan.documents or len(self.source)
            order = rng.permutation(pool) if self.cfg.data_shuffle else np.arange(pool)
            # an epoch that needs more samples than there are documents (the last global micro batch, or a set
            # epoch_steps) reads the order again from its start, as DistributedSampler pads
            self._order = np.resize(order, needed)
        self._epoch = epoch

    def batch(self, epoch: int, micro_step: int) -> Batch:
        self._prepare(epoch)
        start = (micro_step * self.plan.world + self.rank) * self.plan.micro_bsz
        return self.source.batch(self._order[start:start + self.plan.micro_bsz].tolist())


def build_source(cfg, ds, tokenizer: str = "world", docs=None):
    """The SFT samples: windows of the token stream (get) or the documents ``docs`` (default: all). dpo / orpo
    read pairs instead (``preference.Pairs``, picked by the Trainer and the validation set)."""
    if cfg.dataload == "get":
        return Slices(ds, cfg.ctx_len)
    masks = MaskBuilder(cfg.loss_mask, tokenizer, cfg.mask0, cfg.mask1)
    pad = cfg.dataload == "pad"
    return Documents(ds, cfg.ctx_len, masks, pad_to_ctx=pad, docs=docs, fill_window=pad and cfg.loss_mask == "none")
