"""Project folders, path resolution, confinement of the app's paths, and atomic file output.

Every path a user types is resolved against the project folder (or kept if absolute), never against
the current directory, so the app behaves the same wherever it was started from.

Confinement: the app (anything a browser can ask for) calls :func:`confine` at start; from then on
:func:`readable` and :func:`writable` refuse a path whose *resolved* form (symbolic links and ``..``
followed) is outside the project folders, plus, for reading, the folders given to ``app.py
--allow-path``. The CLI, run by the machine's own user, never confines: the same calls just resolve.

A check made before an open can be raced (a symbolic link swapped in between), so the opens themselves are
checked: :func:`open_read` verifies what it opened (the kernel's path of the descriptor), and
:func:`atomic_output` / :func:`atomic_folder` create and rename inside a folder descriptor that was verified
once, walking the missing folders without following links.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import socket
import stat
from pathlib import Path
from typing import IO, Iterable, Iterator

PROJECT_ROOT = Path(os.environ.get("RWKV_SIMPLE_GUI_HOME") or Path(__file__).resolve().parent.parent).resolve()

FOLDERS = ("data", "model", "output", "merge")
WRITE_FOLDERS = (*FOLDERS, "presets")  # where the app may write; it reads there and in --allow-path folders
STATE_FOLDER = ".state"

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


_READ_HINT = "Copy the file into one of them, or start the app with --allow-path FOLDER."
_WRITE_HINT = "Choose a path inside one of them."


def _check_read(asked: str | os.PathLike, target: Path) -> Path:
    """The one readable-folder check: ``target`` (a resolved path) inside a project or --allow-path folder."""
    return _check(asked, target, _project_folders() + list(_allowed_reads or ()), "read", _READ_HINT)


def readable(path: str | os.PathLike, base: str | None = None) -> Path:
    """The resolved path of a file or folder to read; when confined, refused (:class:`PathRefused`)
    unless it is inside a project folder or an ``--allow-path`` folder. Open it with :func:`open_read`,
    which checks again what it really opened."""
    target = resolve(path, base).resolve()
    if _allowed_reads is None:
        return target
    return _check_read(path, target)


def _opened_path(fd: int, asked: Path) -> Path:
    """Where the file open as ``fd`` really is: the kernel's own record of the descriptor (Linux /proc,
    macOS F_GETPATH); elsewhere the resolved ``asked`` path, accepted only if it is the very file opened."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        pass
    if hasattr(fcntl, "F_GETPATH"):
        return Path(os.fsdecode(fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).split(b"\0")[0]))
    real, opened = asked.resolve(), os.fstat(fd)
    try:
        same = os.samestat(os.stat(real), opened)
    except OSError:
        same = False
    if not same:
        raise PathRefused(f"Refused: {asked} changed while it was being opened; try again")
    return real


def open_read(path: str | os.PathLike, mode: str = "rb", encoding: str | None = None,
              errors: str | None = None) -> IO:
    """Open a file to read. When confined, the check is made on what was opened, so a link swapped in after
    :func:`readable` cannot lead outside (:class:`PathRefused`), and only a regular file is read (a pipe or
    a device would hold the app)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (os.O_NONBLOCK if confined() else 0))
    try:
        if confined():
            _check_read(path, _opened_path(fd, Path(path)))
            kind = os.fstat(fd).st_mode
            if not (stat.S_ISREG(kind) or stat.S_ISDIR(kind)):  # (a folder fails as one when it is read)
                raise PathRefused(f"Refused: {path} is not a regular file (a pipe, socket or device); pick a file")
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return open(fd, mode, encoding=encoding, errors=errors)
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file, opened with :func:`open_read`."""
    with open_read(path, "r", encoding="utf-8") as f:
        return f.read()


def pinned(f: IO) -> str:
    """A path naming exactly the file open as ``f``, for a library that takes only paths (it reopens the
    same file, not whatever the name leads to now); the file's own name where the system has no such path."""
    fd_path = f"/proc/self/fd/{f.fileno()}"
    return fd_path if os.path.exists(fd_path) else f.name if isinstance(f.name, str) else fd_path


