"""LoRA: y = W x + (alpha / r) * B (A dropout(x)); A kaiming-uniform (a=sqrt 5), B zeros, so training starts
exactly at the base model. Merged: W + (alpha / r) B A."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdaptedLinear, Getter, cast_for, option, train_parts, wrap_targets


def fold(weight: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """W + scale * B A (fp32)."""
    return torch.addmm(weight.float(), b.float(), a.float(), alpha=scale)


def check_pair(weight_shape, a_shape, b_shape) -> str | None:
    out_f, in_f = weight_shape
    if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[1] != in_f or b_shape[0] != out_f or a_shape[0] != b_shape[1]:
        return (f"has A {list(a_shape)}, B {list(b_shape)} but the base weight is {list(weight_shape)} "
                f"(A must be [r, {in_f}], B [{out_f}, r])")
    return None


class LoraLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__(base)
        self.r, self.scale = r, alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, dtype=torch.float32, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, dtype=torch.float32, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = F.linear(F.linear(self.dropout(x), cast_for(self.lora_A, x)), cast_for(self.lora_B, x))
        return self.base_forward(x) + self.scale * low

    def merged_weight(self) -> torch.Tensor:
        return fold(self.base_weight(), self.lora_A, self.lora_B, self.scale)


def inject(model: nn.Module, cfg) -> None:
    r, alpha, dropout = option(cfg, "lora_r"), option(cfg, "lora_alpha"), option(cfg, "lora_dropout", 0.0)
    wrap_targets(model, lambda name, lin: LoraLinear(lin, r, alpha, dropout))
    train_parts(model, cfg)


def merge_weight(weight: torch.Tensor, get: Getter, cfg) -> torch.Tensor:
    b = get("lora_B")
    return fold(weight, get("lora_A"), b, option(cfg, "lora_alpha") / b.shape[1])


def check(weight_shape, get_shape) -> str | None:
    return check_pair(weight_shape, get_shape("lora_A"), get_shape("lora_B"))
