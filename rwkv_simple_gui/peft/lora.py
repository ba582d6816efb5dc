"""LoRA: y = W x + (alpha / r) * B (A dropout(x)); A kaiming-uniform (a=sqrt 5), B zeros, so training starts
exactly at the base model."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdaptedLinear, cast_for


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
        return F.linear(x, cast_for(self.base_weight(), x)) + self.scale * low

    def merged_weight(self) -> torch.Tensor:
        return self.base_weight().float() + self.scale * (self.lora_B @ self.lora_A)
