"""The one chat template: how a conversation becomes the text an RWKV-7 G1 model reads, and back.

Every dataset format (data/formats.py), the loss masks (data/masks.py), the token view, Chat, the samples
panel and the recall check take their text from here; nothing else writes a role header. Torch-free.

The layout is BlinkDL's RWKV-7 G1 template (RWKV-LM ``RWKV-v7/RWKV7-G1x-templates.txt``)::

    System: {system}\\n\\nUser: {question}\\n\\nAssistant: {reply}\\n\\nUser: {question}\\n\\nAssistant: {reply}

Where the template file leaves a choice (docs/chat-template.md shows one example per case):

- Every turn is cleaned as the file says to clean System and User (``\\r\\n`` -> ``\\n``, a run of blank lines ->
  one newline, stripped), the Assistant's too: a blank line is RWKV's turn separator, and the masks and the
  stop strings rely on a reply never holding one.
- Reasoning: ``Assistant: <think>\\n{reasoning}\\n</think>\\n{answer}``; empty reasoning is G1's short form
  ``<think>\\n</think>``. Chat's think modes end the prompt where G1 expects: ``Assistant: <think`` (full),
  ``Assistant: <think>\\n</think`` (short); both are token prefixes of the rendered reply.
- Tool calls: one JSON object per call, ``{"name": ..., "arguments": {...}}``, each on its own line after the
  reply's text (the JSON replies of G1's function-call samples).
- Tool results come back as the next ``User:`` turn, as in G1's function-call samples; results of one round
  share that turn, one per line. So the role headers are only System, User and Assistant.
- The tools a conversation offers are described in the System turn, after the system prompt: a line
  ``Tools:`` then one JSON object per tool.
- Loss masks learn each Assistant turn: its ``Assistant:`` header (as RWKV-PEFT's qa mask), the reply (think
  block, answer, calls) and the blank line or end-of-text that closes it, so a model learns where its turn ends.
  System, User and tool results are not learned. Leaving the header out was measured worse: the demo recalled
  16/24 of the sample's answers instead of 23/24.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

SYSTEM, USER, ASSISTANT = "System", "User", "Assistant"
HEADERS = (SYSTEM, USER, ASSISTANT)
TOOL_RESULT_ROLE = USER
LEARNED_ROLES = frozenset({ASSISTANT})
SEPARATOR = "\n\n"
STOP_STRINGS = tuple(SEPARATOR + header + ":" for header in HEADERS)
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
THINK_MODES = ("off", "short", "full")
THINK_LENGTHS = ("", "think", "think a bit", "think a lot")  # G1's words after the question: "xxx (think a bit)"
TOOLS_LINE = "Tools:"

# chat-message roles -> template roles (OpenAI's, ShareGPT's speakers map to these in data/formats.py)
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool",
         "function": "tool"}
_HEADER_OF = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT, "tool": TOOL_RESULT_ROLE}
_BLANK_LINES = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")
_HEADER_AT = re.compile(r"(?:\A|\n\n)\n*(" + "|".join(HEADERS) + r"):")
_HEADER_AT_BYTES = re.compile(_HEADER_AT.pattern.encode())


def clean(text: str) -> str:
    """One turn's text as G1's ``clean_txt``: no CRLF, no blank line inside (a blank line ends a turn), stripped."""
    return _BLANK_LINES.sub("\n", text.replace("\r\n", "\n").strip())


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool: its name and its arguments (a JSON value, or the raw text when that is not JSON)."""

    name: str
    arguments: Any = None

    def render(self) -> str:
        return json.dumps({"name": self.name, "arguments": self.arguments}, ensure_ascii=False)


@dataclass(frozen=True)
class Turn:
    """One message: ``role`` system, user, assistant or tool; an assistant's ``reasoning`` (None: no think
    block, "": an empty one) and tool ``calls``."""

    role: str
    content: str = ""
    reasoning: str | None = None
    calls: tuple[ToolCall, ...] = ()

    def __post_init__(self):
        if self.role not in _HEADER_OF:
            raise ValueError(f"unknown role {self.role!r}; use one of {', '.join(_HEADER_OF)}")


@dataclass(frozen=True)
class Reply:
    """A generated (or rendered) reply split into its parts."""

    reasoning: str | None
    answer: str
    calls: tuple[ToolCall, ...] = ()
    finished_thinking: bool = True  # False: the reply stopped inside its think block


# --- rendering -------------------------------------------------------------------------------------


