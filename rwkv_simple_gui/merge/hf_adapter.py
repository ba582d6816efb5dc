"""Hugging Face ``peft`` adapter folders, as today's RWKV-PEFT writes them with ``--merge 0``
(``<proj_dir>-adapter/``: ``adapter_config.json`` + ``adapter_model.safetensors``, keys under
``base_model.model.``).

The folder is read as a checkpoint in our key names (``...key.lora_A.weight`` -> ``...key.lora_A``,
``...miss_block`` -> ``...disha``), one tensor at a time, and folded by the method whose ``peft_type`` it
names (``peft.methods``): LoRA with its scale (alpha / r, alpha / sqrt(r) with ``use_rslora``, per-module
``rank_pattern`` / ``alpha_pattern``), MiSS by Bone's maths (``mini`` blocks tiled along the output). What
we do not fold (DoRA, bias adapters, AdaLoRA, MiSS ``bat``, LoRA variants that rewrite the base at start)
is refused by name.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple

import torch

from rwkv_simple_gui.peft.methods import METHODS, Method

from .plan import MergeError

CONFIG = "adapter_config.json"
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
PREFIX = "base_model.model."
# HF peft's tensor names of an adapted module -> ours
_PARTS = {".lora_A.weight": ".lora_A", ".lora_B.weight": ".lora_B", ".miss_block": ".disha"}
_PLAIN_INITS = (True, False, "gaussian")  # LoRA inits that leave the base weight untouched


class _Ref(NamedTuple):
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


def folder_of(path: Path) -> Path | None:
    """The adapter folder ``path`` is or lies in (its config or weights file picked), else None."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent if path.name in (CONFIG, *WEIGHTS) else None
    return folder if folder is not None and (folder / CONFIG).is_file() else None


def _pattern_value(patterns: Mapping, module: str, default):
    """peft's rule: a pattern key matches a module whose name ends with it (as a regex, after a dot)."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


class AdapterFolder(Mapping[str, _Ref]):
    """The adapter of a folder as ``{our key: shape}``; :meth:`load` reads one tensor."""

    def __init__(self, folder: Path):
        self.path = Path(folder)
        try:
            self.config = json.loads((self.path / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise MergeError(f"{self.path / CONFIG} cannot be read ({err}): the adapter folder is damaged") from None
        self.method = self._method()
        weights = next((self.path / w for w in WEIGHTS if (self.path / w).is_file()), None)
        if weights is None:
            raise MergeError(f"{self.path} has {CONFIG} but no {WEIGHTS[0]}: the adapter folder is incomplete")
        self.weights = weights
        self._names: dict[str, str] = {}
        self._refs: dict[str, _Ref] = {}
        if weights.suffix == ".safetensors":
            from safetensors import SafetensorError, safe_open

            try:
                self._file = safe_open(str(weights), "pt")
            except SafetensorError as err:
                raise MergeError(f"{weights}: damaged or truncated safetensors file ({err})") from None
            for name in self._file.keys():
                part = self._file.get_slice(name)
                self._add(name, tuple(part.get_shape()), _dtype(part.get_dtype()))
        else:
            self._file = None
            self._tensors = torch.load(weights, map_location="cpu", weights_only=True)
            for name, value in self._tensors.items():
                self._add(name, tuple(value.shape), value.dtype)
        self.mini = self.method.peft_type == "MISS" and self.config.get("init_weights") == "mini"
        self.widths: dict[str, int] = {}  # MiSS mini: output width per .disha key, from the base

    def _method(self) -> Method:
        cfg = self.config
        kind = cfg.get("peft_type")
        row = next((r for r in METHODS.values() if r.peft_type and r.peft_type == kind), None)
        folded = sorted(r.peft_type for r in METHODS.values() if r.peft_type)
        if row is None:
            raise MergeError(f"{self.path / CONFIG} names peft_type {kind}: this tool folds {' and '.join(folded)} "
                             "adapters; merge this run with RWKV-PEFT itself (--merge 1 writes the merged model)")
        refusals = [(cfg.get("use_dora"), "DoRA (use_dora)"), (cfg.get("lora_bias"), "a bias adapter (lora_bias)"),
                    (cfg.get("bias", "none") != "none", f"trained biases (bias={cfg.get('bias')})"),
                    (kind == "LORA" and cfg.get("init_lora_weights", True) not in _PLAIN_INITS,
                     f"init_lora_weights={cfg.get('init_lora_weights')!r}, which rewrites the base weights at start"),
                    (kind == "MISS" and cfg.get("init_weights") == "bat",
                     "MiSS init_weights='bat', whose blocks are indexed by the output, not by the input like our bat"),
                    (cfg.get("layer_replication"), "layer replication")]
        for refused, what in refusals:
            if refused:
                raise MergeError(f"{self.path.name} is a {kind} adapter with {what}: not folded here; merge it with "
                                 "RWKV-PEFT itself (--merge 1 writes the merged model)")
        return row

    def _add(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        key = name[len(PREFIX):] if name.startswith(PREFIX) else name
        for theirs, ours in _PARTS.items():
            if key.endswith(theirs):
                key = key[: -len(theirs)] + ours
                break
        else:
            if ".lora_" in key or ".miss_" in key or "lora_embedding" in key:
                raise MergeError(f"{self.weights.name} holds {name}, an adapter tensor this tool does not fold")
        self._names[key] = name
        self._refs[key] = _Ref(shape, dtype)

    def __getitem__(self, key: str) -> _Ref:
        ref = self._refs[key]
        if self.mini and key.endswith(".disha"):
            return _Ref((ref.shape[0], self._out_features(key)), ref.dtype)
        return ref

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def _out_features(self, key: str) -> int:
        if key not in self.widths:
            raise MergeError(f"{self.path.name}: the MiSS mini block {key} has no base weight to take its width from")
        return self.widths[key]

    def fit_to(self, base: Mapping) -> None:
        """MiSS ``mini`` stores [r, mini_r] blocks, tiled along the output: the base gives each width."""
        if self.mini:
            self.widths = {k: base[k[: -len(".disha")] + ".weight"].shape[0] for k in self._refs
                           if k.endswith(".disha") and k[: -len(".disha")] + ".weight" in base}

    def load(self, key: str) -> torch.Tensor:
        name = self._names[key]
        tensor = self._file.get_tensor(name) if self._file is not None else self._tensors[name].clone()
        if self.mini and key.endswith(".disha"):
            tensor = tensor.repeat(1, self._out_features(key) // tensor.shape[1])
        return tensor

    def module_options(self, modules) -> dict[str, dict]:
        """Per adapted module, the fold options that differ from module to module (LoRA's scale)."""
        cfg = self.config
        if self.method.peft_type != "LORA":
            return {}
        out = {}
        for module in modules:
            r = _pattern_value(cfg.get("rank_pattern") or {}, module, cfg["r"])
            alpha = _pattern_value(cfg.get("alpha_pattern") or {}, module, cfg["lora_alpha"])
            scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
            out[module] = {"lora_alpha": scale * r}  # lora.merge_weight divides by r
        return out

    def options(self) -> dict:
        return {"finetune_mode": self.method.name, "lora_alpha": self.config.get("lora_alpha"),
                "model_path": self.config.get("base_model_name_or_path")}


def _dtype(name: str) -> torch.dtype:
    return {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}.get(
        name, torch.float32)
