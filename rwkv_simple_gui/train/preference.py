"""Preference tuning: DPO and ORPO on pairs of replies to one prompt (``stage dpo|orpo``).

Only reply tokens are scored; a reply's log-probability is the sum of its tokens' log-probabilities.

- DPO: ``-log σ(β [(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])``; the reference π_ref is the base model:
  the same model with its adapter switched off (every trained parameter set to the value at which the method
  adds nothing), so no second copy of the model is held. The reference's log-probabilities never change, so
  each pair's are computed once and kept.
- ORPO: ``−mean log π(c) + λ · −log σ(log odds(c) − log odds(r))``, odds(y) = p / (1 − p) of the mean per-token
  log-probability p = exp(log π(y) / |y|).

``reward_margin`` is the term inside σ (DPO: β times the log-ratio difference; ORPO: the log odds ratio),
``reward_acc`` the share of pairs whose margin is above 0 (chosen above rejected).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from rwkv_simple_gui.data.preference import pair_layout
from rwkv_simple_gui.data.stats import align_tokens

from .data import Batch
from .loss import L2Wrap

STAT_KEYS = ("reward_margin", "reward_acc", "logp_chosen", "logp_rejected")


# --- the losses, on per-pair log-probabilities ---------------------------------------------------


def dpo_loss(policy_c, policy_r, ref_c, ref_r, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss per pair, margin per pair) of DPO from the summed reply log-probabilities."""
    margin = beta * ((policy_c - ref_c) - (policy_r - ref_r))
    return -F.logsigmoid(margin), margin


def log_odds(mean_logp: torch.Tensor) -> torch.Tensor:
    """log(p / (1 - p)) of p = exp(mean_logp); log(1 - p) as log(-expm1), exact near p = 1 (capped below 1)."""
    mean_logp = mean_logp.clamp(max=-1e-6)
    return mean_logp - torch.log(-torch.expm1(mean_logp))


def orpo_loss(policy_c, policy_r, tokens_c, tokens_r, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss per pair, margin per pair) of ORPO from the summed reply log-probabilities and the reply lengths."""
    mean_c, mean_r = policy_c / tokens_c.clamp(min=1), policy_r / tokens_r.clamp(min=1)
    margin = log_odds(mean_c) - log_odds(mean_r)
    return -mean_c - lam * F.logsigmoid(margin), margin


# --- pairs as batches --------------------------------------------------------------------------------


@dataclass
class PairBatch(Batch):
    """2B rows, the B chosen sequences (prompt + chosen reply) then the B rejected ones; ``w`` is 1 on reply
    targets. ``ids`` name the pairs (for the reference cache ``cache`` of their source)."""

    ids: list = field(default_factory=list)
    cache: dict = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return len(self.ids)

    @property
    def weight(self) -> float:  # the loss of a step is the mean over its pairs
        return float(self.pairs)


class Pairs:
    """The pairs of a preference binidx (``docs``: the item numbers drawn from, default all), each sequence cut
    to ctx_len + 1 tokens."""

    def __init__(self, ds, ctx_len: int, docs=None):
        layout = pair_layout(ds)
        if layout is None:
            raise ValueError("the dataset is not a preference dataset (its meta.json has no pair layout): tokenize "
                             "a file of prompt/chosen/rejected records")
        self.ds, self.ctx_len, (self.prompt_len, self.chosen_len) = ds, ctx_len, layout
        self.docs = np.arange(len(ds)) if docs is None else np.asarray(docs, dtype=np.int64)
        self.cache: dict[int, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self.docs)

    def sequences(self, doc: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(prompt length, prompt + chosen, prompt + rejected) of item ``doc``, uncut."""
        item = np.asarray(self.ds[doc], dtype=np.int64)
        p, c = int(self.prompt_len[doc]), int(self.chosen_len[doc])
        return p, item[:p + c], np.concatenate([item[:p], item[p + c:]])

    def batch(self, indices: list[int]) -> PairBatch:
        docs = [int(self.docs[i]) for i in indices]
        rows, prompts = [[], []], []
        for doc in docs:
            p, chosen, rejected = self.sequences(doc)
            rows[0].append(chosen[: self.ctx_len + 1])
            rows[1].append(rejected[: self.ctx_len + 1])
            prompts.append(p)
        seqs, starts = rows[0] + rows[1], prompts + prompts
        T = min(self.ctx_len, align_tokens(max(max(len(s) - 1 for s in seqs), 1)))
        x, y = np.zeros((len(seqs), T), np.int64), np.zeros((len(seqs), T), np.int64)
        w = np.zeros((len(seqs), T), np.float32)
        for b, (s, p) in enumerate(zip(seqs, starts)):
            n = len(s) - 1
            x[b, :n], y[b, :n] = s[:-1], s[1:]
            w[b, max(p - 1, 0):n] = 1.0  # targets y[t] = s[t + 1] that are reply tokens
        return PairBatch(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w),
                         sum(len(s) - 1 for s in seqs), ids=docs, cache=self.cache)


# --- the reference: the adapter switched off ----------------------------------------------------------


