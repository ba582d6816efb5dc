"""The memory estimate against RWKV-PEFT's published RWKV-7 figures, and its parameter count
against a real generated model."""

import pytest

from rwkv_simple_gui.estimate import GB, estimate_memory
from rwkv_simple_gui.model import ModelInfo

# RWKV-PEFT README, RTX 4090, bf16, deepspeed_stage_1, ctx 1024, micro_bsz 1, LoRA r 64 (GB).
PUBLISHED = {
    # (n_layer, n_embd): (state tuning, lora)
    (12, 768): (2.6, 2.7),
    (24, 1024): (3.1, 3.4),
    (24, 2048): (5.3, 5.6),
    (32, 2560): (8.2, 8.8),
}
BASE = dict(ctx_len=1024, micro_bsz=1, precision="bf16", grad_cp=1, train_parts=["time", "ln"])


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

    root = Path(__file__).resolve().parent.parent
    printed = subprocess.run([sys.executable, str(root / "bench" / "memory_table.py")], capture_output=True,
                             text=True, check=True).stdout
    readme = (root / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- memory-table (\w+) -->\n(.*?)\n<!-- /memory-table -->", readme, re.S)
    assert [lang for lang, _ in blocks] == ["en", "zh"]
    for lang, table in blocks:
        assert f"<!-- memory-table {lang} -->\n{table}\n<!-- /memory-table -->" in printed, (
            f"README's {lang} table is not the estimate's: paste what python bench/memory_table.py prints")
