"""A base model's fingerprint, carried in the metadata of the state files tuned on it.

A state only means something on the model it was tuned on, and two models of the same shape accept each
other's states without any error, just wrong answers. The fingerprint is the shape plus a hash of a few
of the base's tensors (as bf16, so an fp32 and a bf16 copy of one model agree). A ``.pth`` state file
carries it as an extra record of its zip archive (``torch.load`` and the ``rwkv`` package ignore it, and
the file keeps exactly one tensor per layer as RWKV-Runner wants); a ``.st`` in its safetensors metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import torch

RECORD = "rwkv_simple_gui_base.json"  # the zip record of a .pth
METADATA_KEY = "rwkv_simple_gui_base"  # the safetensors metadata key of a .st
# small tensors that differ between any two models (a fresh init's vectors are all alike, so matrices too)
_HASHED = ("blocks.0.att.receptance.weight", "blocks.0.ffn.value.weight", "ln_out.weight", "blocks.0.ln1.weight")


@dataclass(frozen=True)
class Fingerprint:
    version: str
    n_layer: int
    n_embd: int
    head_size: int
    vocab_size: int
    digest: str
    name: str = ""  # the base's file name, to tell the user which model a state belongs to

    def shape(self) -> str:
        return (f"{self.version}, {self.n_layer} layers, n_embd {self.n_embd}, head size {self.head_size}, "
                f"vocab {self.vocab_size}")

    def same_model(self, other: "Fingerprint") -> bool:
        return (self.version, self.n_layer, self.n_embd, self.head_size, self.vocab_size, self.digest) == \
            (other.version, other.n_layer, other.n_embd, other.head_size, other.vocab_size, other.digest)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Fingerprint":
        return cls(**json.loads(text))


def of_model(sd: Mapping, name: str = "") -> Fingerprint:
    """The fingerprint of a model given as a ``LazyStateDict`` (read tensor by tensor) or a tensor dict."""
    from rwkv_simple_gui.model import detect

    info = detect(sd)
    h = hashlib.sha256()
    for key in _HASHED:
        if key in sd:
            tensor = sd.load(key) if hasattr(sd, "load") else sd[key]
            h.update(key.encode())
            h.update(tensor.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes())
    return Fingerprint(info.version, info.n_layer, info.n_embd, info.head_size, info.vocab_size,
                       h.hexdigest()[:16], name)


def of_file(path: str | Path) -> Fingerprint:
    from rwkv_simple_gui.model.lazy import open_state_dict

    return of_model(open_state_dict(path), Path(path).name)


def read(path: str | Path) -> Fingerprint | None:
    """The fingerprint a state file carries, or None (an older file, or one another tool wrote)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".st", ".safetensors", ".state"):
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                text = (f.metadata() or {}).get(METADATA_KEY)
        else:
            reader = torch._C.PyTorchFileReader(str(path))
            text = reader.get_record(RECORD) if reader.has_record(RECORD) else None
    except (RuntimeError, OSError, ValueError):
        return None
    if not text:
        return None
    try:
        return Fingerprint.from_json(text)
    except (TypeError, ValueError):
        return None


def mismatch(state: Fingerprint, model: Fingerprint, state_path, model_path) -> str | None:
    """Why the state tuned on ``state`` does not belong on ``model`` (None: it does)."""
    if state.same_model(model):
        return None
    belongs = f"{state.name} ({state.shape()})" if state.name else state.shape()
    return (f"state file {Path(state_path).name} was tuned on {belongs}, not on {Path(model_path).name}"
            + (f" ({model.shape()})" if model.shape() != state.shape() else " (same shape, other weights)"))