def off_values(model, base_path) -> dict[str, torch.Tensor]:
    """For each trained parameter, the value at which the model is its base: zero for a LoRA B, a DiSHA
    block and an initial state; PiSSA's starting A, B (they add back what its frozen residual lacks); the
    base file's tensor for a trained base parameter (train_parts). A LoRA A is left as is (B = 0 cancels it)."""
    from rwkv_simple_gui import peft
    from rwkv_simple_gui.model.lazy import LazyStateDict
    from rwkv_simple_gui.peft.pissa import PissaLinear

    out, base = {}, None
    for name, p in peft.trainable_parameters(model).items():
        owner_name, _, leaf = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        if isinstance(owner, PissaLinear) and leaf in ("lora_A", "lora_B"):
            out[name] = getattr(owner, f"init_{leaf[-1]}").to(p)
        elif leaf in ("lora_B", "disha", "time_state"):
            out[name] = torch.zeros_like(p)
        elif leaf != "lora_A":
            base = base or LazyStateDict(base_path)
            out[name] = base.load(name).to(p).reshape(p.shape)
    return out


class Reference:
    """``with reference():`` the model is its base; the trained values are swapped back in afterwards (no copy)."""

    def __init__(self, model, base_path):
        params = dict(model.named_parameters())
        self.swaps = [(params[name], value) for name, value in off_values(model, base_path).items()]

    @contextlib.contextmanager
    def __call__(self):
        trained = [p.data for p, _ in self.swaps]
        try:
            for p, off in self.swaps:
                p.data = off
            yield
        finally:
            for (p, _), value in zip(self.swaps, trained):
                p.data = value


# --- one micro batch ----------------------------------------------------------------------------------


def reply_logps(net, batch_x, batch_y, batch_w, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed reply log-probability per row, logits) of one forward pass."""
    with autocast():
        logits, _ = net(batch_x, None)
    logp = -F.cross_entropy(logits.float().flatten(0, 1), batch_y.flatten(), reduction="none").view_as(batch_y)
    return (logp * batch_w).sum(1), logits


class Objective:
    """DPO or ORPO for the trainer: :meth:`forward_backward` replaces the SFT one (same signature), and
    :meth:`metrics` gives the pair statistics since its last call."""

    def __init__(self, cfg, model):
        self.stage, self.beta, self.model = cfg.stage, cfg.pref_beta, model
        self.reference = Reference(model, cfg.model_path) if cfg.stage == "dpo" else None
        self._sums = dict.fromkeys(("pairs", *STAT_KEYS), 0.0)

    def reference_logps(self, batch: PairBatch, x, y, w, autocast) -> tuple[torch.Tensor, torch.Tensor]:
        B = batch.pairs
        if not all(i in batch.cache for i in batch.ids):
            with torch.no_grad(), self.reference():
                ref, _ = reply_logps(self.model, x, y, w, autocast)
            for i, c, r in zip(batch.ids, ref[:B].tolist(), ref[B:].tolist()):
                batch.cache[i] = (c, r)
        ref = torch.tensor([batch.cache[i] for i in batch.ids], dtype=torch.float32, device=x.device)
        return ref[:, 0], ref[:, 1]

    def losses(self, logps: torch.Tensor, batch: PairBatch, x, y, w, autocast):
        B = batch.pairs
        policy_c, policy_r = logps[:B], logps[B:]
        if self.stage == "dpo":
            ref_c, ref_r = self.reference_logps(batch, x, y, w, autocast)
            loss, margin = dpo_loss(policy_c, policy_r, ref_c, ref_r, self.beta)
        else:
            tokens = w.sum(1)
            loss, margin = orpo_loss(policy_c, policy_r, tokens[:B], tokens[B:], self.beta)
        return loss, margin, policy_c, policy_r

    def forward_backward(self, net, batch, cfg, device, scale: float, autocast, backward,
                         last: bool = True) -> tuple[float, int]:
        """Loss sum over the batch's pairs and its real token count; ``backward(loss * scale, last)`` once."""
        if not isinstance(batch, PairBatch) or not batch.pairs:  # an empty validation round keeps ranks in step
            with torch.no_grad():
                net(batch.x.to(device), None)
            return 0.0, 0
        x, y, w = batch.x.to(device), batch.y.to(device), batch.w.to(device)
        real = (w > 0).any(0).nonzero()
        T = min(x.shape[1], math.ceil((int(real[-1]) + 1 if len(real) else 1) / 16) * 16)
        x, y, w = x[:, :T], y[:, :T], w[:, :T]
        logps, logits = reply_logps(net, x, y, w, autocast)
        loss, margin, policy_c, policy_r = self.losses(logps, batch, x, y, w, autocast)
        total = loss.sum()
        # RWKV's logit push (L2Wrap), spread over each sequence's reply tokens
        total = L2Wrap.apply(total, logits, w / w.sum(1, keepdim=True).clamp(min=1))
        backward(total * scale, last)
        with torch.no_grad():
            for key, value in (("pairs", batch.pairs), ("reward_margin", margin.sum()),
                               ("reward_acc", (margin > 0).sum()), ("logp_chosen", policy_c.sum()),
                               ("logp_rejected", policy_r.sum())):
                self._sums[key] += float(value)
        return float(total.detach()), batch.tokens

    def metrics(self, dist, prefix: str = "") -> dict:
        """The mean of each pair statistic (all ranks together) since the last call."""
        sums = {k: dist.sum(v) for k, v in self._sums.items()}
        self._sums = dict.fromkeys(self._sums, 0.0)
        n = sums.pop("pairs")
        return {prefix + k: v / n for k, v in sums.items()} if n else {}


def objective(cfg, model) -> Objective | None:
    """The preference objective of ``cfg.stage``, or None for sft."""
    return None if cfg.stage == "sft" else Objective(cfg, model)
