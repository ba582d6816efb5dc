"""Parameters and Train tab handlers with a real tiny model, a real binidx and a real trainer process."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import gradio as gr
import pytest
import torch

from rwkv_simple_gui import paths, runner
from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.model import init_model, save_model
from rwkv_simple_gui.train import presets, rundir
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.ui import control, params_tab, train_tab
from tests.conftest import REPO_ROOT


@pytest.fixture
def trainable(project):
    """A project with a tiny base model and the sample data tokenized; the form values that train it fast."""
    save_model(init_model("x070", n_layer=2, n_embd=64, vocab_size=65536, head_size=32, seed=0),
               project / "model" / "tiny.pth", dtype=torch.float32)
    tokenize_file(project / "data" / "sample.jsonl", project / "data" / "sample")
    values = control.config_to_form(TrainConfig())
    values.update(params_tab.load_preset("demo-cpu"))
    values.update(model_path="model/tiny.pth", data_path="data/sample", epoch_count=2)
    yield project, values
    job = runner.current_job()
    if job:
        runner.stop(grace_s=5)
        for _ in range(100):
            if not runner.current_job():
                break
            time.sleep(0.1)


def wait_for_state(run_dir, states, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = rundir.read_status(run_dir) or {}
        if status.get("state") in states:
            return status
        time.sleep(0.3)
    log = (run_dir / "train.log").read_text(errors="replace") if (run_dir / "train.log").exists() else ""
    raise AssertionError(f"run never reached {states}: {status}\n{log[-3000:]}")


def test_form_validation_names_the_problem(trainable):
    project, values = trainable
    text = control.check(values)
    assert "Ready to train" in text and "x070" in text and "Estimated GPU memory" in text
    assert "24 documents" in text
    bad = {**values, "finetune_mode": "bat", "disha_r": 48}
    text = control.check(bad)
    assert "Fix before training" in text and "disha_r" in text
    assert "Estimated GPU memory" not in text  # no estimate of a model the trainer could not build
    text = control.check({**values, "ctx_len": "lots"})
    assert "ctx_len" in text and "int" in text


def test_a_bare_dataset_name_means_the_same_in_the_form_and_the_trainer(trainable):
    """data_path="sample" is data/sample for the live check, for Start and for the CLI's --dry-run alike."""
    project, values = trainable
    bare = {**values, "data_path": "sample", "model_path": "tiny.pth"}
    text = control.check(bare)
    assert "Ready to train" in text and "24 documents" in text, text
    prepared, problems = control.prepare_form(bare)
    assert problems == [] and prepared.config.data_path == str(project / "data" / "sample")
    assert prepared.config.model_path == str(project / "model" / "tiny.pth")
    cfg, _ = control.form_to_config(bare)
    (project / "bare.json").write_text(json.dumps(cfg.to_dict()))
    dry = subprocess.run([sys.executable, "-m", "rwkv_simple_gui", "train", "--config", str(project / "bare.json"),
                          "--dry-run"], capture_output=True, text=True, timeout=300, cwd=project / "model",
                         env=paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project)))
    out = json.loads(dry.stdout)
    assert dry.returncode == 0 and out["problems"] == []
    assert out["config"]["data_path"] == str(project / "data" / "sample")
    assert out["data_info"]["n_docs"] == 24


def test_every_checkpoint_option_is_a_file_picker(trainable):
    """Each option that names a checkpoint (state_load too) is a dropdown of the run checkpoints in output/."""
    project, _ = trainable
    run = project / "output" / "old-run"
    run.mkdir(parents=True)
    (run / "rwkv-0.pth").write_bytes(b"")
    pickers = control.file_options()
    loads = {f.name for f in TrainConfig.options() if f.name.endswith(("_load", "pissa_init"))}
    assert loads == {"lora_load", "pissa_load", "pissa_init", "disha_load", "state_load"} and loads <= set(pickers)
    assert pickers["state_load"]() == ["output/old-run/rwkv-0.pth"]
    with gr.Blocks():
        form = params_tab.build({})
    assert isinstance(form["options"]["state_load"], gr.Dropdown)
    assert form["options"]["state_load"].choices == [("output/old-run/rwkv-0.pth", "output/old-run/rwkv-0.pth")]


