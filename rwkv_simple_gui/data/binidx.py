"""RWKV-LM / Megatron ``MMIDIDX`` binidx: ``PREFIX.bin`` holds the tokens, ``PREFIX.idx`` the item table.

``.idx`` layout (little-endian): ``b"MMIDIDX\\x00\\x00"`` · u64 version 1 · u8 dtype code (8 = uint16) ·
u64 item count n · u64 doc_idx count · int32 sizes[n] · int64 pointers[n] (byte offset of each item in
``.bin``) · int64 doc_idx (``0..n``: one item per document). ``.bin`` is the items' tokens back to back.

``PREFIX.meta.json`` (ours) records the tokenizer and how the file was made, so training and chat
use the vocabulary the data was tokenized with.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from pathlib import Path
from typing import BinaryIO, Iterable

import numpy as np

from .. import paths

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
UINT16_CODE = 8
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, UINT16_CODE: np.uint16}
_HEADER = struct.Struct("<9sQBQQ")


class BinIdxError(ValueError):
    """A binidx cannot be written or read; the message names the file and what to do."""


def split_prefix(path: str | os.PathLike) -> Path:
    """The prefix of a binidx, given the prefix itself or any of its files."""
    p = Path(path)
    for suffix in (".meta.json", ".bin", ".idx"):
        if p.name.endswith(suffix):
            return p.with_name(p.name[: -len(suffix)])
    return p


def bin_path(prefix: str | os.PathLike) -> Path:
    return Path(f"{prefix}.bin")


def idx_path(prefix: str | os.PathLike) -> Path:
    return Path(f"{prefix}.idx")


def meta_path(prefix: str | os.PathLike) -> Path:
    return Path(f"{prefix}.meta.json")


def as_uint16(tokens, where: str = "") -> np.ndarray:
    """Tokens as uint16, or a clear error for an id that uint16 cannot hold (a vocabulary over 65536)."""
    arr = np.asarray(tokens)
    if arr.dtype == np.uint16:
        return arr
    if arr.size and (arr.min() < 0 or arr.max() > 0xFFFF):
        bad = int(arr.max()) if arr.max() > 0xFFFF else int(arr.min())
        raise BinIdxError(
            f"token id {bad}{where} does not fit the uint16 binidx (ids 0..65535); "
            "use a vocabulary of at most 65536 tokens"
        )
    return arr.astype(np.uint16)


def write_tokens(out: BinaryIO, tokens: np.ndarray) -> None:
    """Append tokens to a binary file as little-endian uint16. ``file.write``, not ``ndarray.tofile``: a
    full disk then raises OSError(ENOSPC) instead of numpy's errno-less "N requested and M written"."""
    out.write(memoryview(np.ascontiguousarray(tokens, "<u2")).cast("B"))


def write_index(path: str | os.PathLike, sizes: np.ndarray) -> None:
    """Write a uint16 ``.idx`` for items of the given sizes (in tokens), one item per document."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.size and sizes.max() > np.iinfo(np.int32).max:
        raise BinIdxError(f"an item of {int(sizes.max())} tokens is too long for the binidx size field (int32)")
    n = len(sizes)
    pointers = np.zeros(n, np.int64)
    np.cumsum(sizes[:-1] * np.dtype(np.uint16).itemsize, out=pointers[1:])
    with open(path, "wb") as f:
        f.write(_HEADER.pack(MAGIC, VERSION, UINT16_CODE, n, n + 1))
        f.write(sizes.astype("<i4").tobytes())
        f.write(pointers.astype("<i8").tobytes())
        f.write(np.arange(n + 1, dtype="<i8").tobytes())


class BinIdxWriter:
    """Write a uint16 binidx item by item; the files appear together, and only if the block succeeds.

    >>> with BinIdxWriter("data/x", meta={"tokenizer": tok.identity}) as w:
    ...     w.add([12, 34, 0])
    """

    def __init__(self, prefix: str | os.PathLike, *, meta: dict | None = None):
        self.prefix = split_prefix(prefix)
        self.meta = meta
        self.sizes: list[np.ndarray] = []
        self.num_tokens = 0
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> "BinIdxWriter":
        self._stack = contextlib.ExitStack()
        targets = [bin_path(self.prefix), idx_path(self.prefix)] + (
            [meta_path(self.prefix)] if self.meta is not None else []
        )
        self._tmp = self._stack.enter_context(paths.atomic_outputs(*targets))
        self._bin = self._stack.enter_context(open(self._tmp[0], "wb"))
        return self

    def add(self, tokens: Iterable[int]) -> None:
        """Append one item (a document, EOF token included if wanted)."""
        arr = as_uint16(tokens if isinstance(tokens, np.ndarray) else np.asarray(list(tokens), np.int64))
        self.add_items(arr, np.array([arr.size], np.int64))

    def add_items(self, tokens: np.ndarray, sizes: np.ndarray) -> None:
        """Append several items at once: their tokens back to back and each item's size."""
        tokens = as_uint16(tokens)
        sizes = np.asarray(sizes, np.int64)
        if int(sizes.sum()) != tokens.size:
            raise ValueError(f"sizes add up to {int(sizes.sum())} tokens, {tokens.size} given")
        write_tokens(self._bin, tokens)
        self.sizes.append(sizes)
        self.num_tokens += tokens.size

    def add_item_pieces(self, pieces: Iterable[np.ndarray]) -> None:
        """Append one item whose tokens come in pieces (a document too long to hold at once)."""
        size = 0
        for piece in pieces:
            piece = as_uint16(piece)
            write_tokens(self._bin, piece)
            size += piece.size
        self.sizes.append(np.array([size], np.int64))
        self.num_tokens += size

    def __len__(self) -> int:
        return sum(len(s) for s in self.sizes)

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._stack is not None, "use BinIdxWriter in a with block"
        if exc_type is None:
            try:
                self._bin.close()
                write_index(self._tmp[1], np.concatenate(self.sizes) if self.sizes else np.zeros(0, np.int64))
                if self.meta is not None:
                    self._tmp[2].write_text(json.dumps(self.meta, ensure_ascii=False, indent=1), encoding="utf-8")
            except BaseException as e:
                self._stack.__exit__(type(e), e, e.__traceback__)  # removes the temporary files
                raise
        self._stack.__exit__(exc_type, exc, tb)  # renames on success, removes on error
        if exc_type is None and self.meta is None:
            meta_path(self.prefix).unlink(missing_ok=True)  # never leave a stale description of older files
        return False


