"""Dataset files: detect the format, stream records, normalise them to the G1 text, validate.

Every supported record becomes the text an RWKV-7 G1 model reads, rendered by data/template.py (the one
renderer): turns joined by a blank line, each prefixed by its role (``System: ...\\n\\nUser: ...\\n\\nAssistant:
...``), reasoning as a ``<think>`` block, tool calls as JSON lines, tool results as the next User turn. A field
that holds data the text does not use is named in :attr:`Normalised.unused` (and counted by :func:`inspect` and
the tokenize report), never dropped without a word.

Containers: ``.jsonl`` (one object per line), ``.json`` (an array of objects; a ``.json`` file that
holds one object per line is read as jsonl), ``.csv``/``.tsv`` (header row), ``.parquet`` (streamed by
row group). Schemas, detected from the first object:

- ``text``      ``{"text": "User: ...\\n\\nAssistant: ..."}`` (the seed's format, used as is)
- ``messages``  ``{"messages": [{"role": "user", "content": "..."}, ...], "tools": [...]}`` (OpenAI; an
  assistant's ``reasoning_content`` or ``<think>`` block, ``tool_calls``; ``tool`` messages)
- ``sharegpt``  ``{"conversations": [{"from": "human", "value": "..."}, ...], "system": ..., "tools": ...}``
  (``function_call`` and ``observation`` turns too)
- ``alpaca``    ``{"instruction": ..., "input": ..., "output": ...}`` (+ optional ``system``, ``history``)
- ``preference`` ``{"prompt": ..., "chosen": ..., "rejected": ...}`` or TRL's message lists (data/preference.py;
  read here as the conversation with the chosen reply)

A bad record never stops reading: :func:`read_records` yields a :class:`BadRecord` with its 1-based
line (record number for .json, row line for .csv, row number for .parquet) and the reason.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

try:
    import orjson

    json_loads = orjson.loads
    HAVE_ORJSON = True
except ImportError:  # orjson is only a speed-up

    def json_loads(raw):
        return json.loads(bytes(raw) if isinstance(raw, memoryview) else raw)

    HAVE_ORJSON = False

from .. import paths
from . import template

if TYPE_CHECKING:
    import pandas as pd

ROLES = ("System", "User", "Assistant")

BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 4 << 20
PREVIEW_CHARS = 2000  # characters of a turn shown in a preview cell
PREVIEW_TURNS = 20  # turns of a record shown in a preview

# OpenAI role names -> the header of their turn (data/preference.py reads plain message lists with them)
_MESSAGE_ROLES = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant"}
_ROLE_PREFIX = re.compile(r"(System|User|Assistant):[ \t]?")

SKIP_BAD_FIX = "fix or delete that record, or turn on skip-bad (--skip-bad) to skip such records and count them"


@dataclass(frozen=True)
class DatasetFormat:
    """How a file is stored (``container``) and which record layout it uses (``schema``)."""

    container: str
    schema: str

    @property
    def unit(self) -> str:
        """What a record's number counts in this container: line, record or row."""
        return {"jsonl": "line", "csv": "line", "json": "record", "parquet": "row"}[self.container]

    def __str__(self) -> str:
        return f"{self.schema} ({self.container})"


