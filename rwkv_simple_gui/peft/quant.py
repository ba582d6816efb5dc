"""Quantized frozen base weights, as RWKV-PEFT's ``rwkv_quantize`` does them; emb and head are never quantized.

* int8: bitsandbytes' blockwise dynamic 8-bit; nf4 / fp4: its 4-bit types; 4bit: ``quantize_4bit``'s default
  type, which is fp4. De-quantized to bf16 for each forward (CUDA only).
* fp8: the weight cast to float8_e4m3fn; the forward casts the input to fp8 too (clamped to +-448, fp8's range)
  and multiplies the two with a scale of 1, as ``torch._scaled_mm`` does; the input's gradient uses the weight in
  bf16. Pure PyTorch: it runs on CPU as well.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import AdaptedLinear

KINDS = ("int8", "nf4", "fp4", "4bit", "fp8")
NEEDS_BITSANDBYTES = ("int8", "nf4", "fp4", "4bit")
FP8_MAX = 448.0  # the largest float8_e4m3fn value


class QuantizedWeight:
    """A bitsandbytes-quantized weight, de-quantized to bf16 on each use."""

    def __init__(self, weight: torch.Tensor, kind: str):
        import bitsandbytes.functional as bnbf

        self.bnbf, self.kind, self.dtype = bnbf, kind, torch.bfloat16
        w = weight.detach().to(torch.bfloat16)
        if kind == "int8":
            self.data, self.state = bnbf.quantize_blockwise(w)
        elif kind == "4bit":  # RWKV-PEFT calls quantize_4bit without a type: bitsandbytes' default, fp4
            self.data, self.state = bnbf.quantize_4bit(w)
        else:
            self.data, self.state = bnbf.quantize_4bit(w, quant_type=kind)

    def dequantize(self) -> torch.Tensor:
        if self.kind == "int8":
            return self.bnbf.dequantize_blockwise(self.data, self.state).to(self.dtype)
        return self.bnbf.dequantize_4bit(self.data, self.state).to(self.dtype)


class _Fp8Matmul(torch.autograd.Function):
    """x @ W.T with both in float8_e4m3fn (scale 1); the backward gives the input's gradient from W in bf16."""

    @staticmethod
    def forward(ctx, x, weight_fp8):
        ctx.save_for_backward(weight_fp8)
        xq = x.detach().clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
        compute = torch.float32 if x.dtype == torch.float64 else x.dtype
        return (xq.to(compute) @ weight_fp8.to(compute).t()).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (weight_fp8,) = ctx.saved_tensors
        return (grad.to(torch.bfloat16) @ weight_fp8.to(torch.bfloat16)).to(grad.dtype), None


class Fp8Weight:
    """A weight kept as float8_e4m3fn (RWKV-PEFT's fp8)."""

    kind = "fp8"

    def __init__(self, weight: torch.Tensor):
        self.data = weight.detach().to(torch.float8_e4m3fn)

    def dequantize(self) -> torch.Tensor:
        return self.data.to(torch.bfloat16)

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        return _Fp8Matmul.apply(x, self.data)


def quantize_model(model: nn.Module, kind: str) -> int:
    """Quantize every adapted linear's frozen weight; returns how many. Every kind but fp8 needs CUDA and
    bitsandbytes."""
    if kind not in KINDS:
        raise ValueError(f"quant={kind!r}: use none, {', '.join(KINDS)}")
    if kind in NEEDS_BITSANDBYTES:
        if not torch.cuda.is_available():
            raise RuntimeError(f"quant {kind} needs a CUDA GPU (bitsandbytes); set quant none (or fp8) to train on "
                               f"this machine")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise RuntimeError(f"quant {kind} needs the bitsandbytes package: pip install bitsandbytes") from None
    count = 0
    for module in model.modules():
        if isinstance(module, AdaptedLinear) and module.quant is None:
            if kind == "fp8":
                module.quant = Fp8Weight(module.weight)
            else:
                if module.weight.device.type != "cuda":
                    raise RuntimeError("move the model to CUDA before quantizing it")
                module.quant = QuantizedWeight(module.weight, kind)
            del module.weight
            count += 1
    return count


def quantize_dequantize(weight: torch.Tensor, kind: str) -> torch.Tensor:
    """The weight as a run quantized with ``kind`` saw it (bf16), for merging."""
    if kind == "fp8":
        return Fp8Weight(weight).dequantize()
    return QuantizedWeight(weight.to("cuda"), kind).dequantize()
