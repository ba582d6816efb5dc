"""The run directory: the only thing the GUI reads about a training run.

``output/<run>/`` holds config.json, command.txt, train.log, metrics.jsonl (one JSON line per optimizer
step, plus one per evaluation), samples.jsonl (the sample answers of each evaluation), status.json, the
epoch checkpoints ``rwkv-<epoch>.pth``, the step checkpoints ``rwkv-step-<step>.pth`` and ``resume/step-<step>/``
(what an exact resume needs: optimizer, data position, random state). JSON files are replaced atomically;
the .jsonl files are append-only and a reader skips a line still being written. One trainer holds a run
folder at a time: every trainer, launcher and the GUI's runner takes it with :func:`claim`.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import math
import os
import re
import sys
import threading
from collections import OrderedDict
from pathlib import Path

from rwkv_simple_gui import paths
from rwkv_simple_gui.peft.methods import METHODS

from .config import OPTIONS_VERSION, RUN_INFO_KEYS, VERSION_KEY, migrate

STATES = ("starting", "running", "stopping", "finished", "failed", "stopped")
FINAL_STATES = ("finished", "failed", "stopped")
METRIC_KEYS = ("step", "total_steps", "epoch", "loss", "lr", "tokens", "tokens_per_s", "elapsed_s", "eta_s",
               "gpu_mem")
LAUNCHER_PID_ENV = "RWKV_SIMPLE_GUI_LAUNCHER_PID"
LOCK_FD_ENV = "RWKV_SIMPLE_GUI_LOCK_FD"  # a lock the parent took for us (the GUI's runner), inherited as this fd
LOCK_FILE = ".trainer.lock"
CHECKPOINT = re.compile(r"rwkv-(\d+)\.pth")
STEP_CHECKPOINT = re.compile(r"rwkv-step-(\d+)\.pth")
RESUME_DIR = "resume"
RESUME_POINT = re.compile(r"step-(\d+)")
POINT_FILE = "point.json"  # written last into a resume point: its facts and the options it was made with
SAMPLES_FILE = "samples.jsonl"
RECALL_FILE = "recall.jsonl"  # the recall check at the end of a run: one line per question asked
# what a run leaves in its folder; a folder holding any of these holds a run
RUN_FILES = ("config.json", "status.json", "metrics.jsonl", SAMPLES_FILE, RECALL_FILE, RESUME_DIR,
             *dict.fromkeys(m.init_file for m in METHODS.values() if m.init_file))


def checkpoint_name(epoch: int) -> str:
    """The file of epoch ``epoch``'s checkpoint, as RWKV-PEFT names it."""
    return f"rwkv-{epoch}.pth"


def step_checkpoint_name(step: int) -> str:
    """The file of the checkpoint after optimizer step ``step`` (zero-padded: name order is step order)."""
    return f"rwkv-step-{step:08d}.pth"


def checkpoint_epoch(path) -> int | None:
    """The epoch of an epoch checkpoint file, or None for any other file."""
    m = CHECKPOINT.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def checkpoint_step(path) -> int | None:
    """The step of a step checkpoint file, or None for any other file."""
    m = STEP_CHECKPOINT.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def checkpoint_label(path) -> str:
    """How a checkpoint is named in merged files: its epoch ("3"), "step40", or its file stem."""
    epoch, step = checkpoint_epoch(path), checkpoint_step(path)
    return str(epoch) if epoch is not None else f"step{step}" if step is not None else Path(path).stem


_ENTRY_FIELDS = (("epoch", int), ("step", int), ("partial", bool), ("val_loss", float))


def _status_entries(run_dir) -> dict[str, dict]:
    """The checkpoints status.json lists, by file; an entry of the wrong shape is left out."""
    try:
        status = read_status(run_dir) or {}
    except ValueError:
        status = {}
    return {c["file"]: c for c in status.get("checkpoints") or []
            if isinstance(c, dict) and isinstance(c.get("file"), str)
            and all(c.get(name) is None or _is(c[name], kind) for name, kind in _ENTRY_FIELDS)}