@dataclass(frozen=True)
class Record:
    """A valid record: its 1-based line (or record/row number), G1 text and (role, text) turns.

    ``role`` is "System", "User", "Assistant", or "" for text before the first role prefix. ``unused`` names
    the fields that hold data the text does not use; ``conversation`` is what the text was rendered from
    (None for ``text`` records).
    """

    line: int
    text: str
    turns: list[tuple[str, str]]
    unused: tuple[str, ...] = ()
    conversation: tuple[template.Turn, ...] | None = None


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be used, with its 1-based line (or record/row number) and why."""

    line: int
    reason: str


@dataclass
class DatasetReport:
    """What :func:`inspect` found in a file."""

    path: Path
    format: DatasetFormat
    records: int = 0
    chars: int = 0
    turns: int = 0
    role_turns: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ("", *ROLES)})
    bad: list[BadRecord] = field(default_factory=list)
    bad_count: int = 0
    unused: dict[str, int] = field(default_factory=dict)  # field -> records that have it, in order of appearance
    parts: dict[str, int] = field(default_factory=dict)  # reasoning, tool calls, ... -> how many (see PARTS)

    @property
    def ok(self) -> bool:
        return self.bad_count == 0 and self.records > 0


class DatasetError(ValueError):
    """A dataset problem, with the file, the line (or None for the whole file), the reason and the fix."""

    def __init__(self, path: str | os.PathLike, line: int | None, reason: str, fix: str = "", unit: str = "line"):
        self.path = Path(path)
        self.line = line
        self.reason = reason
        self.fix = fix
        self.unit = unit
        where = paths.display(self.path) + (f", {unit} {line}" if line is not None else "")
        super().__init__(f"{where}: {reason}" + (f". {fix[0].upper()}{fix[1:]}" if fix else ""))


class RecordError(Exception):
    """Internal: a record is unusable, for the given reason."""


# --- turn text -----------------------------------------------------------------------------------


clean_turn = template.clean


def join_turns(turns: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"{role}: {text}" if role else text for role, text in turns)


def split_turns(text: str) -> list[tuple[str, str]]:
    """Turns of a seed-format text: a paragraph starting with ``Role:`` opens a turn, others continue it."""
    turns: list[tuple[str, list[str]]] = []  # paragraphs joined once at the end: a long turn is not re-copied
    for paragraph in text.split("\n\n"):
        opened = paragraph.lstrip("\n")  # "\n\n\nUser:" still opens a turn
        m = _ROLE_PREFIX.match(opened)
        if m:
            turns.append((m.group(1), [opened[m.end() :]]))
        elif turns:
            turns[-1][1].append(paragraph)
        else:
            turns.append(("", [paragraph]))
    return [(role, "\n\n".join(parts)) for role, parts in turns]


# --- schema normalisers: parsed object -> G1 text (data/template.py renders it) ----------------------


@dataclass(frozen=True)
class Normalised:
    """One record read: its text, its (role, text) turns, the conversation it was rendered from (None for
    ``text`` records, used as they are) and the fields that hold data but are not in the text."""

    text: str
    turns: list[tuple[str, str]]
    unused: tuple[str, ...] = ()
    conversation: tuple[template.Turn, ...] | None = None


class _Fields:
    """The fields of a record the text uses, so the others are named (``messages[].name``), never dropped
    without a word. A field holding nothing (null, "", [], {}) is not data and is not named."""

    def __init__(self):
        self.unused: dict[str, None] = {}  # an ordered set

    def check(self, obj: dict, used: set[str], path: str = "") -> None:
        for key, value in obj.items():
            if key not in used and value not in (None, "", [], {}):
                self.unused[f"{path}{key}"] = None


def _require_str(obj: dict, key: str, where: str = "") -> str:
    """``obj[key]`` as a non-empty (not only whitespace) string, or ``RecordError`` saying what is wrong."""
    if key not in obj:
        raise RecordError(f'missing field "{key}"{where}')
    value = obj[key]
    if not isinstance(value, str):
        raise RecordError(f'field "{key}"{where} is {type(value).__name__}, not a string')
    if not value or value.isspace():
        raise RecordError(f'field "{key}"{where} is empty')
    return value


def _require_list(obj: dict, key: str) -> list:
    if key not in obj:
        raise RecordError(f'missing field "{key}"')
    value = _json_cell(obj[key], key)
    if not isinstance(value, list):
        raise RecordError(f'field "{key}" is {type(value).__name__}, not a list')
    if not value:
        raise RecordError(f'field "{key}" is an empty list')
    return value


def _json_cell(value: Any, key: str) -> Any:
    """A csv cell (or a ShareGPT field) holds nested data as JSON text."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        raise RecordError(f'field "{key}" is empty')
    try:
        return json_loads(value)
    except ValueError as e:
        raise RecordError(f'field "{key}" is text but not valid JSON: {e}') from None


def _message_content(msg: dict, where: str) -> str:
    content = msg.get("content")
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        texts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise RecordError(f"content{where} has a non-text part (only text can be trained on)")
            texts.append(part["text"])
        content = "".join(texts)
        if not content.strip():
            raise RecordError(f'field "content"{where} is empty')
        return content
    return _require_str(msg, "content", where)


def _optional_str(obj: dict, key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f'field "{key}"{where} is {type(value).__name__}, not a string')
    return value


def _reply_parts(content: str | None, reasoning: str | None, where: str) -> tuple[str, str | None]:
    """(answer, reasoning) of an assistant message: a <think> block at the start of the content is reasoning."""
    if content is None:
        return "", reasoning
    inline, rest = template.split_think(content)
    if inline is None:
        return content, reasoning
    if reasoning is not None:
        raise RecordError(f"the reply{where} has reasoning twice (a reasoning field and a <think> block in its "
                          "content); keep one")
    if template.THINK_CLOSE not in content:
        raise RecordError(f"the <think> block{where} is never closed with </think>")
    return rest, inline


def _tool_calls(value: Any, where: str, fields: _Fields, path: str) -> tuple[template.ToolCall, ...]:
    """OpenAI ``tool_calls``: [{"id", "type": "function", "function": {"name", "arguments"}}, ...]."""
    if not isinstance(value, list):
        raise RecordError(f'field "tool_calls"{where} is {type(value).__name__}, not a list')
    calls = []
    for j, call in enumerate(value, 1):
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            raise RecordError(f'tool call {j}{where} is not {{"type": "function", "function": {{"name", '
                              '"arguments"}}')
        fields.check(call, {"function", "type"}, f"{path}tool_calls[].")
        calls.append(_call(call["function"], f" in tool call {j}{where}", fields, f"{path}tool_calls[].function."))
    return tuple(calls)


