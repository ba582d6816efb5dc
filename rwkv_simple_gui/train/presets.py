"""Presets: partial option sets by name. Built-in ones ship in ``rwkv_simple_gui/presets/``; the user's
are saved in the project's ``presets/`` folder and win over a built-in one of the same name."""

from __future__ import annotations

import re
from pathlib import Path

from rwkv_simple_gui import paths

BUILTIN = Path(__file__).resolve().parent.parent / "presets"
USER_FOLDER = "presets"


def user_preset_path(name: str) -> Path:
    """Where the user's preset ``name`` is saved (a safe file name in presets/)."""
    clean = re.sub(r"[^\w.-]+", "_", (name or "").strip()).strip(".")
    if not clean:
        raise ValueError("give the preset a name")
    return paths.folder(USER_FOLDER) / f"{clean}.json"


def list_presets() -> list[str]:
    names = {p.stem for p in BUILTIN.glob("*.json")} | {p.stem for p in paths.folder(USER_FOLDER).glob("*.json")}
    return sorted(names)


def find_preset(name: str) -> Path | None:
    """The file of preset ``name`` (the user's first, then the built-in one), or None."""
    user = user_preset_path(name)
    if user.is_file():
        return user
    builtin = BUILTIN / user.name
    return builtin if builtin.is_file() else None


def config_file(value: str) -> Path:
    """What ``--config`` names: a JSON file (absolute or from the project root), or a preset's name."""
    path = paths.resolve(value)
    if path.is_file() or len(Path(value).parts) != 1:
        return path
    return find_preset(Path(value).stem) or path
