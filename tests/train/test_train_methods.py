"""Every fine-tuning method of the table, run by the real Trainer on a tiny generated RWKV-7 and a memorisable
dataset: the loss falls by half, the checkpoint has RWKV-PEFT's shapes, the adapted model reloads from base +
checkpoint, and a resumed run continues the step count and curve. (What each method's layer keeps, frozen
weights included, is tests/peft/test_method_contract.py.)"""

from __future__ import annotations

import json
import re

import pytest
import torch

from rwkv_simple_gui import peft
from rwkv_simple_gui.data.binidx import write_binidx
from rwkv_simple_gui.model import init_model, load_model, save_model
from rwkv_simple_gui.peft.methods import METHOD_NAMES
from rwkv_simple_gui.train import rundir
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.loop import train
from rwkv_simple_gui.train.rundir import METRIC_KEYS, read_metrics, read_status
from tests.conftest import learning_rate

N_LAYER, C, VOCAB, N_HEAD = 2, 64, 256, 1
PROJ = {"att.receptance": (C, C), "att.key": (C, C), "att.value": (C, C), "att.output": (C, C),
        "ffn.key": (4 * C, C), "ffn.value": (C, 4 * C)}
STEPS = 12


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny x070 (vocab 256) whose outputs are not all zero (as after RWKV-LM init) but sharp, as in a
    trained model; and 4 documents alternating two tokens, which a working method memorises quickly."""
    root = tmp_path_factory.mktemp("assets")
    model = init_model("x070", N_LAYER, C, vocab_size=VOCAB, seed=3)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("att.output.weight", "ffn.value.weight")):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
        model.ln_out.weight.fill_(4.0)
    save_model(model, root / "tiny.pth")
    docs = [[17, 99] * 16 + [0] for _ in range(4)]
    write_binidx(root / "memo", docs)
    return root


def config(assets, mode: str, **changes) -> TrainConfig:
    lr = learning_rate(peft.method(mode))
    base = dict(model_path=str(assets / "tiny.pth"), data_path=str(assets / "memo"), finetune_mode=mode,
                ctx_len=32, dataload="pad", loss_mask="none", micro_bsz=4, mini_bsz=1, epoch_count=STEPS,
                lr_init=lr, lr_final=lr, lr_schedule="constant", warmup_steps=0, precision="fp32",
                grad_cp=0, op="chunked", train_parts=[], lora_r=8, lora_alpha=16, lora_dropout=0.0, pissa_r=8,
                svd_niter=2, disha_r=16, lisa_r=1, lisa_k=3, seed=7, adam_eps=1e-8, epoch_save=STEPS)
    base.update(changes)
    return TrainConfig(**base)


def rwkv_peft_shapes(mode: str, base: dict) -> dict | None:
    """The checkpoint RWKV-PEFT writes for its methods (reference §2.10), derived from the model shape; None
    for a method RWKV-PEFT does not have."""
    if mode in ("full", "lisa"):
        return {k: tuple(v.shape) for k, v in base.items()}
    per_module = {"lora": lambda o, n: {".lora_A": (8, n), ".lora_B": (o, 8)},
                  "pissa": lambda o, n: {".lora_A": (8, n), ".lora_B": (o, 8)},
                  "bone": lambda o, n: {".disha": (16, o)},
                  "bat": lambda o, n: {".disha": (n // 16, 16, 16)}}
    if mode == "state_tuning":
        return {f"blocks.{i}.att.time_state": (N_HEAD, 64, 64) for i in range(N_LAYER)}
    if mode not in per_module:
        return None
    return {f"blocks.{i}.{m}{suffix}": shape for i in range(N_LAYER) for m, (o, n) in PROJ.items()
            for suffix, shape in per_module[mode](o, n).items()}


def dataset_loss(model, assets) -> float:
    x = torch.tensor([[17, 99] * 16], dtype=torch.long)
    with torch.no_grad():
        logits, _ = model(x[:, :-1])
    return float(torch.nn.functional.cross_entropy(logits[0], x[0, 1:]))


@pytest.mark.parametrize("mode", METHOD_NAMES)
def test_the_trainer_runs_every_method(assets, tmp_path, mode):
    run = tmp_path / "run"
    assert train(config(assets, mode), run) == "finished"
    status = read_status(run)
    assert status["state"] == "finished" and status["step"] == STEPS and status["total_steps"] == STEPS
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == list(range(1, STEPS + 1))
    assert all(set(METRIC_KEYS) <= set(m) for m in metrics)
    losses = [m["loss"] for m in metrics]
    assert min(losses[-3:]) < losses[0] / 2, losses

    base = torch.load(assets / "tiny.pth", weights_only=True)
    ckpt = torch.load(run / f"rwkv-{STEPS - 1}.pth", weights_only=True)
    if rwkv_peft_shapes(mode, base) is not None:
        assert {k: tuple(v.shape) for k, v in ckpt.items()} == rwkv_peft_shapes(mode, base)
    if mode == "pissa":
        init = torch.load(run / "init_pissa.pth", weights_only=True)
        assert set(init) == {f"model.{k[:-len('.lora_A')]}.init_lora_{ab}" for k in ckpt if k.endswith(".lora_A")
                             for ab in "AB"}

    # base + checkpoint rebuilds the trained model: it predicts the data as well as training ended
    model = peft.load_adapted_model(assets / "tiny.pth", run / f"rwkv-{STEPS - 1}.pth", rundir.read_options(run))
    assert dataset_loss(model, assets) < losses[0] / 2


def test_lisa_trains_only_the_drawn_layers(assets):
    """Between draws only the drawn layer's block weights (and the always-trained parts) change."""
    from rwkv_simple_gui.train.step import make_optimizer

    cfg = config(assets, "lisa")
    model = load_model(assets / "tiny.pth", op="chunked")
    peft.apply_peft(model, cfg)
    selector = peft.LisaSelector(model, 1, 100, seed=0)
    selector.update(0)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = make_optimizer(cfg, dict(model.named_parameters()), fused=False)
    x = torch.tensor([[17, 99] * 8])
    for _ in range(2):
        logits, _ = model(x[:, :-1])
        torch.nn.functional.cross_entropy(logits[0], x[0, 1:]).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    layer = selector.active[0]
    assert any(k.startswith(f"blocks.{layer}.att.key") for k in changed)
    assert not any(k.startswith(f"blocks.{1 - layer}.att.key") for k in changed)
    assert changed <= set(peft.trainable_parameters(model))


