"""What a merged model was trained on, next to it: ``merge/NAME.run.json``, written at merge time, read by Chat.

Chat fits itself to the model with it: a model fine-tuned on one-question conversations is asked each question on
its own (the history window is the longest conversation it trained on), and think mode is suggested for one
trained on reasoning. The facts come from the run's config.json and its dataset's ``PREFIX.meta.json``
(``conversations``, written by tokenize); a model without a note (a base model, another tool's) gets no window.
"""

from __future__ import annotations

import json
from pathlib import Path

from rwkv_simple_gui import paths

SUFFIX = ".run.json"


def note_path(model: str | Path) -> Path:
    model = Path(model)
    return model.with_name(model.stem + SUFFIX)


def describe(checkpoint: str | Path, options: dict) -> dict:
    """The note of a model merged from ``checkpoint`` of a run that trained with ``options``."""
    checkpoint = Path(checkpoint)
    note = {"run": paths.display(checkpoint.parent), "checkpoint": checkpoint.name,
            "data_path": options.get("data_path") or None, "loss_mask": options.get("loss_mask")}
    if note["data_path"]:
        meta = paths.resolve(f"{note['data_path']}.meta.json", base="data")
        try:
            conversations = json.loads(meta.read_text(encoding="utf-8")).get("conversations") or {}
        except (OSError, ValueError, AttributeError):
            conversations = {}
        note.update({k: conversations[k] for k in ("max_user_turns", "think_replies") if k in conversations})
    return note


def write(model: str | Path, checkpoint: str | Path, options: dict) -> Path:
    path = note_path(model)
    with paths.atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(describe(checkpoint, options), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def read(model: str | Path) -> dict:
    """The note of a model ({} when it has none or it cannot be read)."""
    try:
        note = json.loads(note_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}