def checkpoint_entries(run_dir) -> list[dict]:
    """The run's checkpoints (epoch and step ones), oldest first: ``path``, ``file``, ``epoch``, ``step``,
    ``partial``, ``val_loss`` (when evaluated at that step) and ``best`` (the lowest val_loss of them)."""
    known = _status_entries(run_dir)
    found = []
    for p in Path(run_dir).glob("rwkv-*.pth"):
        epoch, step = checkpoint_epoch(p), checkpoint_step(p)
        if epoch is None and step is None:
            continue
        entry = {"epoch": epoch, "step": step, "partial": step is not None, "val_loss": None,
                 **known.get(p.name, {}), "path": p, "file": p.name}
        found.append(entry)
    # the status knows every step; a folder from another tool has epoch checkpoints only (epoch order)
    found.sort(key=lambda e: (math.inf if e["step"] is None else e["step"], e["epoch"] or 0))
    scored = [e for e in found if e.get("val_loss") is not None]
    best = min(scored, key=lambda e: e["val_loss"]) if scored else None
    for e in found:
        e["best"] = e is best
    return found


NOISY_BELOW = 10  # held-out documents: with fewer, the best val_loss marks noise


def held_out_records(run_dir) -> int | None:
    """How many held-out documents the run's validation loss was measured on (None: no validation)."""
    resolved = (read_config(run_dir) or {}).get("resolved") or {}
    count = resolved.get("val_records", len(resolved.get("val_docs") or []))
    return count or None


def best_mark(run_dir) -> str:
    """The ★ of the best checkpoint, saying when so few documents were held out that it marks noise."""
    held = held_out_records(run_dir)
    return f"★ (on {held} held-out documents: noise)" if held and held < NOISY_BELOW else "★"


def list_checkpoints(run_dir) -> list[Path]:
    """The run's checkpoints, epoch and step ones, oldest first (init files and others left out)."""
    return [e["path"] for e in checkpoint_entries(run_dir)]


def latest_checkpoint(run_dir) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def recommended_checkpoint(run_dir) -> tuple[Path | None, str]:
    """The checkpoint to merge from a run folder, and why: the best by validation loss when the run kept it for
    early stopping (early_stop_patience), else the last one."""
    entries = checkpoint_entries(run_dir)
    if not entries:
        return None, "the run has no checkpoint"
    try:
        status, early = read_status(run_dir) or {}, read_options(run_dir).get("early_stop_patience")
    except ValueError:
        status, early = {}, None
    best = (status.get("best") or {}).get("checkpoint")
    kept = next((e for e in entries if e["file"] == best), None) if early else None
    if kept is not None and kept is not entries[-1]:
        return kept["path"], (f"the best by validation loss ({kept['val_loss']:.4f} at step {kept['step']}), kept by "
                              f"early stopping; the last is {entries[-1]['file']}")
    return entries[-1]["path"], "the last checkpoint of the run"


def resume_point_name(step: int) -> str:
    return f"step-{step:08d}"


def resume_points(run_dir) -> list[Path]:
    """The complete resume points of a run, oldest first (one being written has a temporary name)."""
    base = Path(run_dir) / RESUME_DIR
    found = [(int(m.group(1)), p) for p in base.glob("step-*")
             if (m := RESUME_POINT.fullmatch(p.name)) and (p / POINT_FILE).is_file()]
    return [p for _, p in sorted(found)]


def latest_resume_point(run_dir) -> Path | None:
    found = resume_points(run_dir)
    return found[-1] if found else None


# what a resume point's point.json holds: (field, type, the least value)
_POINT_FIELDS = (("step", int, 1), ("epoch", int, 0), ("next_epoch", int, 0), ("next_step", int, 0),
                 ("steps_per_epoch", int, 1), ("world", int, 1), ("seed", int, None), ("tokens", int, 0),
                 ("elapsed_s", float, 0), ("options", dict, None))