def test_train_parts_are_saved_with_the_adapter(assets, tmp_path):
    cfg = config(assets, "lora", epoch_count=1, epoch_save=1, train_parts=["ln", "time"])
    assert train(cfg, tmp_path / "run") == "finished"
    keys = set(torch.load(tmp_path / "run" / "rwkv-0.pth", weights_only=True))
    assert "ln_out.weight" in keys and "blocks.0.ln0.bias" in keys and "blocks.1.att.ln_x.weight" in keys
    assert "blocks.0.att.w0" in keys and "blocks.1.ffn.x_k" in keys  # v7 time-mix parameters
    assert not any(re.search(r"\.(receptance|key|value|output)\.weight$", k) for k in keys)
    assert "emb.weight" not in keys and "head.weight" not in keys


def test_resume_continues_step_count_and_loss_curve(assets, tmp_path):
    """3 epochs, then a resumed run to 6, equals one 6-epoch run: the first resumed loss is computed on the
    same weights as step 4 of the uninterrupted run."""
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert train(config(assets, "lora", epoch_count=6, epoch_save=1), whole) == "finished"
    assert train(config(assets, "lora", epoch_count=3, epoch_save=1), part) == "finished"
    # epoch_count counts the epochs after epoch_begin (RWKV-PEFT's meaning): epochs 3, 4 and 5
    resumed = config(assets, "lora", epoch_count=3, epoch_save=1, epoch_begin=3, lora_load=str(part / "rwkv-2.pth"))
    assert train(resumed, part) == "finished"
    m_whole, m_part = read_metrics(whole), read_metrics(part)
    assert [m["step"] for m in m_part] == [1, 2, 3, 4, 5, 6]
    assert all(m["total_steps"] == 6 for m in m_part[3:])
    assert m_part[3]["loss"] == pytest.approx(m_whole[3]["loss"], rel=1e-4)
    assert m_part[3]["loss"] < m_part[0]["loss"]
    status = read_status(part)
    assert status["state"] == "finished" and status["step"] == 6
    assert {c["file"] for c in status["checkpoints"]} >= {"rwkv-2.pth", "rwkv-5.pth"}
    config_json = json.loads((part / "config.json").read_text())
    assert config_json["epoch_begin"] == 3 and config_json["model_info"]["n_layer"] == N_LAYER


