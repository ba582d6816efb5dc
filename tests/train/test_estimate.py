"""The memory estimate against RWKV-PEFT's published RWKV-7 figures, and its parameter count
against a real generated model."""

import itertools

import pytest

from rwkv_simple_gui.model import ModelInfo
from rwkv_simple_gui.peft.methods import METHOD_NAMES
from rwkv_simple_gui.train.estimate import GB, estimate_memory

# RWKV-PEFT README, RTX 4090, bf16, deepspeed_stage_1, ctx 1024, micro_bsz 1, LoRA r 64 (GB).
PUBLISHED = {
    # (n_layer, n_embd): (state tuning, lora)
    (12, 768): (2.6, 2.7),
    (24, 1024): (3.1, 3.4),
    (24, 2048): (5.3, 5.6),
    (32, 2560): (8.2, 8.8),
}
# RWKV-PEFT trains a parameter for "time" when its name holds "time": RWKV-6's time_* do, RWKV-7's (w0, x_r, ...)
# do not, so its published RWKV-7 runs with train_parts time, ln trained the adapter and ln only, as ["ln"] does here
# (our "time" on RWKV-7 is every time-mix parameter: peft.base.part_matches).
BASE = dict(ctx_len=1024, micro_bsz=1, precision="bf16", grad_cp=1, train_parts=["ln"])


@pytest.mark.parametrize("shape", PUBLISHED)
def test_estimate_within_15_percent_of_published(shape):
    state_gb, lora_gb = PUBLISHED[shape]
    s = ModelInfo.for_shape("x070", *shape)
    lora = estimate_memory(s, {**BASE, "finetune_mode": "lora", "lora_r": 64}).total / GB
    state = estimate_memory(s, {**BASE, "finetune_mode": "state_tuning"}).total / GB
    assert abs(lora - lora_gb) / lora_gb < 0.15, (lora, lora_gb)
    assert abs(state - state_gb) / state_gb < 0.15, (state, state_gb)


def test_estimate_grows_with_context_and_batch_and_shrinks_with_quant():
    s = ModelInfo.for_shape("x070", 24, 2048)
    cfg = {**BASE, "finetune_mode": "lora", "lora_r": 64}
    base = estimate_memory(s, cfg).total
    assert estimate_memory(s, {**cfg, "ctx_len": 4096}).total > base
    assert estimate_memory(s, {**cfg, "micro_bsz": 4}).total > base
    assert estimate_memory(s, {**cfg, "grad_cp": 0}).total > base
    assert estimate_memory(s, {**cfg, "quant": "int8"}).total < base
    assert estimate_memory(s, {**cfg, "finetune_mode": "full"}).total > 3 * base


@pytest.mark.parametrize("version", ["x070", "x060"])
def test_parameter_count_matches_a_generated_model(version):
    from rwkv_simple_gui.model import init_model

    model = init_model(version, n_layer=2, n_embd=128, vocab_size=1024, head_size=64)
    real = sum(p.numel() for p in model.parameters())
    assert ModelInfo.for_shape(version, 2, 128, vocab_size=1024).n_params == real



def test_the_readme_tables_are_the_estimate():
    """The README's GPU-memory tables (en, zh) are what ``python bench/memory_table.py`` prints from the estimate."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run([sys.executable, str(root / "bench" / "memory_table.py")], capture_output=True,
                             text=True, check=True).stdout
    readme = (root / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- memory-table (\w+) -->\n(.*?)\n<!-- /memory-table -->", readme, re.S)
    assert [lang for lang, _ in blocks] == ["en", "zh"]
    for lang, table in blocks:
        assert f"<!-- memory-table {lang} -->\n{table}\n<!-- /memory-table -->" in printed, (
            f"README's {lang} table is not the estimate's: paste what python bench/memory_table.py prints")


# --- the trainable-parameter count is the trainer's ------------------------------------------------------

PARTS = ([], ["time", "ln"], ["emb", "head", "time", "ln"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from rwkv_simple_gui.model import init_model, save_model

    root = tmp_path_factory.mktemp("tiny")
    save_model(init_model("x070", 2, 64, vocab_size=256, head_size=32, seed=1), root / "tiny.pth")
    return root


def trainer_count(cfg, run_dir) -> int:
    """What the trainer trains at a time: its own model builder (train.step.build_model), and for LISA its
    largest draw (the draws differ: layer 0 of RWKV-7 has no value-residual parameters)."""
    import torch

    from rwkv_simple_gui import peft
    from rwkv_simple_gui.train.distributed import Dist
    from rwkv_simple_gui.train.rundir import Log
    from rwkv_simple_gui.train.step import build_model

    model = build_model(cfg, torch.device("cpu"), run_dir, Dist(), Log(run_dir / "train.log", enabled=False))
    if not peft.method(cfg.finetune_mode).redraws:
        return sum(p.numel() for p in peft.trainable_parameters(model).values())
    selector, counts = peft.LisaSelector(model, cfg.lisa_r, cfg.lisa_k, cfg.seed), []
    for draw in itertools.combinations(selector.layers, cfg.lisa_r):
        selector.load_state_dict({"active": list(draw), "rng": selector.rng.getstate()})
        counts.append(sum(p.numel() for p in peft.trainable_parameters(model).values()))
    return max(counts)


@pytest.mark.parametrize("parts", PARTS, ids=lambda p: "+".join(p) or "none")
@pytest.mark.parametrize("mode", METHOD_NAMES)
def test_estimate_counts_what_the_trainer_trains(tiny, tmp_path, mode, parts):
    from rwkv_simple_gui.model import detect
    from rwkv_simple_gui.train.config import TrainConfig
    from rwkv_simple_gui.train.estimate import trainable_params

    cfg = TrainConfig(model_path=str(tiny / "tiny.pth"), finetune_mode=mode, train_parts=parts, lora_r=8,
                      pissa_r=8, svd_niter=1, disha_r=16, lisa_r=1, lisa_k=3, precision="fp32")
    counted = trainable_params(detect(cfg.model_path), cfg)
    assert counted == trainer_count(cfg, tmp_path)


def test_dry_run_prints_the_count_its_estimate_uses(tiny, project):
    """RWKV-7's "time" part is every att/ffn parameter but the projections and ln_x: the old count (10·C per
    layer) was far too low."""
    import json

    from rwkv_simple_gui.model import detect
    from rwkv_simple_gui.train.config import TrainConfig
    from rwkv_simple_gui.train.estimate import trainable_params
    from tests.conftest import run_cli

    (project / "data").mkdir(exist_ok=True)
    run_cli(project, "tokenize", "data/sample.jsonl", "--out", "data/sample", check=True)
    out = run_cli(project, "train", "--model_path", str(tiny / "tiny.pth"), "--data_path", "data/sample",
                  "--finetune_mode", "lora", "--lora_r", "8", "--train_parts", "time", "ln", "--ctx_len", "64",
                  "--dry-run")
    printed = json.loads(out.stdout)["memory"]
    cfg = TrainConfig(model_path=str(tiny / "tiny.pth"), finetune_mode="lora", lora_r=8, train_parts=["time", "ln"])
    assert printed["trainable_params"] == trainable_params(detect(cfg.model_path), cfg) == trainer_count(cfg, project)
    info = detect(cfg.model_path)
    old_time_count = info.n_layer * 10 * info.n_embd
    lora_only = trainable_params(info, cfg.replace(train_parts=[]))
    assert printed["trainable_params"] - lora_only > 10 * old_time_count
