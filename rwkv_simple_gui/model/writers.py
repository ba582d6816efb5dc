"""Write a flat ``{name: tensor}`` file one tensor at a time: torch's zip format (``.pth``) or safetensors.

The names, shapes and dtypes are fixed up front (the file's header, which comes first); the tensors are
then taken in that order, so a merge or export never holds more than the tensor it writes.
"""

from __future__ import annotations

import collections
import io
import json
import math
import pickle
from typing import Iterable, NamedTuple

import torch

from .lazy import CLASS_OF_DTYPE


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
            return ("storage", CLASS_OF_DTYPE[obj.dtype], obj.key, "cpu", obj.numel)
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
    ``torch.load(weights_only=True, mmap=True)``: records are 64-byte aligned. ``records`` are extra
    archive records (metadata) that ``torch.load`` ignores.
    """

    def __init__(self, file, specs: Iterable[tuple[str, tuple[int, ...], torch.dtype]],
                 records: dict[str, bytes] | None = None):
        super().__init__(specs)
        slots = {}
        for index, (name, shape, dtype) in enumerate(self._specs):
            if dtype not in CLASS_OF_DTYPE:
                raise ValueError(f"cannot save {name}: dtype {dtype} is not supported")
            slots[name] = _TensorSlot(_StorageSlot(str(index), dtype, math.prod(shape)), shape)
        buf = io.BytesIO()
        _HeaderPickler(buf, protocol=2).dump(slots)
        # torch.load never checks record CRCs, and computing them took a third of a merge's time; torch
        # itself skips them with torch.serialization.config.save.compute_crc32 = False
        self._zip = torch._C.PyTorchFileWriter(file, False)
        header = buf.getvalue()
        self._zip.write_record("data.pkl", header, len(header))
        fixed = {".format_version": b"1", ".storage_alignment": b"64", "byteorder": b"little"}
        for record, value in {**fixed, **(records or {})}.items():
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