def test_pissa_resume_needs_and_uses_its_init(assets, tmp_path):
    first = tmp_path / "first"
    assert train(config(assets, "pissa", epoch_count=2, epoch_save=1), first) == "finished"
    again = config(assets, "pissa", epoch_count=2, epoch_save=1, epoch_begin=2,
                   pissa_load=str(first / "rwkv-1.pth"), pissa_init=str(first / "init_pissa.pth"))
    assert train(again, tmp_path / "second") == "finished"
    m_first, m_second = read_metrics(first), read_metrics(tmp_path / "second")
    assert m_second[0]["step"] == 3
    assert m_second[0]["loss"] < m_first[0]["loss"]
    # without the init file the run refuses to start, saying what to set
    bad = again.replace(pissa_init="")
    assert train(bad, tmp_path / "third") == "failed"
    assert "pissa_init" in read_status(tmp_path / "third")["error"]


def test_failed_run_reports_plain_error(assets, tmp_path):
    cfg = config(assets, "bat", disha_r=24)
    assert train(cfg, tmp_path / "run") == "failed"
    status = read_status(tmp_path / "run")
    assert status["state"] == "failed" and "disha_r=24 must divide n_embd=64" in status["error"]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "FAILED: Invalid settings: disha_r=24 must divide n_embd=64" in log and "Traceback" not in log


def test_infctx_carries_the_state_across_chunks(assets, tmp_path):
    """With chunk_ctx 16 the 32-token documents run as two chunks: the first loss (before any update) equals the
    whole-sequence loss only if the state flows from chunk to chunk; training still learns."""
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert train(config(assets, "lora", epoch_count=4), whole) == "finished"
    infctx = config(assets, "lora", epoch_count=4, train_type="infctx", chunk_ctx=16, grad_cp=1)
    assert train(infctx, chunked) == "finished"
    m_whole, m_chunked = read_metrics(whole), read_metrics(chunked)
    assert m_chunked[0]["loss"] == pytest.approx(m_whole[0]["loss"], rel=1e-5)
    assert m_chunked[-1]["loss"] < m_chunked[0]["loss"] / 2


def test_state_tuning_resumes_from_state_load(assets, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert train(config(assets, "state_tuning", epoch_count=2, epoch_save=1), first) == "finished"
    again = config(assets, "state_tuning", epoch_count=3, epoch_begin=2, state_load=str(first / "rwkv-1.pth"))
    assert train(again, second) == "finished"
    assert read_metrics(second)[0]["step"] == 3
    assert read_metrics(second)[0]["loss"] < read_metrics(first)[0]["loss"]


def test_get_mode_in_bf16(assets, tmp_path):
    """Random windows of the token stream, epoch = epoch_steps micro batches, bf16 autocast on CPU."""
    cfg = config(assets, "bone", dataload="get", epoch_steps=4, mini_bsz=2, micro_bsz=1, epoch_count=2,
                 run_until_stopped=0, precision="bf16", epoch_save=1)
    assert train(cfg, tmp_path / "run") == "finished"
    metrics = read_metrics(tmp_path / "run")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4] and metrics[-1]["epoch"] == 1
    assert all(m["tokens"] == 2 * 32 * m["step"] for m in metrics)
    assert metrics[-1]["loss"] < metrics[0]["loss"]
