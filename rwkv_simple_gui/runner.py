"""Start, stop and re-attach the training process; everything else is read from its run directory.

The trainer runs as its own process group (``start_new_session``) with its output going to
``train.log``, never to a pipe, so a closed browser tab or a restarted GUI neither stalls nor loses
it. ``output/.current.json`` names the job that runs now; any GUI process can re-attach from it.
One job at a time from the GUI, and one trainer per run folder from anywhere: the runner takes the folder's
lock and hands it to the trainer it starts, so a CLI trainer in the same folder is refused, and vice versa.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from . import paths
from .train import rundir
from .train.resume import resume_options
from .train.rundir import FINAL_STATES, STATES, read_status

CURRENT_FILE = ".current.json"
LIVE_STATES = tuple(s for s in STATES if s not in FINAL_STATES)


class RunnerError(RuntimeError):
    """A job can't be started or stopped; the message says why in plain words."""


@dataclass
class Job:
    run_dir: str
    pid: int
    create_time: float

    def process(self) -> psutil.Process | None:
        """The trainer's process if it still runs (not a zombie, not a reused pid)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 1 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    @property
    def alive(self) -> bool:
        return self.process() is not None


# Popen objects of jobs started by this GUI process, so their exit status is collected (no zombies).
_children: dict[int, subprocess.Popen] = {}
_lock = threading.Lock()


def _current_path() -> Path:
    return paths.folder("output") / CURRENT_FILE


def current_job() -> Job | None:
    """The job recorded as running, if its process is still alive."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            _children.pop(pid, None)
    try:
        job = Job(**json.loads(_current_path().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return job if job.alive else None


def train_command(config_file: Path) -> list[str]:
    return [sys.executable, "-m", "rwkv_simple_gui", "train", "--config", str(config_file)]


def start(config: dict, run_dir: str | os.PathLike) -> Job:
    """Launch ``train`` for ``config`` (a TrainConfig dict, paths resolved) writing into ``run_dir``.

    Refused (RunnerError) while another job runs, while another trainer (a CLI one too) holds ``run_dir``, or
    when ``run_dir`` holds another run's files and ``config`` does not continue that run."""
    with _lock:
        running = _wait_if_exiting(current_job())
        if running:
            raise RunnerError(f"A training job is already running ({paths.display(running.run_dir)}, pid "
                              f"{running.pid}). Stop it first, or wait until it ends.")
        run_dir = Path(run_dir)
        try:
            hold = _claim_when_free(run_dir, {**config, "proj_dir": str(run_dir)})
        except rundir.RunRefused as err:
            raise RunnerError(str(err)) from None
        try:
            child = _launch(config, run_dir, hold.fd)
        finally:
            hold.release()  # the child holds the lock now, through the descriptor it inherited
        _children[child.pid] = child
        job = Job(run_dir=str(run_dir), pid=child.pid, create_time=psutil.Process(child.pid).create_time())
        with paths.atomic_output(_current_path()) as tmp:
            tmp.write_text(json.dumps(asdict(job)), encoding="utf-8")
        return job


def trainer_pid(run_dir) -> int | None:
    """The pid of the live trainer (GUI- or CLI-started) holding ``run_dir``, else None. A process that is
    exiting still holds the lock for a moment: it counts as gone."""
    pid = rundir.lock_holder(run_dir)
    try:
        alive = pid is not None and psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        alive = False
    return pid if alive else None


def _claim_when_free(run_dir: Path, options: dict, timeout_s: float = 10.0) -> rundir.RunLock:
    """``rundir.claim``, waiting while the trainer that holds the folder is exiting."""
    deadline = time.time() + timeout_s
    while True:
        try:
            return rundir.claim(run_dir, options)
        except rundir.RunInUse:
            if time.time() > deadline or trainer_pid(run_dir) is not None:
                raise
            time.sleep(0.2)


def _launch(config: dict, run_dir: Path, lock_fd: int) -> subprocess.Popen:
    request = run_dir / "request.json"
    with paths.atomic_output(request) as tmp:
        tmp.write_text(json.dumps({**config, "proj_dir": str(run_dir)}, indent=1, ensure_ascii=False),
                       encoding="utf-8")
    env = paths.child_env(PYTHONUNBUFFERED="1", RWKV_SIMPLE_GUI_HOME=str(paths.PROJECT_ROOT),
                          **{rundir.LOCK_FD_ENV: str(lock_fd)})
    with open(run_dir / "train.log", "ab") as log:
        return subprocess.Popen(train_command(request), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=paths.PROJECT_ROOT, env=env,
                                start_new_session=True, pass_fds=(lock_fd,))


def _wait_if_exiting(job: Job | None, timeout_s: float = 15.0) -> Job | None:
    """A job whose trainer already wrote a final state is only exiting: give it a moment to finish."""
    if job is None:
        return None
    try:
        state = (read_status(job.run_dir) or {}).get("state")
    except ValueError:
        return job
    deadline = time.time() + timeout_s
    while state in FINAL_STATES and job.alive and time.time() < deadline:
        time.sleep(0.2)
    return current_job()


def stop(grace_s: float = 30.0) -> Job | None:
    """Ask the running job to stop after its current step (SIGTERM to the whole process group).

    The trainer saves a checkpoint and exits; if any process of the group (e.g. a DeepSpeed rank) is
    still there after ``grace_s``, the group is killed so the GPU is freed.
    """
    job = current_job()
    if job is None:
        return None
    pgid = os.getpgid(job.pid)
    os.killpg(pgid, signal.SIGTERM)

    def kill_after_grace():
        deadline = time.time() + grace_s
        while time.time() < deadline:
            if not _group_alive(pgid):
                return
            time.sleep(0.5)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    threading.Thread(target=kill_after_grace, daemon=True).start()
    return job


def _group_alive(pgid: int) -> bool:
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.info["pid"]) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError):
            continue
    for child in list(_children.values()):
        child.poll()
    return False