def render_reply(turn: Turn) -> str:
    """The text after ``Assistant: ``: think block, answer, one line per tool call."""
    parts = []
    if turn.reasoning is not None:
        reasoning = clean(turn.reasoning)
        parts.append(f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}" if reasoning else f"{THINK_OPEN}\n{THINK_CLOSE}")
    if turn.content.strip():
        parts.append(clean(turn.content))
    parts += [call.render() for call in turn.calls]
    return "\n".join(parts)


def render_tools(tools: Iterable[Mapping]) -> str:
    """The ``Tools:`` block of the System turn: one JSON object per tool (an OpenAI tool's ``function``)."""
    lines = [json.dumps(tool.get("function", tool) if isinstance(tool, Mapping) else tool, ensure_ascii=False)
             for tool in tools]
    return "\n".join([TOOLS_LINE, *lines]) if lines else ""


def render_turns(turns: Iterable[Turn], tools: Iterable[Mapping] = ()) -> list[tuple[str, str]]:
    """(header, text) of each turn of the rendered conversation: tool results of one round share a User turn,
    the tools are described in the (first) System turn."""
    out: list[tuple[str, str]] = []
    tools_text = render_tools(tools)
    previous = None
    for turn in turns:
        if turn.role == "assistant":
            text = render_reply(turn)
        else:
            text = clean(turn.content)
        if turn.role == "tool" and previous == "tool":
            out[-1] = (out[-1][0], f"{out[-1][1]}\n{text}")
        else:
            out.append((_HEADER_OF[turn.role], text))
        previous = turn.role
    if tools_text:
        if out and out[0][0] == SYSTEM:
            out[0] = (SYSTEM, f"{out[0][1]}\n{tools_text}" if out[0][1] else tools_text)
        else:
            out.insert(0, (SYSTEM, tools_text))
    return out


def join(rendered: Iterable[tuple[str, str]]) -> str:
    """Turns joined by a blank line, each ``Header: text`` (``Header:`` alone when empty)."""
    return SEPARATOR.join(f"{header}: {text}" if text else f"{header}:" for header, text in rendered)


def render(turns: Iterable[Turn], tools: Iterable[Mapping] = ()) -> str:
    """The training text of a conversation (no end-of-text: the tokenizer appends it)."""
    return join(render_turns(turns, tools))


# --- chat prompts ----------------------------------------------------------------------------------


def reply_prefix(think: str = "off") -> str:
    """What the prompt puts after ``Assistant:`` for a think mode: G1's ``<think`` (full), its fake thinking
    ``<think>\\n</think`` (short), nothing (off). It is the start of the reply the model continues."""
    if think not in THINK_MODES:
        raise ValueError(f"think mode {think!r} is not one of {', '.join(THINK_MODES)}")
    return {"off": "", "short": f" {THINK_OPEN}\n{THINK_CLOSE[:-1]}", "full": f" {THINK_OPEN[:-1]}"}[think]


def with_think_length(question: str, think_length: str) -> str:
    """The question with G1's think-length words after it: ``xxx (think a bit)``."""
    if think_length not in THINK_LENGTHS:
        raise ValueError(f"think length {think_length!r} is not one of {', '.join(repr(w) for w in THINK_LENGTHS)}")
    return f"{question.strip()} ({think_length})" if think_length else question


def chat_prompt(history: Iterable[Turn | Mapping], question: str, *, system: str = "", think: str = "off",
                think_length: str = "") -> str:
    """The text a model continues to answer ``question`` after ``history``: the conversation rendered as
    training text, then ``\\n\\nAssistant:`` and the think mode's :func:`reply_prefix`. ``think_length`` words
    are added in the full think mode only (the template pairs them with ``<think``)."""
    turns = [Turn("system", system)] if system.strip() else []
    turns += [t if isinstance(t, Turn) else turn_from_message(t) for t in history]
    if think == "full":
        question = with_think_length(question, think_length)
    turns.append(Turn("user", question))
    return render(turns) + f"{SEPARATOR}{ASSISTANT}:" + reply_prefix(think)


def turn_from_message(message: Mapping) -> Turn:
    """A chat message (``role``, ``content``; optional ``reasoning_content`` / ``reasoning``, ``tool_calls``) as a
    Turn; a ``<think>`` block at the start of an assistant's content is its reasoning."""
    role = ROLES.get(str(message.get("role", "")))
    if role is None:
        raise ValueError(f"unknown chat role {message.get('role')!r}; use system, user, assistant or tool")
    content = message.get("content")
    content = content if isinstance(content, str) else ""
    if role != "assistant":
        return Turn(role, content)
    reasoning = message.get("reasoning_content", message.get("reasoning"))
    if reasoning is None:
        reasoning, content = split_think(content)
    calls = tuple(tool_call(c.get("function", c)) for c in message.get("tool_calls") or () if isinstance(c, Mapping))
    return Turn(role, content, reasoning if isinstance(reasoning, str) else None, calls)