class BinIdx:
    """A binidx opened read-only: ``len()``, ``[i]`` (tokens of item i, a view into the memory map),
    ``sizes``, ``pointers``, ``doc_idx``, ``tokens`` (np.memmap of the .bin), ``num_tokens``, ``meta``."""

    def __init__(self, prefix: str | os.PathLike):
        self.prefix = split_prefix(prefix)
        ipath, bpath = idx_path(self.prefix), bin_path(self.prefix)
        for p in (ipath, bpath):
            if not p.is_file():
                raise BinIdxError(
                    f"{p} not found; tokenize the dataset first (Tokenize tab or `python -m rwkv_simple_gui tokenize`)"
                )
        raw = np.memmap(ipath, dtype=np.uint8, mode="r") if ipath.stat().st_size else np.zeros(0, np.uint8)
        if raw.size < _HEADER.size or bytes(raw[:9]) != MAGIC:
            raise BinIdxError(f"{ipath} is not an MMIDIDX index (bad header); tokenize the dataset again")
        magic, version, code, n, n_doc = _HEADER.unpack(bytes(raw[: _HEADER.size]))
        if version != VERSION or code not in DTYPES:
            raise BinIdxError(
                f"{ipath}: unsupported version {version} or dtype code {code}; tokenize the dataset again"
            )
        expected = _HEADER.size + n * 4 + n * 8 + n_doc * 8
        if raw.size != expected:
            raise BinIdxError(
                f"{ipath} has {raw.size} bytes, its header says {expected}: the file is truncated; tokenize again"
            )
        self.dtype = np.dtype(DTYPES[code])
        off = _HEADER.size
        self.sizes = raw[off : off + n * 4].view("<i4")
        off += n * 4
        self.pointers = raw[off : off + n * 8].view("<i8")
        off += n * 8
        self.doc_idx = raw[off : off + n_doc * 8].view("<i8")
        nbytes = bpath.stat().st_size
        self.tokens = np.memmap(bpath, dtype=self.dtype, mode="r") if nbytes else np.zeros(0, self.dtype)
        end = int(self.pointers[-1]) + int(self.sizes[-1]) * self.dtype.itemsize if n else 0
        if end != nbytes:
            raise BinIdxError(
                f"{bpath} has {nbytes} bytes but {ipath} describes {end}: the two files do not belong together; "
                f"tokenize again"
            )
        self.meta: dict | None = _read_meta(meta_path(self.prefix))

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.size)

    def __len__(self) -> int:
        return int(self.sizes.size)

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"item {i} out of range for {n} items")
        i %= n
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.tokens[start : start + int(self.sizes[i])]


def _read_meta(path: Path) -> dict | None:
    """``PREFIX.meta.json`` as a dict, None when absent; BinIdxError naming it when damaged."""
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BinIdxError(f"{path}: cannot be read as JSON ({e}); tokenize the dataset again") from None
    if not isinstance(meta, dict):
        raise BinIdxError(f"{path}: holds a JSON {type(meta).__name__}, not an object; tokenize the dataset again")
    return meta


def read_binidx(prefix: str | os.PathLike) -> BinIdx:
    """Open ``PREFIX.bin`` / ``PREFIX.idx`` (and ``PREFIX.meta.json`` when present)."""
    return BinIdx(prefix)


def write_binidx(prefix: str | os.PathLike, docs: Iterable[Iterable[int]], *, meta: dict | None = None) -> int:
    """Write every document as one item; returns the number of items."""
    with BinIdxWriter(prefix, meta=meta) as w:
        for doc in docs:
            w.add(doc)
    return len(w)
