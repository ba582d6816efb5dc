"""The chat prompt format, sampling settings and streaming stop handling (no torch, no rwkv here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Mapping

STOP = "\n\nUser:"
ROLES = {"system": "System", "user": "User", "assistant": "Assistant"}


@dataclass
class SamplingParams:
    """Sampling settings under the names RWKV-Runner users know, mapped to ``PIPELINE_ARGS`` semantics:
    presence_penalty = alpha_presence, frequency_penalty = alpha_frequency, penalty_decay = alpha_decay.
    temperature 0 is greedy."""

    temperature: float = 1.0
    top_p: float = 0.3
    top_k: int = 0
    presence_penalty: float = 0.0
    frequency_penalty: float = 1.0
    penalty_decay: float = 0.996
    max_tokens: int = 500
    seed: int | None = None

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> "SamplingParams":
        if values is None:
            params = cls()
        elif isinstance(values, cls):
            params = values
        else:
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = set(values) - names
            if unknown:
                raise ValueError(f"unknown sampling setting(s) {sorted(unknown)}; known: {sorted(names)}")
            params = cls(**{k: v for k, v in values.items() if v is not None})
        params.validate()
        return params

    def validate(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), not {self.temperature}")
        if not 0 <= self.top_p <= 1:
            raise ValueError(f"top_p must be between 0 and 1, not {self.top_p}")
        if self.top_k < 0 or self.max_tokens < 1:
            raise ValueError("top_k must be >= 0 and max_tokens >= 1")
        if not 0 < self.penalty_decay <= 1:
            raise ValueError(f"penalty_decay must be in (0, 1], not {self.penalty_decay}")


def clean_message(text: str) -> str:
    """One turn's text: a blank line would read as the end of the turn, so it becomes a single newline."""
    text = text.replace("\r\n", "\n").strip()
    while "\n\n" in text:
        text = text.replace("\n\n", "\n")
    return text


def build_prompt(history: Iterable[Mapping[str, str]], prompt: str) -> str:
    """``User: ...\\n\\nAssistant: ...\\n\\n`` for each earlier turn, then the new question and ``Assistant:``.

    ``history`` is in Gradio's messages format: ``{"role": "user"|"assistant"|"system", "content": str}``.
    """
    parts = []
    for message in history:
        role = ROLES.get(message.get("role", ""))
        if role is None:
            raise ValueError(f"unknown chat role {message.get('role')!r}; use user, assistant or system")
        content = message.get("content")
        if not isinstance(content, str):
            continue  # files/images in a Gradio history have no text form
        parts.append(f"{role}: {clean_message(content)}\n\n")
    parts.append(f"User: {clean_message(prompt)}\n\nAssistant:")
    return "".join(parts)


class StopScanner:
    """Turns the growing answer into safe-to-show deltas: text that could still become the stop string,
    or trailing whitespace that will be trimmed, is held back until it is decided."""

    def __init__(self, stop: str = STOP):
        self.stop = stop
        self.text = ""
        self.sent = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        self.text += piece
        visible = self.text.lstrip()
        cut = visible.find(self.stop)
        if cut >= 0:
            self.stopped = True
            visible = visible[:cut]
        else:
            visible = visible[: len(visible) - self._partial_stop(visible)]
        return self._emit(visible.rstrip())

    def finish(self) -> str:
        """The rest of the answer once generation ended."""
        visible = self.text.lstrip()
        cut = visible.find(self.stop)
        return self._emit((visible[:cut] if cut >= 0 else visible).rstrip())

    def _partial_stop(self, text: str) -> int:
        for n in range(min(len(self.stop) - 1, len(text)), 0, -1):
            if self.stop.startswith(text[-n:]):
                return n
        return 0

    def _emit(self, safe: str) -> str:
        if len(safe) <= self.sent:
            return ""
        delta = safe[self.sent:]
        self.sent = len(safe)
        return delta
