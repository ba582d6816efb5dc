"""Which tokens of a document a loss mask learns (numpy, torch-free): training (train/data.py MaskBuilder) and the
token view both ask here, so what the view colours is what the trainer weighs.

- ``qa`` knows the roles of the chat template (data/template.py): every Assistant turn is learned (its header,
  think block, answer and tool-call lines, and the blank line or end-of-text that closes it); System, User and
  tool results are not, however many turns there are. The turns are found in the document's bytes, so a header
  is one only at the start or after a blank line, whatever tokens the text was cut into.
- ``se`` switches learning off at each ``mask0`` token sequence and on at each ``mask1`` one (RWKV-PEFT's).
- ``none`` / ``pad``: every real token.

A document with nothing to learn under qa/se (no Assistant turn, no marker) is learned whole rather than
silently ignored.
"""

from __future__ import annotations

import functools

import numpy as np

from . import template

KINDS = ("none", "pad", "qa", "se")


def find_all(tokens: np.ndarray, pattern: list[int]) -> np.ndarray:
    """Start positions of every occurrence of the token sequence ``pattern`` in ``tokens``."""
    n, k = len(tokens), len(pattern)
    if k == 0 or n < k:
        return np.zeros(0, dtype=np.int64)
    hits = np.ones(n - k + 1, dtype=bool)
    for j, t in enumerate(pattern):
        hits &= tokens[j:n - k + 1 + j] == t
    return np.flatnonzero(hits)


def toggle_mask(tokens: np.ndarray, off: list[int], on: list[int]) -> np.ndarray:
    """Per-position 0/1: 0 from the start and from each ``off`` sequence, 1 from each ``on`` sequence.

    The ``on`` marker itself is inside the learned part (as RWKV-PEFT's masks)."""
    events = [(int(p), 0.0) for p in find_all(tokens, off)] + [(int(p), 1.0) for p in find_all(tokens, on)]
    mask = np.zeros(len(tokens), dtype=np.float32)
    for start, value in sorted(events):
        mask[start:] = value
    return mask


@functools.lru_cache(maxsize=1)
def _world_pieces() -> tuple[bytes, ...]:
    """The bytes of every World id (parsed once per process, a fraction of a second): a training step looks
    up thousands of tokens."""
    from .tokenizer import WORLD_VOCAB_SIZE, _world_vocab_bytes

    vocab = _world_vocab_bytes()
    return tuple(vocab[i] for i in range(WORLD_VOCAB_SIZE))


def token_pieces(tokenizer, tokens) -> list[bytes]:
    """The bytes of each token (id 0, the end of text, has none). An HF tokenizer's pieces are its tokens
    decoded one by one, close enough to find the turn headers."""
    from .tokenizer import WorldTokenizer

    if isinstance(tokenizer, WorldTokenizer):
        return list(map(_world_pieces().__getitem__, np.asarray(tokens).tolist()))
    return [tokenizer.decode([int(i)]).encode("utf-8") if int(i) else b"" for i in tokens]


def role_mask(tokenizer, tokens) -> np.ndarray:
    """Per-position 0/1 of the qa mask: 1 where a token holds a byte of an Assistant reply (a token of no bytes,
    the end of text, takes the byte before it)."""
    pieces = token_pieces(tokenizer, tokens)
    text = b"".join(pieces)
    learned = np.zeros(len(text), dtype=bool)
    for start, end in template.learned_ranges(text):
        learned[start:end] = True
    sizes = np.fromiter(map(len, pieces), np.int64, len(pieces))
    ends = np.cumsum(sizes)
    starts = ends - sizes
    counted = np.concatenate([[0], np.cumsum(learned)])
    mask = (counted[ends] - counted[starts]) > 0
    empty = ends == starts
    mask[empty] = learned[np.maximum(starts[empty] - 1, 0)] if len(text) else False
    return mask.astype(np.float32)


def position_mask(kind: str, tokenizer, tokens, mask0: str = "User:", mask1: str = "Assistant:") -> np.ndarray | None:
    """Per-position learned 0/1 of a document under ``kind``, or None for "every token"."""
    if kind == "qa":
        mask = role_mask(tokenizer, tokens)
    elif kind == "se":
        mask = toggle_mask(np.asarray(tokens), tokenizer.encode(mask0), tokenizer.encode(mask1))
    else:
        return None
    return mask if mask[1:].any() else None


def target_weights(kind: str, tokenizer, doc, mask0: str = "User:", mask1: str = "Assistant:") -> np.ndarray | None:
    """Weights for the targets ``doc[1:]`` (the token each position predicts), or None for "every target"."""
    mask = position_mask(kind, tokenizer, doc, mask0, mask1)
    return None if mask is None else mask[1:]
