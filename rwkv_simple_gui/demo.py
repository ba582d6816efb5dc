"""The embedded default: a tiny generated base model so a newcomer can click through on a CPU."""

from __future__ import annotations

from pathlib import Path

from . import paths

DEMO_MODEL = "model/rwkv7-demo-L2-D128.pth"
DEMO_SHAPE = dict(version="x070", n_layer=2, n_embd=128, vocab_size=65536, head_size=64)


def ensure_demo_model() -> Path | None:
    """Create the demo model when model/ holds no model at all; returns its path (None if not needed)."""
    model_dir = paths.folder("model")
    if any(p.suffix in (".pth", ".safetensors") for p in model_dir.rglob("*")):
        return None
    import torch

    from .model import init_model, save_model

    dest = paths.resolve(DEMO_MODEL)
    save_model(init_model(**DEMO_SHAPE, seed=0), dest, dtype=torch.bfloat16)
    return dest
