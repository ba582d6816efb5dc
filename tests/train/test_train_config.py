"""TrainConfig (metadata, JSON, CLI flags, training.sh, validation), the LR schedules and the train CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys

import pytest

from rwkv_simple_gui.model import ModelInfo
from rwkv_simple_gui.train import cli
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.prepare import check
from rwkv_simple_gui.train.schedule import learning_rate
from rwkv_simple_gui.train.seed_script import training_sh

SEED_OPTIONS = [  # training.sh variables (reference §1.1) that are options here, lower-cased
    "finetune_mode", "train_type", "wandb", "quant", "op", "model_path", "data_path", "ctx_len", "epoch_count",
    "epoch_steps", "epoch_save", "lr_init", "lr_final", "lr_schedule", "warmup_steps", "micro_bsz", "mini_bsz",
    "dataload", "loss_mask", "chunk_ctx", "data_shuffle", "deepspeed_strategy", "precision", "grad_cp",
    "epoch_begin", "beta1", "beta2", "adam_eps", "lora_load", "lora_r", "lora_alpha", "lora_dropout", "pissa_init",
    "pissa_load", "pissa_r", "svd_niter", "disha_load", "disha_r", "devices", "lisa_r", "lisa_k", "train_parts",
    "proj_dir", "seed", "weight_decay"]


def test_every_seed_option_has_complete_metadata():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(SEED_OPTIONS) <= names
    assert not {"n_layer", "n_embd", "vocab_size", "embd_size"} & names  # shape comes from the checkpoint
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        assert meta["label"] and len(meta["help"]) > 15 and meta["group"] and meta["help_key"] == f"train.{f.name}"
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if "choices" in meta:
            assert all(v in meta["choices"] for v in (default if isinstance(default, list) else [default]))
        if "min" in meta and isinstance(f.default, (int, float)):
            assert meta["min"] <= f.default <= meta["max"]
    assert "counted from epoch_begin" in TrainConfig.option("epoch_count").metadata["help"]
    assert "lines / MICRO_BSZ" not in TrainConfig.option("epoch_steps").metadata["help"]  # (the words are ours)
    assert TrainConfig().epoch_steps == "auto" and "auto" in TrainConfig.option("epoch_steps").metadata["help"]
    assert TrainConfig(finetune_mode="lora").applies("lora_r")
    assert not TrainConfig(finetune_mode="bone").applies("lora_r")


def test_json_round_trip_and_unknown_keys(tmp_path):
    cfg = TrainConfig(finetune_mode="lora", lora_r=16, train_parts=["ln"], lr_init=1e-4)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_json(path) == cfg
    with pytest.raises(ValueError, match=r"unknown option\(s\) lora_rank"):
        TrainConfig.from_dict({"lora_rank": 8})
    with pytest.raises(ValueError, match="option micro_bsz='two' should be a int"):
        TrainConfig.from_dict({"micro_bsz": "two"})
    path.write_text('{"ctx_len": 64,\n "oops"}')
    with pytest.raises(ValueError, match="run.json: not valid JSON at line 2"):
        TrainConfig.from_json(path)


def test_cli_flags_override_the_config_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"finetune_mode": "lora", "lora_r": 16, "ctx_len": 256}))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--config", str(path), "--lora_r", "32", "--train_parts", "emb", "ln"])
    cfg = cli.config_from_args(args)
    assert (cfg.finetune_mode, cfg.lora_r, cfg.ctx_len, cfg.train_parts) == ("lora", 32, 256, ["emb", "ln"])
    # to_cli_args is parsed back to the same config
    back = cli.config_from_args(parser.parse_args(cfg.to_cli_args()))
    assert back == cfg
    with pytest.raises(SystemExit):
        parser.parse_args(["--finetune_mode", "qlora"])


def test_training_sh_is_a_valid_script_with_every_option():
    script = training_sh(TrainConfig(finetune_mode="bat", data_path="data/my set"))
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    for f in dataclasses.fields(TrainConfig):
        var = "GPU_COUNT" if f.name == "devices" else f.name.upper()  # the seed's name
        assert f"\n{var}=" in script and f"--{f.name} " in script
    assert "DATA_PATH='my set'" in script  # a dataset in data/, as the seed's DATA_PATH


def info(**kw) -> ModelInfo:
    return ModelInfo.for_shape("x070", kw.pop("n_layer", 24), kw.pop("n_embd", 2048))


def test_validation_messages_say_what_to_change(tmp_path):
    model = tmp_path / "m.pth"
    model.write_bytes(b"x")
    (tmp_path / "d.bin").write_bytes(b"")
    (tmp_path / "d.idx").write_bytes(b"")
    ok = dict(model_path=str(model), data_path=str(tmp_path / "d"))
    assert check(TrainConfig(**ok), info()) == []
    problems = check(TrainConfig(**ok, finetune_mode="bat", disha_r=100), info())
    assert problems == ["disha_r=100 must divide n_embd=2048 for bat (try 64, 128 or 256)"]
    assert any("infctx needs dataload pad" in p for p in
               check(TrainConfig(**ok, train_type="infctx", dataload="get", loss_mask="none")))
    assert any("ctx_len=600 must be a multiple of 16" in p and "608" in p
               for p in check(TrainConfig(**ok, ctx_len=600)))
    assert any("lisa_r=30 is more than the model's 24 layers" in p
               for p in check(TrainConfig(**ok, finetune_mode="lisa", lisa_r=30), info()))
    assert any("quant int8 needs a CUDA GPU" in p for p in check(TrainConfig(**ok, quant="int8"), device="cpu"))
    assert any("epoch_begin=2 continues a run: set lora_load" in p
               for p in check(TrainConfig(**ok, finetune_mode="lora", epoch_begin=2)))
    missing = check(TrainConfig(model_path=str(tmp_path / "nope.pth"), data_path=""))
    assert any("model_path: model file" in p and "nope.pth" in p for p in missing)
    assert any("data_path is empty" in p for p in missing)
    assert any("micro_bsz=0 is too small" in p for p in check(TrainConfig(**ok, micro_bsz=0)))


@pytest.mark.parametrize("schedule", ["cos", "linear", "wsd", "constant"])
def test_schedules_warm_up_then_span_the_whole_run(schedule):
    total, warm, hi, lo = 100, 10, 1e-3, 1e-5
    lrs = [learning_rate(s, total, hi, lo, schedule, warm) for s in range(total)]
    assert lrs[0] == pytest.approx(hi / warm) and lrs[warm - 1] == pytest.approx(hi)
    assert lrs[warm] == pytest.approx(hi)
    if schedule == "constant":
        assert all(lr == hi for lr in lrs[warm:])
        return
    assert lrs[-1] == pytest.approx(lo)
    assert all(a >= b - 1e-15 for a, b in zip(lrs[warm:], lrs[warm + 1:]))  # never rises after warmup
    mid = lrs[(warm + total) // 2]
    expected_mid = {"cos": (hi + lo) / 2, "linear": (hi + lo) / 2, "wsd": hi}[schedule]
    assert mid == pytest.approx(expected_mid, rel=0.05)
    # cosine by its definition at a quarter of the decay
    if schedule == "cos":
        q = warm + (total - warm - 1) // 4
        p = (q - warm) / (total - warm - 1)
        assert lrs[q] == pytest.approx(lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * p)))


def test_cli_dry_run_prints_config_and_steps(tmp_path):
    from rwkv_simple_gui.data.binidx import write_binidx
    from rwkv_simple_gui.model import init_model, save_model

    save_model(init_model("x070", 2, 64, vocab_size=256), tmp_path / "m.pth")
    write_binidx(tmp_path / "d", [[1, 2, 3, 0]] * 10)
    cmd = [sys.executable, "-m", "rwkv_simple_gui", "train", "--model_path", str(tmp_path / "m.pth"), "--data_path",
           str(tmp_path / "d"), "--finetune_mode", "lora", "--micro_bsz", "2", "--mini_bsz", "2", "--epoch_count", "3",
           "--ctx_len", "32", "--dry-run"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["problems"] == [] and report["model_info"]["n_embd"] == 64
    # 10 documents, 2 per micro batch -> 5 micro batches, 2 per step -> 3 steps per epoch
    assert report["estimate"]["steps_per_epoch"] == 3 and report["estimate"]["total_steps"] == 9
    assert not list(tmp_path.glob("output*"))
    bad = subprocess.run(cmd[:-1] + ["--finetune_mode", "bat", "--disha_r", "24", "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "disha_r=24 must divide n_embd=64" in bad.stdout


def test_several_machines_validation(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    model = tmp_path / "m.pth"
    model.write_bytes(b"x")
    (tmp_path / "d.bin").write_bytes(b"")
    (tmp_path / "d.idx").write_bytes(b"")
    ok = dict(model_path=str(model), data_path=str(tmp_path / "d"), deepspeed_strategy="none")
    assert check(TrainConfig(**ok, num_nodes=2, node_rank=1, master_addr="10.0.0.5")) == []
    assert check(TrainConfig(**ok, num_nodes=2, node_rank=2)) == [
        "node_rank=2 must be below num_nodes=2: number the machines 0 .. 1 (0 on the main machine)"]
    assert check(TrainConfig(**ok, master_port=70000)) == ["master_port=70000 is too large: the maximum is 65535"]
    assert any("master_addr is empty" in p for p in check(TrainConfig(**ok, num_nodes=2, master_addr=" ")))
    quant = check(TrainConfig(**ok, finetune_mode="lora", quant="int8", num_nodes=2))
    assert any("quant is not supported with several processes" in p for p in quant)

    hosts = tmp_path / "hosts"
    hosts.write_text("worker-0 slots=2\nworker-1 slots 2\n")
    bad = check(TrainConfig(**ok, hostfile=str(hosts), num_nodes=2))
    assert any("hostfile and num_nodes > 1 are both set" in p for p in bad)
    assert any(f"hostfile {hosts} line 2: 'worker-1 slots 2' should be 'hostname slots=N'" in p for p in bad)
    hosts.write_text("worker-0 slots=2\nworker-1 slots=2\n")
    loopback = check(TrainConfig(**ok, hostfile=str(hosts)))
    assert any("set it to the address of worker-0, the first machine listed" in p for p in loopback)
    assert not any("master_addr" in p for p in check(TrainConfig(**ok, hostfile=str(hosts), master_addr="10.0.0.5")))
    assert any("cannot be read" in p for p in check(TrainConfig(**ok, hostfile=str(tmp_path / "nope"))))
    # 4 slots in the hostfile: quant refused even with devices 1
    assert any("quant is not supported" in p
               for p in check(TrainConfig(**ok, finetune_mode="lora", quant="int8", hostfile=str(hosts))))
    # a rank started on another machine does not read the hostfile (it may have no copy)
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert not any("hostfile" in p for p in check(TrainConfig(**ok, hostfile=str(tmp_path / "nope"))))


def test_a_bad_node_setting_stops_the_launcher_before_torchrun(tmp_path):
    from rwkv_simple_gui.data.binidx import write_binidx
    from rwkv_simple_gui.model import init_model, save_model

    save_model(init_model("x070", 2, 64, vocab_size=256), tmp_path / "m.pth")
    write_binidx(tmp_path / "d", [[1, 2, 3, 0]] * 10)
    base = [sys.executable, "-m", "rwkv_simple_gui", "train", "--model_path", str(tmp_path / "m.pth"), "--data_path",
            str(tmp_path / "d"), "--ctx_len", "32", "--num_nodes", "2", "--proj_dir", str(tmp_path / "run")]
    other = subprocess.run(base + ["--node_rank", "3"], capture_output=True, text=True, timeout=120)
    assert other.returncode == 2 and "node_rank=3 must be below num_nodes=2" in other.stderr
    assert not (tmp_path / "run").exists()
    main = subprocess.run(base + ["--hostfile", str(tmp_path / "nope")], capture_output=True, text=True, timeout=120)
    assert main.returncode == 2 and "hostfile and num_nodes > 1 are both set" in main.stderr
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and "cannot be read" in status["error"]
    dry = subprocess.run(base[:-2] + ["--devices", "2", "--deepspeed_strategy", "none", "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert json.loads(dry.stdout)["estimate"]["samples_per_step"] == 1 * 2 * 4  # micro x mini x 2 machines x 2 devices
