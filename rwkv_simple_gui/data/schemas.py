"""Record schemas: what one parsed record of each layout means and the G1 text it becomes.

``text``, ``messages`` (OpenAI), ``sharegpt``, ``alpaca`` and ``preference`` (a prompt with a chosen and a rejected
reply) records are normalised here, one object at a time; data/formats.py reads files of them (containers,
detection, streaming, previews), data/preference.py tokenizes pairs. A record that is unusable raises
:class:`RecordError` with the reason.

Preference record forms (any container formats.py reads):

- ``{"prompt": "...", "chosen": "...", "rejected": "..."}``: the user's message and two replies (strings); a
  prompt that already starts with a role prefix (``User: ...``, ``System: ...``) is read as seed text.
- TRL's message lists: ``chosen`` / ``rejected`` as lists of ``{role, content}`` sharing every turn but their
  last (an assistant reply), with no ``prompt``; or ``prompt`` as a message list (or string) and
  ``chosen`` / ``rejected`` as one assistant message each.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

try:
    import orjson

    json_loads = orjson.loads
    HAVE_ORJSON = True
except ImportError:  # orjson is only a speed-up

    def json_loads(raw):
        return json.loads(bytes(raw) if isinstance(raw, memoryview) else raw)

    HAVE_ORJSON = False


from . import template

ROLES = ("System", "User", "Assistant")

# OpenAI role names -> the header of their turn (preference pairs read plain message lists with them)
_MESSAGE_ROLES = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant"}
_ROLE_PREFIX = re.compile(r"(System|User|Assistant):[ \t]?")

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


@dataclass(frozen=True)
class LongText:
    """The "text" string of a very long jsonl line, as byte ranges of its JSON body that decode on their own."""

    raw: memoryview
    ranges: list[tuple[int, int]]

    def pieces(self) -> Iterator[str]:
        for a, b in self.ranges:
            yield json_loads(b'"' + bytes(self.raw[a:b]) + b'"')



# --- preference pairs ----------------------------------------------------------------------------


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
        return join_turns(self.turns) + "\n\nAssistant:"

    @property
    def prompt(self) -> str:
        return join_turns(self.turns)


# --- normalising one record --------------------------------------------------------------------------


def _messages(value: list, key: str) -> list[tuple[str, str]]:
    turns = []
    for i, msg in enumerate(value, 1):
        where = f' of "{key}" message {i}'
        if not isinstance(msg, dict):
            raise RecordError(f'message {i} of "{key}" is {type(msg).__name__}, not an object')
        role = _require_str(msg, "role", where)
        if role not in _MESSAGE_ROLES:
            raise RecordError(f'message {i} of "{key}" has role "{role}"; expected one of '
                              f'{", ".join(_MESSAGE_ROLES)}')
        turns.append((_MESSAGE_ROLES[role], clean_turn(_message_content(msg, where))))
    return turns


def _side(obj: dict, key: str) -> str | list[tuple[str, str]]:
    """A reply as a string, or as (role, text) turns when it is a message list."""
    if obj.get(key) is None:  # (a parquet row without it holds None)
        raise RecordError(f'missing field "{key}"')
    value = obj[key]
    if isinstance(value, str) and value.lstrip().startswith("["):  # csv cells hold lists as JSON text
        value = _require_list(obj, key)
    if isinstance(value, list):
        if not value:
            raise RecordError(f'field "{key}" is an empty list')
        return _messages(value, key)
    if not isinstance(value, str):
        raise RecordError(f'field "{key}" is {type(value).__name__}, not a string or a message list')
    if not value.strip():
        raise RecordError(f'field "{key}" is empty (an empty reply)')
    return clean_turn(value)


def _prompt_turns(obj: dict) -> list[tuple[str, str]] | None:
    value = obj.get("prompt")
    if value is None or (isinstance(value, str) and not value.strip()):  # a csv row without one holds ""
        return None
    if isinstance(value, str) and value.lstrip().startswith("["):
        value = _require_list(obj, "prompt")
    if isinstance(value, list):
        return _messages(value, "prompt") if value else None
    text = _require_str(obj, "prompt").replace("\r\n", "\n").strip()
    if _ROLE_PREFIX.match(text):  # already seed text: "User: ...\n\nAssistant:"
        turns = [(r, clean_turn(t)) for r, t in split_turns(text)]
        return turns[:-1] if turns[-1] == ("Assistant", "") else turns
    return [("User", clean_turn(text))]


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
    obj = _require_object(obj)
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
    return join_turns(turns), turns