def test_fields_of_other_methods_hide(trainable):
    shown = params_tab.visibility("bone", "none", "pad", "qa")
    assert shown["disha_r"] and not shown["lora_r"] and not shown["pissa_init"]
    assert not shown["chunk_ctx"] and not shown["run_until_stopped"] and not shown["mask0"]
    assert shown["epoch_steps"]  # micro-batches per epoch, for every data mode (RWKV-PEFT's meaning)
    shown = params_tab.visibility("lora", "infctx", "get", "se")
    assert shown["lora_r"] and shown["chunk_ctx"] and shown["run_until_stopped"] and shown["mask1"]


def test_dataset_suggestions_come_from_its_stats(trainable):
    project, values = trainable
    info, err = control.dataset_info("data/sample")
    assert err is None and info.n_docs == 24
    s = control.suggestions(info)
    assert s["ctx_len"] % 16 == 0 and s["ctx_len"] >= info.max_doc_len
    assert 24 % s["micro_bsz"] == 0 and s["epoch_steps"] == "auto"  # the seed's formula: documents / micro_bsz


def test_presets_round_trip_and_builtins_set_only_their_options(trainable):
    project, values = trainable
    assert "demo-cpu" in presets.list_presets()
    saved = params_tab.save_preset("my run", {**values, "lora_r": 8})
    assert saved == "my_run" and "my_run" in presets.list_presets()
    assert params_tab.load_preset("my run")["lora_r"] == 8
    builtin = params_tab.load_preset("state-tuning")
    assert builtin["finetune_mode"] == "state_tuning" and "model_path" not in builtin
    with pytest.raises(gr.Error, match="No preset"):
        params_tab.load_preset("nope")


def test_exported_command_is_accepted_by_the_cli(trainable):
    project, values = trainable
    command, script, script_file = params_tab.export(values)
    assert command.startswith("python -m rwkv_simple_gui train ")
    assert "FINETUNE_MODE=lora" in script and open(script_file).read() == script
    args = shlex.split(command)[4:]
    out = subprocess.run([sys.executable, "-m", "rwkv_simple_gui", "train", *args, "--dry-run"],
                         capture_output=True, text=True, cwd=REPO_ROOT,
                         env={**os.environ, "RWKV_SIMPLE_GUI_HOME": str(project)})
    assert out.returncode == 0, out.stderr + out.stdout
    assert "lora" in out.stdout


def test_start_watch_stop_resume_a_real_run(trainable):
    project, values = trainable
    run = train_tab.start_training({**values, "epoch_count": 40})
    run_dir = project / run
    assert run.startswith("output/lora-")
    with pytest.raises(gr.Error, match="already running"):
        train_tab.start_training(values)
    wait_for_state(run_dir, ("running",))
    deadline = time.time() + 240
    while len(rundir.read_metrics(run_dir)) < 8 and time.time() < deadline:
        time.sleep(0.5)
    shown_run, status_md, progress, loss, log, monitor, log_file, samples = train_tab.poll(None)
    assert shown_run == run and "running" in status_md
    # the demo preset holds out a validation document and answers the data's first questions
    assert {"loss", "smoothed", "validation"} <= set(loss["series"]) and len(loss) >= 2 * 8
    assert "<td>base</td>" in samples and "User: " in samples
    assert "step" in progress and "CPU" in monitor and log_file is None  # the full log once the run is over

    assert "Stopping" in train_tab.stop_training()
    status = wait_for_state(run_dir, ("stopped",))
    stopped_at = status["step"]
    assert rundir.latest_checkpoint(run_dir) is not None and rundir.latest_resume_point(run_dir) is not None
    assert "stopped" in train_tab.status_markdown(run, status)
    assert train_tab.poll(run, follow=False)[6] == str(run_dir / "train.log")

    shown, message = train_tab.resume_training(run)
    assert shown == run and f"exact resume from {run}/resume/step-{stopped_at:08d}" in message, message
    wait_for_state(run_dir, ("running",))
    deadline = time.time() + 240
    while time.time() < deadline:
        metrics = rundir.read_metrics(run_dir)
        if metrics and metrics[-1]["step"] > stopped_at + 2:
            break
        time.sleep(0.5)
    steps = [m["step"] for m in rundir.read_metrics(run_dir)]
    assert steps == list(range(1, steps[-1] + 1)) and steps[-1] > stopped_at, \
        "the resumed run continues after the stopped step, without gaps or repeats"
    train_tab.stop_training()
    wait_for_state(run_dir, ("stopped",))
    table = train_tab.runs_table()
    assert table.iloc[0]["run"] == run and table.iloc[0]["state"] == "stopped"


