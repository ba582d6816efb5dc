"""How Chat asks a model, the same in the Chat tab and on the command line: the system prompt, the think mode and
the history the model is shown, fitted to the conversations it was trained on.

A model fine-tuned on one-question conversations never saw earlier exchanges in training; by default the prompt
keeps only as many earlier questions as the longest conversation of the model's training data allowed for
(``merge/NAME.run.json``): none for one-question data, one for two-question data. The Chat tab shows the switch;
the page still shows the whole conversation. Measured by bench/chat_history.py (24 one-question facts, five to a
conversation, greedy): fitted 23/24 (as each question on its own), the whole conversation 20/24 on facts about one
island (20 epochs; its 5th questions 3/4 instead of 4/4) and 21/24 on facts about many subjects (the demo-cpu
preset); the held-out record is the miss they share. The 1-in-5 of issue 20
came mostly from replies that ran on into a made-up "Assistant:" turn and then sat in the history: generation now
stops at every role header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from rwkv_simple_gui.data import template
from rwkv_simple_gui.data.template import Turn


@dataclass(frozen=True)
class Fit:
    """What a model's run note says about asking it: ``window`` earlier questions kept (None: all), the longest
    conversation it trained on (User turns) and how many of its training replies were in think mode."""

    window: int | None = None
    trained_turns: int | None = None
    think_replies: int = 0

    def describe(self) -> str:
        if self.trained_turns is None:
            return "No training note for this model: the whole conversation is sent."
        if self.window == 0:
            return ("Trained on one-question conversations: each question is sent on its own (the earlier ones "
                    "stay on the page). Untick *Fit the history to the model* to send the whole conversation.")
        return (f"Trained on conversations of up to {self.trained_turns} questions: the {self.window} question(s) "
                "before each new one are sent with it. Untick *Fit the history to the model* to send the whole "
                "conversation.")


def fit(model_path: str | Path) -> Fit:
    from rwkv_simple_gui.merge import run_note

    note = run_note.read(model_path)
    turns = note.get("max_user_turns")
    if not isinstance(turns, int) or turns < 1:
        return Fit()
    return Fit(turns - 1, turns, int(note.get("think_replies") or 0))


def windowed(history: Iterable[Turn | Mapping], keep: int | None) -> list[Turn]:
    """The history with only its last ``keep`` questions (a User turn and the turns after it); None keeps all.
    System turns of the history are kept whatever the window."""
    turns = [t if isinstance(t, Turn) else template.turn_from_message(t) for t in history]
    if keep is None:
        return turns
    starts = [i for i, t in enumerate(turns) if t.role == "user"]
    if len(starts) <= keep:
        return turns
    cut = starts[len(starts) - keep] if keep else len(turns)
    return [t for t in turns[:cut] if t.role == "system"] + turns[cut:]
