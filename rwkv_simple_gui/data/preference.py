"""Preference pairs: a prompt and two assistant replies, one chosen and one rejected (DPO / ORPO data).

Record forms (any container formats.py reads):

- ``{"prompt": "...", "chosen": "...", "rejected": "..."}``: the user's message and two replies (strings); a
  prompt that already starts with a role prefix (``User: ...``, ``System: ...``) is read as seed text.
- TRL's message lists: ``chosen`` / ``rejected`` as lists of ``{role, content}`` sharing every turn but their
  last (an assistant reply), with no ``prompt``; or ``prompt`` as a message list (or string) and
  ``chosen`` / ``rejected`` as one assistant message each.

The tokenized dataset is one binidx item per pair: ``prompt + chosen + rejected`` tokens, each reply followed
by the EOF token 0 when ``eof``. ``PREFIX.meta.json`` holds ``"preference": {"prompt_tokens": [...],
"chosen_tokens": [...]}`` (per item, in written order), which is how training splits an item again. The
prompt ends with ``Assistant:`` and a reply starts with a space, so the token split is the one Chat uses.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import paths
from . import formats
from .formats import SKIP_BAD_FIX, BadRecord, DatasetError, RecordError
from .pipeline import MAX_BAD_KEPT, TokenizeResult

SCHEMA = "preference"
META_KEY = "preference"
ENCODE_BATCH = 1000  # pairs per tokenizer call


@dataclass(frozen=True)
class Pair:
    """A valid preference record: its number, the prompt's (role, text) turns and the two replies."""

    line: int
    turns: list[tuple[str, str]]
    chosen: str
    rejected: str

    @property
    def context(self) -> str:
        """What the model reads before a reply: the prompt turns and the opening of the Assistant turn."""
        return formats.join_turns(self.turns) + "\n\nAssistant:"

    @property
    def prompt(self) -> str:
        return formats.join_turns(self.turns)


def is_preference(obj: Any) -> bool:
    return isinstance(obj, dict) and "chosen" in obj and "rejected" in obj


# --- normalising one record --------------------------------------------------------------------------


def _messages(value: list, key: str) -> list[tuple[str, str]]:
    turns = []
    for i, msg in enumerate(value, 1):
        where = f' of "{key}" message {i}'
        if not isinstance(msg, dict):
            raise RecordError(f'message {i} of "{key}" is {type(msg).__name__}, not an object')
        role = formats._require_str(msg, "role", where)
        if role not in formats._MESSAGE_ROLES:
            raise RecordError(f'message {i} of "{key}" has role "{role}"; expected one of '
                              f'{", ".join(formats._MESSAGE_ROLES)}')
        turns.append((formats._MESSAGE_ROLES[role], formats.clean_turn(formats._message_content(msg, where))))
    return turns


def _side(obj: dict, key: str) -> str | list[tuple[str, str]]:
    """A reply as a string, or as (role, text) turns when it is a message list."""
    if obj.get(key) is None:  # (a parquet row without it holds None)
        raise RecordError(f'missing field "{key}"')
    value = obj[key]
    if isinstance(value, str) and value.lstrip().startswith("["):  # csv cells hold lists as JSON text
        value = formats._require_list(obj, key)
    if isinstance(value, list):
        if not value:
            raise RecordError(f'field "{key}" is an empty list')
        return _messages(value, key)
    if not isinstance(value, str):
        raise RecordError(f'field "{key}" is {type(value).__name__}, not a string or a message list')
    if not value.strip():
        raise RecordError(f'field "{key}" is empty (an empty reply)')
    return formats.clean_turn(value)


def _prompt_turns(obj: dict) -> list[tuple[str, str]] | None:
    value = obj.get("prompt")
    if value is None or (isinstance(value, str) and not value.strip()):  # a csv row without one holds ""
        return None
    if isinstance(value, str) and value.lstrip().startswith("["):
        value = formats._require_list(obj, "prompt")
    if isinstance(value, list):
        return _messages(value, "prompt") if value else None
    text = formats._require_str(obj, "prompt").replace("\r\n", "\n").strip()
    if formats._ROLE_PREFIX.match(text):  # already seed text: "User: ...\n\nAssistant:"
        turns = [(r, formats.clean_turn(t)) for r, t in formats.split_turns(text)]
        return turns[:-1] if turns[-1] == ("Assistant", "") else turns
    return [("User", formats.clean_turn(text))]


def _reply(side: str | list[tuple[str, str]], key: str, prompt: list[tuple[str, str]]) -> tuple[list, str]:
    """(the turns before the reply, the reply text) of one side."""
    if isinstance(side, str):
        return prompt, side
    if side[: len(prompt)] == prompt:  # TRL may repeat the prompt inside each side
        side = side[len(prompt):]
    if not side:
        raise RecordError(f'field "{key}" holds only the prompt turns, no reply')
    role, text = side[-1]
    if role != "Assistant":
        raise RecordError(f'the last message of "{key}" is a {role.lower()} turn; it must be the assistant reply')
    if not text:
        raise RecordError(f'the reply of "{key}" is empty')
    return prompt + side[:-1], text


