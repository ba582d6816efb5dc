"""DiSHA (RWKV-PEFT's successor of Bone), both modes; one trainable ``disha`` tensor per linear, zeros at start.

bone: ``disha`` [r, out]; the input is cut into groups of r features (zero-padded when r does not divide
  it) and the group sum goes through disha: y = W x + (sum_g x_g) disha, i.e. dW[o, g*r + j] = disha[j, o].
bat:  ``disha`` [in/r, r, r]; with W cut into r x r blocks W[a, b], dW[a, b] = W[a, b] D[b] + D[b], so
  the update mixes the base weight's own blocks. r must divide both dimensions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdaptedLinear, cast_for


class BoneLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, r: int):
        super().__init__(base)
        self.r = r
        self.disha = nn.Parameter(torch.zeros(r, self.out_features, dtype=torch.float32, device=base.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = -self.in_features % self.r
        groups = F.pad(x, (0, pad)).unflatten(-1, (-1, self.r)).sum(-2)
        return F.linear(x, cast_for(self.base_weight(), x)) + groups @ cast_for(self.disha, x)

    def delta_weight(self) -> torch.Tensor:
        reps = -(-self.in_features // self.r)
        return self.disha.T.repeat(1, reps)[:, : self.in_features]

    def merged_weight(self) -> torch.Tensor:
        return self.base_weight().float() + self.delta_weight().float()


class BatLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, r: int):
        super().__init__(base)
        if self.in_features % r or self.out_features % r:
            raise ValueError(f"disha_r={r} must divide both dimensions {self.out_features}x{self.in_features} for bat")
        self.r = r
        self.disha = nn.Parameter(torch.zeros(self.in_features // r, r, r, dtype=torch.float32,
                                              device=base.weight.device))

    def delta_weight(self, w: torch.Tensor) -> torch.Tensor:
        r, (o, i) = self.r, w.shape
        d = self.disha.to(w.dtype)
        blocks = w.view(o // r, r, i // r, r).permute(0, 2, 1, 3)  # [a, b, r, r]
        return (blocks @ d + d).permute(0, 2, 1, 3).reshape(o, i)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.base_weight().to(self.disha.dtype)
        return F.linear(x, cast_for(w + self.delta_weight(w), x))

    def merged_weight(self) -> torch.Tensor:
        w = self.base_weight().float()
        return w + self.delta_weight(w)
