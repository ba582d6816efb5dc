"""Fresh RWKV weights following the RWKV-LM initialisation scheme (reference §2 "Fresh init").

x070 follows RWKV-LM ``RWKV-v7/train_temp``; x060 follows RWKV-LM's v6 ``RWKV_Tmix_x060`` /
``RWKV_CMix_x060`` and the shared ``generate_init_weight`` rules for 2-D matrices. Both give a model
whose blocks start as the identity (att.output and ffn.value are zero), so a fresh model predicts
from the embedding alone and trains smoothly from there.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from .rwkv import RWKV, ModelInfo

# 2-D weights by name suffix -> orthogonal gain (0 means zeros), the generate_init_weight rules
_MATRIX_SCALE = {
    "x070": {"att.receptance.weight": 1.0, "att.key.weight": 0.1, "att.value.weight": 1.0, "att.output.weight": 0.0,
             "ffn.key.weight": 1.0, "ffn.value.weight": 0.0},
    "x060": {"att.receptance.weight": 1.0, "att.key.weight": 0.1, "att.value.weight": 1.0, "att.gate.weight": 0.1,
             "att.output.weight": 0.0, "ffn.key.weight": 1.0, "ffn.receptance.weight": 0.0, "ffn.value.weight": 0.0},
}
EMB_SCALE = 1e-4


def init_model(version: str, n_layer: int, n_embd: int, vocab_size: int = 65536, head_size: int = 64,
               seed: int = 0, *, perturb: float = 0.0, op: str = "auto", device: str | torch.device = "cpu",
               progress: Callable[[int, int], None] | None = None) -> RWKV:
    """A new fp32 RWKV model of this shape with RWKV-LM's initial weights, reproducible from ``seed``.

    ``perturb`` > 0 adds N(0, perturb^2) noise to every matrix of the blocks, so that no block starts as
    the identity and every weight matters (for demos and adapter tests: a plain fresh init has att.output
    and ffn.value at zero). ``progress(layers_done, n_layer)`` is called after each block (large models
    take a while). ``device="cuda"`` makes the weights on the GPU (a 1.5B model in seconds instead of
    minutes); its random numbers differ from the CPU's for the same seed.
    """
    if perturb < 0:
        raise ValueError(f"perturb must be >= 0, not {perturb}")
    info = ModelInfo.for_shape(version, n_layer, n_embd, vocab_size, head_size)
    with torch.device(device):
        model = RWKV(info, op)
    gen = torch.Generator(device).manual_seed(seed)
    with torch.no_grad():
        _init_weights(model, gen, progress)
        if perturb:
            for p in model.blocks.parameters():
                if p.ndim == 2:
                    p.add_(torch.randn(p.shape, generator=gen, device=p.device) * perturb)
    info.n_params = sum(p.numel() for p in model.parameters())
    return model


def _orthogonal(p: torch.Tensor, scale: float, gen: torch.Generator) -> None:
    if scale == 0:
        p.zero_()
        return
    rows, cols = p.shape[-2:]
    shape_gain = math.sqrt(rows / cols) if rows > cols else 1.0
    nn.init.orthogonal_(p, gain=shape_gain * scale, generator=gen)


class _Channels(NamedTuple):
    """RWKV-LM's per-channel curves over the C channels (float64), from which the vectors of every layer are made."""

    n: torch.Tensor  # the channel index
    ddd: torch.Tensor  # n / C
    linear: torch.Tensor  # -0.5 at the first channel, 0.5 at the last
    zigzag: torch.Tensor  # -1 -> 1 within each head, squared with its sign

    def vec(self, values) -> torch.Tensor:
        return torch.as_tensor(values, dtype=torch.float64).expand(len(self.n)).reshape(1, 1, len(self.n))


def _channels(C: int, N: int) -> _Channels:
    n = torch.arange(C, dtype=torch.float64)
    linear = n / (C - 1) - 0.5 if C > 1 else torch.zeros(C, dtype=torch.float64)
    z = ((n % N) - (N - 1) / 2) / ((N - 1) / 2) if N > 1 else torch.zeros(C, dtype=torch.float64)
    return _Channels(n, n / C, linear, z * z.abs())