def _call(spec: dict, where: str, fields: _Fields, path: str) -> template.ToolCall:
    name = _require_str(spec, "name", where)
    fields.check(spec, {"name", "arguments"}, path)
    return template.ToolCall(name, template.parse_arguments(spec.get("arguments")))


def _messages_turns(messages: list, fields: _Fields) -> list[template.Turn]:
    turns: list[template.Turn] = []
    for i, msg in enumerate(messages, 1):
        where = f" of message {i}"
        if not isinstance(msg, dict):
            raise RecordError(f"message {i} is {type(msg).__name__}, not an object")
        role = _require_str(msg, "role", where)
        kind = template.ROLES.get(role)
        if kind is None:
            raise RecordError(f'message {i} has role "{role}"; expected one of {", ".join(template.ROLES)}')
        if kind != "assistant":
            fields.check(msg, {"role", "content"}, "messages[].")
            turns.append(template.Turn(kind, _message_content(msg, where)))
            continue
        fields.check(msg, {"role", "content", "reasoning_content", "reasoning", "tool_calls", "function_call"},
                     "messages[].")
        calls = _tool_calls(msg["tool_calls"], where, fields, "messages[].") if msg.get("tool_calls") else ()
        if isinstance(msg.get("function_call"), dict):  # OpenAI's older single call
            calls += (_call(msg["function_call"], where, fields, "messages[].function_call."),)
        reasoning = _optional_str(msg, "reasoning_content", where)
        if reasoning is None:
            reasoning = _optional_str(msg, "reasoning", where)
        content = _message_content(msg, where) if not calls or msg.get("content") else None
        answer, reasoning = _reply_parts(content, reasoning, where)
        turns.append(template.Turn("assistant", answer, reasoning, calls))
    return turns


def _tools(obj: dict, key: str = "tools") -> tuple:
    value = obj.get(key)
    if value in (None, "", []):
        return ()
    value = _json_cell(value, key)
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise RecordError(f'field "{key}" is not a list of tool descriptions (JSON objects)')
    return tuple(value)


def _conversation(turns: list[template.Turn], tools: tuple, fields: _Fields) -> Normalised:
    rendered = template.render_turns(turns, tools)
    return Normalised(template.join(rendered), rendered, tuple(fields.unused), tuple(turns))


def _normalise_text(obj: Any) -> Normalised:
    obj = _require_object(obj)
    text = _require_str(obj, "text")
    fields = _Fields()
    fields.check(obj, {"text"})
    return Normalised(text, split_turns(text), tuple(fields.unused))


def _normalise_messages(obj: Any) -> Normalised:
    obj = _require_object(obj)
    fields = _Fields()
    fields.check(obj, {"messages", "tools"})
    return _conversation(_messages_turns(_require_list(obj, "messages"), fields), _tools(obj), fields)


# ShareGPT speakers (LLaMA-Factory's names among them) -> template roles; function_call is an assistant call
_SHAREGPT_ROLES = {
    "system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
    "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
    "function_call": "function_call", "observation": "tool", "tool": "tool", "function": "tool",
}


def _sharegpt_call(value: str, fields: _Fields) -> tuple[tuple[template.ToolCall, ...], str]:
    """(calls, text) of a function_call turn: JSON {"name", "arguments"} (or a list of them); other text stays
    text."""
    try:
        parsed = json_loads(value)
    except ValueError:
        return (), value
    specs = parsed if isinstance(parsed, list) else [parsed]
    if not specs or not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in specs):
        return (), value
    for spec in specs:
        fields.check(spec, {"name", "arguments"}, "conversations[].value.")
    return tuple(template.ToolCall(s["name"], template.parse_arguments(s.get("arguments"))) for s in specs), ""


def _normalise_sharegpt(obj: Any) -> Normalised:
    obj = _require_object(obj)
    fields = _Fields()
    fields.check(obj, {"conversations", "system", "tools"})
    turns: list[template.Turn] = []
    if obj.get("system"):
        turns.append(template.Turn("system", _require_str(obj, "system")))
    for i, msg in enumerate(_require_list(obj, "conversations"), 1):
        where = f" of turn {i}"
        if not isinstance(msg, dict):
            raise RecordError(f"turn {i} is {type(msg).__name__}, not an object")
        speaker = _require_str(msg, "from", where)
        kind = _SHAREGPT_ROLES.get(speaker)
        if kind is None:
            raise RecordError(f'turn {i} is from "{speaker}"; expected one of {", ".join(_SHAREGPT_ROLES)}')
        fields.check(msg, {"from", "value"}, "conversations[].")
        value = _require_str(msg, "value", where)
        if kind == "function_call":
            calls, text = _sharegpt_call(value, fields)
            last = turns[-1] if turns else None
            if last is not None and last.role == "assistant" and not last.calls:  # gpt text, then its call
                turns[-1] = template.Turn("assistant", last.content, last.reasoning, calls)
                if text:
                    turns.append(template.Turn("assistant", text))
            else:
                turns.append(template.Turn("assistant", text, None, calls))
        elif kind == "assistant":
            answer, reasoning = _reply_parts(value, None, where)
            turns.append(template.Turn("assistant", answer, reasoning))
        else:
            turns.append(template.Turn(kind, value))
    return _conversation(turns, _tools(obj), fields)


