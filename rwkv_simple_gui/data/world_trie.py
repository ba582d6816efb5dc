"""The World tokenizer's fast encoder: world_trie.c, compiled with the machine's C compiler on first use.

It is the rwkv package's greedy longest match (tests compare every id with ``TRIE_TOKENIZER``), 2.5x the Rust
packages' speed on mixed zh/en/code text, and it writes the ids straight into a uint16 array (the Rust
packages return a Python list, and turning it into one cost a sixth more again). The compiled library and the
trie are kept in ``.state/world-trie/<key>/`` (the key hashes the C source, the vocabulary file and the
platform), so a later process loads them in milliseconds instead of the 0.2 s the Rust packages
take to read the vocabulary. Without a C compiler :func:`load` raises :class:`TrieUnavailable` and the
tokenizer uses a Rust package.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import paths

SOURCE = Path(__file__).with_name("world_trie.c")
LIBRARY = "world_trie.so"
ARRAYS = "trie.npz"
_HASH = 2654435761  # the multiplier of first_slot() in world_trie.c


class TrieUnavailable(RuntimeError):
    """The C encoder cannot be built or loaded here (the message says why)."""


class DamagedBuild(ValueError):
    """A cached build that is not whole (a disk error, an edit): it is made again."""


class WorldTrie:
    """Encodes text with the compiled trie; safe to share with forked workers (nothing but arrays and a library)."""

    def __init__(self, folder: Path):
        """Raises FileNotFoundError where nothing is built yet, :class:`DamagedBuild` for a build that is not whole."""
        try:
            with np.load(folder / ARRAYS) as arrays:
                self._edges = np.ascontiguousarray(arrays["edges"], np.uint32)
                self._pair = np.ascontiguousarray(arrays["pair"], np.uint32)
                self._token_of = np.ascontiguousarray(arrays["token_of"], np.uint16)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise DamagedBuild(f"{folder / ARRAYS}: {e}") from None
        self._mask = len(self._edges) - 1
        nodes = len(self._token_of)
        # the C loop trusts these: every byte a token, every child a node, a power-of-two table with empty slots
        if (self._edges.ndim != 2 or len(self._edges) & self._mask or self._pair.shape != (1 << 16,)
                or nodes < 257 or not self._token_of[1:257].all() or (self._edges[:, 0] == 0).sum() == 0
                or self._edges[:, 1].max(initial=0) >= nodes or self._pair.max() >= nodes):
            raise DamagedBuild(f"{folder / ARRAYS} does not hold a whole trie")
        encode = ctypes.CDLL(str(folder / LIBRARY)).world_trie_encode
        pointer = ctypes.c_void_p
        encode.argtypes = [pointer, ctypes.c_uint32, pointer, pointer, ctypes.c_char_p, ctypes.c_size_t, pointer]
        encode.restype = ctypes.c_size_t
        self._encode = encode

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text`` (uint16); the C call runs without the GIL."""
        raw = text.encode("utf-8")
        out = np.empty(len(raw), np.uint16)
        n = self._encode(self._edges.ctypes.data, self._mask, self._pair.ctypes.data, self._token_of.ctypes.data,
                         raw, len(raw), out.ctypes.data)
        return out[:n]


def _build_arrays(tokens: Sequence[bytes]) -> dict[str, np.ndarray]:
    """The trie of ``tokens`` (id i -> tokens[i]; empty for none) in world_trie.c's layout."""
    node_of = {bytes([b]): b + 1 for b in range(256)}
    token_of = [0] * 257
    deep = []  # (parent, byte, child) below the two-byte level
    pair = np.zeros(1 << 16, np.uint32)
    for token_id in sorted(range(len(tokens)), key=lambda i: len(tokens[i])):
        token = tokens[token_id]
        for end in range(2, len(token) + 1):
            prefix = token[:end]
            if prefix not in node_of:
                node_of[prefix] = child = len(token_of)
                token_of.append(0)
                if end == 2:
                    pair[prefix[0] << 8 | prefix[1]] = child
                else:
                    deep.append((node_of[prefix[:-1]], prefix[-1], child))
        if token:
            token_of[node_of[token]] = token_id
    if not all(token_of[1:257]):
        raise TrieUnavailable("the vocabulary lacks a single-byte token; greedy matching needs all 256")
    size = 1 << max(10, (4 * len(deep) - 1).bit_length())  # a quarter full: short probes
    edges = np.zeros((size, 2), np.uint32)
    for parent, byte, child in deep:
        key = (parent << 8 | byte) + 1
        slot = (key * _HASH & 0xFFFFFFFF) >> 8 & (size - 1)
        while edges[slot, 0]:
            slot = (slot + 1) & (size - 1)
        edges[slot] = key, child
    return {"edges": edges, "pair": pair, "token_of": np.array(token_of, np.uint16)}


def _compile(folder: Path) -> None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        raise TrieUnavailable("no C compiler (cc, gcc or clang) to build it")
    cmd = [compiler, "-O3", "-shared", "-fPIC", "-o", str(folder / LIBRARY), str(SOURCE)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        raise TrieUnavailable(f"{' '.join(cmd)} failed: {detail.strip()[:300]}") from None


def cache_folder(vocab: Path) -> Path:
    """In the project's ``.state/`` (what the app writes stays in the project), or under
    ``$RWKV_SIMPLE_GUI_CACHE``: one build shared by several project folders."""
    key = hashlib.sha256(SOURCE.read_bytes() + vocab.read_bytes())
    key.update(f"{platform.system()}-{platform.machine()}".encode())
    root = Path(os.environ.get("RWKV_SIMPLE_GUI_CACHE") or paths.PROJECT_ROOT / paths.STATE_FOLDER)
    return root / "world-trie" / key.hexdigest()[:16]


def _build(folder: Path, tokens: Callable[[], Sequence[bytes]]) -> None:
    """Compile and save into a temporary folder beside ``folder``, then rename it: a reader never sees half a
    build, and of two processes building at once the second finds the first's (the same files). Temporary
    folders over an hour old are a killed build's: removed."""
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(".*.tmp"):
        try:
            killed = time.time() - old.stat().st_mtime > 3600
        except FileNotFoundError:  # another process building at the same time cleared it first
            continue
        if killed:
            shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", suffix=".tmp", dir=parent))
    try:
        _compile(tmp)
        np.savez(tmp / ARRAYS, **_build_arrays(tokens()))
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load(vocab: Path, tokens: Callable[[], Sequence[bytes]]) -> WorldTrie:
    """The encoder of the vocabulary file ``vocab`` (``tokens()`` gives its tokens by id), built and cached on
    first use; raises :class:`TrieUnavailable` when it cannot be built or loaded."""
    folder = cache_folder(vocab)
    try:
        return WorldTrie(folder)
    except FileNotFoundError:
        pass
    except (OSError, DamagedBuild):
        shutil.rmtree(folder, ignore_errors=True)
    try:
        _build(folder, tokens)
        return WorldTrie(folder)
    except OSError as e:
        raise TrieUnavailable(f"cannot build it in {folder.parent}: {e}") from None