def read_point(point) -> dict:
    """A resume point's facts (step, epoch, next position, options, ...); ValueError naming what is wrong,
    e.g. a point.json edited by hand whose position does not add up."""
    path = Path(point) / POINT_FILE
    try:
        data = json.loads(paths.read_text(path))
    except FileNotFoundError:
        raise ValueError(f"{paths.display(point)} is not a resume point (no {POINT_FILE}): give a run folder or "
                         f"one of its resume/step-<N> folders") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}): the resume point is damaged") from None
    if not isinstance(data, dict) or "step" not in data or "options" not in data:
        raise ValueError(f"{path}: not a resume point written by this trainer")
    _check_point_fields(path, data)
    step, spe = data["step"], data["steps_per_epoch"]
    if data["next_step"] >= spe or data["next_epoch"] * spe + data["next_step"] != step:
        raise ValueError(f"{path}: after step {step} the run would continue at epoch {data['next_epoch']}, step "
                         f"{data['next_step']} of {spe}, which is not where step {step} ends: the resume point "
                         "was edited; resume from the run's checkpoint instead")
    named = RESUME_POINT.fullmatch(Path(point).name)
    if named and int(named.group(1)) != step:
        raise ValueError(f"{path}: says step {step} in the folder of step {int(named.group(1))}: the resume point "
                         "was edited")
    return data


def _check_point_fields(path: Path, data: dict) -> None:
    """ValueError naming the first field of point.json whose type or value is not one the trainer writes."""
    for name, kind, least in _POINT_FIELDS:
        value = data.get(name)
        if not _is(value, kind) or (least is not None and value < least):
            kind_name = "a number" if kind is float else kind.__name__
            expected = f"{kind_name} of at least {least}" if least is not None else kind_name
            raise ValueError(f"{path}: {name} is {value!r}, not {expected}: the resume point is damaged or was edited")


def _is(value, kind: type) -> bool:
    """``value`` has JSON type ``kind`` (a bool is no number; an int is a float)."""
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, (int, float) if kind is float else kind)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def default_run_dir(finetune_mode: str, output_dir=None) -> Path:
    """A new folder ``output/<finetune_mode>-<yyyymmdd-hhmmss>`` (suffixed if that name is taken)."""
    base = Path(output_dir) if output_dir else paths.folder("output")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, n = base / f"{finetune_mode}-{stamp}", 1
    while candidate.exists():
        n += 1
        candidate = base / f"{finetune_mode}-{stamp}-{n}"
    return candidate


def write_json(path: Path, data) -> None:
    with paths.atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class RunDir:
    """Writer side, used by rank 0 of the trainer (and by the launcher before the ranks start)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def write_config(self, config: dict) -> None:
        write_json(self.path / "config.json", config)

    def write_command(self, argv: list[str]) -> None:
        import shlex

        with paths.atomic_output(self.path / "command.txt") as tmp:
            tmp.write_text(" ".join(shlex.quote(a) for a in argv) + "\n", encoding="utf-8")

    def update_status(self, **fields) -> dict:
        try:
            status = read_status(self.path) or {}
        except ValueError:  # a damaged status.json is written afresh
            status = {}
        if not status:
            status = {"pid": None, "state": "starting", "exit_code": None, "error": None, "step": 0,
                      "total_steps": None, "epoch": None, "started_at": now_iso(), "checkpoints": []}
        status.update(fields)
        status["pid"] = int(os.environ.get(LAUNCHER_PID_ENV) or status.get("pid") or os.getpid())
        status["updated_at"] = now_iso()
        write_json(self.status_path, status)
        return status

    def add_checkpoint(self, entry: dict) -> None:
        kept = [c for c in _status_entries(self.path).values() if c["file"] != entry["file"]]
        self.update_status(checkpoints=kept + [entry])

    def drop_checkpoints(self, files: set[str]) -> None:
        self.update_status(checkpoints=[c for c in _status_entries(self.path).values() if c["file"] not in files])

    def keep_metrics_until(self, step: int) -> None:
        """On resume into the same folder: drop the metrics, evaluations and samples past ``step`` so the
        curves continue without overlap."""
        for path in (self.metrics_path, self.path / SAMPLES_FILE):
            if path.exists():
                kept = [m for m in _read_jsonl(path) if m.get("step", 0) <= step]
                with paths.atomic_output(path) as tmp:
                    tmp.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in kept), encoding="utf-8")

    def append_metric(self, metric: dict) -> None:
        """A line of metrics.jsonl: a training step's metrics, or an evaluation's (``val_loss``...)."""
        _append_jsonl(self.metrics_path, [metric])

    def append_samples(self, samples: list[dict]) -> None:
        _append_jsonl(self.path / SAMPLES_FILE, samples)

    def write_recall(self, rows: list[dict]) -> None:
        with paths.atomic_output(self.path / RECALL_FILE) as tmp:
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    def last_checkpoint(self) -> str | None:
        found = latest_checkpoint(self.path)
        return found.name if found else None


class Log:
    """Human log: printed, and appended to train.log unless stdout already goes there (GUI launch)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.enabled = enabled
        self.file = None
        if enabled and not _stdout_is(path):
            self.file = open(path, "a", encoding="utf-8")

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        line = f"[{dt.datetime.now().strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()
            self.file = None


