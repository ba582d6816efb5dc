"""Hugging Face ``peft`` adapter folders, as today's RWKV-PEFT writes them with ``--merge 0``
(``<proj_dir>-adapter/``: ``adapter_config.json`` + ``adapter_model.safetensors``, keys under
``base_model.model.``).

The folder is read as a checkpoint in our key names (``...key.lora_A.weight`` -> ``...key.lora_A``,
``...miss_block`` -> ``...disha``), one tensor at a time, and folded by the method whose ``peft_type`` it
names (``peft.methods``): LoRA with its scale (alpha / r, alpha / sqrt(r) with ``use_rslora``, per-module
``rank_pattern`` / ``alpha_pattern``, matched without backtracking: ``merge.patterns``), MiSS by Bone's
maths (``mini`` blocks tiled along the output). What we do not fold (DoRA, bias adapters, AdaLoRA, MiSS
``bat``, LoRA variants that rewrite the base at start) is refused by name. A folder comes from anyone: every
field used is checked, and a wrong one is named in a plain message.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple

import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.model.lazy import damaged_message, unpickling_message
from rwkv_simple_gui.peft.methods import METHODS, Method

from .errors import MergeError
from .patterns import ModulePattern, PatternError

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


def _pattern_value(patterns: list[tuple[ModulePattern, float]], module: str, default):
    """peft's rule: the first key that matches a module whose name ends with it (as a regex, after a dot)."""
    return next((value for pattern, value in patterns if pattern.applies(module)), default)


def _number(value, *, whole: bool = False, least: float | None = None) -> bool:
    """A JSON number (a whole one with ``whole``), at least ``least``; true/false are no numbers."""
    kinds = int if whole else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool) and (least is None or value >= least)


class AdapterFolder(Mapping[str, _Ref]):
    """The adapter of a folder as ``{our key: shape}``; :meth:`load` reads one tensor."""

    def __init__(self, folder: Path):
        self.path = Path(folder)
        self.config = self._read_config()
        self.method = self._method()
        self.patterns = self._patterns()
        weights = next((self.path / w for w in WEIGHTS if (self.path / w).is_file()), None)
        if weights is None:
            raise MergeError(f"{self.path} has {CONFIG} but no {WEIGHTS[0]}: the adapter folder is incomplete")
        self.weights = weights
        self._names: dict[str, str] = {}
        self._refs: dict[str, _Ref] = {}
        with paths.open_read(weights) as f:  # in the app: the file checked is the file read
            if weights.suffix == ".safetensors":
                from safetensors import SafetensorError, safe_open

                try:
                    self._file = safe_open(paths.pinned(f), "pt")
                except SafetensorError as err:
                    raise MergeError(f"{weights}: damaged or truncated safetensors file ({err})") from None
                for name in self._file.keys():
                    part = self._file.get_slice(name)
                    self._add(name, tuple(part.get_shape()), _dtype(part.get_dtype()))
            else:
                self._file = None
                self._tensors = self._load_bin(f)
                for name, value in self._tensors.items():
                    self._add(name, tuple(value.shape), value.dtype)
        self.mini = self.method.peft_type == "MISS" and self.config.get("init_weights") == "mini"
        self.widths: dict[str, int] = {}  # MiSS mini: output width per .disha key, from the base

    def _read_config(self) -> dict:
        path = self.path / CONFIG
        try:
            config = json.loads(paths.read_text(path))
        except (OSError, ValueError) as err:
            raise MergeError(f"{path} cannot be read ({err}): the adapter folder is damaged") from None
        if not isinstance(config, dict):
            raise MergeError(f"{path} holds a JSON {type(config).__name__}, not an object of settings: the adapter "
                             "folder is damaged")
        return config

    def _bad(self, field: str, value, expected: str) -> MergeError:
        shown = "missing" if value is None else f"{value!r}"
        return MergeError(f"{self.path / CONFIG}: {field} is {shown}, but must be {expected}: the adapter folder is "
                          "damaged or was edited; fix the value or export the adapter again")

    def _patterns(self) -> dict[str, list[tuple[ModulePattern, float]]]:
        """LoRA's r and lora_alpha, checked, and its rank_pattern / alpha_pattern compiled."""
        cfg = self.config
        if self.method.peft_type != "LORA":
            return {}
        if not _number(cfg.get("r"), whole=True, least=1):
            raise self._bad("r", cfg.get("r"), "a whole number of at least 1 (the LoRA rank)")
        if not _number(cfg.get("lora_alpha")):
            raise self._bad("lora_alpha", cfg.get("lora_alpha"), "a number")
        if not isinstance(cfg.get("use_rslora", False), bool):
            raise self._bad("use_rslora", cfg.get("use_rslora"), "true or false")
        out = {}
        for field, whole, what in (("rank_pattern", True, "a whole number of at least 1"),
                                   ("alpha_pattern", False, "a number")):
            given = cfg.get(field) or {}
            if not isinstance(given, dict):
                raise self._bad(field, given, "an object of {module pattern: value}")
            out[field] = []
            for key, value in given.items():
                if not _number(value, whole=whole, least=1 if whole else None):
                    raise self._bad(f"{field} {key!r}", value, what)
                try:
                    out[field].append((ModulePattern(key), value))
                except PatternError as err:
                    raise MergeError(f"{self.path / CONFIG}: the {field} key {key!r} {err}; write the module "
                                     "names it means instead") from None
        return out

    def _load_bin(self, f) -> dict[str, torch.Tensor]:
        """adapter_model.bin: a pickled {name: tensor} dict, loaded without running any code in it."""
        try:
            tensors = torch.load(f, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise MergeError(unpickling_message(self.weights, exc)) from None
        except Exception as exc:  # whatever a cut or garbled pickle raises
            raise MergeError(damaged_message(self.weights, f"{type(exc).__name__}: {exc}")) from None
        if not isinstance(tensors, dict):
            raise MergeError(f"{self.weights}: holds a {type(tensors).__name__}, not a {{name: tensor}} dict: the "
                             "adapter folder is damaged")
        for name, value in tensors.items():
            if not isinstance(name, str) or not isinstance(value, torch.Tensor):
                raise MergeError(f"{self.weights}: entry {name!r} is a {type(value).__name__}, not a named tensor: "
                                 "the adapter folder is damaged")
        return tensors

    def _method(self) -> Method:
        cfg = self.config
        kind = cfg.get("peft_type")
        if not isinstance(kind, str):
            raise self._bad("peft_type", kind, 'the adapter\'s type as text, e.g. "LORA"')
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
            r = _pattern_value(self.patterns["rank_pattern"], module, cfg["r"])
            alpha = _pattern_value(self.patterns["alpha_pattern"], module, cfg["lora_alpha"])
            held = self._refs[f"{module}.lora_A"].shape[0]
            if held != r:
                raise MergeError(f"{self.path / CONFIG} gives {module} rank {r}, but its lora_A in {self.weights.name} "
                                 f"has rank {held}: the config does not belong to these weights")
            scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
            out[module] = {"lora_alpha": scale * r}  # lora.merge_weight divides by r
        return out

    def options(self) -> dict:
        base = self.config.get("base_model_name_or_path")
        return {"finetune_mode": self.method.name, "lora_alpha": self.config.get("lora_alpha"),
                "model_path": base if isinstance(base, str) else None}


def _dtype(name: str) -> torch.dtype:
    return {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}.get(
        name, torch.float32)
