"""Ai00 / web-rwkv ``.st`` naming: the transform of RWKV-Runner's ``convert_safetensors.py`` (renames, lower
case, some low-rank matrices and states transposed, fp16)."""

from __future__ import annotations

import torch

RENAMES = (("time_faaaa", "time_first"), ("time_maa", "time_mix"), ("lora_A", "lora.0"), ("lora_B", "lora.1"))
TRANSPOSED = ("time_mix_w1", "time_mix_w2", "time_decay_w1", "time_decay_w2", "w1", "w2", "a1", "a2",
                   "g1", "g2", "v1", "v2", "time_state", "lora.0")


def st_name(name: str) -> str:
    for old, new in RENAMES:
        name = name.replace(old, new)
    return name.lower()


def transposed(name: str) -> bool:
    """Whether the .st tensor ``name`` is stored transposed."""
    return any(part in name for part in TRANSPOSED)


def spec(name: str, shape: tuple[int, ...]) -> tuple[str, tuple[int, ...], torch.dtype]:
    """The .st name, shape and dtype of the model tensor ``name``."""
    new = st_name(name)
    if transposed(new) and len(shape) >= 2:
        shape = (*shape[:-2], shape[-1], shape[-2])
    return new, tuple(shape), torch.float16


def convert(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """The model tensor as the .st tensor ``name`` holds it."""
    tensor = tensor.to(torch.float16)
    if transposed(name) and tensor.ndim >= 2:
        tensor = tensor.transpose(-2, -1)
    return tensor.contiguous()