# --- reading a run for the GUI --------------------------------------------------------------------

# Known failures, found in the log, in plain words with the fix (the trainer reports most of these
# itself in status.json; this catches what it could not, e.g. a crash outside its loop).
KNOWN_FAILURES = (
    (re.compile(r"out of memory|CUDA error: out of memory|OutOfMemoryError", re.I),
     "The GPU ran out of memory. Lower micro_bsz or ctx_len (raise mini_bsz to keep the batch), turn on "
     "grad_cp, or quantize the base model (quant int8)."),
    (re.compile(r"high <= 0|shorter than ctx_len|not enough (data|tokens)", re.I),
     "The dataset is too short for this ctx_len: lower ctx_len or add data."),
    (re.compile(r"size mismatch|does not match the base model", re.I),
     "The checkpoint was made for another base model: pick the base model it was trained on."),
    (re.compile(r"Torch not compiled with CUDA|no CUDA GPUs are available|fla .*needs CUDA|bitsandbytes", re.I),
     "This option needs an NVIDIA GPU with CUDA (fla kernels, quantization): choose op auto/chunked and "
     "quant none on this machine."),
    (re.compile(r"No space left on device", re.I), "The disk is full: free space in output/ and try again."),
)


def explain_failure(log_tail: str, exit_code: int | None = None) -> str | None:
    """A plain-words reason and fix for a failed run, from the end of its log."""
    for pattern, advice in KNOWN_FAILURES:
        if pattern.search(log_tail or ""):
            return advice
    if exit_code in (-9, 137):
        return ("The trainer was killed (SIGKILL), most often by the system running out of RAM: lower "
                "micro_bsz or ctx_len, or close other programs.")
    return None


def tail(path: str | os.PathLike, max_bytes: int = 20_000) -> str:
    """The end of a text file (the live log), cut at a line start; "" when it cannot be read (or, in the app,
    leads out of the project)."""
    try:
        with paths.open_read(path) as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except (OSError, paths.PathRefused):
        return ""
    text = data.decode("utf-8", errors="replace")
    return text if size <= max_bytes else text.partition("\n")[2]


def resume_config(run_dir: str | os.PathLike) -> tuple[dict, str]:
    """The options that continue a run in its own folder from its newest resumable point, and what the
    resume does in words (which point; exact, or from a checkpoint's weights). RunnerError says why it can't:
    no checkpoint yet, or options changed since the point in ways an exact resume cannot follow."""
    from .train.config import TrainConfig
    from .train.prepare import prepare

    run_dir = Path(run_dir)
    holder = trainer_pid(run_dir)
    try:
        exiting = (read_status(run_dir) or {}).get("state") in FINAL_STATES  # start() waits for it
    except ValueError:
        exiting = False
    if holder is not None and not exiting:  # (its resume points are still being written)
        raise RunnerError(f"{paths.display(run_dir)} is in use by another trainer (pid {holder}): one trainer per "
                          f"run folder. Stop it first, or wait until it ends.")
    try:
        plan = resume_options(run_dir)
        prepared = prepare(TrainConfig.from_dict(plan.options, source=f"{paths.display(run_dir)}/config.json"))
    except ValueError as err:
        raise RunnerError(f"{err}.") from None
    if prepared.problems:
        raise RunnerError(f"{paths.display(run_dir)} can't be resumed: " + "; ".join(prepared.problems))
    return plan.options, plan.note


def system_stats() -> dict:
    """CPU, RAM and (when nvidia-smi answers) GPU use, for the monitor."""
    vm = psutil.virtual_memory()
    stats = {"cpu_percent": psutil.cpu_percent(interval=None), "ram_used_gb": (vm.total - vm.available) / 1024**3,
             "ram_total_gb": vm.total / 1024**3, "gpus": []}
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.used,memory.total,utilization.gpu",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=3).stdout
    except (OSError, subprocess.SubprocessError):
        return stats
    for line in out.strip().splitlines():
        name, used, total, util = [x.strip() for x in line.split(",")]
        stats["gpus"].append({"name": name, "mem_used_gb": float(used) / 1024, "mem_total_gb": float(total) / 1024,
                              "util_percent": float(util)})
    return stats
