"""Read a torch ``.pth`` (zip) file, or a ``.safetensors`` one, one tensor at a time.

``torch.load`` materialises a whole file, and even ``mmap=True`` leaves every page it touched resident, so a
tool that streams a model through it peaks at the file size or more. :class:`LazyStateDict` reads the zip's
``data.pkl`` into :class:`TensorRef` (where each tensor lives) and each tensor only when asked;
:class:`LazySafetensors` does the same from a safetensors header. :func:`open_state_dict` picks by content.
"""

from __future__ import annotations

import collections
import io
import pickle
import re
from pathlib import Path
from typing import Iterator, Mapping, NamedTuple

import torch

from .. import paths
from .rwkv import ModelFormatError

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"


def damaged_message(path: Path, detail: str = "") -> str:
    """What to tell about a file that starts like a torch file but cannot be read."""
    with open(path, "rb") as f:
        head = f.read(4)
    size = Path(path).stat().st_size
    if head == _ZIP_MAGIC:
        return (f"{path}: the file is damaged or truncated ({size:,} bytes; it starts like a PyTorch .pth archive but "
                "its end is missing or broken, as after an interrupted copy or download): copy it again, or pick "
                "another file")
    if head[:1] == _PICKLE_MAGIC:
        return (f"{path}: the file is damaged or truncated ({size:,} bytes; {detail or 'the pickle ends early'}): "
                "copy it again, or pick another file")
    return (f"{path}: not an RWKV model: not a PyTorch checkpoint (it starts with {head!r}, neither a zip "
            "archive nor a pickle); pick the model's .pth file")


def refused_message(path: Path, exc: Exception) -> str:
    """A file ``torch.load(weights_only=True)`` refused; torch's own text advises loading it unsafely, which is
    the wrong advice for a file that can run code."""
    found = re.search(r"GLOBAL (\S+)", str(exc))
    what = f" ({found.group(1)})" if found else ""
    return (f"{path}: refused: it holds Python objects besides tensors{what}, which could run code, so they are "
            "not loaded for safety. An RWKV model or checkpoint is a flat {name: tensor} dict: re-save only the "
            "tensors where the file was made, or use a file from a source you trust.")


def unpickling_message(path: Path, exc: Exception) -> str:
    """A pickle ``torch.load(weights_only=True)`` would not load: refused when it names code to run, else
    damaged."""
    text = str(exc)
    if "GLOBAL" in text or "global" in text:
        return refused_message(path, exc)
    # torch wraps the unpickler's own words in advice to load the file unsafely: only its words are kept
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    return damaged_message(path, found.group(1) if found else (text.strip().splitlines() or [""])[0])


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



    def numel(self) -> int:
        n = 1
        for size in self.shape:
            n *= size
        return n

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
CLASS_OF_DTYPE = {dtype: _STORAGE_CLASSES[name] for name, dtype in _STORAGE_DTYPES.items()}


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


class _RefMap(Mapping[str, TensorRef]):
    """A checkpoint's tensors by name, as TensorRefs (``_refs``) read without their data."""

    _refs: dict[str, TensorRef]

    def __getitem__(self, key: str) -> TensorRef:
        return self._refs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)


