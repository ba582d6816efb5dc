"""Project folders, path resolution and atomic file output.

Every path a user types is resolved against the project folder (or kept if absolute), never against
the current directory, so the app behaves the same wherever it was started from.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

PROJECT_ROOT = Path(os.environ.get("RWKV_SIMPLE_GUI_HOME") or Path(__file__).resolve().parent.parent).resolve()

FOLDERS = ("data", "model", "output", "merge")

_UMASK = os.umask(0)
os.umask(_UMASK)


def folder(name: str) -> Path:
    """One of the project folders (data, model, output, merge, presets), created on demand."""
    path = PROJECT_ROOT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve(path: str | os.PathLike, base: str | None = None) -> Path:
    """Absolute path for what the user typed: absolute stays, relative is taken from the project root.

    With ``base`` (a project folder name), a bare file name that is not found under the project root
    is looked up in that folder, so "sample.jsonl" means data/sample.jsonl as in the seed's scripts.
    """
    p = Path(os.path.expanduser(str(path).strip()))
    if p.is_absolute():
        return p
    candidate = PROJECT_ROOT / p
    if base and not candidate.exists() and len(p.parts) == 1:
        in_base = PROJECT_ROOT / base / p
        if in_base.exists():
            return in_base
    return candidate


def display(path: str | os.PathLike) -> str:
    """A path as shown to the user: relative to the project root when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(p)


@contextlib.contextmanager
def atomic_output(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it is renamed to ``dest``, on error removed.

    A reader never sees a half-written file and a failed run leaves nothing behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; the result should be an ordinary file
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_outputs(*dests: str | os.PathLike) -> Iterator[list[Path]]:
    """Like :func:`atomic_output` for several files that must appear together (e.g. .bin and .idx)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_output(d)) for d in dests]
