"""Faults a user will cause: the GUI killed during training, the trainer killed while it writes a checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch
from gradio_client import Client

from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.model import init_model, save_model
from rwkv_simple_gui.train import rundir
from rwkv_simple_gui.ui import params_tab
from tests.conftest import REPO_ROOT, start_app, stop_app


def prepare(project, n_embd=64):
    save_model(init_model("x070", n_layer=2, n_embd=n_embd, vocab_size=65536, head_size=32, seed=0),
               project / "model" / "tiny.pth", dtype=torch.float32)
    tokenize_file(project / "data" / "sample.jsonl", project / "data" / "sample")
    values = params_tab.config_to_form(params_tab.TrainConfig())
    values.update(params_tab.load_preset("demo-cpu"))
    values.update(model_path="model/tiny.pth", data_path="data/sample")
    return values


def current_job(project) -> dict:
    return json.loads((project / "output" / ".current.json").read_text())


def test_killing_the_gui_never_stops_the_run_and_a_new_gui_reattaches(project):
    values = prepare(project)
    values["epoch_count"] = 60
    proc, port, _ = start_app(project)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        run = client.predict(*[values[n] for n in params_tab.option_names()], api_name="/start_training")
        job = current_job(project)
        run_dir = project / run
        deadline = time.time() + 120
        while len(rundir.read_metrics(run_dir)) < 3 and time.time() < deadline:
            time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        steps_at_kill = len(rundir.read_metrics(run_dir))
        deadline = time.time() + 120
        while len(rundir.read_metrics(run_dir)) < steps_at_kill + 3 and time.time() < deadline:
            time.sleep(0.3)
        assert len(rundir.read_metrics(run_dir)) >= steps_at_kill + 3, "training went on without the GUI"
        os.kill(job["pid"], 0)  # still alive

        proc, port, _ = start_app(project)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        shown_run, status, *_ = client.predict(None, True, api_name="/poll_training")
        assert shown_run == run and "running" in status
        assert "Stopping" in client.predict(api_name="/stop_training")
        deadline = time.time() + 120
        while (rundir.read_status(run_dir) or {}).get("state") != "stopped" and time.time() < deadline:
            time.sleep(0.3)
        assert rundir.read_status(run_dir)["state"] == "stopped"
    finally:
        stop_app(proc)


def test_a_kill_during_a_checkpoint_write_leaves_the_last_good_checkpoint(project):
    """Full fine-tuning writes the whole model at every epoch: kill -9 the trainer while the second
    checkpoint is being written; the first one still loads and no half-written rwkv-1.pth appears."""
    prepare(project, n_embd=256)
    run_dir = project / "output" / "faulty"
    args = [sys.executable, "-m", "rwkv_simple_gui", "train", "--model_path", "model/tiny.pth",
            "--data_path", "data/sample", "--finetune_mode", "full", "--ctx_len", "112", "--micro_bsz", "8",
            "--epoch_count", "6", "--lr_init", "1e-4", "--lr_final", "1e-4", "--precision", "fp32",
            "--proj_dir", str(run_dir)]
    env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": str(project)}
    trainer = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    killed_during_write = False
    try:
        deadline = time.time() + 240
        while time.time() < deadline and trainer.poll() is None:
            if (run_dir / "rwkv-0.pth").exists() and list(run_dir.glob(".rwkv-1.pth.*")):
                os.killpg(trainer.pid, signal.SIGKILL)
                killed_during_write = True
                break
            time.sleep(0.002)
    finally:
        if trainer.poll() is None:
            os.killpg(trainer.pid, signal.SIGKILL)
        trainer.wait()
    assert killed_during_write, "the trainer never wrote a second checkpoint"
    assert not (run_dir / "rwkv-1.pth").exists()
    good = torch.load(run_dir / "rwkv-0.pth", map_location="cpu", weights_only=True, mmap=True)
    assert "emb.weight" in good and good["emb.weight"].shape == (65536, 256)
    from rwkv_simple_gui.train import rundir

    assert rundir.latest_checkpoint(run_dir).name == "rwkv-0.pth"