def tool_call(spec: Mapping) -> ToolCall:
    """A ToolCall from ``{"name", "arguments"}`` (arguments as JSON text or as a value)."""
    return ToolCall(str(spec.get("name", "")), parse_arguments(spec.get("arguments")))


def parse_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


# --- reading replies back ----------------------------------------------------------------------------


def split_think(text: str) -> tuple[str | None, str]:
    """(reasoning, rest) of a text that starts with a ``<think>`` block; (None, text) when it does not.
    An unclosed block is all reasoning. Raises nothing: callers that must refuse it check THINK_CLOSE."""
    stripped = text.lstrip()
    if not stripped.startswith(THINK_OPEN[:-1]):
        return None, text
    body = stripped[len(THINK_OPEN[:-1]):]
    body = body[1:] if body.startswith(">") else body
    inner, closed, rest = body.partition(THINK_CLOSE[:-1])
    if closed:
        rest = rest[1:] if rest.startswith(">") else rest
    return inner.strip("\n"), rest.lstrip("\n") if closed else ""


def parse_reply(text: str) -> Reply:
    """A reply's think block, answer and tool calls (the JSON lines at its end that name a tool)."""
    text = text.strip()
    reasoning, rest = split_think(text)
    finished = reasoning is None or THINK_CLOSE[:-1] in text
    lines = rest.rstrip().split("\n")
    calls: list[ToolCall] = []
    while lines and (call := _call_line(lines[-1])) is not None:
        calls.insert(0, call)
        lines.pop()
    return Reply(reasoning, "\n".join(lines).strip(), tuple(calls), finished)


def _call_line(line: str) -> ToolCall | None:
    line = line.strip()
    if not (line.startswith("{") and line.endswith("}")):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("name"), str) and set(obj) <= {"name", "arguments"}:
        return ToolCall(obj["name"], obj.get("arguments"))
    return None


def first_stop(text: str) -> int:
    """Where the first role header of a next turn starts in a generated text (-1: none yet)."""
    found = [i for i in (text.find(stop) for stop in STOP_STRINGS) if i >= 0]
    return min(found) if found else -1


def partial_stop(text: str) -> int:
    """How many characters at the end of ``text`` could still grow into a stop string."""
    for n in range(min(max(map(len, STOP_STRINGS)) - 1, len(text)), 0, -1):
        if any(stop.startswith(text[-n:]) for stop in STOP_STRINGS):
            return n
    return 0


def cut_at_stop(text: str) -> str:
    """A generated text up to the next turn's role header."""
    cut = first_stop(text)
    return text if cut < 0 else text[:cut]


def user_turns(text: str) -> int:
    """How many User turns (questions and tool results) a rendered text holds: the length of its conversation."""
    return text.startswith(f"{USER}:") + text.count(f"{SEPARATOR}{USER}:")


def think_replies(text: str) -> int:
    """How many replies of a rendered text start with a think block."""
    return text.count(f"{ASSISTANT}: {THINK_OPEN}")


# --- roles of a rendered text ------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """One turn of a rendered text: its header role ("" before the first header), where it starts (the blank
    line before its header included), where its text starts (after ``Header:``) and where it ends."""

    role: str
    start: int
    body: int
    end: int

    @property
    def learned(self) -> bool:
        return self.role in LEARNED_ROLES


def role_spans(text: str | bytes) -> list[Span]:
    """The turns of any text in this layout (the seed's ``text`` records too), in characters (of bytes, for
    bytes): a header opens a turn at the start or after a blank line; anything else continues the turn it is
    in. The blank line that closes a turn belongs to it (an Assistant turn learns to end)."""
    if isinstance(text, (bytes, bytearray)):
        heads = [(m.start(1), m.end(), m.group(1).decode()) for m in _HEADER_AT_BYTES.finditer(text)]
    else:
        heads = [(m.start(1), m.end(), m.group(1)) for m in _HEADER_AT.finditer(text)]
    spans = [Span("", 0, 0, heads[0][0] if heads else len(text))] if not heads or heads[0][0] > 0 else []
    for i, (start, body, role) in enumerate(heads):
        spans.append(Span(role, start, body, heads[i + 1][0] if i + 1 < len(heads) else len(text)))
    return spans


def learned_ranges(text: str | bytes) -> list[tuple[int, int]]:
    """(start, end) character ranges of ``text`` the role-aware mask learns: each Assistant turn from its header
    to the blank line that closes it."""
    return [(s.start, s.end) for s in role_spans(text) if s.learned]
