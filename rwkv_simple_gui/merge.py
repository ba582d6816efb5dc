"""Fold a training checkpoint into its base model and export it: a flat ``.pth`` for the ``rwkv`` package
and RWKV-Runner, an Ai00/web-rwkv ``.st``, or (state tuning) a ``time_state`` file.

Memory: ``torch.load`` materialises a whole file, and even ``mmap=True`` leaves every page it touched
resident, so a merge that reads the base through it peaks at the file size or more. Here both files
are read through their zip index one tensor at a time, and the output's header (which only needs
names, shapes and dtypes) is written first, then each tensor as soon as it is computed. Peak memory
is a few copies of the largest tensor, whatever the model size (0.17x the file for a 1.5B model,
bench/merge.py).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import io
import json
import math
import pickle
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple

import torch

from rwkv_simple_gui import paths

Progress = Callable[[int, int, str], None]

FORMATS = ("pth", "st", "both")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
QUANTS = ("none", "int8", "nf4", "fp4")
METHODS = ("lora", "pissa", "bone", "bat", "state", "full")


class MergeError(ValueError):
    """A merge that cannot be done as asked; the message says what is wrong and what to pick instead."""


# ------------------------------------------------------------------------------------------------
# torch zip files, one tensor at a time
# ------------------------------------------------------------------------------------------------

class _StorageRef(NamedTuple):
    key: str
    dtype: torch.dtype
    numel: int


class TensorRef(NamedTuple):
    """Where a tensor lives inside a torch zip file: read it with :meth:`LazyStateDict.load`."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def dtype(self) -> torch.dtype:
        return self.storage.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _rebuild_tensor_ref(storage, offset, shape, stride, *_ignored) -> TensorRef:
    return TensorRef(storage, int(offset), tuple(shape), tuple(stride))


def _rebuild_parameter(data, *_ignored):
    return data


# torch.save names a storage by its legacy class (torch.BFloat16Storage, ...).
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
_STORAGE_CLASSES = {name: getattr(torch, name) for name in _STORAGE_DTYPES}
_DTYPE_OF_CLASS = {cls: _STORAGE_DTYPES[name] for name, cls in _STORAGE_CLASSES.items()}
_CLASS_OF_DTYPE = {dtype: _STORAGE_CLASSES[name] for name, dtype in _STORAGE_DTYPES.items()}


class _LazyUnpickler(pickle.Unpickler):
    """Reads ``data.pkl`` of a torch zip file into TensorRefs instead of tensors.

    Only the globals a plain state dict needs are accepted, like ``torch.load(weights_only=True)``.
    """

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_ref
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_CLASSES:
            return _STORAGE_CLASSES[name]
        if module == "torch" and name == "UntypedStorage":
            return torch.UntypedStorage
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        dtype = torch.uint8 if storage_type is torch.UntypedStorage else _DTYPE_OF_CLASS[storage_type]
        return _StorageRef(str(key), dtype, int(numel))