def _normalise_alpaca(obj: Any) -> Normalised:
    obj = _require_object(obj)
    fields = _Fields()
    fields.check(obj, {"instruction", "input", "output", "system", "history"})
    turns = []
    if obj.get("system"):
        turns.append(template.Turn("system", _require_str(obj, "system")))
    history = obj.get("history") or []
    if not isinstance(history, list):
        raise RecordError(f'field "history" is {type(history).__name__}, not a list of [question, answer] pairs')
    for i, pair in enumerate(history, 1):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) and x.strip() for x in pair)):
            raise RecordError(f'item {i} of "history" is not a [question, answer] pair of non-empty strings')
        turns += [template.Turn("user", pair[0]), template.Turn("assistant", *_reply_parts(pair[1], None, ""))]
    question = clean_turn(_require_str(obj, "instruction"))
    extra = obj.get("input")
    if extra is not None and not isinstance(extra, str):
        raise RecordError(f'field "input" is {type(extra).__name__}, not a string')
    if extra and extra.strip():
        question += "\n" + clean_turn(extra)
    answer, reasoning = _reply_parts(_require_str(obj, "output"), None, "")
    turns += [template.Turn("user", question), template.Turn("assistant", answer, reasoning)]
    return _conversation(turns, (), fields)


def _require_object(obj: Any) -> dict:
    if not isinstance(obj, dict):
        raise RecordError(f"the record is a JSON {type(obj).__name__}, not an object")
    return obj


def _normalise_preference(obj: Any) -> Normalised:
    from .preference import normalise_text

    return Normalised(*normalise_text(obj))


NORMALISERS: dict[str, Callable[[Any], Normalised]] = {
    "text": _normalise_text,
    "messages": _normalise_messages,
    "sharegpt": _normalise_sharegpt,
    "alpaca": _normalise_alpaca,
    "preference": _normalise_preference,
}
# what a record of each schema is called in a message ("line 31 is an OpenAI messages record")
SCHEMA_NAMES = {
    "text": 'a text record ({"text": ...})',
    "messages": "an OpenAI messages record",
    "sharegpt": "a ShareGPT conversations record",
    "alpaca": "an Alpaca instruction record",
    "preference": "a preference pair",
}
_SCHEMA_KEYS = {"text": "text", "messages": "messages", "sharegpt": "conversations", "alpaca": "instruction"}


def schema_of(obj: Any) -> str | None:
    """The schema an object's keys say it has, or None."""
    if isinstance(obj, LongText):
        return "text"
    if not isinstance(obj, dict):
        return None
    if "chosen" in obj and "rejected" in obj:  # before "messages": TRL pairs may carry other fields
        return "preference"
    if "text" in obj:
        return "text"
    if "messages" in obj:
        return "messages"
    if "conversations" in obj:
        return "sharegpt"
    if "instruction" in obj and "output" in obj:
        return "alpaca"
    return None


class OtherFormat(RecordError):
    """A record of another schema than the file's (its first record's)."""

    def __init__(self, schema: str, other: str):
        super().__init__(f"one format per file: this record is {SCHEMA_NAMES[other]}, but the file's first record "
                         f"is {SCHEMA_NAMES[schema]}; convert it or move it to a file of its own")


def normalise_record(obj: Any, schema: str, *, require_assistant: bool = False) -> Normalised:
    """One parsed record read as ``schema``; raises ``RecordError`` with the reason when it is unusable."""
    other = schema_of(obj)
    key = _SCHEMA_KEYS.get(schema)
    if other is not None and other != schema and key is not None and (not isinstance(obj, dict) or key not in obj):
        raise OtherFormat(schema, other)
    record = NORMALISERS[schema](obj)
    if require_assistant and not any(role == "Assistant" for role, _ in record.turns):
        raise RecordError(
            'no "Assistant:" turn (the qa mask trains only on Assistant turns, so this record teaches nothing)'
        )
    try:
        record.text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate from a \\ud800-style escape
        raise RecordError(
            f"character {e.start} is a lone UTF-16 surrogate ({record.text[e.start]!r}) that UTF-8 cannot encode"
        ) from None
    return record


