"""How Chat asks a model, the same in the Chat tab and on the command line: the system prompt, the think mode and
the history the model is shown, fitted to the conversations it was trained on.

A model fine-tuned on one-question conversations never saw earlier exchanges in training; by default the prompt
keeps only as many earlier questions as the longest conversation of the model's training data allowed for
(``merge/NAME.run.json``): none for one-question data, one for two-question data. Within that window an earlier
question is sent only before a follow-up, a question that names nothing of its own ("How many rooms does it
have?", "它有几间客房？"); a question that names its subject ("Who founded Leyfen?") is sent on its own, as every
one-question conversation of the training data was. The Chat tab shows the switch; the page still shows the whole
conversation. Measured by bench/chat_history.py (24 one-question facts, five to a
conversation, greedy): fitted 23/24 (as each question on its own), the whole conversation 20/24 on facts about one
island (20 epochs; its 5th questions 3/4 instead of 4/4) and 21/24 on facts about many subjects (the demo-cpu
preset); the held-out record is the miss they share. The 1-in-5 of issue 20
came mostly from replies that ran on into a made-up "Assistant:" turn and then sat in the history: generation now
stops at every role header. bench/own_data.py (30 one-question and 10 two-question conversations about one island):
with the last question always kept, ``chat --prompts`` over the 30 one-question ones recalled 25/30 on the demo
base, the model answering with the template of the question before ("Who founded Leyfen?" after "How many people
live in Leyfen?" -> "About 5790 people live in Leyfen."); with the subject rule 28/30, the same as each question
on its own (the two held-out records are the misses), second turns still 10/10.
"""

from __future__ import annotations

import re
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
        return (f"Trained on conversations of up to {self.trained_turns} questions: a follow-up that names nothing "
                f"of its own (\"How many rooms does it have?\") is sent with the {self.window} question(s) before it; "
                "a question that names its subject (\"Who founded Leyfen?\") is sent on its own. Untick *Fit the "
                "history to the model* to send the whole conversation.")


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


# Chinese, Japanese and Korean script: a word in Latin letters inside such a question is a name ("Leyfen 是谁建立的？")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_OPENS_SENTENCE = ".!?:;¿¡"


def names_subject(question: str) -> bool:
    """Whether a question names what it asks about: a capitalised word that does not open a sentence ("Who founded
    Leyfen?"), or a word in a cased script inside a Chinese, Japanese or Korean question. "I" is no name."""
    cjk = bool(_CJK.search(question))
    text = _CJK.sub(" ", question)
    for word in _WORD.finditer(text):
        first = word.group()[0]
        if cjk and (first.isupper() or first.islower()):
            return True
        before = text[:word.start()].rstrip()
        if first.isupper() and word.group() != "I" and before and before[-1] not in _OPENS_SENTENCE:
            return True
    return False


def fitted(history: Iterable[Turn | Mapping], question: str, window: int | None) -> list[Turn]:
    """The history sent before ``question`` when it is fitted to the model: the last ``window`` questions before a
    follow-up, none before a question that names its subject (an unrelated earlier turn made a model trained on
    two-question conversations answer with the earlier question's template)."""
    return windowed(history, 0 if window and names_subject(question) else window)
