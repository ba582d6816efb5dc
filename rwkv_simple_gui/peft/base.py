"""What every adapter shares: which linears are adapted, which base parameters ``train_parts`` names, and
a frozen-weight wrapper that keeps the base weight under its RWKV name (``...key.weight``) so checkpoint
keys stay those of RWKV-PEFT."""

from __future__ import annotations

import re
from typing import Callable

import torch
from torch import nn

# att receptance/key/value/output (+gate in v6), ffn key/value (+receptance in v6)
TARGET = re.compile(r"^blocks\.\d+\.(att\.(receptance|key|value|output|gate)|ffn\.(key|value|receptance))$")
PROJECTION = re.compile(r"\.(receptance|key|value|output|gate)\.weight$")

# ``get(name)`` gives one tensor of an adapted module's checkpoint ("lora_A", "disha", "init_lora_B", ...)
Getter = Callable[[str], torch.Tensor]


def option(cfg, name, default=None):
    """An option from a TrainConfig or a plain dict of options."""
    return cfg.get(name, default) if isinstance(cfg, dict) else getattr(cfg, name, default)


class AdaptedLinear(nn.Module):
    """A bias-free linear whose weight is frozen; subclasses add the trainable part."""

    def __init__(self, base: nn.Linear):
        super().__init__()
        if base.bias is not None:
            raise ValueError("RWKV projections have no bias; got a Linear with one")
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = nn.Parameter(base.weight.detach(), requires_grad=False)
        self.quant = None  # set by peft.quant: the weight then lives quantized and is rebuilt per forward

    def base_weight(self) -> torch.Tensor:
        return self.weight if self.quant is None else self.quant.dequantize()

    def base_forward(self, x: torch.Tensor) -> torch.Tensor:
        """W x with the frozen weight (a weight kept in fp8 multiplies in fp8, as RWKV-PEFT's fp8 does)."""
        if self.quant is not None and hasattr(self.quant, "linear"):
            return self.quant.linear(x)
        return torch.nn.functional.linear(x, cast_for(self.base_weight(), x))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def cast_for(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` in ``x``'s dtype, unless autocast is on: then the matmul casts it, and a copy (e.g. a bf16 base
    weight turned fp32 every forward) would only cost memory and time."""
    if torch.is_autocast_enabled(x.device.type) or t.dtype == x.dtype:
        return t
    return t.to(x.dtype)


def target_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    return [(name, m) for name, m in model.named_modules() if TARGET.match(name) and isinstance(m, nn.Linear)]


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def wrap_targets(model: nn.Module, make) -> int:
    """Replace every adapted linear by ``make(name, linear)``; returns how many were replaced."""
    targets = target_linears(model)
    if not targets:
        raise ValueError("no RWKV att/ffn linear layers found to adapt (is this an RWKV model?)")
    for name, lin in targets:
        replace_module(model, name, make(name, lin))
    return len(targets)


def part_matches(name: str, parts) -> bool:
    """Whether base parameter ``name`` belongs to one of the train_parts (emb, head, time, ln).

    "time" means the time-mix parameters: v6 names them ``time_*``; v7 has no such prefix, so there it is
    every att/ffn parameter other than the projections and ln_x (x_r.., w0/w1/w2, a*, v*, g*, k_k, k_a, r_k).
    """
    for part in parts:
        if part == "time":
            if "time" in name:
                return True
            if re.match(r"^blocks\.\d+\.(att|ffn)\.", name) and not PROJECTION.search(name) and ".ln_x." not in name:
                return True
        elif part in name:
            return True
    return False


def train_parts(model: nn.Module, cfg) -> None:
    """Unfreeze the base parameters that ``train_parts`` names (never the adapted projections)."""
    parts = option(cfg, "train_parts", []) or []
    for name, p in model.named_parameters():
        if part_matches(name, parts) and not PROJECTION.search(name):
            p.requires_grad_(True)


class FrozenLinear(AdaptedLinear):
    """No adapter: lets a frozen projection be quantized (state tuning with quant)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_forward(x)