def normalise(obj: Any, schema: str, *, require_assistant: bool = False) -> tuple[str, list[tuple[str, str]]]:
    """(text, turns) of one parsed record; raises ``RecordError`` with the reason when it is unusable."""
    record = normalise_record(obj, schema, require_assistant=require_assistant)
    return record.text, record.turns


# --- jsonl lines -----------------------------------------------------------------------------------


def diagnose_json(raw: bytes, error: Exception, file_offset: int, what: str = "line") -> str:
    """Why JSON bytes did not parse, in the most useful terms: BOM, bad UTF-8 (with offsets), JSON."""
    if raw.startswith(BOM):
        return f"the {what} starts with a UTF-8 byte order mark (BOM); save the file as UTF-8 without BOM"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        at = (
            f"byte {e.start} of the line (byte {file_offset + e.start} of the file)"
            if what == "line"
            else f"byte {e.start}"
        )
        return f"invalid UTF-8 at {at}: {raw[e.start:e.start + 4]!r}; re-save the file as UTF-8"
    return f"invalid JSON: {error}"


def iter_line_blocks(f, start: int, end: int, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Blocks of whole lines from byte ``start`` to ``end`` of a binary file, with each block's offset.

    A line longer than a block grows in one bytearray (no quadratic re-joining, no second copy) and is
    yielded as its own block.
    """
    f.seek(start)
    offset = start
    carry = b""  # the beginning of a line whose end is not read yet
    long_line: bytearray | None = None
    remaining = end - start
    while remaining > 0:
        chunk = f.read(min(block_bytes, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        cut = chunk.rfind(b"\n") + 1 if remaining > 0 else len(chunk)
        if not cut:  # no line end in this chunk: a long line goes on
            if long_line is None:
                long_line, carry = bytearray(carry), b""
            long_line += chunk
            continue
        if long_line is not None:
            long_line += chunk[:cut]
            block, long_line = long_line, None
        else:
            block = carry + chunk[:cut]
        carry = chunk[cut:]
        yield offset, block
        offset += len(block)
    tail = long_line if long_line is not None else carry
    if tail:
        yield offset, tail


def block_lines(block: bytes | bytearray) -> list:
    """The lines of a block from :func:`iter_line_blocks`, without their line ends. The block of a long
    line (a bytearray) is cut into memoryviews rather than copied; :data:`json_loads` reads those."""
    if isinstance(block, bytes):
        raws = block.split(b"\n")
    else:
        view, raws, pos = memoryview(block), [], 0
        while (nl := block.find(b"\n", pos)) >= 0:
            raws.append(view[pos:nl])
            pos = nl + 1
        raws.append(view[pos:])
    if block.endswith(b"\n"):
        raws.pop()
    return raws


_TEXT_KEY = re.compile(rb'"text"[ \t\r\n]*:[ \t\r\n]*"')
_QUOTE = re.compile(rb'"')
# A byte that is never part of an escape sequence nor inside a character: a JSON string cut before it
# leaves two bodies that decode on their own (a surrogate pair stays whole).
_CUT_BEFORE = re.compile(rb'[^"\\/bfnrtu0-9a-fA-F\x80-\xbf]')
_PLACEHOLDER = b'"\\u0000"'
PIECE_BYTES = 1 << 20
TAIL_BYTES = 1 << 16  # how far from the line's end the text's closing quote is looked for


@dataclass(frozen=True)
class LongText:
    """The "text" string of a very long jsonl line, as byte ranges of its JSON body that decode on their own."""

    raw: memoryview
    ranges: list[tuple[int, int]]

    def pieces(self) -> Iterator[str]:
        for a, b in self.ranges:
            yield json_loads(b'"' + bytes(self.raw[a:b]) + b'"')


def long_text(raw: memoryview) -> LongText | None:
    """The text of a very long ``{"text": "...", ...}`` line in pieces of about PIECE_BYTES, each checked
    as ``json_loads`` checks the whole line, so the text never has to be one str (4 bytes a character
    once it holds one emoji). None for any other line, or one that is not valid: the caller parses it
    whole, which also words its error. The text's closing quote is looked for near the end of the line
    (a huge line is huge because of its text): the one that leaves the rest a valid object whose "text"
    is the text.
    """
    key = _TEXT_KEY.search(raw) if HAVE_ORJSON else None  # orjson refuses lone surrogates, as the fast path needs
    if key is None:
        return None
    start = key.end()
    head = bytes(raw[: start - 1])
    tail_start = max(start, len(raw) - TAIL_BYTES)
    for quote in reversed([m.start() for m in _QUOTE.finditer(raw, tail_start)]):
        small = head + _PLACEHOLDER + bytes(raw[quote + 1 :])
        try:
            obj = json_loads(small)
        except ValueError:
            continue
        if type(obj) is dict and obj.get("text") == "\x00" and small.count(_PLACEHOLDER) == 1:
            end = quote
            break
    else:
        return None
    ranges, pos = [], start
    while pos < end:
        cut = _CUT_BEFORE.search(raw, pos + PIECE_BYTES, end) if pos + PIECE_BYTES < end else None
        ranges.append((pos, cut.start() if cut else end))
        pos = ranges[-1][1]
    text = LongText(raw, ranges)
    try:
        blank = all([piece.isspace() for piece in text.pieces()])  # decodes every piece: checks them all
    except ValueError:
        return None
    return None if blank else text


class _Source:
    """Base of the per-container readers: iterating yields (number, parsed object or BadRecord);
    ``done`` of ``total`` (bytes, or records) tells the progress."""

    unit = "line"

    def __init__(self, path: Path):
        self.path = path
        self.done = 0
        self.total = 0


class _JsonlSource(_Source):
    """With ``long_texts``, a very long ``{"text": ...}`` line comes as a :class:`LongText`, not parsed."""

    def __init__(self, path: Path, long_texts: bool = False):
        super().__init__(path)
        self.long_texts = long_texts

    def __iter__(self):
        line = 0
        with paths.open_read(self.path) as f:  # in the app: the file checked is the file read
            self.total = os.fstat(f.fileno()).st_size
            for offset, block in iter_line_blocks(f, 0, self.total):
                start = offset
                for raw in block_lines(block):
                    line += 1
                    text = long_text(raw) if self.long_texts and len(raw) > BLOCK_BYTES else None
                    if text is not None:
                        yield line, text
                    elif raw and not bytes(raw).isspace():  # the seed skips blank lines
                        try:
                            yield line, json_loads(raw)
                        except ValueError as e:
                            yield line, BadRecord(line, diagnose_json(bytes(raw), e, start))
                    start += len(raw) + 1
                self.done = offset + len(block)


class _JsonArraySource(_Source):
    unit = "record"

    def __iter__(self):
        with paths.open_read(self.path) as f:
            raw = f.read()
        self.total = len(raw)
        if raw.startswith(BOM):
            raise DatasetError(
                self.path, None, "the file starts with a UTF-8 byte order mark (BOM)", "save it as UTF-8 without BOM"
            )
        try:
            data = json_loads(raw)
        except ValueError as e:
            raise DatasetError(
                self.path,
                None,
                diagnose_json(raw, e, 0, "file"),
                "fix the JSON, or save it as jsonl (one object per line) to see every bad record",
            ) from None
        if not isinstance(data, list):
            raise DatasetError(
                self.path,
                None,
                f"a .json dataset must be an array of records, this is a JSON {type(data).__name__}",
                "wrap the records in [...] or save them as jsonl",
            )
        self.total = len(data)
        for i, obj in enumerate(data, 1):
            self.done = i
            yield i, obj


class _CsvSource(_Source):
    """Header row, then one record per row. Quoting is read strictly, so a broken quote is one bad
    record naming the lines it spans instead of rows silently merged; fields have no size limit."""

    def __iter__(self):
        delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the default 128 KiB is far below a long text
        with paths.open_read(self.path) as raw_file:
            self.total = os.fstat(raw_file.fileno()).st_size
            # utf-8-sig: Excel writes a BOM in every UTF-8 csv; bad bytes surface as surrogates, per field.
            text = io.TextIOWrapper(raw_file, encoding="utf-8-sig", errors="surrogateescape", newline="")
            reader = csv.reader(text, delimiter=delimiter, strict=True)
            header = None
            while True:
                line = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    yield line, BadRecord(line, _csv_quoting(e, line, reader.line_num))
                    continue
                self.done = raw_file.tell()
                if header is None:
                    header = fields
                    continue
                if not fields:  # a blank line
                    continue
                row = dict(zip(header, fields + [None] * (len(header) - len(fields))))
                bad = _csv_bad_utf8(row)
                if bad:
                    yield line, BadRecord(line, bad)
                elif len(fields) > len(header):
                    yield line, BadRecord(line, f"the row has {len(fields)} fields but the header has {len(header)}")
                else:
                    yield line, row


def _csv_quoting(error: csv.Error, first: int, last: int) -> str:
    """A broken-quote csv.Error in plain words: where the row starts, where the reader gave up."""
    fix = 'a field that holds a quote, a comma or a line break must be in quotes, its own quotes doubled ("")'
    if "unexpected end of data" in str(error):
        return f"a quote opened in this row is never closed (the file ends inside it, line {last}); {fix}"
    span = f"lines {first}-{last} were read as one row" if last > first else "this row"
    return f"broken quoting ({error}): {span}; {fix}"


def _csv_bad_utf8(row: dict) -> str | None:
    for key, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                offset = len(value[: e.start].encode("utf-8", "surrogateescape"))
                return f'invalid UTF-8 in column "{key}" at byte {offset} of the field; re-save the file as UTF-8'
    return None


class _ParquetSource(_Source):
    unit = "row"

    def __iter__(self):
        import pyarrow.parquet as pq

        with paths.open_read(self.path) as f:
            try:
                pf = pq.ParquetFile(f)
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise DatasetError(
                    self.path, None, f"not a readable parquet file ({e})", "re-export it with pandas.DataFrame.to_parquet"
                ) from None
            self.total = pf.metadata.num_rows
            row = 0
            for batch in pf.iter_batches(batch_size=4096):  # one row group slice at a time, never the whole table
                for obj in batch.to_pylist():
                    row += 1
                    yield row, obj
                self.done = row


_SOURCES = {"jsonl": _JsonlSource, "json": _JsonArraySource, "csv": _CsvSource, "parquet": _ParquetSource}


def record_source(path: Path, container: str) -> _Source:
    """The raw reader of a container: iterate it for (number, parsed object or BadRecord)."""
    return _SOURCES[container](path)


def _require_file(path: Path) -> None:
    if path.is_dir():
        raise DatasetError(path, None, "this is a folder, not a file", "pick a dataset file inside it, e.g. data/NAME.jsonl")
    if not path.is_file():
        raise DatasetError(path, None, "file not found", "pick a file in data/ or type its full path")


def container_of(path: str | os.PathLike) -> str:
    """jsonl, json, csv or parquet, from the suffix (and the first byte for .json / unknown suffixes)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".jsonlines"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    _require_file(path)
    with paths.open_read(path) as f:
        head = f.read(4096).removeprefix(BOM).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{") or (suffix == ".json" and not head):
        return "jsonl"
    raise DatasetError(
        path, None, f'unsupported file type "{suffix or path.name}"', "use .jsonl, .json, .csv or .parquet"
    )


def detect_format(path: str | os.PathLike) -> DatasetFormat:
    """The container and the schema of a dataset file (schema from its first readable object)."""
    path = Path(path)
    _require_file(path)
    container = container_of(path)
    # a huge first record is only looked at, never parsed into one str
    source = _JsonlSource(path, long_texts=True) if container == "jsonl" else record_source(path, container)
    first_keys = first_bad = None
    for n, (line, obj) in enumerate(source):
        if n >= 1000:
            break
        if isinstance(obj, BadRecord):
            first_bad = first_bad or obj
            continue
        schema = schema_of(obj)
        if schema:
            return DatasetFormat(container, schema)
        if first_keys is None:
            first_keys = (line, sorted(obj) if isinstance(obj, dict) else type(obj).__name__)
    if first_keys is None:
        reason = "no readable record in the file" + (
            f" ({source.unit} {first_bad.line}: {first_bad.reason})" if first_bad else ""
        )
        raise DatasetError(
            path, None, reason, 'records look like {"text": "User: ...\\n\\nAssistant: ..."}', source.unit
        )
    line, keys = first_keys
    raise DatasetError(
        path,
        line,
        f"no known fields (found {keys})",
        'records need "text", "messages" (role/content), "conversations" (from/value), "instruction"+"output" '
        'or "prompt"+"chosen"+"rejected" (preference pairs)',
        source.unit,
    )


def read_records(
    path: str | os.PathLike,
    *,
    require_assistant: bool = False,
    format: DatasetFormat | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Iterator[Record | BadRecord]:
    """Stream every record of a file as a :class:`Record` or, when unusable, a :class:`BadRecord`.

    ``progress(done, total, "reading")`` is called now and then (bytes, or records for .json/.parquet).
    """
    path = Path(path)
    fmt = format or detect_format(path)
    source = record_source(path, fmt.container)
    for n, (line, obj) in enumerate(source, 1):
        if progress and n % 2000 == 0:
            progress(source.done, source.total, "reading")
        if isinstance(obj, BadRecord):
            yield obj
            continue
        try:
            rec = normalise_record(obj, fmt.schema, require_assistant=require_assistant)
        except RecordError as e:
            yield BadRecord(line, str(e))
        else:
            yield Record(line, rec.text, rec.turns, rec.unused, rec.conversation)
    if progress:
        progress(source.total, source.total, "reading")


def inspect(
    path: str | os.PathLike,
    *,
    require_assistant: bool = False,
    max_bad: int = 1000,
    progress: Callable[[int, int, str], None] | None = None,
) -> DatasetReport:
    """Read a whole file: format, counts (records, characters, turns by role) and every bad record.

    ``bad`` keeps the first ``max_bad`` bad records; ``bad_count`` counts all of them.
    """
    path = Path(path)
    fmt = detect_format(path)
    report = DatasetReport(path=path, format=fmt)
    for rec in read_records(path, require_assistant=require_assistant, format=fmt, progress=progress):
        if isinstance(rec, BadRecord):
            report.bad_count += 1
            if len(report.bad) < max_bad:
                report.bad.append(rec)
            continue
        report.records += 1
        report.chars += len(rec.text)
        report.turns += len(rec.turns)
        for role, _ in rec.turns:
            report.role_turns[role] += 1
        for name in rec.unused:
            report.unused[name] = report.unused.get(name, 0) + 1
        for part, count in conversation_parts(rec.conversation).items():
            report.parts[part] = report.parts.get(part, 0) + count
    return report


# what a report counts in the conversations it read, in this order
PARTS = ("system prompts", "reasoning blocks", "tool calls", "tool results")


def conversation_parts(turns: tuple[template.Turn, ...] | None) -> dict[str, int]:
    """How many system prompts, reasoning blocks, tool calls and tool results a conversation holds."""
    if not turns:
        return {}
    found = {
        "system prompts": sum(t.role == "system" for t in turns),
        "reasoning blocks": sum(t.reasoning is not None for t in turns),
        "tool calls": sum(len(t.calls) for t in turns),
        "tool results": sum(t.role == "tool" for t in turns),
    }
    return {part: n for part, n in found.items() if n}


def unused_summary(unused: dict[str, int], limit: int = 12) -> str:
    """``id (40 records), messages[].name (3 records)``: the fields a file holds that its text does not use."""
    shown = [f"{name} ({count:,} record{'s' if count != 1 else ''})" for name, count in list(unused.items())[:limit]]
    more = len(unused) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def count_records(path: str | os.PathLike, format: DatasetFormat | None = None) -> int:
    """How many records (good or bad) a file holds; fast for jsonl (non-blank lines) and parquet."""
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt.container == "jsonl":
        n = 0
        with paths.open_read(path) as f:
            for _, block in iter_line_blocks(f, 0, os.fstat(f.fileno()).st_size):
                n += sum(1 for raw in block.split(b"\n") if raw and not raw.isspace())
        return n
    if fmt.container == "parquet":
        import pyarrow.parquet as pq

        with paths.open_read(path) as f:
            return pq.ParquetFile(f).metadata.num_rows
    return sum(1 for _ in record_source(path, fmt.container))


def preview(
    path: str | os.PathLike,
    page: int = 1,
    page_size: int = 20,
    *,
    require_assistant: bool = False,
    max_chars: int = PREVIEW_CHARS,
) -> tuple[pd.DataFrame, int]:
    """One page of records as a table with one row per turn: (line, turn, role, text); and the page count.

    Bad records appear in place, role "(bad)" and the reason as text, so the table shows what
    validation found. ``page`` is 1-based and clamped to the available pages. A turn longer than
    ``max_chars`` is cut and a record's turns after PREVIEW_TURNS are counted, not shown, and the table
    says so: a page must reach a browser fast however long a record is. Preference pairs come one row per
    pair instead: (line, prompt, chosen, rejected).
    """
    import pandas as pd

    fmt = detect_format(path)
    if fmt.schema == "preference":  # pairs side by side: line, prompt, chosen, rejected
        from .preference import preview as preview_pairs

        return preview_pairs(path, page, page_size, max_chars)
    total_pages = max(1, math.ceil(count_records(path, fmt) / page_size))
    page = min(max(1, int(page)), total_pages)
    first, last = (page - 1) * page_size, page * page_size
    rows = []
    for i, rec in enumerate(read_records(path, require_assistant=require_assistant, format=fmt)):
        if i >= last:
            break
        if i < first:
            continue
        if isinstance(rec, BadRecord):
            rows.append((rec.line, 0, "(bad)", rec.reason))
        else:
            shown = rec.turns[:PREVIEW_TURNS]
            rows += [(rec.line, t, role or "(text)", _cut(text, max_chars)) for t, (role, text) in enumerate(shown, 1)]
            if len(rec.turns) > len(shown):
                rows.append((rec.line, len(shown) + 1, "(more)", f"… {len(rec.turns) - len(shown):,} more turns not "
                             f"shown: the record has {len(rec.turns):,} turns, {len(rec.text):,} characters"))
    return pd.DataFrame(rows, columns=["line", "turn", "role", "text"]), total_pages


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]} … [preview cut here: the turn has {len(text):,} characters]"


def export_text_jsonl(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> int:
    """Write the normalised records as seed-format jsonl (``{"text": ...}`` per line); returns the count.

    The file appears only when complete. A bad record raises :class:`DatasetError` unless ``skip_bad``.
    """
    src = Path(src)
    fmt = detect_format(src)
    count = 0
    with paths.atomic_output(dest) as tmp, open(tmp, "wb") as out:
        for rec in read_records(src, format=fmt, progress=progress):
            if isinstance(rec, BadRecord):
                if skip_bad:
                    continue
                raise DatasetError(src, rec.line, rec.reason, SKIP_BAD_FIX, fmt.unit)
            out.write(json.dumps({"text": rec.text}, ensure_ascii=False).encode("utf-8") + b"\n")
            count += 1
        if count == 0:
            raise DatasetError(src, None, "no usable record to export", "add records or fix the bad ones", fmt.unit)
    return count
