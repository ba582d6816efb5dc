"""The run directory: the only thing the GUI reads about a training run.

``output/<run>/`` holds config.json, command.txt, train.log, metrics.jsonl (one JSON line per optimizer
step), status.json and the checkpoints. JSON files are replaced atomically; metrics.jsonl is append-only
and a reader skips a line still being written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

from rwkv_simple_gui import paths

from .config import RUN_INFO_KEYS

STATES = ("starting", "running", "stopping", "finished", "failed", "stopped")
FINAL_STATES = ("finished", "failed", "stopped")
METRIC_KEYS = ("step", "total_steps", "epoch", "loss", "lr", "tokens", "tokens_per_s", "elapsed_s", "eta_s",
               "gpu_mem")
LAUNCHER_PID_ENV = "RWKV_SIMPLE_GUI_LAUNCHER_PID"
CHECKPOINT = re.compile(r"rwkv-(\d+)\.pth")


def checkpoint_name(epoch: int) -> str:
    """The file of epoch ``epoch``'s checkpoint, as RWKV-PEFT names it."""
    return f"rwkv-{epoch}.pth"


def checkpoint_epoch(path) -> int | None:
    """The epoch of a checkpoint file, or None for any other file."""
    m = CHECKPOINT.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def list_checkpoints(run_dir) -> list[Path]:
    """The run's checkpoints, oldest first (init files and others left out)."""
    found = [(epoch, p) for p in Path(run_dir).glob("rwkv-*.pth") if (epoch := checkpoint_epoch(p)) is not None]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


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
        status = read_status(self.path) or {}
        if not status:
            status = {"pid": None, "state": "starting", "exit_code": None, "error": None, "step": 0,
                      "total_steps": None, "epoch": None, "started_at": now_iso(), "checkpoints": []}
        status.update(fields)
        status["pid"] = int(os.environ.get(LAUNCHER_PID_ENV) or status.get("pid") or os.getpid())
        status["updated_at"] = now_iso()
        write_json(self.status_path, status)
        return status

    def add_checkpoint(self, entry: dict) -> None:
        status = read_status(self.path) or {}
        kept = [c for c in status.get("checkpoints", []) if c.get("file") != entry["file"]]
        self.update_status(checkpoints=kept + [entry])

    def keep_metrics_until(self, step: int) -> None:
        """On resume into the same folder: drop lines past ``step`` so the curve continues without overlap."""
        if not self.metrics_path.exists():
            return
        kept = [m for m in read_metrics(self.path) if m.get("step", 0) <= step]
        with paths.atomic_output(self.metrics_path) as tmp:
            tmp.write_text("".join(json.dumps(m) + "\n" for m in kept), encoding="utf-8")

    def append_metric(self, metric: dict) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(metric) + "\n")
            f.flush()


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


# --- read side (GUI, runner, tests) -------------------------------------------------------------------

def read_status(run_dir) -> dict | None:
    """status.json as a dict, or None if the run has not written one yet."""
    path = Path(run_dir) / "status.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def read_metrics(run_dir, since_step: int = 0) -> list[dict]:
    """Every complete metrics line with step > ``since_step`` (a half-written last line is skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                m = json.loads(line)
            except json.JSONDecodeError:
                continue
            if m.get("step", 0) > since_step:
                out.append(m)
    return out


def read_config(run_dir) -> dict | None:
    """config.json as the trainer wrote it (options plus RUN_INFO_KEYS), None when absent or unreadable."""
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_options(run_dir) -> dict:
    """The options a run trained with (config.json without the trainer's notes); {} when it has none, as a
    folder of checkpoints from another tool. A damaged config.json raises ValueError naming it."""
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of option: value")
    return {k: v for k, v in data.items() if k not in RUN_INFO_KEYS}


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