class LazyStateDict(Mapping[str, TensorRef]):
    """The ``{name: tensor}`` dict of a ``.pth`` without reading its tensors until asked.

    Keys of a nested ``state_dict`` and a ``module.``/``model.`` prefix (DeepSpeed, Lightning,
    RWKV-PEFT's PiSSA init) are unwrapped. Files in the legacy (pre-zip) format are loaded whole.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        self._eager: dict[str, torch.Tensor] | None = None
        try:
            self._reader = torch._C.PyTorchFileReader(str(self.path))
        except RuntimeError:
            self._reader = None
        if self._reader is not None:
            obj = _LazyUnpickler(io.BytesIO(self._reader.get_record("data.pkl"))).load()
        else:
            try:
                obj = torch.load(self.path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise MergeError(f"{self.path}: not a PyTorch weights file ({exc})") from None
        if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
            obj = obj["state_dict"]
        if not isinstance(obj, Mapping):
            raise MergeError(f"{self.path}: holds a {type(obj).__name__}, not a {{name: tensor}} dict")
        tensor_types = (TensorRef,) if self._reader is not None else (torch.Tensor,)
        entries = {}
        for name, value in obj.items():
            if not isinstance(value, tensor_types):
                raise MergeError(f"{self.path}: key {name!r} holds a {type(value).__name__}, not a tensor")
            entries[_strip_prefix(str(name))] = value
        if self._reader is None:
            self._eager = entries
            self._refs = {k: _ref_of(v) for k, v in entries.items()}
        else:
            self._refs = entries

    def __getitem__(self, key: str) -> TensorRef:
        return self._refs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def load(self, key: str) -> torch.Tensor:
        """The tensor ``key``, read from disk now (a fresh CPU tensor owned by the caller)."""
        if self._eager is not None:
            return self._eager[key].clone()
        ref = self._refs[key]
        nbytes = ref.storage.numel * ref.dtype.itemsize
        raw = self._reader.get_storage_from_record(f"data/{ref.storage.key}", nbytes, torch.UntypedStorage)
        flat = torch.empty(0, dtype=ref.dtype).set_(raw.untyped_storage())
        tensor = flat.as_strided(ref.shape, ref.stride, ref.offset)
        if tensor.numel() != flat.numel():
            tensor = tensor.clone()
        return tensor


def _strip_prefix(name: str) -> str:
    for prefix in ("module.", "model."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _ref_of(t: torch.Tensor) -> TensorRef:
    return TensorRef(_StorageRef("", t.dtype, t.numel()), 0, tuple(t.shape), tuple(t.stride()))


def _contiguous_stride(shape: tuple[int, ...]) -> tuple[int, ...]:
    stride, acc = [], 1
    for size in reversed(shape):
        stride.append(acc)
        acc *= size
    return tuple(reversed(stride))


class _StorageSlot(NamedTuple):
    key: str
    dtype: torch.dtype
    numel: int


class _TensorSlot(NamedTuple):
    storage: _StorageSlot
    shape: tuple[int, ...]


class _HeaderPickler(pickle.Pickler):
    """Pickles ``{name: _TensorSlot}`` exactly as ``torch.save`` pickles ``{name: tensor}``."""

    def persistent_id(self, obj):
        if isinstance(obj, _StorageSlot):
            return ("storage", _CLASS_OF_DTYPE[obj.dtype], obj.key, "cpu", obj.numel)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _TensorSlot):
            args = (obj.storage, 0, obj.shape, _contiguous_stride(obj.shape), False,
                    collections.OrderedDict())
            return torch._utils._rebuild_tensor_v2, args
        return NotImplemented


class _InOrderWriter:
    """A writer of tensors whose names, shapes and dtypes were fixed up front, taken in that order."""

    def __init__(self, specs: Iterable[tuple[str, tuple[int, ...], torch.dtype]]):
        self._specs = [(name, tuple(shape), dtype) for name, shape, dtype in specs]
        self._next = 0

    def _take(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """Check ``tensor`` is the next one expected; returns it contiguous on the CPU."""
        expect_name, shape, dtype = self._specs[self._next]
        if name != expect_name or tuple(tensor.shape) != shape or tensor.dtype != dtype:
            raise RuntimeError(f"writer expected {expect_name} {shape} {dtype}, got {name} "
                               f"{tuple(tensor.shape)} {tensor.dtype}")
        self._next += 1
        return tensor.detach().cpu().contiguous()

    def finish(self) -> None:
        """Every tensor must have been written."""
        if self._next != len(self._specs):
            raise RuntimeError(f"writer finished after {self._next} of {len(self._specs)} tensors")
        self.close()

    def close(self) -> None:
        """Release the output (also after a failure)."""


class TorchZipWriter(_InOrderWriter):
    """Writes a flat ``{name: tensor}`` file in ``torch.save``'s zip format, one tensor at a time.

    The names, shapes and dtypes are fixed up front (they make up ``data.pkl``, which comes first in
    the archive); :meth:`write` then takes the tensors in that order. The result loads with
    ``torch.load(weights_only=True, mmap=True)``: records are 64-byte aligned.
    """

    def __init__(self, file, specs: Iterable[tuple[str, tuple[int, ...], torch.dtype]]):
        super().__init__(specs)
        slots = {}
        for index, (name, shape, dtype) in enumerate(self._specs):
            if dtype not in _CLASS_OF_DTYPE:
                raise MergeError(f"cannot save {name}: dtype {dtype} is not supported")
            slots[name] = _TensorSlot(_StorageSlot(str(index), dtype, math.prod(shape)), shape)
        buf = io.BytesIO()
        _HeaderPickler(buf, protocol=2).dump(slots)
        # torch.load never checks record CRCs, and computing them took a third of a merge's time; torch
        # itself skips them with torch.serialization.config.save.compute_crc32 = False
        self._zip = torch._C.PyTorchFileWriter(file, False)
        header = buf.getvalue()
        self._zip.write_record("data.pkl", header, len(header))
        for record, value in ((".format_version", "1"), (".storage_alignment", "64"), ("byteorder", "little")):
            self._zip.write_record(record, value, len(value))

    def write(self, name: str, tensor: torch.Tensor) -> None:
        index = self._next
        tensor = self._take(name, tensor)
        if tensor.storage_offset() or tensor.untyped_storage().nbytes() != tensor.nbytes:
            tensor = tensor.clone()
        self._zip.write_record(f"data/{index}", tensor.untyped_storage(), tensor.nbytes)

    def close(self) -> None:
        """End the archive while its file is still open (also after a failure: the C++ writer would
        otherwise finish it in its destructor, after the file is gone, and abort the process)."""
        if self._zip is not None:
            zip_writer, self._zip = self._zip, None
            zip_writer.write_end_of_file()


_ST_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}


class SafetensorsWriter(_InOrderWriter):
    """Writes a safetensors file one tensor at a time (the header, with every offset, comes first)."""

    def __init__(self, file, specs: Iterable[tuple[str, tuple[int, ...], torch.dtype]],
                 metadata: dict[str, str] | None = None):
        super().__init__(specs)
        self._file = file
        header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
        offset = 0
        for name, shape, dtype in self._specs:
            nbytes = math.prod(shape) * dtype.itemsize
            header[name] = {"dtype": _ST_DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        file.write(len(raw).to_bytes(8, "little"))
        file.write(raw)

    def write(self, name: str, tensor: torch.Tensor) -> None:
        self._file.write(memoryview(self._take(name, tensor).view(-1).view(torch.uint8).numpy()))


# ------------------------------------------------------------------------------------------------
# Ai00 / web-rwkv .st naming (the transform of its convert_safetensors.py)
# ------------------------------------------------------------------------------------------------

AI00_RENAMES = (("time_faaaa", "time_first"), ("time_maa", "time_mix"), ("lora_A", "lora.0"), ("lora_B", "lora.1"))
AI00_TRANSPOSED = ("time_mix_w1", "time_mix_w2", "time_decay_w1", "time_decay_w2", "w1", "w2", "a1", "a2",
                   "g1", "g2", "v1", "v2", "time_state", "lora.0")


def ai00_name(name: str) -> str:
    for old, new in AI00_RENAMES:
        name = name.replace(old, new)
    return name.lower()


def ai00_transposed(st_name: str) -> bool:
    return any(part in st_name for part in AI00_TRANSPOSED)


def ai00_spec(name: str, shape: tuple[int, ...]) -> tuple[str, tuple[int, ...], torch.dtype]:
    st_name = ai00_name(name)
    if ai00_transposed(st_name) and len(shape) >= 2:
        shape = (*shape[:-2], shape[-1], shape[-2])
    return st_name, tuple(shape), torch.float16


def ai00_tensor(st_name: str, tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.to(torch.float16)
    if ai00_transposed(st_name) and tensor.ndim >= 2:
        tensor = tensor.transpose(-2, -1)
    return tensor.contiguous()


# ------------------------------------------------------------------------------------------------
# Reading what a checkpoint holds
# ------------------------------------------------------------------------------------------------

_LAYER = re.compile(r"^blocks\.(\d+)\.")
_V6_HINTS = (".att.time_maa", ".att.time_decay", ".att.time_faaaa", ".att.gate.", ".ffn.receptance.", ".ffn.time_maa")
_V7_HINTS = (".att.x_r", ".att.w0", ".att.r_k", ".att.k_k", ".att.a0", ".att.g1", ".att.v0", ".ffn.x_k")


def model_version(keys: Iterable[str]) -> str | None:
    """"x070" or "x060" from key names (the rules of the ``rwkv`` package), None when neither."""
    keys = list(keys)
    if any(k.endswith(".att.r_k") for k in keys):
        return "x070"
    if any(".att.time_maa" in k for k in keys):
        return "x060"
    return None


def _hinted_version(keys: Iterable[str]) -> str | None:
    keys = list(keys)
    if any(h in k for k in keys for h in _V7_HINTS):
        return "x070"
    if any(h in k for k in keys for h in _V6_HINTS):
        return "x060"
    return None


def layer_count(keys: Iterable[str]) -> int:
    """1 + the largest ``blocks.<i>`` index among the keys (0 when there is none)."""
    layers = [int(m.group(1)) for k in keys if (m := _LAYER.match(k))]
    return max(layers) + 1 if layers else 0


@dataclass
class CheckpointPlan:
    """What a checkpoint holds, sorted by how it is merged."""

    method: str
    lora: dict[str, tuple[str, str]] = field(default_factory=dict)   # module -> (A key, B key)
    disha: dict[str, str] = field(default_factory=dict)               # module -> key (.disha or .bone)
    states: dict[int, str] = field(default_factory=dict)              # layer -> time_state key
    plain: list[str] = field(default_factory=list)                    # copied over the base (train_parts, full)


def plan_checkpoint(ckpt: Mapping[str, TensorRef], *, pissa: bool = False) -> CheckpointPlan:
    """Sort the checkpoint's keys into adapters, states and plain weights, and name the method."""
    plan = CheckpointPlan(method="full")
    a_keys, b_keys = {}, {}
    for key in ckpt:
        if key.endswith(".lora_A"):
            a_keys[key[: -len(".lora_A")]] = key
        elif key.endswith(".lora_B"):
            b_keys[key[: -len(".lora_B")]] = key
        elif key.endswith((".disha", ".bone")):
            plan.disha[key.rsplit(".", 1)[0]] = key
        elif key.endswith(".att.time_state") and (m := _LAYER.match(key)):
            plan.states[int(m.group(1))] = key
        elif ".init_lora_" in key:
            raise MergeError(f"{key!r} belongs in the PiSSA init file (init_pissa.pth), not in a checkpoint: "
                             "pick a rwkv-<epoch>.pth as the checkpoint")
        else:
            plan.plain.append(key)
    for module in sorted(set(a_keys) ^ set(b_keys)):
        half = "lora_B" if module in a_keys else "lora_A"
        raise MergeError(f"checkpoint has only one half of the LoRA pair of {module} ({half} is missing): "
                         "the file is incomplete; pick another epoch")
    plan.lora = {m: (a_keys[m], b_keys[m]) for m in a_keys}
    if plan.lora and plan.disha:
        raise MergeError("checkpoint holds both LoRA and DiSHA adapters; merge them one at a time")
    if plan.lora:
        plan.method = "pissa" if pissa else "lora"
    elif plan.disha:
        dims = {ckpt[k].ndim for k in plan.disha.values()}
        if not dims <= {2, 3} or len(dims) > 1:
            raise MergeError(f"DiSHA tensors must all be 2-D (bone) or all 3-D (bat); found {sorted(dims)}-D")
        plan.method = "bone" if dims == {2} else "bat"
    elif plan.states:
        plan.method = "state"
    elif not plan.plain:
        raise MergeError("checkpoint holds no tensors")
    return plan


