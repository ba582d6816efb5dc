"""PiSSA: LoRA started from the weight's principal directions. With W ~ U S V^T (rank r, randomized SVD),
A = sqrt(S) V^T, B = U sqrt(S), and the frozen weight becomes the residual W - B A; y = W_res x + B (A x).

The starting A, B (``init_pissa.pth``, keys ``model.<module>.init_lora_A/B`` as RWKV-PEFT writes them) are
needed to rebuild W_res when resuming or merging, since the randomized SVD is not reproducible."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import AdaptedLinear, cast_for

INIT_FILE = "init_pissa.pth"


class PissaLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, r: int, niter: int, init: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(base)
        w = base.weight.detach().float()
        if init is None:
            u, s, v = torch.svd_lowrank(w, q=r, niter=niter)
            root = s[:r].sqrt()
            a, b = root[:, None] * v[:, :r].T, u[:, :r] * root
        else:
            a, b = (t.detach().float().to(w.device) for t in init)
            if a.shape != (r, self.in_features) or b.shape != (self.out_features, r):
                raise ValueError(f"init_pissa shapes {tuple(a.shape)}/{tuple(b.shape)} do not match pissa_r={r} "
                                 f"and the layer {self.out_features}x{self.in_features}")
        self.weight = nn.Parameter((w - b @ a).to(base.weight.dtype), requires_grad=False)
        self.lora_A = nn.Parameter(a.clone())
        self.lora_B = nn.Parameter(b.clone())
        self.init_A, self.init_B = a.cpu(), b.cpu()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = F.linear(F.linear(x, cast_for(self.lora_A, x)), cast_for(self.lora_B, x))
        return F.linear(x, cast_for(self.base_weight(), x)) + low

    def merged_weight(self) -> torch.Tensor:
        return self.base_weight().float() + self.lora_B @ self.lora_A


def init_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {f"model.{name}.init_lora_{ab}": getattr(m, f"init_{ab}").clone()
            for name, m in model.named_modules() if isinstance(m, PissaLinear) for ab in "AB"}


def read_init(path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{module name: (A0, B0)}`` from an init_pissa.pth, with or without the ``model.`` prefix."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    out: dict[str, list] = {}
    for key, value in sd.items():
        name = key[len("model."):] if key.startswith("model.") else key
        for ab, idx in (("A", 0), ("B", 1)):
            suffix = f".init_lora_{ab}"
            if name.endswith(suffix):
                out.setdefault(name[: -len(suffix)], [None, None])[idx] = value
    bad = [k for k, v in out.items() if v[0] is None or v[1] is None]
    if not out or bad:
        raise ValueError(f"{path}: not an init_pissa.pth (expected *.init_lora_A/B pairs"
                         + (f"; incomplete for {bad[0]}" if bad else "") + ")")
    return {k: (v[0], v[1]) for k, v in out.items()}