def test_a_failed_run_is_explained(trainable):
    project, values = trainable
    # the check knows the device as the trainer will: on this CPU machine Start refuses op fla at once
    with pytest.raises(gr.Error, match="op fla needs a CUDA GPU; this machine trains on cpu"):
        train_tab.start_training({**values, "op": "fla"})
    # a run that fails in the trainer (started past the check) is explained from its status
    from rwkv_simple_gui.train.prepare import resolve_paths

    cfg, _ = control.form_to_config({**values, "op": "fla"})
    runner.start(resolve_paths(cfg).to_dict(), project / "output" / "fails")
    status = wait_for_state(project / "output" / "fails", ("failed",))
    text = train_tab.status_markdown("output/fails", status)
    assert "failed" in text and "CUDA" in text


def test_a_dead_trainer_shows_as_died(trainable):
    project, values = trainable
    run = train_tab.start_training({**values, "epoch_count": 40})
    wait_for_state(project / run, ("running",))
    job = runner.current_job()
    os.killpg(os.getpgid(job.pid), signal.SIGKILL)
    deadline = time.time() + 20
    while runner.current_job() and time.time() < deadline:
        time.sleep(0.1)
    status = rundir.read_status(project / run)
    assert "died" in train_tab.status_markdown(run, status)


def test_a_run_without_resume_points_continues_from_its_last_checkpoint(tmp_path):
    """A run folder of an older version (or one trained on several machines) has epoch checkpoints only: the
    resume loads the last one's weights at the start of the next epoch, and says so."""
    from rwkv_simple_gui.train.resume import resume_options

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"finetune_mode": "pissa", "epoch_count": 12, "model_info": {}}))
    with pytest.raises(ValueError, match="no checkpoint yet"):
        resume_options(run)
    for epoch in (0, 1, 10):
        (run / f"rwkv-{epoch}.pth").write_bytes(b"")
    plan = resume_options(run)
    assert plan.point is None and "no exact resume point" in plan.note and "rwkv-10.pth" in plan.note
    assert plan.options["pissa_load"].endswith("rwkv-10.pth") and plan.options["epoch_begin"] == 11
    assert plan.options["epoch_count"] == 1  # the epochs left to the run's end (epoch 11)
    assert plan.options["pissa_init"].endswith("init_pissa.pth") and "model_info" not in plan.options
    # a checkpoint written by a stop holds part of an epoch: that epoch is trained again
    checkpoint = {"file": "rwkv-10.pth", "epoch": 10, "partial": True}
    (run / "status.json").write_text(json.dumps({"checkpoints": [checkpoint]}))
    again = resume_options(run).options
    assert (again["epoch_begin"], again["epoch_count"]) == (10, 2)
    (run / "status.json").write_text(json.dumps({"checkpoints": [{"file": "rwkv-11.pth", "epoch": 11}]}))
    (run / "rwkv-11.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="is complete: its last epoch 11 is saved"):
        resume_options(run)
