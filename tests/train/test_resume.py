"""Exact resume: a run stopped (Stop / SIGTERM) or killed (kill -9 after a step checkpoint) and resumed gives
the same per-step losses (rel 1e-5) and the same adapter (abs 1e-6) as the run trained straight through, on
CPU fp32, with 1 process and with 2 (torchrun + gloo: the plain all-reduce, and DeepSpeed ZeRO-1).

The runs use lora dropout (random numbers), shuffled data and a decaying learning rate, so a resume that
lost the random state, the data position or the optimizer state would differ."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.data.binidx import write_binidx
from rwkv_simple_gui.model import init_model, save_model
from rwkv_simple_gui.train import loop, rundir
from rwkv_simple_gui.train.config import TrainConfig

ENV = paths.child_env(OMP_NUM_THREADS="1")
TOTAL = 8  # 2 epochs of 4 steps


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A perturbed 2x64 vocab-256 model and 8 documents of 20-30 tokens."""
    root = tmp_path_factory.mktemp("resume")
    save_model(init_model("x070", 2, 64, vocab_size=256, head_size=32, seed=2, perturb=0.05), root / "m.pth",
               dtype=torch.float32)
    write_binidx(root / "d", [[(7 * i + j) % 200 + 1 for j in range(20 + i)] + [0] for i in range(8)])
    return root


def opts(small, run: Path, **extra) -> dict:
    # adam_eps 1e-4: see test_train_e2e.test_two_processes_match_one (gloo sums in another order)
    return {"model_path": str(small / "m.pth"), "data_path": str(small / "d"), "finetune_mode": "lora",
            "ctx_len": 32, "loss_mask": "none", "precision": "fp32", "lora_r": 4, "lora_alpha": 8,
            "lora_dropout": 0.1, "lr_init": 1e-2, "lr_final": 1e-3, "warmup_steps": 1, "seed": 11,
            "proj_dir": str(run), "grad_cp": 0, "train_parts": ["ln"], "adam_eps": 1e-4, "micro_bsz": 2,
            "mini_bsz": 1, "epoch_count": 2, "save_every_steps": 1, "keep_last": 2, "sample_tokens": 0, **extra}


def config(options: dict) -> TrainConfig:
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **options}, source="test")


def argv(options: dict) -> list[str]:
    return [sys.executable, "-m", "rwkv_simple_gui", "train",
            *[a for k, v in options.items() for a in (f"--{k}", *map(str, v if isinstance(v, list) else [v]))]]


def assert_same_run(straight: Path, resumed: Path) -> None:
    a, b = rundir.read_metrics(straight), rundir.read_metrics(resumed)
    assert [m["step"] for m in a] == [m["step"] for m in b] == list(range(1, TOTAL + 1))
    for x, y in zip(a, b):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-5), f"step {x['step']}"
        assert y["tokens"] == x["tokens"]
    assert rundir.read_status(resumed)["state"] == "finished"
    c1 = torch.load(straight / "rwkv-1.pth", weights_only=True)
    c2 = torch.load(resumed / "rwkv-1.pth", weights_only=True)
    assert c1.keys() == c2.keys()
    for k in c1:
        assert float((c2[k] - c1[k]).abs().max()) <= 1e-6, (k, float((c2[k] - c1[k]).abs().max()))


@pytest.fixture(scope="module")
def straight_one(small, tmp_path_factory):
    run = tmp_path_factory.mktemp("straight1") / "run"
    assert loop.train(config(opts(small, run)), run) == "finished"
    return run