def _init_weights(model: RWKV, gen: torch.Generator, progress: Callable[[int, int], None] | None) -> None:
    info = model.info
    C, L, V = info.n_embd, info.n_layer, info.vocab_size
    ch = _channels(C, info.head_size)

    nn.init.uniform_(model.emb.weight, -EMB_SCALE, EMB_SCALE, generator=gen)
    nn.init.orthogonal_(model.head.weight, gain=0.5 * math.sqrt(V / C) if V > C else 0.5, generator=gen)
    for ln in (model.ln_out, *(m for m in model.modules() if isinstance(m, nn.LayerNorm))):
        ln.weight.fill_(1.0)
        ln.bias.zero_()

    init_block = _INIT_BLOCK[info.version]
    for layer, block in enumerate(model.blocks):
        r0 = layer / (L - 1) if L > 1 else 0.0  # 0 at the first layer, 1 at the last
        r1 = 1.0 - layer / L  # 1 at the first layer, -> 0 at the last
        init_block(block.att, block.ffn, layer, r0, r1, ch, gen)
        block.att.ln_x.weight.fill_(((layer + 1) / L) ** 0.7)
        block.att.ln_x.bias.zero_()
        for name, p in block.named_parameters():
            if name in _MATRIX_SCALE[info.version]:
                _orthogonal(p, _MATRIX_SCALE[info.version][name], gen)
        if progress is not None:
            progress(layer + 1, L)


def _init_x070_block(att, ffn, layer: int, r0: float, r1: float, ch: _Channels, gen: torch.Generator) -> None:
    n, ddd, linear, zigzag, vec = ch.n, ch.ddd, ch.linear, ch.zigzag, ch.vec
    for name, power in (("x_r", 0.2), ("x_w", 0.9), ("x_k", 0.7), ("x_v", 0.7), ("x_a", 0.9), ("x_g", 0.2)):
        getattr(att, name).copy_(vec(1.0 - ddd ** (power * r1)))
    decay = -6 + 6 * (n / (len(n) - 1)) ** (1 + r0**0.3)
    att.w0.copy_(vec(decay + 0.5 + 2.5 * zigzag))
    att.a0.copy_(vec(-0.19 + 0.3 * zigzag + 0.4 * linear))
    lora = [("w1", "w2"), ("a1", "a2"), ("g1", "g2")]
    if layer > 0:  # layer 0 has no value residual
        att.v0.copy_(vec(0.73 - 0.4 * linear))
        lora.append(("v1", "v2"))
    for down, up in lora:
        getattr(att, down).zero_()
        _orthogonal(getattr(att, up), 0.1, gen)
    att.k_k.copy_(vec(0.71 - 0.1 * linear))
    att.k_a.fill_(1.02)
    att.r_k.fill_(-0.04)
    ffn.x_k.copy_(vec(1.0 - ddd ** (r1**4)))


def _init_x060_block(att, ffn, layer: int, r0: float, r1: float, ch: _Channels, gen: torch.Generator) -> None:
    n, ddd, vec = ch.n, ch.ddd, ch.vec
    for name in ("time_maa_x", "time_maa_w", "time_maa_k"):
        getattr(att, name).copy_(vec(1.0 - ddd**r1))
    att.time_maa_v.copy_(vec(1.0 - (ddd**r1 + 0.3 * r0)))
    att.time_maa_r.copy_(vec(1.0 - ddd ** (0.5 * r1)))
    att.time_maa_g.copy_(vec(1.0 - ddd ** (0.5 * r1)))
    att.time_maa_w1.zero_()
    nn.init.uniform_(att.time_maa_w2, -0.01, 0.01, generator=gen)
    att.time_decay.copy_(vec(-6 + 5 * (n / (len(n) - 1)) ** (0.7 + 1.3 * r0)))
    att.time_decay_w1.zero_()
    nn.init.uniform_(att.time_decay_w2, -0.01, 0.01, generator=gen)
    att.time_faaaa.copy_((r0 * (1 - n / (len(n) - 1)) + ((n + 1) % 3 - 1) * 0.1).view_as(att.time_faaaa))
    ffn.time_maa_k.copy_(vec(1.0 - ddd**r1))
    ffn.time_maa_r.copy_(vec(1.0 - ddd**r1))


_INIT_BLOCK = {"x070": _init_x070_block, "x060": _init_x060_block}
