"""DiSHA's bone mode (RWKV-PEFT's successor of Bone): one trainable ``disha`` [r, out] per linear, zeros at
start. The input is cut into groups of r features (zero-padded when r does not divide it) and the group
sum goes through disha: y = W x + (sum_g x_g) disha, i.e. dW[o, g*r + j] = disha[j, o].
Old checkpoints name the tensor ``.bone``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdaptedLinear, Getter, cast_for, option, train_parts, wrap_targets


def delta(disha: torch.Tensor, in_features: int) -> torch.Tensor:
    """dW [out, in]: disha.T repeated over the groups of r input columns (last group cut short)."""
    r = disha.shape[0]
    return disha.t().repeat(1, -(-in_features // r))[:, :in_features]


class BoneLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, r: int):
        super().__init__(base)
        self.r = r
        self.disha = nn.Parameter(torch.zeros(r, self.out_features, dtype=torch.float32, device=base.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = -self.in_features % self.r
        groups = F.pad(x, (0, pad)).unflatten(-1, (-1, self.r)).sum(-2)
        return self.base_forward(x) + groups @ cast_for(self.disha, x)

    def merged_weight(self) -> torch.Tensor:
        return self.base_weight().float() + delta(self.disha.float(), self.in_features)


def inject(model: nn.Module, cfg) -> None:
    wrap_targets(model, lambda name, lin: BoneLinear(lin, option(cfg, "disha_r")))
    train_parts(model, cfg)


def merge_weight(weight: torch.Tensor, get: Getter, cfg) -> torch.Tensor:
    return weight.float() + delta(get("disha").float(), weight.shape[1])


def check(weight_shape, get_shape) -> str | None:
    d, out_f = get_shape("disha"), weight_shape[0]
    if len(d) != 2 or d[1] != out_f:
        return f"is {list(d)} but bone needs [r, {out_f}] for a {list(weight_shape)} weight"
    return None