def writable(path: str | os.PathLike, base: str | None = None, *, overwrite: bool = True) -> Path:
    """The resolved path of a file or folder to write; when confined, refused (:class:`PathRefused`)
    unless it is inside a project folder. With ``base``, a bare name goes into that folder ("x.jsonl"
    is data/x.jsonl). ``overwrite=False`` refuses an existing one (:class:`PathExists`)."""
    given = Path(os.path.expanduser(str(path).strip()))
    bare = base and not given.is_absolute() and len(given.parts) == 1
    target = (PROJECT_ROOT / base / given if bare else resolve(path)).resolve()
    if _allowed_reads is not None:
        _check(path, target, _project_folders(), "write to", _WRITE_HINT)
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


def _open_folder(folder: Path) -> int:
    """A descriptor of ``folder``, created if missing. The deepest folder that exists is opened (following
    links) and, when confined, checked where it really is; the missing ones are made and entered one by one
    without following links, so no folder is made, nor file later written, outside the project however the
    links change meanwhile."""
    folder = Path(os.path.abspath(folder))
    missing: list[str] = []
    start = folder
    while not os.path.isdir(start):
        missing.insert(0, start.name)
        start = start.parent
    fd = os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if confined():
            real = _opened_path(fd, start)
            # a project folder (or the app's own .state) that does not exist yet is made inside the project root
            if not (missing and real == PROJECT_ROOT and missing[0] in (*WRITE_FOLDERS, STATE_FOLDER)):
                _check(folder, real / os.path.join(*missing) if missing else real,
                       [*_project_folders(), PROJECT_ROOT.resolve() / STATE_FOLDER], "write to", _WRITE_HINT)
        for name in missing:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=fd)
            try:
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as err:
                raise PathRefused(f"Refused: {folder}: {name} changed into a link or a file while the folder was "
                                  f"being made ({err.strerror}); try again") from None
            os.close(fd)
            fd = inner
        return fd
    except BaseException:
        os.close(fd)
        raise


def _inside(fd: int, folder: Path) -> Path:
    """How code that takes paths reaches the folder open as ``fd``: through the descriptor when confined (a
    link swapped in for the folder's name changes nothing), else by its name. The process id, not "self",
    so a child process given the path reaches the same folder."""
    via_fd = Path(f"/proc/{os.getpid()}/fd/{fd}")
    return via_fd if confined() and via_fd.is_dir() else folder


def _temp_name(dest: Path) -> str:
    """``.NAME.HOST.PID-XXXXXXXX.tmp``: hidden, and what :func:`remove_leftovers` knows as ours."""
    return f".{dest.name}.{owner_tag()}-{secrets.token_hex(4)}.tmp"


@contextlib.contextmanager
def atomic_output(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it is renamed to ``dest``, on error removed.

    A reader never sees a half-written file and a failed run leaves nothing behind; what a killed run
    leaves (``.NAME.HOST.PID-XXXXXXXX.tmp``) is removed by :func:`remove_leftovers` once process PID is gone.
    The file is made (with ordinary permissions) and renamed inside one verified folder descriptor.
    """
    dest = Path(dest)
    dir_fd = _open_folder(dest.parent)
    try:
        while True:
            name = _temp_name(dest)
            try:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666, dir_fd=dir_fd))
                break
            except FileExistsError:
                continue
        try:
            yield _inside(dir_fd, dest.parent) / name
            os.replace(name, dest.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def atomic_outputs(*dests: str | os.PathLike) -> Iterator[list[Path]]:
    """Like :func:`atomic_output` for several files that must appear together (e.g. .bin and .idx)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_output(d)) for d in dests]


@contextlib.contextmanager
def atomic_folder(dest: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder next to ``dest``, renamed to ``dest`` on success (replacing an older one), removed
    on error; made and renamed inside one verified folder descriptor, like :func:`atomic_output`."""
    dest = Path(dest)
    dir_fd = _open_folder(dest.parent)
    try:
        name = _temp_name(dest)
        os.mkdir(name, 0o777, dir_fd=dir_fd)
        try:
            yield _inside(dir_fd, dest.parent) / name
            try:
                os.stat(dest.name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                os.replace(name, dest.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:
                old = f".{dest.name}.old"
                _remove(old, dir_fd)
                os.replace(dest.name, old, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                os.replace(name, dest.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                _remove(old, dir_fd)
        except BaseException:
            _remove(name, dir_fd)
            raise
    finally:
        os.close(dir_fd)


def _remove(name: str, dir_fd: int) -> None:
    """Remove the file, link or folder ``name`` in the folder open as ``dir_fd`` (never what a link leads to)."""
    try:
        is_dir = stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return
    if is_dir:
        shutil.rmtree(name, dir_fd=dir_fd, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)


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
