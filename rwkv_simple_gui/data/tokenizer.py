"""Tokenizers: the RWKV World vocabulary (our C trie, else a Rust package, else pure Python) and HF ``tokenizer.json``.

The World tokenizer (``rwkv_vocab_v20230424``) is a greedy longest match over UTF-8 bytes. Its ids must
equal the ``rwkv`` package's ``TRIE_TOKENIZER`` on every input. Our C encoder (world_trie.py, built with the
machine's compiler on first use) does, and so do the Rust packages ``rwkv-tokenizer`` (0.5.2) and
``pyrwkv-tokenizer`` (0.9.1), 10-20x faster than Python; the C one is 2.5x the Rust ones and gives a uint16
array without a Python list. The fastest available is used and ``.backend`` says which. Decoding never goes
through the Rust packages (they panic on partial UTF-8 and decode id 0 differently); it joins the token bytes
from the vocabulary file instead, so it gives the same text whatever the backend.

An HF ``tokenizers`` JSON file (the 20B tokenizer of RWKV-4 Pile models, or a custom vocabulary) is
used through the ``tokenizers`` package. The World trie cannot be written as a ``tokenizer.json``.

``identity`` describes the vocabulary (not the backend); it is stored next to a binidx so training and
chat use the same one (:func:`get_tokenizer` accepts ``identity["spec"]``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

import numpy as np

from . import world_trie
from .binidx import write_tokens

WORLD_NAME = "rwkv_vocab_v20230424"
WORLD_SPECS = ("world", WORLD_NAME, f"{WORLD_NAME}.txt")  # names of the World vocabulary; anything else is a path
WORLD_VOCAB_SIZE = 65536  # ids 1..65529 are tokens, 0 is end-of-text; RWKV World models have 65536 rows
END_OF_TEXT = 0
_NUL_ID = 1  # the token of b"\x00"; no other token contains that byte
_REPLACEMENT = "\ufffd".encode()
MAX_TOKEN_BYTES = 128  # the longest World token: greedy matching never looks further ahead than this
LONG_TEXT = 1 << 18  # characters; a longer text is encoded piece by piece, never as one list of ids

RUST_PACKAGES = ("rwkv_tokenizer", "pyrwkv_tokenizer")  # both identical to TRIE_TOKENIZER; the first is faster
BACKENDS = ("auto", "c", "rust", "python")


class TokenizerError(ValueError):
    """A tokenizer cannot be loaded or cannot encode the data (the message says what to do)."""


class TokenIdOverflow(TokenizerError):
    """A token id does not fit the uint16 binidx; ``doc`` is the index of the text in the batch."""

    def __init__(self, doc: int, token_id: int, vocab_size: int):
        self.doc = doc
        self.token_id = token_id
        super().__init__(
            f"token id {token_id} does not fit in uint16 (ids up to 65535); this vocabulary has "
            f"{vocab_size} tokens. Use a vocabulary of at most 65536 tokens"
        )


def _world_vocab_path() -> Path | None:
    """The reference vocabulary file: the rwkv package's copy, else a Rust package's (identical bytes)."""
    for package in ("rwkv", *RUST_PACKAGES):
        try:
            spec = importlib.util.find_spec(package)
        except ValueError:
            spec = None
        if spec and spec.origin:
            candidate = Path(spec.origin).parent / f"{WORLD_NAME}.txt"
            if candidate.is_file():
                return candidate
    return None


class _VocabBytes:
    """id -> token bytes of the World vocabulary (``<id> <python literal> <byte length>`` per line, line i
    holding id i), each line parsed the first time its id is decoded: a first decode costs microseconds,
    not the 0.2 s of parsing all 65529 lines. Id 0 (end of text) is b""; unknown ids are U+FFFD."""

    def __init__(self):
        path = _world_vocab_path()
        if path is None:
            raise TokenizerError(f"{WORLD_NAME}.txt not found; install the rwkv package (pip install rwkv)")
        with open(path, encoding="utf-8") as f:  # text mode: the pip copy has CRLF line ends
            self.lines = f.read().splitlines()
        self.cache: dict[int, bytes] = {END_OF_TEXT: b""}

    def __getitem__(self, i: int) -> bytes:
        token = self.cache.get(i)
        if token is None:
            token = self.cache[i] = self._parse(i)
        return token

    def _parse(self, i: int) -> bytes:
        if not 1 <= i <= len(self.lines):
            return _REPLACEMENT
        line = self.lines[i - 1]
        first, last = line.index(" "), line.rindex(" ")
        if int(line[:first]) != i:
            raise TokenizerError(f"{WORLD_NAME}.txt line {i} holds id {line[:first]}; reinstall the rwkv package")
        literal = line[first + 1 : last]
        token = ast.literal_eval(literal) if "\\" in literal or literal[0] == "b" else literal[1:-1]
        return token.encode("utf-8") if isinstance(token, str) else token


@functools.lru_cache(maxsize=None)
def _world_vocab_bytes() -> _VocabBytes:
    return _VocabBytes()


def _uint16(ids: list[int]) -> np.ndarray:
    return np.fromiter(ids, np.uint16, len(ids))


def _world_tokens() -> list[bytes]:
    """Every World token's bytes by id (b"" for id 0)."""
    vocab = _world_vocab_bytes()
    return [b""] + [vocab[i] for i in range(1, len(vocab.lines) + 1)]


