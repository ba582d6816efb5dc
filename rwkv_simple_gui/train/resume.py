"""Exact resume: what a resume point holds, the random states, and the checks that a run may continue from one.

A resume point ``<run>/resume/step-<N>/`` is written after optimizer step N: ``trainer.pt`` (the trained
parameters in fp32, the optimizer, the grad scaler, LISA's draw), ``rng-<rank>.pt`` per process (torch,
CUDA, numpy and Python random states), ``deepspeed/`` (the engine's own checkpoint) with DeepSpeed, and
``point.json`` (step, data position, the options and facts of the run). It is written under a temporary
name and renamed when complete, so a kill at any moment leaves the previous point usable. The data order is
a function of (seed, epoch) and the learning rate one of the step, so the position is (epoch, step in it).
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rwkv_simple_gui import paths

from .config import RESUME_FIXED, RESUME_INEXACT, TrainConfig, migrate
from .rundir import (
    RESUME_DIR,
    checkpoint_entries,
    latest_resume_point,
    read_options,
    read_point,
    resume_point_name,
    resume_points,
)

# --- the random states of one process -----------------------------------------------------------------

def rng_state(device) -> dict:
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state["numpy"] = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --- writing a point ----------------------------------------------------------------------------------

def staging_dir(run_dir, step: int) -> Path:
    """Where the point of ``step`` is written before it is renamed into place."""
    return Path(run_dir) / RESUME_DIR / f".{resume_point_name(step)}.tmp"


def clear_staging(run_dir) -> None:
    """Remove points a killed trainer left half-written (the caller holds the run's lock)."""
    for leftover in (Path(run_dir) / RESUME_DIR).glob(".step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def publish(run_dir, step: int) -> Path:
    """Rename the complete staging folder of ``step`` into place and delete the older points."""
    final = Path(run_dir) / RESUME_DIR / resume_point_name(step)
    if final.exists():  # the same step saved twice (a stop right after a step checkpoint): same state
        shutil.rmtree(final)
    staging_dir(run_dir, step).rename(final)
    for older in resume_points(run_dir)[:-1]:
        shutil.rmtree(older, ignore_errors=True)
    return final


# --- continuing from a point --------------------------------------------------------------------------

def resolve_point(given) -> Path:
    """A resume point: ``given`` itself, or the newest point of the run folder ``given``."""
    given = Path(given)
    if (given / RESUME_DIR).is_dir() or (given / "config.json").is_file():
        point = latest_resume_point(given)
        if point is None:
            raise ValueError(f"{paths.display(given)} has no resume point yet (they are written with each "
                             f"checkpoint)")
        return point
    return given


def changed_options(saved: dict, cfg: TrainConfig) -> list[str]:
    """The options of ``cfg`` that differ from the point's ``saved`` ones and that an exact resume needs
    unchanged, each as "name: was -> now"."""
    out = []
    saved, _ = migrate(saved)  # a point of a run saved before today's options_version
    for name in RESUME_FIXED:
        if name in saved and cfg.applies(name) and saved[name] != getattr(cfg, name):
            out.append(f"{name}: was {saved[name]!r}, now {getattr(cfg, name)!r}")
    return out


def inexact_changes(saved: dict, options: dict) -> list[str]:
    """The options of ``options`` that differ from the point's ``saved`` ones and that a resume may change,
    though the run then no longer continues exactly, each as "name: was -> now"."""
    return [f"{name}: was {saved[name]!r}, now {options[name]!r}" for name in RESUME_INEXACT
            if name in saved and name in options and saved[name] != options[name]]


def _torch_file_problem(path: Path) -> str | None:
    """Why a torch zip file of a resume point cannot be loaded (missing, empty, cut short), or None. Only its
    table of contents is read, at its end: a file cut short has none."""
    import torch

    if not path.is_file():
        return "is missing"
    size = path.stat().st_size
    if size == 0:
        return "is empty"
    try:
        torch._C.PyTorchFileReader(str(path)).get_all_records()
    except RuntimeError:
        return f"is truncated or damaged ({size:,} bytes, its end unreadable)"
    return None


def point_damage(point: Path, info: dict) -> str | None:
    """Why the files of the resume point ``point`` (its facts ``info``) cannot be loaded, or None."""
    deepspeed = info["world"] > 1 and info["options"].get("deepspeed_strategy", "none") != "none"
    names = [] if deepspeed else ["trainer.pt"]
    for name in [*names, *(f"rng-{rank}.pt" for rank in range(info["world"]))]:
        problem = _torch_file_problem(Path(point) / name)
        if problem:
            return f"{name} {problem}"
    if deepspeed and not any((Path(point) / "deepspeed").rglob("*")):
        return "deepspeed/ is missing or empty"
    return None


def _data_problems(cfg: TrainConfig, point: dict, world: int, data_info, where: str, *,
                   plan_comparable: bool) -> list[str]:
    """The dataset changed since the point was made, or its steps per epoch differ from the point's (only
    compared when the options that shape the plan are the run's: ``plan_comparable``)."""
    out = []
    saved_data = point.get("data") or {}
    if saved_data and (saved_data.get("n_docs"), saved_data.get("num_tokens")) != (
            data_info.n_docs, data_info.num_tokens):
        out.append(f"resume_from {where}: the dataset {paths.display(cfg.data_path)} changed since the run "
                   f"started ({saved_data.get('n_docs')} documents / {saved_data.get('num_tokens')} tokens then, "
                   f"{data_info.n_docs} / {data_info.num_tokens} now): resume with the data it trained on")
    if plan_comparable:
        from .data import held_out_count, make_plan

        steps = point["steps_per_epoch"]
        n_docs = 0 if cfg.dataload == "get" else data_info.n_docs - held_out_count(data_info.n_docs, cfg.val_split)
        planned = make_plan(cfg, n_docs, world).steps_per_epoch
        if planned != steps:
            out.append(f"resume_from {where}: the point says {steps} steps per epoch, the run has {planned}: the "
                       f"point was edited or made from other data; resume from the run's checkpoint instead")
    return out


def point_problems(cfg: TrainConfig, world: int, data_info) -> list[str]:
    """Why ``cfg`` cannot continue from its ``resume_from`` point (paths resolved; the point is a folder)."""
    try:
        point = read_point(cfg.resume_from)
    except ValueError as err:
        return [f"resume_from: {err}"]
    where = paths.display(cfg.resume_from)
    damage = point_damage(Path(cfg.resume_from), point)
    if damage:
        return [f"resume_from {where} is damaged: {damage}. Resume the run folder instead (the Resume button, or "
                f"train --resume RUN_DIR): it continues from the last checkpoint's weights"]
    out = []
    changed = changed_options(point["options"], cfg)
    if changed:
        out.append(f"resume_from {where}: these options differ from the run being resumed, which an exact "
                   f"resume cannot follow: {'; '.join(changed)}. Set them back, or start a new run")
    if point.get("world") != world:
        out.append(f"resume_from {where}: the run trained on {point.get('world')} processes, this one would use "
                   f"{world}: use the same devices and machines")
    if cfg.several_machines:
        out.append("resume_from works on one machine: set num_nodes 1 and clear hostfile")
    if data_info is not None:
        out += _data_problems(cfg, point, world, data_info, where, plan_comparable=not changed)
    steps = point["steps_per_epoch"]
    endless = cfg.dataload == "get" and cfg.run_until_stopped
    if not endless and point["step"] >= steps * (cfg.epoch_begin + cfg.epoch_count):
        out.append(f"resume_from {where}: the run is complete at step {point['step']} (epochs {cfg.epoch_begin}-"
                   f"{cfg.epoch_begin + cfg.epoch_count - 1}); raise epoch_count to train further")
    return out


def describe_point(point: Path) -> str:
    """Where a resume point continues, in words."""
    p = read_point(point)
    nxt = f"epoch {p['next_epoch']}, step {p['next_step'] + 1} of {p['steps_per_epoch']} in it"
    return f"{paths.display(point)}: after step {p['step']} ({nxt})"


@dataclass
class ResumePlan:
    options: dict      # the options that continue the run (resume_from or a checkpoint to load set)
    point: Path | None  # the exact resume point, or None when only a checkpoint's weights can be loaded
    note: str          # what the resume does, in words


def resume_options(run_dir) -> ResumePlan:
    """How to continue the run in ``run_dir`` from its newest resumable point, with its recorded options.

    Exactly from its newest resume point when it has one; else (a run of an older version, or one on several
    machines) from the weights of its last checkpoint at the start of that checkpoint's epoch, with a new
    optimizer. ValueError says why neither is possible."""
    from rwkv_simple_gui.peft.methods import method

    run_dir = Path(run_dir)
    migrated: list[str] = []
    options = read_options(run_dir, migrated)
    if not options:
        raise ValueError(f"{paths.display(run_dir)} has no config.json; it can't be resumed")
    row = method(options.get("finetune_mode"))
    options["proj_dir"] = str(run_dir)
    if row.init_option:  # the frozen weights the run trained against
        options[row.init_option] = str(run_dir / row.init_file)
    said = "".join(f"; {note}" for note in migrated)
    point = latest_resume_point(run_dir)
    why_not = "no exact resume point"
    if point is not None:
        try:
            info = read_point(point)
            damage = point_damage(point, info)
        except ValueError as err:
            damage = str(err)
        if not damage:
            options["resume_from"] = str(point)
            changes = inexact_changes(info["options"], options)
            if changes:
                return ResumePlan(options, point, f"resume from {describe_point(point)} with changed options "
                                                  f"({'; '.join(changes)}): weights, optimizer and data position "
                                                  f"are restored, but the steps after it differ from the run's "
                                                  f"own{said}")
            return ResumePlan(options, point, f"exact resume from {describe_point(point)}{said}")
        why_not = f"the resume point {paths.display(point)} is damaged ({damage})"
    entries = checkpoint_entries(run_dir)
    if not entries:
        raise ValueError(f"{paths.display(run_dir)} has no checkpoint yet ({why_not}); start it again instead")
    last = entries[-1]
    if last["epoch"] is None:
        raise ValueError(f"{paths.display(run_dir)}: {why_not}, and its status.json does not say which epoch "
                         f"{last['file']} belongs to; start the run again")
    options["resume_from"] = ""
    options[row.load_option or "model_path"] = str(last["path"])  # (a whole-model checkpoint is the model)
    # a checkpoint saved mid-epoch (a stop, a step checkpoint) holds part of its epoch: it is trained again
    end = options.get("epoch_begin", 0) + options.get("epoch_count", TrainConfig.epoch_count)
    options["epoch_begin"] = last["epoch"] + (0 if last.get("partial") else 1)
    endless = options.get("dataload") == "get" and options.get("run_until_stopped", 1)
    if options["epoch_begin"] >= end and not endless:
        raise ValueError(f"{paths.display(run_dir)} is complete: its last epoch {end - 1} is saved; start a new run "
                         f"(with its checkpoint to load) to train further")
    options["epoch_count"] = max(1, end - options["epoch_begin"])  # the epochs left, to the same end
    return ResumePlan(options, None, f"{why_not}: continuing from the weights of {last['file']} at "
                                     f"epoch {options['epoch_begin']}, with a new optimizer{said}")
