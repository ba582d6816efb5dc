"""DiSHA's bat mode: one trainable ``disha`` [in/r, r, r] per linear, zeros at start. With W cut into r x r
blocks W[a, b], dW[a, b] = W[a, b] D[b] + D[b], so the update mixes the base weight's own blocks. r must
divide both dimensions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdaptedLinear, Getter, cast_for, option, train_parts, wrap_targets


def delta(weight: torch.Tensor, disha: torch.Tensor) -> torch.Tensor:
    """dW [out, in]: block (a, b) of W, r x r, gains W_ab @ D_b + D_b."""
    out_f, in_f = weight.shape
    r = disha.shape[-1]
    blocks = weight.reshape(out_f // r, r, in_f // r, r).permute(0, 2, 1, 3)  # [a, b, r, r]
    return (blocks @ disha + disha).permute(0, 2, 1, 3).reshape(out_f, in_f)


class BatLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, r: int):
        super().__init__(base)
        if self.in_features % r or self.out_features % r:
            raise ValueError(f"disha_r={r} must divide both dimensions {self.out_features}x{self.in_features} for bat")
        self.r = r
        self.disha = nn.Parameter(torch.zeros(self.in_features // r, r, r, dtype=torch.float32,
                                              device=base.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.base_weight().to(self.disha.dtype)
        return F.linear(x, cast_for(w + delta(w, self.disha), x))

    def merged_weight(self) -> torch.Tensor:
        w = self.base_weight().float()
        return w + delta(w, self.disha.float())


def inject(model: nn.Module, cfg) -> None:
    wrap_targets(model, lambda name, lin: BatLinear(lin, option(cfg, "disha_r")))
    train_parts(model, cfg)


def merge_weight(weight: torch.Tensor, get: Getter, cfg) -> torch.Tensor:
    w = weight.float()
    return w + delta(w, get("disha").float())


def check(weight_shape, get_shape) -> str | None:
    d, (out_f, in_f) = get_shape("disha"), weight_shape
    r = d[-1] if len(d) == 3 else 0
    if len(d) != 3 or d[1] != r or in_f % r or out_f % r or d[0] != in_f // r:
        return (f"is {list(d)}; bat needs [{in_f}//r, r, r] with r dividing {out_f} and {in_f} for a "
                f"{list(weight_shape)} weight")
    return None
