"""The seed's names mean what they mean in RWKV-PEFT (issue 21's audit, one test per row): EPOCH_COUNT counted
from EPOCH_BEGIN, EPOCH_STEPS micro-batches per epoch, get until stopped, LOSS_MASK none, DeepSpeed on one device,
every QUANT and OP value, a check that knows the device, state tuning on a base that does nothing, and runs and
presets saved before the change keep training what they trained."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.data.binidx import read_binidx, write_binidx
from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.model import init_model, save_model
from rwkv_simple_gui.train import loop, rundir
from rwkv_simple_gui.train.config import TrainConfig, migrate
from rwkv_simple_gui.train.data import EpochSampler, build_source, make_plan
from rwkv_simple_gui.train.device import DeviceFacts, Gpu
from rwkv_simple_gui.train.prepare import prepare
from tests.conftest import run_cli

QUICK = ["--finetune_mode", "lora", "--lora_r", "4", "--lora_alpha", "8", "--ctx_len", "112", "--precision", "fp32",
         "--grad_cp", "0", "--sample_tokens", "0", "--warmup_steps", "0", "--lr_init", "1e-2", "--lr_final", "1e-2",
         "--seed", "3", "--train_parts", "ln"]


@pytest.fixture
def tiny(project):
    """model/tiny.pth (perturbed: its blocks do something) and model/fresh.pth (a fresh init: att.output is zero),
    data/sample tokenized."""
    (project / "model").mkdir()
    save_model(init_model("x070", 2, 64, head_size=32, seed=0, perturb=0.05), project / "model" / "tiny.pth",
               dtype=torch.float32)
    save_model(init_model("x070", 2, 64, head_size=32, seed=0), project / "model" / "fresh.pth", dtype=torch.float32)
    tokenize_file(project / "data" / "sample.jsonl", project / "data" / "sample")
    return project


def dry_run(project, *args) -> dict:
    out = run_cli(project, "train", "--model_path", "tiny.pth", "--data_path", "sample", *QUICK, *args, "--dry-run")
    assert "Traceback" not in out.stderr, out.stderr
    return json.loads(out.stdout)


# --- EPOCH_COUNT / EPOCH_BEGIN ------------------------------------------------------------------------

def test_epoch_count_counts_the_epochs_after_epoch_begin(tiny):
    first = run_cli(tiny, "train", "--model_path", "tiny.pth", "--data_path", "sample", *QUICK, "--micro_bsz", "4",
                    "--mini_bsz", "2", "--epoch_count", "1", "--proj_dir", "first")
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (tiny / "output" / "first").glob("rwkv-*.pth")) == ["rwkv-0.pth"]
    args = ["--micro_bsz", "4", "--mini_bsz", "2", "--epoch_begin", "1", "--epoch_count", "2", "--lora_load",
            "first/rwkv-0.pth"]
    plan = dry_run(tiny, *args)["plan"]
    second = run_cli(tiny, "train", "--model_path", "tiny.pth", "--data_path", "sample", *QUICK, *args,
                     "--proj_dir", "second")
    assert second.returncode == 0, second.stderr
    run = tiny / "output" / "second"
    assert sorted(p.name for p in run.glob("rwkv-*.pth")) == ["rwkv-1.pth", "rwkv-2.pth"]
    # 24 documents / micro_bsz 4 = 6 micro-batches, 3 optimizer steps per epoch; epochs 1 and 2 are steps 4-9
    assert [m["step"] for m in rundir.read_metrics(run)] == list(range(4, 10))
    assert {m["epoch"] for m in rundir.read_metrics(run)} == {1, 2}
    resolved = json.loads((run / "config.json").read_text())["resolved"]
    assert (plan["first_epoch"], plan["last_epoch"], plan["steps_per_epoch"], plan["total_steps"]) == (1, 2, 3, 9)
    assert (resolved["steps_per_epoch"], resolved["total_steps"]) == (plan["steps_per_epoch"], plan["total_steps"])
    assert plan["checkpoints"] == ["rwkv-1.pth", "rwkv-2.pth"]


def test_epoch_begin_3_with_epoch_count_3_trains_three_more(tiny):
    report = dry_run(tiny, "--epoch_begin", "3", "--epoch_count", "3")
    assert (report["plan"]["first_epoch"], report["plan"]["last_epoch"]) == (3, 5)
    assert report["plan"]["steps_this_run"] == 3 * report["plan"]["steps_per_epoch"]
    assert not any("leaves nothing to do" in p for p in report["problems"])
    assert any("epoch_begin=3 continues a run: set lora_load" in p for p in report["problems"])


# --- EPOCH_STEPS / MINI_BSZ ---------------------------------------------------------------------------

def test_epoch_steps_is_micro_batches_per_epoch_with_an_auto_default(tmp_path):
    write_binidx(tmp_path / "d", [[i + 1] * 5 + [0] for i in range(10)])
    ds = read_binidx(tmp_path / "d")
    auto = make_plan(TrainConfig(micro_bsz=3, mini_bsz=2), 10, 1)
    assert (auto.micro_steps, auto.steps_per_epoch, auto.documents) == (4, 2, 10)  # ceil(10 / 3) micro-batches
    cfg = TrainConfig(epoch_steps="3", micro_bsz=2, mini_bsz=2, ctx_len=16, loss_mask="pad")
    plan = make_plan(cfg, 10, 1)
    assert (plan.micro_steps, plan.steps_per_epoch, plan.samples) == (3, 2, 6)
    sampler = EpochSampler(cfg, build_source(cfg, ds), plan, 0, seed=1)
    seen = {int(sampler.batch(e, m).x[i, 0]) - 1 for e in range(3) for m in range(3) for i in range(2)}
    assert seen == set(range(6))  # documents 0 .. epoch_steps x micro_bsz - 1, as RWKV-PEFT reads them
    two = make_plan(cfg.replace(epoch_steps="8", micro_bsz=1), 10, 2)  # the devices share an epoch
    assert (two.micro_steps, two.steps_per_epoch) == (4, 2)
    warned = prepare(cfg.replace(model_path="", data_path=str(tmp_path / "d")), device=None).warnings
    assert any("documents 6-9 of the 10 are never trained on" in w for w in warned)
    past = prepare(cfg.replace(data_path=str(tmp_path / "d"), epoch_steps="9"), device=None).warnings
    assert any("RWKV-PEFT would stop with an IndexError" in w for w in past)


# --- get runs until stopped ---------------------------------------------------------------------------

def test_get_runs_until_stopped_as_the_seeds_does(tiny):
    args = [sys.executable, "-m", "rwkv_simple_gui", "train", "--model_path", "tiny.pth", "--data_path", "sample",
            *QUICK, "--dataload", "get", "--loss_mask", "none", "--ctx_len", "32", "--epoch_steps", "2",
            "--micro_bsz", "1", "--mini_bsz", "1", "--epoch_count", "1"]
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(tiny))
    finite = subprocess.run(args + ["--run_until_stopped", "0", "--proj_dir", "finite"], cwd=tiny, env=env,
                            capture_output=True, text=True, timeout=300)
    assert finite.returncode == 0 and [m["step"] for m in rundir.read_metrics(tiny / "output" / "finite")] == [1, 2]
    proc = subprocess.Popen(args + ["--proj_dir", "endless"], cwd=tiny, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    run = tiny / "output" / "endless"
    try:
        deadline = time.time() + 240
        while len(rundir.read_metrics(run)) < 7 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.3)
        assert proc.poll() is None, "a get run stopped on its own after epoch_count"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rundir.read_status(run)["state"] == "stopped"
    steps = rundir.read_metrics(run)
    assert len(steps) >= 7 and all(m["lr"] == pytest.approx(1e-2) for m in steps)
    assert {"rwkv-0.pth", "rwkv-1.pth", "rwkv-2.pth"} <= {p.name for p in run.glob("rwkv-*.pth")}


# --- LOSS_MASK none -----------------------------------------------------------------------------------

def test_loss_mask_none_learns_the_pad_window(tiny, tmp_path):
    write_binidx(tmp_path / "d", [[5] * 10 + [0], [6] * 40 + [0], [7] * 3 + [0]])
    ds = read_binidx(tmp_path / "d")
    none = build_source(TrainConfig(ctx_len=32, loss_mask="none"), ds).batch([0, 2])
    pad = build_source(TrainConfig(ctx_len=32, loss_mask="pad"), ds).batch([0, 2])
    assert none.w.sum(1).tolist() == [32, 32] and pad.w.sum(1).tolist() == [10, 3]
    # RWKV-PEFT's pad read: from the document's start on into the next ones, and past the end into the first
    assert none.x[0].tolist() == [5] * 10 + [0] + [6] * 21 and none.y[0, 10:].tolist() == [6] * 22
    assert none.x[1].tolist() == [7] * 3 + [0] + [5] * 10 + [0] + [6] * 17
    losses = {}
    for mask in ("none", "pad"):
        cfg = TrainConfig(model_path=str(tiny / "model" / "tiny.pth"), data_path=str(tiny / "data" / "sample"),
                          finetune_mode="lora", lora_r=4, lora_alpha=8, ctx_len=112, precision="fp32", grad_cp=0,
                          sample_tokens=0, seed=3, epoch_steps="2", epoch_count=1, mini_bsz=2, loss_mask=mask,
                          data_shuffle=0)
        assert loop.train(cfg, tiny / "output" / mask) == "finished"
        losses[mask] = rundir.read_metrics(tiny / "output" / mask)[0]["loss"]
    assert abs(losses["none"] - losses["pad"]) > 1e-3, losses


# --- DeepSpeed on one device --------------------------------------------------------------------------

def test_deepspeed_stage_2_offload_runs_in_one_process_and_matches_plain(tiny):
    losses = {}
    for strategy in ("none", "deepspeed_stage_2_offload"):
        out = run_cli(tiny, "train", "--model_path", "tiny.pth", "--data_path", "sample", *QUICK, "--micro_bsz", "4",
                      "--mini_bsz", "2", "--epoch_count", "1", "--deepspeed_strategy", strategy, "--proj_dir", strategy,
                      timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        log = (tiny / "output" / strategy / "train.log").read_text()
        losses[strategy] = rundir.read_metrics(tiny / "output" / strategy)[-1]["loss"]
    assert "strategy: DeepSpeed ZeRO-2 offload in one process" in log
    assert losses["deepspeed_stage_2_offload"] == pytest.approx(losses["none"], abs=1e-3)
    plain = dry_run(tiny, "--deepspeed_strategy", "deepspeed_stage_2")
    assert any("deepspeed_stage_2 on one device partitions nothing, so it runs without DeepSpeed" in w
               for w in plain["warnings"])


# --- QUANT and OP: every seed value -------------------------------------------------------------------

def test_every_seed_quant_and_op_value_is_accepted_and_checked_for_this_machine(tiny):
    report = dry_run(tiny, "--quant", "4bit", "--op", "triton")  # were "invalid choice"
    assert report["config"]["quant"] == "4bit" and report["config"]["op"] == "triton"
    base = TrainConfig(model_path=str(tiny / "model" / "tiny.pth"), data_path=str(tiny / "data" / "sample"),
                       finetune_mode="lora", lora_r=8, precision="fp32")
    for quant in ("none", "4bit", "nf4", "fp4", "int8", "fp8"):
        problems = prepare(base.replace(quant=quant)).problems  # the device as the trainer finds it: this CPU
        cuda_only = [p for p in problems if f"quant {quant} needs a CUDA GPU" in p]
        assert bool(cuda_only) == (quant not in ("none", "fp8")), quant
    for op in ("cuda", "fla", "triton"):
        assert any(p.startswith(f"op {op}") and "needs a CUDA GPU" in p for p in prepare(base.replace(op=op)).problems)
    from rwkv_simple_gui.model.ops import OPS, resolve_op
    from rwkv_simple_gui.peft.quant import KINDS

    with pytest.raises(RuntimeError, match="'cuda' .*needs a CUDA device"):
        resolve_op("cuda", "cpu")
    assert TrainConfig.option("op").metadata["choices"] == OPS  # the option offers what the ops take
    assert TrainConfig.option("quant").metadata["choices"] == ("none", *KINDS)


def test_fp8_is_a_float8_e4m3fn_cast_and_trains_on_cpu(tiny):
    from rwkv_simple_gui.peft.lora import LoraLinear
    from rwkv_simple_gui.peft.quant import quantize_model

    torch.manual_seed(0)
    base = torch.nn.Linear(64, 32, bias=False)
    layer = LoraLinear(base, 4, 8.0)
    holder = torch.nn.Sequential(layer)
    x = torch.randn(2, 3, 64) * 300  # some inputs beyond fp8's 448 after scaling
    w8 = base.weight.detach().to(torch.float8_e4m3fn)
    assert quantize_model(holder, "fp8") == 1
    xq = x.clamp(-448, 448).to(torch.float8_e4m3fn).float()
    expected = xq @ w8.float().t() + layer.scale * (x @ layer.lora_A.t() @ layer.lora_B.t())
    assert torch.allclose(layer(x), expected, atol=1e-4)
    x.requires_grad_(True)
    layer(x).sum().backward()  # the input's gradient comes from the weight in bf16, as RWKV-PEFT's backward
    ones = torch.ones(2, 3, 32, dtype=torch.bfloat16)
    assert torch.allclose(x.grad, (ones @ w8.to(torch.bfloat16)).float(), atol=1e-6)
    cfg = TrainConfig(model_path=str(tiny / "model" / "tiny.pth"), data_path=str(tiny / "data" / "sample"),
                      finetune_mode="lora", lora_r=4, lora_alpha=8, ctx_len=112, precision="fp32", grad_cp=0,
                      sample_tokens=0, seed=3, epoch_steps="2", epoch_count=1, quant="fp8", mini_bsz=1)
    assert loop.train(cfg, tiny / "output" / "fp8") == "finished"
    assert re.search(r"quantized [1-9]\d* frozen linears to fp8", (tiny / "output" / "fp8" / "train.log").read_text())
    assert all(np.isfinite(m["loss"]) for m in rundir.read_metrics(tiny / "output" / "fp8"))
    # the merge (quant from the run's config.json) folds into the base weights as the run saw them: fp8-rounded
    from rwkv_simple_gui.merge import merge

    ckpt = torch.load(tiny / "output" / "fp8" / "rwkv-0.pth", weights_only=True)
    merge(tiny / "model" / "tiny.pth", tiny / "output" / "fp8" / "rwkv-0.pth", tiny / "merge" / "m.pth", dtype="fp32")
    merged = torch.load(tiny / "merge" / "m.pth", weights_only=True)
    base = torch.load(tiny / "model" / "tiny.pth", weights_only=True)
    key = "blocks.0.att.key"
    a, b = ckpt[f"{key}.lora_A"].float(), ckpt[f"{key}.lora_B"].float()
    fp8_base = base[f"{key}.weight"].to(torch.float8_e4m3fn).float()
    assert torch.allclose(merged[f"{key}.weight"], fp8_base + 2.0 * b @ a, atol=1e-6)  # alpha 8 / r 4


# --- the GUI's check knows the device -----------------------------------------------------------------

def test_the_live_check_knows_the_device_as_the_trainer_will(tiny, monkeypatch):
    from rwkv_simple_gui.train import device
    from rwkv_simple_gui.ui import control

    values = control.config_to_form(TrainConfig(model_path="model/tiny.pth", data_path="data/sample",
                                                finetune_mode="lora", lora_r=8, precision="fp32"))
    shown = control.check({**values, "quant": "nf4"})
    assert "🖥️ Trains on CPU" in shown and "quant nf4 needs a CUDA GPU" in shown and "✅ Ready" not in shown
    shown = control.check({**values, "op": "fla"})
    assert "op fla needs a CUDA GPU" in shown and "✅ Ready" not in shown
    assert "✅ Ready" in control.check(values)
    small = DeviceFacts("cuda", (Gpu("NVIDIA GeForce GTX 1080", 8.0, 0.01, False),))
    monkeypatch.setattr(device, "detect", lambda: small)
    shown = control.check({**values, "precision": "bf16", "devices": 2})
    assert "Trains on GPU 0: NVIDIA GeForce GTX 1080, 0.0 of 8.0 GB free" in shown
    assert "devices=2 but this machine has 1 GPU(s)" in shown
    assert "GTX 1080 has no bf16" in shown and "is more than the 0.0 GB free on NVIDIA GeForce GTX 1080" in shown


# --- state tuning on a base whose blocks do nothing ---------------------------------------------------

def test_state_tuning_on_a_base_whose_blocks_do_nothing_is_refused(tiny):
    refused = dry_run(tiny, "--finetune_mode", "state_tuning", "--model_path", "fresh.pth")
    assert any("state tuning cannot learn on this base model: its blocks do nothing" in p
               for p in refused["problems"])
    fine = dry_run(tiny, "--finetune_mode", "state_tuning")
    assert not any("blocks do nothing" in p for p in fine["problems"]) and fine["problems"] == []


# --- what was saved before keeps training what it trained ---------------------------------------------

def test_runs_and_presets_saved_before_are_migrated(tiny):
    from rwkv_simple_gui.train.resume import resume_options
    from rwkv_simple_gui.ui import params_tab

    old = {"model_path": str(tiny / "model" / "tiny.pth"), "data_path": str(tiny / "data" / "sample"),
           "finetune_mode": "lora", "epoch_begin": 2, "epoch_count": 5, "epoch_steps": 1000, "loss_mask": "none",
           "dataload": "pad", "lora_r": 4, "lora_alpha": 8, "model_info": {}, "resolved": {}}
    run = tiny / "output" / "old"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(old))
    notes = []
    options = rundir.read_options(run, notes)
    assert (options["epoch_begin"], options["epoch_count"], options["epoch_steps"], options["loss_mask"]) == \
        (2, 3, "auto", "pad")
    assert "saved before options_version 2" in notes[0] and any(n.startswith("epoch_count 5 -> 3") for n in notes)
    torch.save({}, run / "rwkv-3.pth")
    (run / "status.json").write_text(json.dumps({"checkpoints": [{"file": "rwkv-3.pth", "epoch": 3, "step": 4}]}))
    plan = resume_options(run)
    assert (plan.options["epoch_begin"], plan.options["epoch_count"]) == (4, 1)  # epochs 2-4 then, 4 is left
    assert "epoch_count 5 -> 3" in plan.note
    # a get run on 2 processes: epoch_steps counted per process then, and it stopped after its epochs
    get = {"dataload": "get", "devices": 2, "epoch_steps": 500, "epoch_count": 2, "loss_mask": "none"}
    (tiny / "presets").mkdir()
    (tiny / "presets" / "old-get.json").write_text(json.dumps(get))
    form = params_tab.load_preset("old-get")
    assert (form["epoch_steps"], form["run_until_stopped"], form["loss_mask"]) == ("1000", 0, "pad")
    out = run_cli(tiny, "train", "--config", "presets/old-get.json", "--model_path", "tiny.pth", "--data_path",
                  "sample", "--dry-run")
    report = json.loads(out.stdout)
    assert report["config"]["epoch_steps"] == "1000" and "saved before options_version 2" in report["notes"][0]
    assert report["plan"]["micro_steps_per_epoch"] == 500  # per process, as before
    saved = json.loads(json.dumps(TrainConfig().to_dict()))
    assert saved["options_version"] == 2 and migrate(saved) == ({k: v for k, v in saved.items()
                                                                 if k != "options_version"}, [])