class LazyStateDict(_RefMap):
    """The ``{name: tensor}`` dict of a ``.pth`` without reading its tensors until asked.

    Keys of a nested ``state_dict`` and a ``module.``/``model.`` prefix (DeepSpeed, Lightning,
    RWKV-PEFT's PiSSA init) are unwrapped. Files in the legacy (pre-zip) format are loaded whole.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such file")
        self._eager: dict[str, torch.Tensor] | None = None
        with paths.open_read(self.path) as f:  # in the app: the file checked is the file read
            try:
                self._reader = torch._C.PyTorchFileReader(paths.pinned(f))
            except RuntimeError:
                self._reader = None
            if self._reader is None:
                obj = self._load_legacy(f)
        if self._reader is not None:
            try:
                obj = _LazyUnpickler(io.BytesIO(self._reader.get_record("data.pkl"))).load()
            except pickle.UnpicklingError as exc:
                raise ModelFormatError(refused_message(self.path, exc)) from None
            except (RuntimeError, EOFError) as exc:
                raise ModelFormatError(damaged_message(self.path, str(exc).split(".")[0])) from None
        if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
            obj = obj["state_dict"]
        if not isinstance(obj, Mapping):
            raise ModelFormatError(f"{self.path}: holds a {type(obj).__name__}, not a {{name: tensor}} dict")
        tensor_types = (TensorRef,) if self._reader is not None else (torch.Tensor,)
        entries = {}
        for name, value in obj.items():
            if not isinstance(value, tensor_types):
                raise ModelFormatError(f"{self.path}: key {name!r} holds a {type(value).__name__}, not a tensor")
            entries[_strip_prefix(str(name))] = value
        if self._reader is None:
            self._eager = entries
            self._refs = {k: _ref_of(v) for k, v in entries.items()}
        else:
            self._refs = entries

    def _load_legacy(self, f) -> object:
        """A file in torch's legacy (pre-zip) format, loaded whole."""
        if f.read(1) != _PICKLE_MAGIC:
            raise ModelFormatError(damaged_message(self.path))
        f.seek(0)
        try:
            return torch.load(f, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ModelFormatError(unpickling_message(self.path, exc)) from None
        except Exception as exc:
            raise ModelFormatError(damaged_message(self.path, f"{type(exc).__name__}: {exc}")) from None

    def load(self, key: str) -> torch.Tensor:
        """The tensor ``key``, read from disk now (a fresh CPU tensor owned by the caller)."""
        if self._eager is not None:
            return self._eager[key].clone()
        ref = self._refs[key]
        nbytes = ref.storage.numel * ref.dtype.itemsize
        try:
            raw = self._reader.get_storage_from_record(f"data/{ref.storage.key}", nbytes, torch.UntypedStorage)
        except RuntimeError as exc:
            raise ModelFormatError(
                f"{self.path}: the file is damaged: tensor {key} (record data/{ref.storage.key}) cannot be read "
                f"({str(exc).split('.')[0]}). Copy or download it again, or pick another file") from None
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




_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                       "U8": torch.uint8, "BOOL": torch.bool}


class LazySafetensors(_RefMap):
    """The ``{name: tensor}`` of a ``.safetensors`` file (RWKV key names, as training reads it), each tensor
    read when asked."""

    def __init__(self, path: str | Path):
        from safetensors import SafetensorError, safe_open

        self.path = Path(path)
        with paths.open_read(self.path) as f:  # in the app: the file checked is the file read
            try:
                self._file = safe_open(paths.pinned(f), "pt")
            except SafetensorError as exc:
                raise ModelFormatError(f"{self.path}: not a readable safetensors file ({exc}): copy it again, or "
                                       "pick another file") from None
        self._refs = {}
        for name in self._file.keys():
            part = self._file.get_slice(name)
            dtype = _SAFETENSORS_DTYPES.get(part.get_dtype())
            if dtype is None:
                raise ModelFormatError(f"{self.path}: tensor {name} is of type {part.get_dtype()}, not one a model "
                                       "holds")
            self._refs[name] = _ref_of(torch.empty(part.get_shape(), dtype=dtype, device="meta"))

    def load(self, key: str) -> torch.Tensor:
        if key not in self._refs:
            raise KeyError(key)
        return self._file.get_tensor(key)


def open_state_dict(path: str | Path) -> LazyStateDict | LazySafetensors:
    """A model file read one tensor at a time, whichever format it is in (torch zip or pickle, safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with paths.open_read(path) as f:
        head = f.read(9)
    # a safetensors file starts with the 8-byte length of its JSON header
    if head[:4] != _ZIP_MAGIC and head[:1] != _PICKLE_MAGIC and head[8:9] == b"{":
        return LazySafetensors(path)
    return LazyStateDict(path)