def _stdout_is(path: Path) -> bool:
    try:
        out, target = os.fstat(sys.stdout.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return (out.st_dev, out.st_ino) == (target.st_dev, target.st_ino)


def _append_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        f.flush()


# --- one trainer per run folder -----------------------------------------------------------------------

class RunRefused(ValueError):
    """A run must not start in this folder; the message says why and what to do instead."""


class RunInUse(RunRefused):
    """Another live process holds the run folder's trainer lock."""


class RunLock:
    """This process's hold on a run folder (an flock on its .trainer.lock). The OS drops it when the last
    process holding the descriptor exits, kill -9 included, so a dead trainer never leaves it behind."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd, self.users = path, fd, 1

    def release(self) -> None:
        """Close this process's descriptor (a child that inherited it keeps the lock)."""
        self.users -= 1
        if self.users == 0:
            _HELD.pop(self.path, None)
            os.close(self.fd)


_HELD: dict[Path, RunLock] = {}


def _inherited_lock(path: Path) -> int | None:
    """The lock descriptor a parent passed us (LOCK_FD_ENV) when it is this folder's lock file."""
    fd = os.environ.get(LOCK_FD_ENV)
    if not fd or not fd.isdigit():
        return None
    try:
        mine, there = os.fstat(int(fd)), os.stat(path)
    except OSError:
        return None
    if (mine.st_dev, mine.st_ino) != (there.st_dev, there.st_ino):
        return None
    os.environ.pop(LOCK_FD_ENV)  # not for the processes this one starts
    return int(fd)


def _lock_run(run_dir) -> RunLock:
    """Hold ``run_dir``'s trainer lock (creating the folder); :class:`RunInUse` names the process that holds
    it. Taking it twice in one process returns the same hold."""
    run_dir = Path(run_dir).resolve()
    path = run_dir / LOCK_FILE
    if path in _HELD:
        _HELD[path].users += 1
        return _HELD[path]
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = _inherited_lock(path) if path.exists() else None
    if fd is None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        holder = lock_holder(run_dir)
        raise RunInUse(f"{paths.display(run_dir)} is in use by another trainer (pid {holder or '?'}): one trainer "
                       f"per run folder. Wait for it or stop it, or choose another run folder.") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": now_iso()}).encode(), 0)
    lock = _HELD[path] = RunLock(path, fd)
    return lock


def lock_holder(run_dir) -> int | None:
    """The pid recorded by the process that holds ``run_dir``'s lock now, None when nobody holds it."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            try:
                return int(json.loads(path.read_text(encoding="utf-8")).get("pid")) or -1
            except (OSError, ValueError, TypeError, AttributeError):
                return -1
        return None
    finally:
        os.close(fd)


def run_files(run_dir) -> list[str]:
    """What a run left in ``run_dir`` (its config, status, metrics, checkpoints, resume points)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(p.name for p in run_dir.iterdir() if p.name in RUN_FILES or CHECKPOINT.fullmatch(p.name)
                  or STEP_CHECKPOINT.fullmatch(p.name))


def reuse_problem(run_dir, options) -> str | None:
    """Why a run with ``options`` (a TrainConfig or its dict, paths resolved) must not start in ``run_dir``:
    the folder holds another run's files and the new run does not continue that run (``resume_from`` or a
    checkpoint to load inside it). None when it may."""
    found = run_files(run_dir)
    if not found:
        return None
    get = options.get if isinstance(options, dict) else lambda k, d=None: getattr(options, k, d)
    names = ["resume_from", *dict.fromkeys(o for m in METHODS.values() for o in (m.load_option, m.init_option) if o)]
    inside = Path(run_dir).resolve()
    if any(get(n) and Path(get(n)).resolve().is_relative_to(inside) for n in names):
        return None
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    return (f"{paths.display(run_dir)} already holds another run ({shown}); a new run there would mix the two. "
            f"Leave proj_dir empty for a new folder or choose another one, or continue that run (the Resume "
            f"button, or train --resume {paths.display(run_dir)}).")


def claim(run_dir, options) -> RunLock:
    """Take ``run_dir`` for a run with ``options`` (a TrainConfig or its dict, paths resolved) before anything
    is written into it: its trainer lock (the folder is made), then :func:`reuse_problem`. Raises
    :class:`RunRefused` (:class:`RunInUse` while another trainer holds it) and holds nothing then. A process
    that holds the folder already (the CLI before its trainer starts) gets the same hold without a second
    check: its own files are in there by then."""
    try:
        lock = _lock_run(run_dir)
    except OSError as err:
        raise RunRefused(f"Cannot create or write the run folder {paths.display(run_dir)} ({err.strerror or err}): "
                         f"choose a proj_dir you can write to, or leave it empty for a new folder in "
                         f"output/.") from None
    if lock.users > 1:
        return lock
    problem = reuse_problem(run_dir, options)
    if problem:
        lock.release()
        raise RunRefused(problem)
    return lock


# --- read side (GUI, runner, tests) -------------------------------------------------------------------

# the fields of status.json the readers rely on: (field, type); each may also be null
_STATUS_FIELDS = (("pid", int), ("state", str), ("exit_code", int), ("error", str), ("step", int),
                  ("total_steps", int), ("epoch", int), ("loss", float), ("checkpoints", list), ("best", dict))


def read_status(run_dir) -> dict | None:
    """status.json as a dict, or None if the run has not written one yet; ValueError naming the file and the
    field when it is damaged (the trainer writes it afresh)."""
    path = Path(run_dir) / "status.json"
    try:
        status = json.loads(paths.read_text(path))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}): the file is damaged") from None
    if not isinstance(status, dict):
        raise ValueError(f"{path}: holds a JSON {type(status).__name__}, not an object: the file is damaged")
    for name, kind in _STATUS_FIELDS:
        if status.get(name) is not None and not _is(status[name], kind):
            raise ValueError(f"{path}: {name} is {status[name]!r}, not {'a number' if kind is float else kind.__name__}"
                             f": the file is damaged")
    if status.get("state") is not None and status["state"] not in STATES:
        raise ValueError(f"{path}: state {status['state']!r} is none of {', '.join(STATES)}: the file is damaged")
    best = status.get("best")
    if best and not (_is(best.get("step"), int) and _is(best.get("val_loss"), float)):
        raise ValueError(f"{path}: best {best!r} lacks its step or val_loss: the file is damaged")
    return status