def run_config(checkpoint: str | Path) -> dict:
    """The training run's config.json next to the checkpoint, or {} (e.g. an RWKV-PEFT run)."""
    path = Path(checkpoint).parent / "config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MergeError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's ``rwkv-<epoch>.pth`` files, by epoch (init_pissa.pth and others left out)."""
    run_dir = paths.resolve(run_dir, base="output")
    found = [(int(m.group(1)), p) for p in run_dir.glob("rwkv-*.pth") if (m := re.fullmatch(r"rwkv-(\d+)\.pth", p.name))]
    return [p for _, p in sorted(found)]


def default_output(base: str | Path, checkpoint: str | Path, method: str) -> Path:
    """``merge/<base-stem>-<METHOD>-<epoch>.pth``, as the seed's merge.sh names it."""
    m = re.fullmatch(r"rwkv-(\d+)", Path(checkpoint).stem)
    epoch = m.group(1) if m else Path(checkpoint).stem
    return paths.folder("merge") / f"{Path(base).stem}-{method.upper()}-{epoch}.pth"


# ------------------------------------------------------------------------------------------------
# The merge
# ------------------------------------------------------------------------------------------------

@dataclass
class MergeResult:
    """What a merge wrote; ``peak_rss_mb`` is this process's peak so far (the CLI's is the merge's own)."""

    outputs: list[Path]
    method: str
    version: str
    keys_changed: int
    seconds: float
    peak_rss_mb: float
    notes: list[str] = field(default_factory=list)


