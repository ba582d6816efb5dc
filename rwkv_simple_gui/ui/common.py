"""Helpers shared by the tabs: files on the app's machine, uploads, and remembered choices."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import gradio as gr
import pandas as pd
from gradio.context import get_blocks_context

from .. import paths
from . import messages
from .limits import size_text

DATASET_EXTS = (".jsonl", ".json", ".csv", ".parquet")
BINIDX_META = ".meta.json"
MODEL_EXTS = (".pth", ".safetensors", ".st")
SETTINGS_FILE = ".state/settings.json"
DEFAULT_DATASET = "data/sample.jsonl"
MAX_UPLOAD = 1 << 30  # bytes a browser may upload; app.py --max-upload sets it before the tabs are built


def upload_limit_text() -> str:
    """MAX_UPLOAD in the largest unit that divides it, e.g. "1 GB" (1 KB = 1024 bytes, as Gradio counts)."""
    return size_text(MAX_UPLOAD)


def list_files(folder: str, exts: tuple[str, ...], recursive: bool = True) -> list[str]:
    """Files under a project folder, newest first, as project-relative paths; never hidden files nor
    the ``PREFIX.meta.json`` that tokenize writes next to a binidx (it is no dataset)."""
    root = paths.folder(folder)
    found = root.rglob("*") if recursive else root.iterdir()
    files = [p for p in found if p.is_file() and p.name.lower().endswith(exts) and not p.name.startswith(".")
             and not p.name.endswith(BINIDX_META)]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [paths.display(p) for p in files]


def file_dropdown_update(folder: str, exts: tuple[str, ...], current: str | None = None) -> dict:
    """Refreshed choices for a file dropdown, keeping what the user typed or picked."""
    choices = list_files(folder, exts)
    if current and current not in choices:
        choices.insert(0, current)
    return gr.update(choices=choices, value=current or (choices[0] if choices else None))


def relist_on_focus(dropdown, lister) -> None:
    """The dropdown's choices listed again (``lister()``) each time it takes the focus. Its value is left alone:
    a reply that comes after the user typed (a busy queue) must not put the value of the focus back."""
    dropdown.focus(lambda: gr.update(choices=lister()), None, dropdown, api_visibility="private")


def dataset_dropdown() -> dict:
    """The dataset picker as a page opens: the datasets there are now, the last one picked selected."""
    return file_dropdown_update("data", DATASET_EXTS, load_settings().get("dataset") or DEFAULT_DATASET)


def store_upload(uploaded: str | None, folder: str = "data") -> str | None:
    """Copy an uploaded file into a project folder (never overwriting, never through a link) and return
    its project path; Gradio's temporary copy is removed (its folder would keep every upload)."""
    if not uploaded:
        return None
    src = Path(uploaded)
    dest = paths.folder(folder) / src.name
    n = 1
    while dest.exists() or dest.is_symlink():
        dest = dest.with_name(f"{src.stem}-{n}{src.suffix}")
        n += 1
    dest = writable(dest)
    try:
        with paths.atomic_output(dest) as tmp:
            shutil.copyfile(src, tmp)
    finally:
        _forget_upload(src)
    return paths.display(dest)


def _forget_upload(src: Path) -> None:
    """Remove an upload from Gradio's folder (``<folder>/<hash>/<name>``), only there."""
    from gradio.utils import get_upload_folder

    upload_folder = Path(get_upload_folder()).resolve()
    if src.resolve().parent.parent != upload_folder:
        return
    src.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the hash folder, unless another name of the same bytes is in it
        src.parent.rmdir()


def readable(path_text: str, base: str | None = None) -> Path:
    """:func:`paths.readable` for a handler: a refused path is a ``gr.Error`` naming the allowed folders."""
    try:
        return paths.readable(path_text, base)
    except paths.PathRefused as err:
        raise gr.Error(str(err), duration=None) from None


def writable(path_text: str | Path, base: str | None = None, *, overwrite: bool = True) -> Path:
    """:func:`paths.writable` for a handler: refused or existing (without ``overwrite``) is a ``gr.Error``."""
    try:
        return paths.writable(path_text, base, overwrite=overwrite)
    except paths.PathRefused as err:
        raise gr.Error(str(err), duration=None) from None
    except paths.PathExists as err:
        raise gr.Error(f"{err}: tick *Overwrite* to replace it, or choose another name.", duration=None) from None


def input_file(path_text: str | None, base: str, what: str = "file") -> Path:
    """The file a handler reads: given, allowed, and a file (a folder or a missing path is a ``gr.Error``)."""
    if not path_text or not str(path_text).strip():
        raise gr.Error(f"Pick a {what} first.")
    path = readable(path_text, base)
    problem = paths.file_problem(path)
    if problem:
        raise gr.Error(f"{paths.display(path)} {problem}. Pick a {what} in {base}/ or type the path of one.")
    return path


def _outputs_of(event) -> list:
    blocks = get_blocks_context().blocks
    return [blocks[i] for i in event["outputs"]]


def _cleared(component):
    """What an output shows once the result it held is gone."""
    if isinstance(component, gr.Dataframe):
        return gr.update(value=pd.DataFrame(columns=component.headers or []))
    return gr.update(value=None)


def show_failure(event, output, *, keep=(), clear=(), clear_on_success: bool = False):
    """When ``event`` fails, its reason replaces the result in ``output`` (in the reader's language) and the
    event's other outputs are emptied (and those in ``clear``: results of a step that follows it), so nothing
    of an earlier success stays readable beside the error; those in ``keep`` (a choice, a chat) keep their
    values. Each loses its "Error" badge. There is no toast (``messages._error``); API callers still get the
    error. With ``clear_on_success`` a success empties ``output`` (a message area that no result fills).
    Returns the event that shows the failure: a ``.then`` of ``event`` itself does not run after a failure."""
    others = [c for c in [*_outputs_of(event), *clear] if c is not output]
    targets = [output, *others]
    kept = {id(c) for c in keep}

    def failed():
        values = [f"### ❌ {messages.last_error()}", *(gr.update() if id(c) in kept else _cleared(c) for c in others)]
        return values if len(values) > 1 else values[0]

    shown = event.failure(failed, None, targets, api_visibility="private", show_progress="hidden")
    if clear_on_success and all(c is not output for c in _outputs_of(event)):
        event.success(lambda: "", None, output, api_visibility="private", show_progress="hidden")
    return shown


def _interactive(buttons: list, on: bool):
    updates = [gr.update(interactive=on) for _ in buttons]
    return lambda: updates if len(updates) > 1 else updates[0]


def job(button, fn, inputs, outputs, *, result, keep=(), clear=(), busy=(), triggers=(), **listener):
    """``button`` (and ``triggers``, e.g. Enter in a text box) runs ``fn``; the button (and the ``busy`` ones)
    is disabled until ``fn`` has ended: a second click is never lost while the first runs. A failure shows in
    ``result`` (:func:`show_failure` with ``keep`` and ``clear``). ``listener`` goes to the event of ``fn``
    (``api_name``, ``concurrency_id``, ...), which is returned (for ``.success``)."""
    buttons = [button, *busy]
    started = gr.on([button.click, *triggers], _interactive(buttons, False), None, buttons, queue=False,
                    api_visibility="private", show_progress="hidden")
    ran = started.then(fn, inputs, outputs, **listener)
    enable = {"fn": _interactive(buttons, True), "inputs": None, "outputs": buttons, "queue": False,
              "api_visibility": "private", "show_progress": "hidden"}
    ran.success(**enable)
    show_failure(ran, result, keep=keep, clear=clear).then(**enable)
    return ran


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
