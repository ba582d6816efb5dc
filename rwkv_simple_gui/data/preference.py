"""Preference pairs: a prompt and two assistant replies, one chosen and one rejected (DPO / ORPO data).

Their records are read by formats.py (``read_pairs``) and normalised by schemas.py (``normalise_pair``).

The tokenized dataset is one binidx item per pair: ``prompt + chosen + rejected`` tokens, each reply followed
by the EOF token 0 when ``eof``. ``PREFIX.meta.json`` holds ``"preference": {"prompt_tokens": [...],
"chosen_tokens": [...]}`` (per item, in written order), which is how training splits an item again. The
prompt ends with ``Assistant:`` and a reply starts with a space, so the token split is the one Chat uses.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import paths
from . import formats
from .formats import SKIP_BAD_FIX, BadRecord, DatasetError
from .result import MAX_BAD_KEPT, TokenizeResult
from .schemas import Pair

META_KEY = "preference"
ENCODE_BATCH = 1000  # pairs per tokenizer call


# --- tokenizing ----------------------------------------------------------------------------------------


@dataclass
class PairTokenizeResult(TokenizeResult):
    """What tokenizing a preference file produced: ``lengths`` are each pair's longer sequence (prompt + longer
    reply), ``items`` the pairs written; plus the length percentiles of prompts and replies."""

    prompt_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    chosen_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rejected_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def pairs(self) -> int:
        return self.items

    def length_percentiles(self) -> dict[str, dict[str, int]]:
        """p50/p90/p99/max tokens of the prompts, the chosen and the rejected replies (of the kept pairs)."""
        from .stats import percentiles

        return {name: percentiles(values) for name, values in
                (("prompt", self.prompt_lengths), ("chosen", self.chosen_lengths),
                 ("rejected", self.rejected_lengths))}

    def to_json(self) -> dict[str, Any]:
        return {"pairs": self.items, **super().to_json(), "length_percentiles": self.length_percentiles()}


def encode_pairs(tok, pairs: list[Pair], eof: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Tokens of each pair's context, chosen and rejected reply (EOF after each reply when ``eof``)."""
    texts = [t for p in pairs for t in (p.context, " " + p.chosen, " " + p.rejected)]
    tokens, lengths = tok.encode_docs(texts, eof=False)
    docs = np.split(np.asarray(tokens, np.uint16), np.cumsum(lengths)[:-1])
    end = np.zeros(1 if eof else 0, np.uint16)
    return [(docs[i], np.concatenate([docs[i + 1], end]), np.concatenate([docs[i + 2], end]))
            for i in range(0, len(docs), 3)]


def tokenize_pairs(src: Path, prefix: Path, fmt: formats.DatasetFormat, tok, *, copies: int, max_tokens: int,
                   eof: bool, seed: int, skip_bad: bool,
                   progress: Callable[[int, int, str], None] | None = None) -> PairTokenizeResult:
    """Tokenize every pair of ``src`` into ``prefix``; pairs whose longer sequence (prompt + longer reply) is
    over ``max_tokens`` are dropped; the kept ones are written ``copies`` times, each in its own shuffled order."""
    from .stats import align_tokens, factor_table, next_pow2

    began = time.perf_counter()
    encoded, bad, skipped = _encode_file(src, fmt, tok, eof=eof, skip_bad=skip_bad, progress=progress)
    p_len, c_len, r_len = (np.array([len(pair[part]) for pair in encoded], np.int64) for part in range(3))
    longest = p_len + np.maximum(c_len, r_len)
    kept = np.flatnonzero(longest <= max_tokens) if max_tokens > 0 else np.arange(len(encoded))
    if kept.size == 0:
        raise DatasetError(src, None, f"every pair is longer than max_tokens={max_tokens} (prompt + longer reply; "
                           f"the shortest has {int(longest.min())} tokens)",
                           "raise max_tokens (--max-tokens), or set 0 for no limit", fmt.unit)
    rng = np.random.default_rng(seed)
    order = np.concatenate([kept[rng.permutation(kept.size)] for _ in range(copies)])
    items = int(order.size)
    max_size = int(longest[kept].max())
    result = PairTokenizeResult(
        prefix=prefix, tokens=int((p_len + c_len + r_len)[order].sum()), items=items, documents=len(encoded),
        dropped=int(len(encoded) - kept.size), skipped_bad=skipped, bad=bad, max_length=align_tokens(max_size),
        max_length_power_of_two=next_pow2(max_size), data_line_count=items, factors=factor_table(items),
        lengths=longest, format=fmt, tokenizer=tok.identity, backend=tok.backend, eof=eof, copies=copies, seed=seed,
        max_tokens=max_tokens, workers=1, seconds=0.0, prompt_lengths=p_len[kept], chosen_lengths=c_len[kept],
        rejected_lengths=r_len[kept])
    meta = {
        "format": "rwkv-simple-gui binidx", "version": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "source": paths.display(src),
        "dtype": "uint16", "eof_token": 0 if eof else None,
        **{k: v for k, v in result.to_json().items() if k not in ("factors", "bad", "prefix", "seconds")},
        META_KEY: {"prompt_tokens": p_len[order].tolist(), "chosen_tokens": c_len[order].tolist()},
    }
    _write_pairs(prefix, meta, encoded, order.tolist(), progress)
    result.seconds = time.perf_counter() - began
    return result