def _quant_dequant(weight: torch.Tensor, quant: str) -> torch.Tensor:
    """The base weight as the quantized training run saw it: the trainer's own bitsandbytes round trip."""
    from rwkv_simple_gui.peft.quant import QuantizedWeight

    return QuantizedWeight(weight.to("cuda"), quant).dequantize().float().cpu()


def _check_quant(quant: str) -> None:
    if quant not in QUANTS:
        raise MergeError(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}")
    if quant == "none":
        return
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise MergeError(f"quant={quant} needs bitsandbytes (pip install bitsandbytes) and a CUDA GPU, "
                         "because the run trained on a quantized base; merge on the training machine") from None
    if not torch.cuda.is_available():
        raise MergeError(f"quant={quant} needs a CUDA GPU (bitsandbytes quantizes on the GPU); merge on the "
                         "training machine")


def _bone_delta(disha: torch.Tensor, in_features: int) -> torch.Tensor:
    """Bone: W[o, g*r + j] += disha[j, o] for every group g of r input columns (last group cut short)."""
    r = disha.shape[0]
    return disha.t().repeat(1, -(-in_features // r))[:, :in_features]


def _bat_delta(weight: torch.Tensor, disha: torch.Tensor) -> torch.Tensor:
    """Bat: block (a, b) of W, r x r, gains W_ab @ D_b + D_b."""
    out_f, in_f = weight.shape
    r = disha.shape[-1]
    blocks = weight.reshape(out_f // r, r, in_f // r, r).permute(0, 2, 1, 3)
    delta = blocks @ disha + disha
    return delta.permute(0, 2, 1, 3).reshape(out_f, in_f)


class _Merger:
    """Checks base and checkpoint against each other, then yields the merged tensors one by one."""

    def __init__(self, base: LazyStateDict, ckpt: LazyStateDict, plan: CheckpointPlan, *, alpha: float | None,
                 init: LazyStateDict | None, quant: str, config: dict):
        self.base, self.ckpt, self.plan = base, ckpt, plan
        self.alpha, self.init, self.quant, self.config = alpha, init, quant, config
        self.version = model_version(base)
        if self.version is None:
            raise MergeError(f"{base.path}: not an RWKV-6/7 model (no blocks.0.att.r_k or time_maa keys); "
                             "pick a base model .pth")
        self._check()
        self.adapted = {m + ".weight": m for m in (*plan.lora, *plan.disha)}

    def _mismatch(self, detail: str) -> MergeError:
        hint = self.config.get("model_path")
        pick = f"the base the run trained on ({hint})" if hint else "the base model the checkpoint was trained on"
        return MergeError(f"{self.ckpt.path} does not fit {self.base.path}: {detail}. Pick {pick}.")

    def _check(self) -> None:
        base, ckpt, plan = self.base, self.ckpt, self.plan
        base_layers, ckpt_layers = layer_count(base), layer_count(ckpt)
        ckpt_version = _hinted_version(ckpt)
        if ckpt_version and ckpt_version != self.version:
            raise self._mismatch(f"the checkpoint is for an {ckpt_version} model, the base is {self.version}")
        if ckpt_layers > base_layers:
            raise self._mismatch(f"the checkpoint has {ckpt_layers} layers, the base {base_layers}")
        for key in plan.plain:
            if key not in base:
                raise self._mismatch(f"key {key!r} is not in the base model")
            if ckpt[key].shape != base[key].shape:
                raise self._mismatch(f"{key} is {list(ckpt[key].shape)} in the checkpoint, "
                                     f"{list(base[key].shape)} in the base")
        for module, (a_key, b_key) in plan.lora.items():
            w = self._base_weight(module)
            a, b = ckpt[a_key].shape, ckpt[b_key].shape
            if len(a) != 2 or len(b) != 2 or a[1] != w.shape[1] or b[0] != w.shape[0] or a[0] != b[1]:
                raise self._mismatch(f"LoRA {module} has A {list(a)}, B {list(b)} but the base weight is "
                                     f"{list(w.shape)} (A must be [r, {w.shape[1]}], B [{w.shape[0]}, r])")
            if self.init is not None:
                for half, key in (("A", a_key), ("B", b_key)):
                    init_key = f"{module}.init_lora_{half}"
                    if init_key not in self.init:
                        raise MergeError(f"{self.init.path} has no {init_key}: it is not the PiSSA init of this "
                                         f"run; pick the init_pissa.pth written next to {ckpt.path.name}")
                    if self.init[init_key].shape != ckpt[key].shape:
                        raise MergeError(f"{self.init.path}: {init_key} is {list(self.init[init_key].shape)} but "
                                         f"the checkpoint's lora_{half} is {list(ckpt[key].shape)} (another PiSSA "
                                         f"rank); pick the init_pissa.pth of the same run")
        for module, key in plan.disha.items():
            w = self._base_weight(module)
            d = ckpt[key].shape
            out_f, in_f = w.shape
            if len(d) == 2 and d[1] != out_f:
                raise self._mismatch(f"bone {key} is {list(d)} but must be [r, {out_f}] for a {list(w.shape)} weight")
            if len(d) == 3:
                r = d[-1]
                if d[1] != r or in_f % r or out_f % r or d[0] != in_f // r:
                    raise self._mismatch(f"bat {key} is {list(d)}; a {list(w.shape)} weight needs "
                                         f"[{in_f}//r, r, r] with r dividing {out_f} and {in_f}")
        if plan.states:
            self._check_states()

    def _check_states(self) -> None:
        layers = layer_count(self.base)
        missing = sorted(set(range(layers)) - set(self.plan.states))
        if missing:
            raise self._mismatch(f"the state file has no time_state for layers {missing}")
        head_key = "blocks.0.att.r_k" if self.version == "x070" else "blocks.0.att.time_faaaa"
        h, n = self.base[head_key].shape[-2:]
        for layer, key in self.plan.states.items():
            if tuple(self.ckpt[key].shape) != (h, n, n):
                raise self._mismatch(f"{key} is {list(self.ckpt[key].shape)}, the base needs [{h}, {n}, {n}]")

    def _base_weight(self, module: str) -> TensorRef:
        key = module + ".weight"
        if key not in self.base:
            raise self._mismatch(f"the adapted weight {key!r} is not in the base model")
        ref = self.base[key]
        if ref.ndim != 2:
            raise self._mismatch(f"{key} is {list(ref.shape)} in the base, not a matrix")
        return ref

    def merged(self, key: str) -> tuple[torch.Tensor, bool]:
        """The output tensor for base key ``key`` (fp32 when changed) and whether it changed."""
        if key in self.ckpt and key in self.plan.plain:
            return self.ckpt.load(key), True
        module = self.adapted.get(key)
        if module is None:
            return self.base.load(key), False
        w = self.base.load(key).float()
        if self.plan.method == "pissa":
            b0 = self.init.load(f"{module}.init_lora_B").float()
            a0 = self.init.load(f"{module}.init_lora_A").float()
            w.addmm_(b0, a0, alpha=-1.0)
        if self.quant != "none":
            w = _quant_dequant(w, self.quant)
        if module in self.plan.lora:
            a_key, b_key = self.plan.lora[module]
            a, b = self.ckpt.load(a_key).float(), self.ckpt.load(b_key).float()
            w.addmm_(b, a, alpha=1.0 if self.plan.method == "pissa" else self.alpha / b.shape[1])
        else:
            d = self.ckpt.load(self.plan.disha[module]).float()
            w += _bone_delta(d, w.shape[1]) if d.ndim == 2 else _bat_delta(w, d)
        return w, True


def _open_pissa_init(pissa_init, checkpoint: Path, config: dict) -> LazyStateDict | None:
    if pissa_init:
        path = paths.resolve(pissa_init, base="output")
    elif (checkpoint.parent / "init_pissa.pth").is_file():
        path = checkpoint.parent / "init_pissa.pth"
    elif config.get("finetune_mode") == "pissa":
        raise MergeError(f"{checkpoint.parent} is a PiSSA run but has no init_pissa.pth: pass the run's "
                         "init file with --pissa-init (it is written when the run starts)")
    else:
        return None
    if not path.is_file():
        raise MergeError(f"PiSSA init file {path} does not exist: pick the init_pissa.pth of the run")
    return LazyStateDict(path)


def _output_paths(out: Path, fmt: str) -> list[Path]:
    """The files for ``fmt``; a name like ``rwkv7-1.5b`` keeps its dot (only .pth/.st are replaced)."""
    stem = out.with_suffix("") if out.suffix in (".pth", ".st") else out
    suffixes = (".pth", ".st") if fmt == "both" else ("." + fmt,)
    return [stem.with_name(stem.name + suffix) for suffix in suffixes]


def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere.

    Tensors of 8-64 MB come and go for every weight; glibc serves them from its heap once a freed one
    raised its mmap threshold, and the heap's free holes then count as used memory (it grew to 1.8 GB
    on a 3 GB model). Trimming after each tensor keeps the peak at what is really alive.
    """
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def merge(base: str | Path, checkpoint: str | Path, out: str | Path | None = None, *, fmt: str = "pth",
          dtype: str = "bf16", lora_alpha: float | None = None, pissa_init: str | Path | None = None,
          quant: str | None = None, merge_state: bool = False, progress: Progress | None = None) -> MergeResult:
    """Fold ``checkpoint`` into ``base`` and write ``out`` (``.pth``, ``.st`` or both).

    The method is read from the checkpoint's keys; ``lora_alpha``, ``quant`` and the PiSSA init
    default to the run's config.json / init_pissa.pth next to the checkpoint. A state-tuning
    checkpoint gives a state file (``time_state`` only) instead of a model; with ``merge_state``
    (RWKV-6 only, whose ``rwkv`` loader reads them) the states are also merged into a model.
    ``out=None`` names it ``merge/<base-stem>-<METHOD>-<epoch>.pth``.
    """
    started = time.perf_counter()
    if fmt not in FORMATS:
        raise MergeError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if dtype not in DTYPES:
        raise MergeError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    base_path = paths.resolve(base, base="model")
    ckpt_path = paths.resolve(checkpoint, base="output")
    for role, path in (("base model", base_path), ("checkpoint", ckpt_path)):
        if not path.is_file():
            raise MergeError(f"{role} {path} does not exist")
    config = run_config(ckpt_path)
    quant = quant if quant is not None else config.get("quant") or "none"
    _check_quant(quant)
    base_sd, ckpt_sd = LazyStateDict(base_path), LazyStateDict(ckpt_path)

    maybe_pissa = any(k.endswith(".lora_A") for k in ckpt_sd) and config.get("finetune_mode") != "lora"
    init_sd = _open_pissa_init(pissa_init, ckpt_path, config) if maybe_pissa else None
    plan = plan_checkpoint(ckpt_sd, pissa=init_sd is not None)
    notes = []
    if plan.method == "lora":
        if lora_alpha is None:
            lora_alpha = config.get("lora_alpha")
        if lora_alpha is None:
            raise MergeError(f"LoRA alpha of {ckpt_path.name} is unknown (no config.json next to it): pass "
                             "--lora-alpha with the value used in training (LORA_ALPHA); if this is a PiSSA "
                             "run, pass --pissa-init instead")
    if plan.method == "state" and plan.plain:
        notes.append(f"{len(plan.plain)} other trained keys are not part of a state file and were left out")
    merger = _Merger(base_sd, ckpt_sd, plan, alpha=lora_alpha, init=init_sd, quant=quant, config=config)
    if merge_state and (plan.method != "state" or merger.version != "x060"):
        raise MergeError("merging a state into the model works for RWKV-6 state tuning only: the rwkv package "
                         "ignores time_state keys in an RWKV-7 model; mount the state file instead")

    out_path = paths.resolve(out, base="merge") if out else default_output(base_path, ckpt_path, plan.method)
    targets = _output_paths(out_path, fmt)
    states = [plan.states[i] for i in sorted(plan.states)]
    if plan.method == "state" and not merge_state:
        specs = [(k, ckpt_sd[k].shape, ckpt_sd[k].dtype) for k in states]  # the trained tensors as they are
    else:
        cast = lambda ref: DTYPES[dtype] if ref.dtype.is_floating_point else ref.dtype  # noqa: E731
        specs = [(k, ref.shape, cast(ref)) for k, ref in base_sd.items()]
        if merge_state:
            specs += [(k, ckpt_sd[k].shape, DTYPES[dtype]) for k in states]

    def produce(key: str) -> tuple[torch.Tensor, bool]:
        return (ckpt_sd.load(key), True) if key in plan.states.values() else merger.merged(key)

    changed = 0
    trim = _malloc_trim()
    with paths.atomic_outputs(*targets) as tmps, contextlib.ExitStack() as stack:
        writers = []
        for target, tmp in zip(targets, tmps):
            f = stack.enter_context(open(tmp, "wb"))
            if target.suffix == ".pth":
                writers.append((None, TorchZipWriter(f, specs)))
            else:
                st_specs = [ai00_spec(name, shape) for name, shape, _ in specs]
                writers.append((st_specs, SafetensorsWriter(f, st_specs, metadata={"format": "pt"})))
            stack.callback(writers[-1][1].close)  # before its file closes
        for index, (key, _, out_dtype) in enumerate(specs):
            tensor, was_changed = produce(key)
            changed += was_changed
            for st_specs, writer in writers:
                if st_specs is None:
                    writer.write(key, tensor.to(out_dtype))
                else:
                    st_name = st_specs[index][0]
                    writer.write(st_name, ai00_tensor(st_name, tensor))
            del tensor
            if trim:
                trim(0)
            if progress:
                progress(index + 1, len(specs), key)
        for _, writer in writers:
            writer.finish()
    return MergeResult(outputs=targets, method=plan.method, version=merger.version, keys_changed=changed,
                       seconds=time.perf_counter() - started, peak_rss_mb=_peak_rss_mb(), notes=notes)


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="base model .pth (in model/)")
    parser.add_argument("--checkpoint", required=True, help="training checkpoint, e.g. output/RUN/rwkv-3.pth")
    parser.add_argument("--out", help="output path (default merge/<base>-<METHOD>-<epoch>.pth); the suffix "
                                      "follows --format")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="pth",
                        help="pth: rwkv package / RWKV-Runner; st: Ai00 / web-rwkv safetensors; both")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="bf16", help="dtype of the .pth (.st is fp16)")
    parser.add_argument("--lora-alpha", type=float, help="LoRA alpha used in training (default: the run's config)")
    parser.add_argument("--pissa-init", help="init_pissa.pth of the run (default: next to the checkpoint)")
    parser.add_argument("--quant", choices=QUANTS, help="quantization used in training (default: the run's config)")
    parser.add_argument("--merge-state", action="store_true",
                        help="state tuning on RWKV-6: also write the model with the state merged in")


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    bars = []  # created on the first tensor, so a refused merge prints only its error

    def report(done: int, total: int, key: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="tensor", file=sys.stderr, dynamic_ncols=True))
        bars[0].set_postfix_str(key, refresh=False)
        bars[0].update(done - bars[0].n)

    try:
        result = merge(args.base, args.checkpoint, args.out, fmt=args.fmt, dtype=args.dtype,
                       lora_alpha=args.lora_alpha, pissa_init=args.pissa_init, quant=args.quant,
                       merge_state=args.merge_state, progress=report)
    except (MergeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    for note in result.notes:
        print(f"note: {note}")
    kind = "state file" if result.method == "state" and not args.merge_state else "merged model"
    print(f"{result.method} ({result.version}): {result.keys_changed} tensors changed, "
          f"{result.seconds:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB")
    for path in result.outputs:
        print(f"{kind}: {paths.display(path)} ({path.stat().st_size / 2**20:.1f} MB)")
    return 0