@functools.lru_cache(maxsize=None)
def _world_token_lengths() -> np.ndarray:
    """Byte length of every World token id (0 for id 0 and unused ids): the vocabulary's last column."""
    lengths = np.zeros(WORLD_VOCAB_SIZE, np.int64)
    for i, line in enumerate(_world_vocab_bytes().lines, 1):
        lengths[i] = int(line[line.rindex(" ") + 1 :])
    if lengths.max() > MAX_TOKEN_BYTES:
        raise TokenizerError(f"{WORLD_NAME}.txt has a token of {lengths.max()} bytes; reinstall the rwkv package")
    return lengths


class _Encoder:
    """What both tokenizers share: writing documents' tokens straight into a spill file."""

    def encode_docs_to(self, out: BinaryIO, texts: Sequence[str], *, eof: bool) -> np.ndarray:
        """Append the tokens of ``texts`` (as :meth:`encode_docs` gives them) to ``out``; returns their lengths."""
        tokens, lengths = self.encode_docs(texts, eof=eof)
        write_tokens(out, tokens)
        return lengths

    def encode_text_to(self, out: BinaryIO, pieces: Iterable[str], *, eof: bool) -> int:
        """Append the tokens of one document given in pieces; returns its length in tokens."""
        return int(self.encode_docs_to(out, ["".join(pieces)], eof=eof)[0])


