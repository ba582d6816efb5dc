"""Helpers shared by the tabs: files on the app's machine, uploads, and remembered choices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gradio as gr

from .. import paths

DATASET_EXTS = (".jsonl", ".json", ".csv", ".parquet")
MODEL_EXTS = (".pth", ".safetensors", ".st")
SETTINGS_FILE = ".state/settings.json"


def list_files(folder: str, exts: tuple[str, ...], recursive: bool = True) -> list[str]:
    """Files under a project folder, newest first, as project-relative paths."""
    root = paths.folder(folder)
    found = root.rglob("*") if recursive else root.iterdir()
    files = [p for p in found if p.is_file() and p.name.lower().endswith(exts) and not p.name.startswith(".")]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [paths.display(p) for p in files]


def file_dropdown_update(folder: str, exts: tuple[str, ...], current: str | None = None) -> dict:
    """Refreshed choices for a file dropdown, keeping what the user typed or picked."""
    choices = list_files(folder, exts)
    if current and current not in choices:
        choices.insert(0, current)
    return gr.update(choices=choices, value=current or (choices[0] if choices else None))


def store_upload(uploaded: str | None, folder: str = "data") -> str | None:
    """Copy an uploaded file into a project folder (never overwriting) and return its project path."""
    if not uploaded:
        return None
    src = Path(uploaded)
    dest = paths.folder(folder) / src.name
    n = 1
    while dest.exists():
        dest = dest.with_name(f"{src.stem}-{n}{src.suffix}")
        n += 1
    shutil.copyfile(src, dest)
    return paths.display(dest)


def load_settings() -> dict:
    """The choices remembered from the last session on this machine (desktop-style)."""
    try:
        return json.loads((paths.PROJECT_ROOT / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def remember(key: str, value) -> None:
    """Remember one choice for the next start of the app."""
    settings = load_settings()
    if settings.get(key) == value:
        return
    settings[key] = value
    dest = paths.PROJECT_ROOT / SETTINGS_FILE
    with paths.atomic_output(dest) as tmp:
        tmp.write_text(json.dumps(settings, ensure_ascii=False, indent=1), encoding="utf-8")
