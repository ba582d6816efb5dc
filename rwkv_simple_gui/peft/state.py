"""State tuning: only the initial WKV state of every layer is trained (``blocks.N.att.time_state``,
[H, N, N] in RWKV-PEFT's [head, value, key] orientation, zeros = the base model's behaviour). The model
starts its recurrence from this parameter when the attention module has one."""

from __future__ import annotations

import re

import torch
from torch import nn

from .base import FrozenLinear, option, wrap_targets

ATT = re.compile(r"^blocks\.\d+\.att$")


def head_shape(att: nn.Module) -> tuple[int, int]:
    """(n_head, head_size) of an attention module: v7 ``r_k`` and v6 ``time_faaaa`` are both [H, N]."""
    for name in ("r_k", "time_faaaa"):
        p = getattr(att, name, None)
        if p is not None:
            return int(p.shape[0]), int(p.shape[-1])
    raise ValueError("cannot tell the head size: the attention module has neither r_k (v7) nor time_faaaa (v6)")


def add_time_states(model: nn.Module) -> None:
    atts = [m for name, m in model.named_modules() if ATT.match(name)]
    if not atts:
        raise ValueError("no blocks.N.att modules found for state tuning")
    for att in atts:
        if not isinstance(getattr(att, "time_state", None), nn.Parameter):
            h, n = head_shape(att)
            device = next(att.parameters()).device
            att.time_state = nn.Parameter(torch.zeros(h, n, n, dtype=torch.float32, device=device))


def inject(model: nn.Module, cfg) -> None:
    add_time_states(model)
    if option(cfg, "quant", "none") != "none":
        wrap_targets(model, lambda name, lin: FrozenLinear(lin))