class WorldTokenizer(_Encoder):
    """The RWKV World tokenizer. ``backend``: "auto" (C, else Rust, else Python), "c", "rust" or "python"."""

    name = WORLD_NAME
    vocab_size = WORLD_VOCAB_SIZE

    def __init__(self, backend: str = "auto"):
        if backend not in BACKENDS:
            raise TokenizerError(f'unknown World tokenizer backend "{backend}"; use auto, c, rust or python')
        self._ids = self._array = None  # text -> list of ids, text -> uint16 array
        if backend in ("auto", "c"):
            self._load_c(required=backend == "c")
        if self._ids is None and backend in ("auto", "rust"):
            self._load_rust(required=backend == "rust")
        if self._ids is None:
            try:
                from rwkv.rwkv_tokenizer import TRIE_TOKENIZER
            except ImportError:
                raise TokenizerError("no World tokenizer: pip install rwkv-tokenizer==0.5.2 (fast) or rwkv") from None
            self._ids = TRIE_TOKENIZER(str(_world_vocab_path())).encode
            self.backend = "python:rwkv TRIE_TOKENIZER"
        if self._array is None:  # text -> uint16 array, through the list the Rust and Python encoders give
            self._array = lambda text: _uint16(self._ids(text))

    def _load_c(self, *, required: bool) -> None:
        vocab = _world_vocab_path()
        try:
            if vocab is None:
                raise world_trie.TrieUnavailable(f"{WORLD_NAME}.txt not found")
            trie = world_trie.load(vocab, _world_tokens)
        except world_trie.TrieUnavailable as e:
            if required:
                raise TokenizerError(f"the C World encoder is unavailable: {e}; use backend rust") from None
            return
        self._array = trie.encode
        self._ids = lambda text: trie.encode(text).tolist()
        self.backend = "c:world_trie"

    def _load_rust(self, *, required: bool) -> None:
        for package in RUST_PACKAGES:
            try:
                module = importlib.import_module(package)
            except ImportError:
                continue
            self._ids = module.RWKVTokenizer().encode
            self.backend = f"rust:{package} {importlib.metadata.version(package.replace('_', '-'))}"
            return
        if required:
            raise TokenizerError("no Rust World tokenizer installed; pip install rwkv-tokenizer==0.5.2")

    @property
    def identity(self) -> dict:
        return {"kind": "world", "name": self.name, "vocab_size": self.vocab_size, "spec": "world"}

    def encode(self, text: str) -> list[int]:
        return self._ids(text)

    def encode_docs(self, texts: Sequence[str], *, eof: bool) -> tuple[np.ndarray, np.ndarray]:
        """All texts encoded into one uint16 array (each followed by token 0 when ``eof``) and their lengths.

        The texts are joined by NUL and encoded in one call: no vocabulary token spans a NUL byte, so the
        greedy match restarts after each separator and the ids equal encoding the texts one by one,
        while the per-call cost is paid once per batch instead of once per text.
        """
        if not texts:
            return np.zeros(0, np.uint16), np.zeros(0, np.int64)
        tokens = self._array("\x00".join(texts))
        n = len(tokens)
        if eof:
            tokens = np.append(tokens, np.uint16(END_OF_TEXT))  # the last text's EOF; the others replace the separators
        seps = np.flatnonzero(tokens[:n] == _NUL_ID)
        if len(seps) != len(texts) - 1:  # a text holds NUL itself: separators are ambiguous
            return self._encode_one_by_one(texts, eof=eof)
        lengths = np.diff(np.concatenate(([-1], seps, [n])))  # tokens per text + 1 (its separator or EOF)
        if not eof:
            return np.delete(tokens, seps), lengths - 1
        tokens[seps] = END_OF_TEXT
        return tokens, lengths

    def _encode_one_by_one(self, texts: Sequence[str], *, eof: bool) -> tuple[np.ndarray, np.ndarray]:
        docs = [self._ids(t) + ([END_OF_TEXT] if eof else []) for t in texts]
        lengths = np.fromiter(map(len, docs), np.int64, len(docs))
        return np.fromiter((i for d in docs for i in d), np.uint16, int(lengths.sum())), lengths

    def encode_docs_to(self, out: BinaryIO, texts: Sequence[str], *, eof: bool) -> np.ndarray:
        """Like :meth:`_Encoder.encode_docs_to`; a text longer than ``LONG_TEXT`` characters is encoded and
        written in pieces (:meth:`encode_text_to`)."""
        lengths = np.zeros(len(texts), np.int64)
        batch_start = 0
        for i, text in enumerate(texts):
            if len(text) <= LONG_TEXT:
                continue
            if batch_start < i:
                lengths[batch_start:i] = super().encode_docs_to(out, texts[batch_start:i], eof=eof)
            lengths[i] = self.encode_text_to(out, [text], eof=eof)
            batch_start = i + 1
        if batch_start < len(texts):
            lengths[batch_start:] = super().encode_docs_to(out, texts[batch_start:], eof=eof)
        return lengths

    def encode_text_to(self, out: BinaryIO, pieces: Iterable[str], *, eof: bool) -> int:
        """Encode one document given as consecutive pieces of text, writing its tokens as they come;
        memory stays a few pieces whatever the document's size. Returns its length in tokens."""
        n = 0
        for ids in self.encode_stream(pieces):
            write_tokens(out, ids)
            n += ids.size
        if eof:
            write_tokens(out, np.array([END_OF_TEXT], np.uint16))
            n += 1
        return n

    def encode_stream(self, pieces: Iterable[str], window: int = LONG_TEXT) -> Iterator[np.ndarray]:
        """The ids of the text the pieces make up, in uint16 arrays, equal to encoding it in one call.

        Greedy longest matching from a token boundary looks at most MAX_TOKEN_BYTES ahead, so a window of
        text encoded on its own has the whole text's tokens up to MAX_TOKEN_BYTES before its end. The next
        window starts at the last of those token boundaries that falls between two characters (a token
        may end inside a character's UTF-8 bytes).
        """
        token_bytes = _world_token_lengths()
        pieces = iter(pieces)
        text, start, size, more = "", 0, window, True
        while True:
            while more and len(text) - start < size:  # top up the text ahead (a single huge piece: never copied)
                piece = next(pieces, None)
                more = piece is not None
                if more:
                    text, start = text[start:] + piece, 0
            end = min(len(text), start + size)
            chunk = text[start:end]
            ids = self._array(chunk)
            if not more and end == len(text):
                if ids.size:
                    yield ids
                return
            raw = np.frombuffer(chunk.encode("utf-8"), np.uint8)
            ends = np.cumsum(token_bytes[ids])
            exact = int(np.count_nonzero(ends - token_bytes[ids] <= raw.size - MAX_TOKEN_BYTES))
            bounds = ends[:exact]
            at_char = bounds[(bounds == raw.size) | ((raw[np.minimum(bounds, raw.size - 1)] & 0xC0) != 0x80)]
            if not at_char.size:  # no usable boundary in this window (rare bytes only): take a longer one
                size *= 2
                continue
            cut = int(at_char[-1])
            yield ids[: int(np.searchsorted(ends, cut)) + 1]
            start += cut - int(np.count_nonzero((raw[:cut] & 0xC0) == 0x80))  # characters in the bytes taken
            size = window

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids; bytes that are not valid UTF-8 (a cut character) become U+FFFD, id 0 is dropped."""
        vocab = _world_vocab_bytes()
        return b"".join(vocab[i] for i in map(int, ids)).decode("utf-8", "replace")


class HFTokenizer(_Encoder):
    """A ``tokenizers`` JSON file, encoded without added special tokens (the seed adds only token 0)."""

    def __init__(self, path: str | os.PathLike):
        from .. import paths

        self.path = Path(path)
        if problem := paths.file_problem(self.path):
            raise TokenizerError(f"tokenizer file {self.path} {problem}; give the path of a tokenizer.json")
        try:
            from tokenizers import Tokenizer

            self._tok = Tokenizer.from_file(str(self.path))
        except ImportError:
            raise TokenizerError("the tokenizers package is missing; pip install tokenizers") from None
        except Exception as e:  # tokenizers raises a bare Exception for a malformed file
            raise TokenizerError(f"{self.path} is not a tokenizers JSON file: {e}") from None
        self.name = self.path.name
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.backend = "hf:tokenizers " + importlib.metadata.version("tokenizers")

    @functools.cached_property
    def identity(self) -> dict:
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return {
            "kind": "hf",
            "name": self.name,
            "vocab_size": self.vocab_size,
            "spec": str(self.path),
            "sha256": digest,
        }

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_docs(self, texts: Sequence[str], *, eof: bool) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`WorldTokenizer.encode_docs`; raises :class:`TokenIdOverflow` for ids above 65535."""
        docs = [
            e.ids + [END_OF_TEXT] if eof else e.ids
            for e in self._tok.encode_batch(list(texts), add_special_tokens=False)
        ]
        lengths = np.fromiter(map(len, docs), np.int64, len(docs))
        tokens = np.fromiter((i for d in docs for i in d), np.int64, int(lengths.sum()))
        if len(tokens) and tokens.max() > 0xFFFF:
            first = int(np.argmax(tokens > 0xFFFF))
            doc = int(np.searchsorted(np.cumsum(lengths), first, side="right"))
            raise TokenIdOverflow(doc, int(tokens[first]), self.vocab_size)
        return tokens.astype(np.uint16), lengths

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)


@functools.lru_cache(maxsize=8)
def _load(spec: str, backend: str) -> WorldTokenizer | HFTokenizer:
    if spec == "world":
        return WorldTokenizer(backend)
    return HFTokenizer(spec)


def get_tokenizer(spec: str | os.PathLike = "world", *, backend: str = "auto") -> WorldTokenizer | HFTokenizer:
    """``"world"`` (RWKV World vocabulary) or the path of an HF ``tokenizer.json``; cached per process.

    A relative path is taken from the project folder (or ``model/`` for a bare file name).
    """
    spec = str(spec).strip()
    if spec.lower() in WORLD_SPECS:
        return _load("world", backend)
    from .. import paths

    return _load(str(paths.resolve(spec, base="model")), backend)