def normalise_pair(obj: Any, line: int = 0) -> Pair:
    """A :class:`Pair` of one parsed record; raises ``RecordError`` saying what is wrong."""
    obj = formats._require_object(obj)
    chosen, rejected = _side(obj, "chosen"), _side(obj, "rejected")
    prompt = _prompt_turns(obj)
    if prompt is None:
        if isinstance(chosen, str) or isinstance(rejected, str):
            raise RecordError('no prompt (field "prompt" is missing or empty): with string replies the prompt must '
                              'be given')
        if chosen[:-1] != rejected[:-1]:
            raise RecordError('"chosen" and "rejected" must share every turn but their last (the assistant '
                              'reply); give the conversation so far as "prompt" otherwise')
        prompt = chosen[:-1]
    turns_c, chosen_text = _reply(chosen, "chosen", prompt)
    turns_r, rejected_text = _reply(rejected, "rejected", prompt)
    if turns_c != turns_r:
        raise RecordError('"chosen" and "rejected" answer different conversations (their earlier turns differ)')
    if not turns_c or turns_c[-1][0] == "Assistant":
        raise RecordError("the prompt must end with a user (or system) turn that the replies answer")
    if chosen_text == rejected_text:
        raise RecordError("chosen and rejected are the same reply: the pair teaches nothing; make them differ or "
                          "delete the record")
    pair = Pair(line, turns_c, chosen_text, rejected_text)
    for text in (pair.context, chosen_text, rejected_text):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise RecordError(f"a lone UTF-16 surrogate ({text[e.start]!r}) that UTF-8 cannot encode") from None
    return pair


def normalise_text(obj: Any) -> tuple[str, list[tuple[str, str]]]:
    """formats' view of a pair: the conversation with the chosen reply (what inspect counts and export writes)."""
    pair = normalise_pair(obj)
    turns = pair.turns + [("Assistant", pair.chosen)]
    return formats.join_turns(turns), turns


# --- reading a file ----------------------------------------------------------------------------------


def read_pairs(path, fmt: formats.DatasetFormat | None = None) -> Iterator[Pair | BadRecord]:
    path = Path(path)
    fmt = fmt or formats.detect_format(path)
    if fmt.schema != SCHEMA:
        raise DatasetError(path, None, f"not a preference dataset (its records are {fmt.schema})",
                           'preference records have "prompt", "chosen" and "rejected" fields', fmt.unit)
    for line, obj in formats.record_source(path, fmt.container):
        if isinstance(obj, BadRecord):
            yield obj
            continue
        try:
            yield normalise_pair(obj, line)
        except RecordError as e:
            yield BadRecord(line, str(e))


def preview(path, page: int = 1, page_size: int = 20, max_chars: int = formats.PREVIEW_CHARS):
    """One page of pairs side by side: (line, prompt, chosen, rejected); bad records show their reason as
    the prompt and "(bad)" as chosen. Returns (DataFrame, pages)."""
    import pandas as pd

    fmt = formats.detect_format(path)
    pages = max(1, math.ceil(formats.count_records(path, fmt) / page_size))
    page = min(max(1, int(page)), pages)
    first, last = (page - 1) * page_size, page * page_size
    rows = []
    for i, rec in enumerate(read_pairs(path, fmt)):
        if i >= last:
            break
        if i < first:
            continue
        if isinstance(rec, BadRecord):
            rows.append((rec.line, rec.reason, "(bad)", "(bad)"))
        else:
            rows.append((rec.line, *(formats._cut(t, max_chars) for t in (rec.prompt, rec.chosen, rec.rejected))))
    return pd.DataFrame(rows, columns=["line", "prompt", "chosen", "rejected"]), pages


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
    from .binidx import BinIdxWriter
    from .stats import align_tokens, factor_table, next_pow2

    began = time.perf_counter()
    encoded, waiting, bad, skipped = [], [], [], 0
    total = formats.count_records(src, fmt)
    for n, rec in enumerate(read_pairs(src, fmt), 1):
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
    p_len = np.array([len(p) for p, _, _ in encoded], np.int64)
    c_len = np.array([len(c) for _, c, _ in encoded], np.int64)
    r_len = np.array([len(r) for _, _, r in encoded], np.int64)
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
    with BinIdxWriter(prefix, meta=meta) as writer:
        for n, i in enumerate(order.tolist(), 1):
            p, c, r = encoded[i]
            writer.add(np.concatenate([p, c, r]))
            if progress and n % 2000 == 0:
                progress(n, items, "writing")
    if progress:
        progress(items, items, "writing")
    result.seconds = time.perf_counter() - began
    return result


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