def _encode_file(src: Path, fmt: formats.DatasetFormat, tok, *, eof: bool, skip_bad: bool, progress):
    """(the encoded pairs, the first bad records, how many were bad) of ``src``; a bad record stops it unless
    ``skip_bad``, and a file without a good pair is a DatasetError."""
    encoded, waiting, bad, skipped = [], [], [], 0
    total = formats.count_records(src, fmt)
    for n, rec in enumerate(formats.read_pairs(src, fmt), 1):
        if isinstance(rec, BadRecord):
            if not skip_bad:
                raise DatasetError(src, rec.line, rec.reason, SKIP_BAD_FIX, fmt.unit)
            skipped += 1
            if len(bad) < MAX_BAD_KEPT:
                bad.append(rec)
            continue
        waiting.append(rec)
        if len(waiting) == ENCODE_BATCH:
            encoded += encode_pairs(tok, waiting, eof)
            waiting.clear()
            if progress:
                progress(n, total, "tokenizing")
    encoded += encode_pairs(tok, waiting, eof) if waiting else []
    if not encoded:
        why = f"all {skipped} records are bad" if skipped else "the file has no records"
        raise DatasetError(src, None, f"no data to tokenize: {why}",
                           'add records such as {"prompt": "...", "chosen": "...", "rejected": "..."}', fmt.unit)
    return encoded, bad, skipped


def _write_pairs(prefix: Path, meta: dict, encoded: list, order: list[int], progress) -> None:
    """Each pair of ``order`` as one item: prompt, chosen, rejected."""
    from .binidx import BinIdxWriter

    with BinIdxWriter(prefix, meta=meta) as writer:
        for n, i in enumerate(order, 1):
            writer.add(np.concatenate(encoded[i]))
            if progress and n % 2000 == 0:
                progress(n, len(order), "writing")
    if progress:
        progress(len(order), len(order), "writing")


def pair_layout(data) -> tuple[np.ndarray, np.ndarray] | None:
    """(prompt tokens, chosen tokens) per item of a preference binidx (a ``BinIdx``), or None for other data;
    ValueError naming its meta.json when the layout does not fit the items."""
    layout = (data.meta or {}).get(META_KEY)
    if layout is None:
        return None
    where = f"{data.prefix}.meta.json"
    try:
        prompt, chosen = (np.asarray(layout[k], np.int64) for k in ("prompt_tokens", "chosen_tokens"))
    except (TypeError, KeyError, ValueError, OverflowError) as err:
        raise ValueError(f"{where}: the {META_KEY} layout is damaged ({type(err).__name__}: {err}); tokenize the "
                         "pairs again") from None
    sizes = np.asarray(data.sizes, np.int64)
    if prompt.shape != sizes.shape or chosen.shape != sizes.shape:
        raise ValueError(f"{where}: the {META_KEY} layout lists {prompt.size} prompts and {chosen.size} chosen "
                         f"replies for {sizes.size} items; tokenize the pairs again")
    if ((prompt < 0) | (chosen < 1) | (prompt + chosen >= sizes)).any():
        raise ValueError(f"{where}: the {META_KEY} layout does not fit the items' lengths (a prompt and a chosen "
                         "reply must leave room for the rejected one); tokenize the pairs again")
    return prompt, chosen


def is_pair_dataset(prefix: str | os.PathLike) -> bool:
    """Whether the binidx at ``prefix`` was tokenized from preference pairs (its meta.json says so)."""
    import json

    meta = Path(f"{prefix}.meta.json")
    try:
        return isinstance(json.loads(meta.read_text(encoding="utf-8")).get(META_KEY), dict)
    except (OSError, ValueError, AttributeError):
        return False