class _JsonlCache:
    """The rows of the last few .jsonl files read. Every open page polls its run's files each second: a file that
    only grew is parsed from where the last read stopped, an unchanged one not at all (20 pages re-parsing a
    3,600-step metrics.jsonl made ~300k short-lived objects a second). A file replaced, truncated or rewritten is
    read again from the start: the last line read must still be where it was."""

    KEPT = 16

    def __init__(self) -> None:
        self._files: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def rows(self, path: Path) -> list[dict]:
        try:
            f = paths.open_read(path, "rb")
        except (FileNotFoundError, paths.PathRefused):
            return []
        with f:
            st = os.fstat(f.fileno())
            key = str(path)
            with self._lock:
                known = self._files.get(key)
            rows, offset, last = [], 0, b""
            if known and known[:2] == (st.st_dev, st.st_ino) and st.st_size >= known[2] and known[2] > 0:
                f.seek(known[2] - len(known[3]))
                if f.read(len(known[3])) == known[3]:
                    rows, offset, last = list(known[4]), known[2], known[3]
            f.seek(offset)
            for line in f:
                if not line.endswith(b"\n"):
                    break
                offset, last = offset + len(line), line
                try:
                    row = json.loads(line.decode("utf-8", errors="replace"))
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        with self._lock:
            self._files[key] = (st.st_dev, st.st_ino, offset, last, tuple(rows))
            self._files.move_to_end(key)
            while len(self._files) > self.KEPT:
                self._files.popitem(last=False)
        return rows