@pytest.mark.parametrize("stop_at", [3, 6])  # in the first epoch, and in the second
def test_stop_and_resume_in_one_process_is_exact(small, straight_one, tmp_path, stop_at):
    run = tmp_path / "run"
    stop = loop.StopFlag()
    stopper = lambda m: stop.event.set() if m["step"] == stop_at else None  # noqa: E731
    assert loop.train(config(opts(small, run)), run, progress=stopper, stop=stop) == "stopped"
    assert rundir.read_status(run)["step"] == stop_at
    point = rundir.latest_resume_point(run)
    assert point.name == f"step-{stop_at:08d}" and len(rundir.resume_points(run)) == 1
    resumed = config({**rundir.read_options(run), "resume_from": str(run)})
    assert loop.train(resumed, run) == "finished"
    assert_same_run(straight_one, run)
    assert "resumed exactly from" in (run / "train.log").read_text()


# Loaded by every Python process of the killed run (it is first on their PYTHONPATH): the trainer stops for good
# while it writes the resume point of step PAUSE_AT (staged, not yet renamed), and says so in PAUSED. The kill
# then lands at that moment whatever the machine's speed: a point complete, the next one half written.
PAUSE_HOOK = """
import os, pathlib, time
if os.environ.get("PAUSE_AT"):
    from rwkv_simple_gui.train import resume
    publish = resume.publish

    def paused_publish(run_dir, step):
        if step == int(os.environ["PAUSE_AT"]):
            pathlib.Path(os.environ["PAUSED"]).write_text(str(step))
            while True:
                time.sleep(60)
        return publish(run_dir, step)

    resume.publish = paused_publish
"""


def kill_and_resume(options: dict, run: Path, at_least: int) -> int:
    """Start the CLI run, kill -9 its whole process group while it writes the resume point of step
    ``at_least`` + 1 (the point of ``at_least`` complete), then continue with train --resume RUN; the step of
    the newest complete point."""
    run.mkdir(parents=True)
    hook = run.parent / "pause-hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAUSE_HOOK, encoding="utf-8")
    paused = run.parent / "paused"
    env = {**ENV, "PYTHONPATH": f"{hook}{os.pathsep}{ENV['PYTHONPATH']}", "PAUSE_AT": str(at_least + 1),
           "PAUSED": str(paused)}
    with open(run / "train.log", "w") as log:
        proc = subprocess.Popen(argv(options), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while not paused.exists():
                assert proc.poll() is None, f"the run ended first: {(run / 'train.log').read_text()[-3000:]}"
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    killed_after = int(rundir.latest_resume_point(run).name.split("-")[1])
    assert killed_after == at_least and list((run / rundir.RESUME_DIR).glob(".*.tmp")), "a point was half written"
    assert rundir.read_status(run)["state"] == "running"  # it never knew
    out = subprocess.run([sys.executable, "-m", "rwkv_simple_gui", "train", "--resume", str(run)], env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "exact resume from" in out.stdout
    return killed_after


def test_kill_9_and_resume_in_one_process_is_exact(small, tmp_path):
    """Both runs as CLI processes (one thread each: the sums of a thread pool round differently)."""
    straight = tmp_path / "straight"
    out = subprocess.run(argv(opts(small, straight)), env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    killed_after = kill_and_resume(opts(small, tmp_path / "run"), tmp_path / "run", at_least=2)
    assert_same_run(straight, tmp_path / "run")
    assert not list((tmp_path / "run" / rundir.RESUME_DIR).glob(".*.tmp")), "a half-written point is removed"
    assert f"after step {killed_after}" in (tmp_path / "run" / "train.log").read_text()


@pytest.mark.parametrize("strategy", ["none", "deepspeed_stage_1"])
def test_kill_9_and_resume_with_two_processes_is_exact(small, tmp_path, strategy):
    """2 ranks x micro_bsz 1; the straight run is 2 ranks too (the same dropout draws per rank)."""
    two = {"micro_bsz": 1, "devices": 2, "deepspeed_strategy": strategy}
    straight = tmp_path / "straight"
    out = subprocess.run(argv(opts(small, straight, **two)), env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = tmp_path / "run"
    kill_and_resume(opts(small, run, **two), run, at_least=3)
    assert_same_run(straight, run)
    if strategy != "none":
        assert (rundir.latest_resume_point(run) / "deepspeed").is_dir()
