"""The chat prompt (rendered by data/template.py), sampling settings and streaming stop handling (no torch, no rwkv
here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Mapping

from rwkv_simple_gui.data import template
from rwkv_simple_gui.data.template import Turn

STOP_STRINGS = template.STOP_STRINGS  # every role header: a reply ends where a next turn would begin


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
    max_tokens: int = 300
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


def build_prompt(history: Iterable[Mapping | Turn], prompt: str, *, system: str = "", think: str = "off",
                 think_length: str = "") -> str:
    """The text the model continues: ``history`` (chat messages ``{"role", "content"}`` or Turns) and the new
    question rendered by the one chat template (data/template.py), then ``Assistant:`` and the think mode's start.
    """
    return template.chat_prompt(history, prompt, system=system, think=think, think_length=think_length)


class StopScanner:
    """Turns the growing answer into safe-to-show deltas: text that could still become a stop string (any role
    header of the template), or trailing whitespace that will be trimmed, is held back until it is decided."""

    def __init__(self):
        self.text = ""
        self.sent = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        self.text += piece
        visible = self.text.lstrip()
        cut = template.first_stop(visible)
        if cut >= 0:
            self.stopped = True
            visible = visible[:cut]
        else:
            visible = visible[: len(visible) - template.partial_stop(visible)]
        return self._emit(visible.rstrip())

    def finish(self) -> str:
        """The rest of the answer once generation ended."""
        return self._emit(template.cut_at_stop(self.text.lstrip()).rstrip())

    def _emit(self, safe: str) -> str:
        if len(safe) <= self.sent:
            return ""
        delta = safe[self.sent:]
        self.sent = len(safe)
        return delta
