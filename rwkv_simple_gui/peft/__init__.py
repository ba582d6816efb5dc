"""Parameter-efficient fine-tuning methods, RWKV-PEFT compatible.

``methods`` is the table of methods (torch-free, imported eagerly); everything else imports torch and is
loaded when first used: ``apply_peft(model, cfg)`` turns a plain RWKV model into the one trained by
``cfg.finetune_mode``; ``adapter_state_dict`` gives exactly what ``rwkv-<epoch>.pth`` holds (RWKV-PEFT key
names); ``load_adapted_model`` rebuilds a trained model from base + checkpoint.
"""

from __future__ import annotations

import importlib

from .methods import METHOD_NAMES, METHODS, Method, applies, detect_method, method

_LAZY = {
    "apply_peft": "apply", "trainable_parameters": "apply", "adapter_state_dict": "apply",
    "load_checkpoint": "apply", "load_adapted_model": "apply",
    "AdaptedLinear": "base", "LisaSelector": "lisa", "init_state_dict": "pissa",
}

__all__ = ["METHODS", "METHOD_NAMES", "Method", "applies", "detect_method", "method", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
