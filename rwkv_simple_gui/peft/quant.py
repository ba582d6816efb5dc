"""Quantized frozen base weights (bitsandbytes, CUDA only), de-quantized on each forward as RWKV-PEFT does:
int8 = blockwise dynamic 8-bit, nf4 / fp4 = 4-bit. emb and head are never quantized."""

from __future__ import annotations

import torch
from torch import nn

from .base import AdaptedLinear

KINDS = ("int8", "nf4", "fp4")


class QuantizedWeight:
    def __init__(self, weight: torch.Tensor, kind: str):
        import bitsandbytes.functional as bnbf

        self.bnbf, self.kind, self.dtype = bnbf, kind, torch.bfloat16
        w = weight.detach().to(torch.bfloat16)
        if kind == "int8":
            self.data, self.state = bnbf.quantize_blockwise(w)
        else:
            self.data, self.state = bnbf.quantize_4bit(w, quant_type=kind)

    def dequantize(self) -> torch.Tensor:
        if self.kind == "int8":
            return self.bnbf.dequantize_blockwise(self.data, self.state).to(self.dtype)
        return self.bnbf.dequantize_4bit(self.data, self.state).to(self.dtype)


def quantize_model(model: nn.Module, kind: str) -> int:
    """Quantize every adapted linear's frozen weight; returns how many. Needs CUDA and bitsandbytes."""
    if kind not in KINDS:
        raise ValueError(f"quant={kind!r}: use none, {', '.join(KINDS)}")
    if not torch.cuda.is_available():
        raise RuntimeError(f"quant {kind} needs a CUDA GPU (bitsandbytes); set quant none to train on this machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise RuntimeError(f"quant {kind} needs the bitsandbytes package: pip install bitsandbytes") from None
    count = 0
    for module in model.modules():
        if isinstance(module, AdaptedLinear) and module.quant is None:
            if module.weight.device.type != "cuda":
                raise RuntimeError("move the model to CUDA before quantizing it")
            module.quant = QuantizedWeight(module.weight, kind)
            del module.weight
            count += 1
    return count