_JSONL = _JsonlCache()


def _read_jsonl(path: Path) -> list[dict]:
    """Every complete line of a .jsonl file (a half-written last line is skipped); none from a file that is
    missing or, in the app, leads out of the project. The rows are shared with later reads: don't change them."""
    return _JSONL.rows(Path(path))


def read_metrics(run_dir, since_step: int = 0) -> list[dict]:
    """The training steps' metrics lines with step > ``since_step``."""
    return [m for m in _read_jsonl(Path(run_dir) / "metrics.jsonl") if "loss" in m and m.get("step", 0) > since_step]


def read_evaluations(run_dir) -> list[dict]:
    """The evaluations' lines of metrics.jsonl (``val_loss``, ``val_ppl``...), step 0 (the base) first."""
    return [m for m in _read_jsonl(Path(run_dir) / "metrics.jsonl") if "val_loss" in m]


def read_samples(run_dir) -> list[dict]:
    """samples.jsonl: one line per prompt per evaluation (step, epoch, prompt, held_out, output)."""
    return _read_jsonl(Path(run_dir) / SAMPLES_FILE)


def read_recall(run_dir) -> list[dict]:
    """recall.jsonl: the questions asked at the end of the run (doc, held_out, turns, question, answer, reply,
    recalled)."""
    return _read_jsonl(Path(run_dir) / RECALL_FILE)


def read_config(run_dir) -> dict | None:
    """config.json as the trainer wrote it (options plus RUN_INFO_KEYS), None when absent or unreadable."""
    path = Path(run_dir) / "config.json"
    try:
        config = json.loads(paths.read_text(path))
    except (OSError, ValueError):  # missing, damaged, or refused (a link out of the project)
        return None
    return config if isinstance(config, dict) else None


def read_options(run_dir, notes: list | None = None) -> dict:
    """The options a run trained with (config.json without the trainer's notes), in today's meaning: a run saved
    before today's options_version is migrated (``notes`` receives what that changed), and the dict is stamped
    with today's version. {} when it has none, as a folder of checkpoints from another tool. A damaged
    config.json raises ValueError naming it."""
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(paths.read_text(path))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of option: value")
    data, changed = migrate(data, paths.display(path))
    if notes is not None:
        notes.extend(changed)
    return {**{k: v for k, v in data.items() if k not in RUN_INFO_KEYS}, VERSION_KEY: OPTIONS_VERSION}


def list_runs(output_dir=None) -> list[dict]:
    """Runs under ``output_dir`` (default output/), newest first: name, path, status, config, checkpoints."""
    base = Path(output_dir) if output_dir else paths.folder("output")
    runs = []
    if not base.is_dir():
        return runs
    for d in base.iterdir():
        if not d.is_dir() or not ((d / "status.json").exists() or (d / "config.json").exists()):
            continue
        try:
            status = read_status(d)
        except ValueError:
            status = None
        runs.append({
            "name": d.name,
            "path": str(d),
            "status": status,
            "config": read_config(d),
            "checkpoints": [p.name for p in list_checkpoints(d)],
            "mtime": d.stat().st_mtime,
        })
    runs.sort(key=lambda r: r["mtime"], reverse=True)
    return runs
