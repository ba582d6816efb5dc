"""``python -m rwkv_simple_gui train``: options from ``--config run.json`` (or a seed user's ``training.sh``, read
with the seed's meaning and never run, see ``train.seed_script``) and/or one ``--flag`` per option (flags win).
``--dry-run`` prints the resolved config, the plan and the step counts and writes nothing. ``--resume
RUN_DIR`` continues a run in its folder from its newest resumable point, with the options recorded there
(flags may change those that don't break the resume).

The process holds the run folder's lock (one trainer per folder) and refuses a folder that holds another
run, before it writes anything there.

With ``--devices N`` (N > 1) this process is a launcher: it prepares the run folder, starts N ranks with
``torchrun --standalone`` on this machine, forwards SIGTERM/SIGINT to them and waits; rank 0 writes the
run folder. Launched by the GUI, this process's pid is the one in status.json.

Several machines: with ``--num_nodes M`` the same command runs on each machine with its own ``--node_rank``;
each starts its ranks with torchrun meeting at ``--master_addr:--master_port``, and only machine 0 prepares
and writes the run folder. With ``--hostfile`` the command runs once and DeepSpeed's launcher starts every
machine over ssh.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .config import TrainConfig
from .prepare import check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="JSON file of options (a run's config.json, or a preset: a file or the "
                                         "name of a built-in or saved preset, e.g. demo-cpu), or a training.sh of "
                                         "RWKV-PEFT-Simple (read as data with the seed's meaning, never run)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the options, print the resolved config and the number of steps, then exit")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR (e.g. output/lora-20250101-120000) from its newest resumable "
                             "point, exactly (optimizer, data position, random state), with the options recorded "
                             "there; flags may change the options that don't break resuming")
    groups = {}
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        group = groups.get(meta["group"]) or groups.setdefault(
            meta["group"], parser.add_argument_group(f"{meta['group']} options"))
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        kwargs = {"default": argparse.SUPPRESS, "help": f"{meta['label']}. {meta['help']}".replace("%", "%%")}
        if kind == "list":
            kwargs["nargs"] = "*"
        else:
            kwargs["type"] = {"int": int, "float": float, "str": str}[kind]
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        group.add_argument("--" + f.name, **kwargs)


def config_from_args(args: argparse.Namespace, report: dict | None = None) -> TrainConfig:
    """The options of the command line; ``report`` receives what reading ``--config`` changed or left out
    ("import": a training.sh's report, "notes": a migration's notes). A preset with a ``fit`` gets its
    epoch_count fitted to the data, unless --epoch_count is given; a training.sh's values mean what they mean in
    RWKV-PEFT and are never fitted."""
    from .presets import config_file, fit_epochs, read_preset
    from .seed_script import is_shell_script, read_training_sh
    from .validate import processes

    report = {} if report is None else report
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    fit = None
    if getattr(args, "resume", None):
        if args.config:
            raise ValueError("--resume uses the options recorded in the run folder: leave out --config")
        base = TrainConfig.from_dict(resume_plan(args.resume).options, source=f"{args.resume}/config.json")
    elif args.config and is_shell_script(config_file(args.config)):
        imported = read_training_sh(config_file(args.config))
        report["import"] = imported
        base = imported.config
    elif args.config:
        path = config_file(args.config)
        options, fit = read_preset(path)
        base = TrainConfig.from_saved(options, str(path), report.setdefault("notes", []))
    else:
        base = TrainConfig()
    options = {**base.to_dict(), **overrides}
    if fit and "epoch_count" not in overrides:
        options, note = fit_epochs(options, fit, processes(TrainConfig.from_dict(options, source="command line")))
        if note:
            print(f"{args.config}: {note}", file=sys.stderr, flush=True)
    return TrainConfig.from_dict(options, source="command line")


def print_report(report: dict, stream=None) -> None:
    """What reading --config changed or left out, before anything runs."""
    stream = stream or sys.stdout
    if "import" in report:
        print("\n".join(report["import"].report()), file=stream, flush=True)
    for note in report.get("notes", []):
        print(f"note: {note}", file=stream, flush=True)


def resume_plan(run_dir):
    """How ``--resume RUN_DIR`` continues (printed once, when the plan is made)."""
    from rwkv_simple_gui import paths

    from .resume import resume_options

    folder = paths.resolve(run_dir, base="output")
    if not folder.is_dir():
        raise ValueError(f"--resume {run_dir}: no such run folder")
    plan = resume_options(folder)
    print(f"resuming {paths.display(folder)}: {plan.note}", flush=True)
    return plan


def dry_run(cfg: TrainConfig, report: dict | None = None) -> int:
    from .prepare import describe, prepare

    prepared = prepare(cfg)
    out = describe(prepared)
    if report and "import" in report:
        out["import"] = report["import"].to_dict()
    if report and report.get("notes"):
        out["notes"] = report["notes"]
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0 if prepared.ok else 2


def main(args: argparse.Namespace) -> int:
    from .distributed import launched_rank
    from .prepare import resolve_paths
    from .rundir import RunDir, default_run_dir

    report = {}
    try:
        cfg = resolve_paths(config_from_args(args, report))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        return dry_run(cfg, report)
    if launched_rank():
        return _as_rank(cfg)
    print_report(report)
    if cfg.node_rank > 0:
        return _join(cfg)

    run_path = Path(cfg.proj_dir) if cfg.proj_dir else default_run_dir(cfg.finetune_mode)
    cfg = cfg.replace(proj_dir=str(run_path))
    error = _claim(cfg, run_path)  # the lock stays held until this process exits
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run = RunDir(run_path)
    run.write_command([sys.executable, "-m", "rwkv_simple_gui", "train", *sys.argv[sys.argv.index("train") + 1:]]
                      if "train" in sys.argv else [sys.executable, "-m", "rwkv_simple_gui", "train",
                                                   *cfg.to_cli_args()])
    run.write_config(cfg.to_dict())
    run.update_status(state="starting", pid=os.getpid(), exit_code=None, error=None)
    print(f"run folder: {run_path}", flush=True)
    if cfg.devices <= 1 and not cfg.several_machines:
        return _run(cfg, run_path)
    return _launch(cfg, run)


def _as_rank(cfg: TrainConfig) -> int:
    """A process torchrun started: train in the run folder its launcher holds, and end with the launcher."""
    if not cfg.proj_dir:
        print("error: a torchrun rank needs --proj_dir (the launcher passes it)", file=sys.stderr)
        return 2
    _exit_with_launcher()
    return _run(cfg, Path(cfg.proj_dir))


def _launch(cfg: TrainConfig, run) -> int:
    """Start the training processes (torchrun, or DeepSpeed over a hostfile), wait, and say how they ended."""
    from .rundir import FINAL_STATES, LAUNCHER_PID_ENV, read_status

    if cfg.several_machines:
        # a bad node setting would otherwise surface as a rendezvous timeout or an ssh error
        problems = check(cfg)
        if problems:
            error = "Invalid settings: " + "; ".join(problems)
            print(f"error: {error}", file=sys.stderr)
            run.update_status(state="failed", exit_code=2, error=error)
            return 2
    if cfg.hostfile:
        from .distributed import deepspeed_command

        # the other machines have no run folder: they get the options on the command line
        command = deepspeed_command(cfg.hostfile, cfg.master_addr, cfg.master_port, cfg.to_cli_args())
    else:
        command = _torchrun(cfg, ["--config", str(run.path / "config.json")])
    code = _spawn(command, {**os.environ, LAUNCHER_PID_ENV: str(os.getpid())})
    status = read_status(run.path) or {}
    if status.get("state") not in FINAL_STATES:
        run.update_status(state="failed", exit_code=code,
                          error=f"the training processes exited with code {code} before finishing; see train.log")
        return 1
    return 0 if status["state"] != "failed" else 1


_held = []  # this process's hold on its run folder, kept until it exits


def _claim(cfg: TrainConfig, run_path: Path) -> str | None:
    """Take the run folder for this run; why not, in words, before anything is written into it."""
    from .rundir import RunRefused, claim

    try:
        _held.append(claim(run_path, cfg))
    except RunRefused as err:
        return str(err)
    if cfg.resume_from:  # a resume that cannot continue must leave the run's folder as it was
        from .prepare import prepare

        prepared = prepare(cfg)
        if not prepared.ok:
            return "Invalid settings: " + "; ".join(prepared.problems)
    return None


def _torchrun(cfg: TrainConfig, train_argv: list[str]) -> list[str]:
    from .distributed import torchrun_command

    return torchrun_command(cfg.devices, train_argv, cfg.num_nodes, cfg.node_rank, cfg.master_addr, cfg.master_port)


def _join(cfg: TrainConfig) -> int:
    """Machine ``node_rank`` > 0: start this machine's ranks and wait. Machine 0 writes the run folder, so
    nothing is written here; progress goes to this terminal."""
    from .rundir import default_run_dir

    problems = check(cfg)
    if problems:
        print("error: Invalid settings: " + "; ".join(problems), file=sys.stderr)
        return 2
    # ranks need a run folder name; on this machine none of them writes to it
    cfg = cfg.replace(proj_dir=cfg.proj_dir or str(default_run_dir(cfg.finetune_mode)))
    print(f"machine {cfg.node_rank} of {cfg.num_nodes}: starting {cfg.devices} process(es), joining "
          f"{cfg.master_addr}:{cfg.master_port}; machine 0 writes the run folder", flush=True)
    code = _spawn(_torchrun(cfg, cfg.to_cli_args()), dict(os.environ))
    print(f"machine {cfg.node_rank}: training processes exited with code {code}", flush=True)
    return 0 if code == 0 else 1


def _spawn(command: list[str], env: dict) -> int:
    """Run the launcher command, passing SIGTERM/SIGINT on to it; its exit code."""
    child = subprocess.Popen(command, env=env)

    def forward(signum, _frame):
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    return child.wait()


def _exit_with_launcher(poll_s: float = 0.5) -> None:
    """A rank dies with the launcher that holds the run folder's lock (a kill -9 of it included): torchrun
    starts its ranks in sessions of their own, so they would otherwise go on writing a folder nobody holds."""
    import threading

    import psutil

    from .rundir import LAUNCHER_PID_ENV

    try:
        launcher = psutil.Process(int(os.environ[LAUNCHER_PID_ENV]))
        if launcher not in psutil.Process().parents():  # another machine's rank (the pid means nothing here)
            return
    except (KeyError, ValueError, psutil.Error):  # a rank started by hand
        return

    def watch():
        while launcher.is_running() and launcher.status() != psutil.STATUS_ZOMBIE:
            threading.Event().wait(poll_s)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="launcher-watch", daemon=True).start()


def _run(cfg: TrainConfig, run_path: Path) -> int:
    from .loop import train

    state = train(cfg, run_path)
    return 1 if state == "failed" else 0
