"""Project folders, path resolution, confinement of the app's paths, and atomic file output.

Every path a user types is resolved against the project folder (or kept if absolute), never against
the current directory, so the app behaves the same wherever it was started from.

Confinement: the app (anything a browser can ask for) calls :func:`confine` at start; from then on
:func:`readable` and :func:`writable` refuse a path whose *resolved* form (symbolic links and ``..``
followed) is outside the project folders, plus, for reading, the folders given to ``app.py
--allow-path``. The CLI, run by the machine's own user, never confines: the same calls just resolve.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

PROJECT_ROOT = Path(os.environ.get("RWKV_SIMPLE_GUI_HOME") or Path(__file__).resolve().parent.parent).resolve()

FOLDERS = ("data", "model", "output", "merge")
WRITE_FOLDERS = (*FOLDERS, "presets")  # where the app may write; it reads there and in --allow-path folders
STATE_FOLDER = ".state"

_UMASK = os.umask(0)
os.umask(_UMASK)

CODE_ROOT = Path(__file__).resolve().parent.parent


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a ``python -m rwkv_simple_gui...`` child: this package importable whatever the
    child's cwd (the app runs from a checkout, not an installed package)."""
    pythonpath = os.pathsep.join(filter(None, [str(CODE_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath, **extra}


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


class PathRefused(ValueError):
    """A path outside the folders the app may use; the message names those folders."""


class PathExists(ValueError):
    """A file that would be replaced without an explicit choice to overwrite it."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(f"{display(path)} already exists")


_allowed_reads: tuple[Path, ...] | None = None  # None: not confined


def confine(allow_read: Iterable[str | os.PathLike] = ()) -> None:
    """Confine this process's :func:`readable` / :func:`writable` paths to the project folders, and
    ``allow_read`` folders for reading (each must exist). The app calls this at start."""
    global _allowed_reads
    folders = []
    for given in allow_read:
        path = resolve(given).resolve()
        if not path.is_dir():
            raise PathRefused(f"--allow-path {given}: {path} is not a folder")
        folders.append(path)
    _allowed_reads = tuple(folders)


def unconfine() -> None:
    """Back to the CLI's rule: any path."""
    global _allowed_reads
    _allowed_reads = None


def confined() -> bool:
    return _allowed_reads is not None


def _project_folders() -> list[Path]:
    return [(PROJECT_ROOT / name).resolve() for name in WRITE_FOLDERS]


def _check(asked: str | os.PathLike, path: Path, roots: list[Path], verb: str, hint: str) -> Path:
    if any(path.is_relative_to(root) for root in roots):
        return path
    shown = str(asked).strip()
    leads = f" (it leads to {path})" if path not in (Path(shown), PROJECT_ROOT / shown) else ""
    names = ", ".join(f"{r.name}/" for r in _project_folders())
    extra = "".join(f", {r}" for r in roots if r not in _project_folders())
    raise PathRefused(f"Refused: {shown}{leads} is outside the folders this app may {verb}: {names} "
                      f"in {PROJECT_ROOT}{extra}. {hint}")


def readable(path: str | os.PathLike, base: str | None = None) -> Path:
    """The resolved path of a file or folder to read; when confined, refused (:class:`PathRefused`)
    unless it is inside a project folder or an ``--allow-path`` folder."""
    target = resolve(path, base).resolve()
    if _allowed_reads is None:
        return target
    return _check(path, target, _project_folders() + list(_allowed_reads), "read",
                  "Copy the file into one of them, or start the app with --allow-path FOLDER.")


def writable(path: str | os.PathLike, base: str | None = None, *, overwrite: bool = True) -> Path:
    """The resolved path of a file or folder to write; when confined, refused (:class:`PathRefused`)
    unless it is inside a project folder. With ``base``, a bare name goes into that folder ("x.jsonl"
    is data/x.jsonl). ``overwrite=False`` refuses an existing one (:class:`PathExists`)."""
    given = Path(os.path.expanduser(str(path).strip()))
    bare = base and not given.is_absolute() and len(given.parts) == 1
    target = (PROJECT_ROOT / base / given if bare else resolve(path)).resolve()
    if _allowed_reads is not None:
        _check(path, target, _project_folders(), "write to", "Choose a path inside one of them.")
    if not overwrite and target.exists():
        raise PathExists(target)
    return target


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as a file, in words ("does not exist", "is a folder, not a file"), or None."""
    p = Path(path)
    if p.is_dir():
        return "is a folder, not a file"
    if not p.exists():
        return "does not exist"
    return None if p.is_file() else "is not a regular file"


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

    A reader never sees a half-written file and a failed run leaves nothing behind; what a killed run
    leaves (``.NAME.HOST.PID-XXXXXXXX.tmp``) is removed by :func:`remove_leftovers` once process PID is gone.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{owner_tag()}-", suffix=".tmp", dir=dest.parent)
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


# What a process killed mid-write leaves: atomic_output's files and tokenize's spill folders, named
# with the host and pid of the process that owns them (a run folder may be on a disk other machines share).
_LEFTOVER_FILE = re.compile(r"\..+\.([A-Za-z0-9-]+)\.(\d+)-[a-z0-9_]{8}\.tmp")
_LEFTOVER_DIR = re.compile(r"\.tokenize-([A-Za-z0-9-]+)\.(\d+)-[a-z0-9_]{8}")


def owner_tag(pid: int | None = None) -> str:
    """``HOST.PID`` of this process (or of ``pid`` on this host), as it appears in our temporary names."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:24] or "host"
    return f"{host}.{os.getpid() if pid is None else pid}"


def tokenize_folder_prefix() -> str:
    """The name prefix of this process's hidden tokenize working folder: ``.tokenize-HOST.PID-``."""
    return f".tokenize-{owner_tag()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_leftovers(*folders: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and tokenize folders that a killed run of ours left in the project
    folders (and ``folders``), only our own name patterns and only when their process is gone."""
    roots = [PROJECT_ROOT / n for n in (*WRITE_FOLDERS, STATE_FOLDER)] + [Path(f) for f in folders]
    host = owner_tag().split(".")[0]
    removed = []
    for root in dict.fromkeys(r.resolve() for r in roots if r.is_dir()):
        for here, dirs, files in os.walk(root):
            for name in list(dirs):
                path = Path(here, name)
                if _abandoned(_LEFTOVER_DIR.fullmatch(name) or _LEFTOVER_FILE.fullmatch(name), path, host):
                    shutil.rmtree(path, ignore_errors=True)
                    dirs.remove(name)
                    removed.append(path)
            for name in files:
                path = Path(here, name)
                if _abandoned(_LEFTOVER_FILE.fullmatch(name), path, host):
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def _abandoned(match: re.Match | None, path: Path, host: str) -> bool:
    """One of our temporary names whose owner, a process of this host, is gone."""
    return bool(match) and match.group(1) == host and not path.is_symlink() and not _alive(int(match.group(2)))
