"""The trainer as real processes: init-model -> tokenize -> train writes a complete run directory; SIGTERM
stops cleanly with a checkpoint; 2 ranks (torchrun, gloo on CPU) match 1 process."""

from __future__ import annotations

import json
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
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.rundir import METRIC_KEYS, list_runs, read_metrics, read_status
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


def cli(project: Path, *args: str, timeout: int = 240, **kw) -> subprocess.CompletedProcess:
    return run_cli(project, *args, timeout=timeout, **kw)


def test_init_tokenize_train_writes_a_complete_run_dir(project):
    out = cli(project, "init-model", "--version", "x070", "--n-layer", "2", "--n-embd", "64", "--dtype", "fp32",
              "--out", "model/tiny.pth")
    assert out.returncode == 0, out.stderr
    out = cli(project, "tokenize", "sample.jsonl", "--json")
    assert out.returncode == 0, out.stderr
    max_length = json.loads(out.stdout)["max_length"]
    out = cli(project, "train", "--model_path", "tiny.pth", "--data_path", "sample", "--finetune_mode", "lora",
              "--ctx_len", str(max_length), "--micro_bsz", "12", "--mini_bsz", "1", "--epoch_count", "2",
              "--lora_r", "8", "--lora_alpha", "16", "--precision", "fp32", "--grad_cp", "1", "--lr_init", "1e-3",
              "--lr_final", "1e-4", "--warmup_steps", "1", "--loss_mask", "qa", "--seed", "1")
    assert out.returncode == 0, out.stdout + out.stderr

    runs = list_runs(project / "output")
    assert len(runs) == 1 and runs[0]["name"].startswith("lora-")
    run = Path(runs[0]["path"])
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "command.txt", "train.log", "metrics.jsonl", "status.json", "rwkv-0.pth",
            "rwkv-1.pth"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    status = read_status(run)
    assert status["state"] == "finished" and status["exit_code"] == 0 and status["error"] is None
    assert status["step"] == status["total_steps"] == 4 and isinstance(status["pid"], int)
    assert [c["file"] for c in status["checkpoints"]] == ["rwkv-0.pth", "rwkv-1.pth"]
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    for m in metrics:
        assert set(m) == set(METRIC_KEYS)
        assert m["loss"] > 0 and m["lr"] > 0 and m["tokens"] > 0 and m["gpu_mem"] is None
    assert metrics[-1]["eta_s"] == 0 and metrics[-1]["tokens"] > metrics[0]["tokens"]
    config = json.loads((run / "config.json").read_text())
    assert config["model_info"]["n_embd"] == 64 and config["resolved"]["total_steps"] == 4
    assert TrainConfig.from_json(run / "config.json").ctx_len == max_length
    assert "train" in (run / "command.txt").read_text()
    assert "finished: 4 of 4 steps" in (run / "train.log").read_text()
    keys = torch.load(run / "rwkv-1.pth", weights_only=True)
    assert keys and all(k.endswith((".lora_A", ".lora_B", ".weight", ".bias")) or ".att." in k or ".ffn." in k
                        for k in keys)
    assert "blocks.1.ffn.value.lora_B" in keys and "blocks.1.ffn.value.weight" not in keys


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny vocab-256 model and 8 documents of 20-30 tokens (one 32-token window each)."""
    root = tmp_path_factory.mktemp("small")
    env = paths.child_env()
    subprocess.run([sys.executable, "-m", "rwkv_simple_gui", "init-model", "--version", "x070", "--n-layer", "2",
                    "--n-embd", "64", "--vocab", "256", "--dtype", "fp32", "--seed", "2", "--out",
                    str(root / "m.pth")], check=True, env=env, capture_output=True, timeout=120)
    write_binidx(root / "d", [[(7 * i + j) % 200 + 1 for j in range(20 + i)] + [0] for i in range(8)])
    return root


def train_args(small, run: Path, **opts) -> list[str]:
    base = {"model_path": small / "m.pth", "data_path": small / "d", "finetune_mode": "lora", "ctx_len": 32,
            "loss_mask": "none", "precision": "fp32", "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0,
            "lr_init": 1e-2, "lr_final": 1e-3, "warmup_steps": 0, "seed": 11, "proj_dir": run, "grad_cp": 0,
            "train_parts": "ln", "adam_eps": 1e-8}
    base.update(opts)
    return ["train", *[a for k, v in base.items() for a in (f"--{k}", str(v))]]


def test_sigterm_stops_after_the_step_and_saves(small, tmp_path):
    """Launched as the GUI does: own session, all output into train.log."""
    run = tmp_path / "run"
    run.mkdir()
    log = open(run / "train.log", "w")
    env = paths.child_env()
    proc = subprocess.Popen([sys.executable, "-m", "rwkv_simple_gui",
                             *train_args(small, run, epoch_count=500, micro_bsz=2, mini_bsz=1)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.time() + 120
        while len(read_metrics(run)) < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert read_status(run)["state"] == "running"
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    status = read_status(run)
    assert status["state"] == "stopped" and status["pid"] == proc.pid
    metrics = read_metrics(run)
    assert status["step"] == metrics[-1]["step"] < 500 * 4
    saved = status["checkpoints"][-1]
    assert saved["step"] == status["step"] and (run / saved["file"]).exists()
    assert any(k.endswith(".lora_A") for k in torch.load(run / saved["file"], weights_only=True))
    text = (run / "train.log").read_text()
    assert text.count("lora: ") == 1  # stdout already is train.log: each line written once
    assert "stopped at step" in text


@pytest.mark.parametrize("strategy, mode", [("deepspeed_stage_2", "lora"), ("deepspeed_stage_3", "lora"),
                                            ("none", "lora"), ("none", "pissa")])
def test_two_processes_match_one(small, tmp_path, strategy, mode):
    """2 ranks x micro_bsz 1 (torchrun, gloo; DeepSpeed ZeRO-2/3 or the plain all-reduce) vs 1 process x
    micro_bsz 2: same documents per step, the loss is token-weighted over both ranks. Agreement: loss rel 1e-5,
    checkpoint abs 1e-5.

    adam_eps is 1e-4 here: with RWKV's tiny eps, Adam turns a gradient that is zero up to float rounding
    (~1e-9, summed in another order by gloo) into a full lr-sized step of either sign, which would compare the
    rounding noise rather than the gradients.

    PiSSA's SVD runs once, on rank 0; the other rank must start from the same residual weights."""
    env = paths.child_env(OMP_NUM_THREADS="1")
    one, two = tmp_path / "one", tmp_path / "two"
    method = {"finetune_mode": mode, **({"pissa_r": 4} if mode == "pissa" else {})}
    for run, opts in ((one, {"micro_bsz": 2}), (two, {"micro_bsz": 1, "devices": 2, "deepspeed_strategy": strategy})):
        out = subprocess.run([sys.executable, "-m", "rwkv_simple_gui",
                              *train_args(small, run, epoch_count=2, mini_bsz=2, adam_eps=1e-4, **method, **opts)],
                             env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert_same_training(one, two)
    assert json.loads((two / "config.json").read_text())["resolved"]["world_size"] == 2
    assert (f"strategy: DeepSpeed ZeRO-{strategy[-1]} on 2 processes" in (two / "train.log").read_text()) == \
        (strategy != "none")


def assert_same_training(one: Path, two: Path) -> None:
    """Two finished runs of 4 steps agree: loss rel 1e-5 per step, same tokens, checkpoint abs 1e-5."""
    m1, m2 = read_metrics(one), read_metrics(two)
    assert [m["step"] for m in m1] == [m["step"] for m in m2] == [1, 2, 3, 4]
    for a, b in zip(m1, m2):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["tokens"] == a["tokens"]
    assert read_status(two)["state"] == "finished"
    c1 = torch.load(one / "rwkv-1.pth", weights_only=True)
    c2 = torch.load(two / "rwkv-1.pth", weights_only=True)
    assert c1.keys() == c2.keys()
    for k in c1:
        torch.testing.assert_close(c2[k], c1[k], rtol=0, atol=1e-5, msg=k)
