"""The README's GPU-memory tables (English, Chinese): ``rwkv_simple_gui.estimate`` for each released model shape and
each method at its defaults, at bf16, ctx_len 1024, micro_bsz 1, grad_cp 1, on one GPU. Estimates, not
measurements: ``bench/gpu_check.py`` measures on a GPU.

    python bench/memory_table.py     # paste each block between the README's memory-table markers
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rwkv_simple_gui.model import ModelInfo  # noqa: E402
from rwkv_simple_gui.train.config import TrainConfig  # noqa: E402
from rwkv_simple_gui.train.estimate import GB, estimate_memory  # noqa: E402

MODELS = (("RWKV-7 0.1B", "x070", 12, 768), ("RWKV-7 0.4B", "x070", 24, 1024), ("RWKV-7 1.5B", "x070", 24, 2048),
          ("RWKV-7 2.9B", "x070", 32, 2560), ("RWKV-7 7.2B", "x070", 32, 4096), ("RWKV-7 13.3B", "x070", 61, 4096),
          ("RWKV-6 1.6B", "x060", 24, 2048), ("RWKV-6 3B", "x060", 32, 2560), ("RWKV-6 7B", "x060", 32, 4096),
          ("RWKV-6 14B", "x060", 61, 4096))
METHODS = (("state tuning", {"finetune_mode": "state_tuning"}),
           ("LoRA r64", {"finetune_mode": "lora", "lora_r": 64}),
           ("LoRA r64 + nf4", {"finetune_mode": "lora", "lora_r": 64, "quant": "nf4"}),
           ("PiSSA r64", {"finetune_mode": "pissa", "pissa_r": 64}),
           ("DiSHA bone r128", {"finetune_mode": "bone", "disha_r": 128}),
           ("LISA 2 layers", {"finetune_mode": "lisa", "lisa_r": 2}),
           ("full", {"finetune_mode": "full"}))
RUN = {"ctx_len": 1024, "micro_bsz": 1, "precision": "bf16", "grad_cp": 1, "train_parts": ["time", "ln"]}
HEAD = {"en": "| model (n_layer × n_embd) |", "zh": "| 模型（n_layer × n_embd）|"}
ZH_NAMES = {"LISA 2 layers": "LISA 2 层", "full": "全量"}


def memory_table(lang: str) -> str:
    names = [ZH_NAMES.get(name, name) if lang == "zh" else name for name, _ in METHODS]
    rows = [HEAD[lang] + "".join(f" {name} |" for name in names), "|---|" + "---:|" * len(METHODS)]
    base = {**TrainConfig().to_dict(), **RUN}
    for name, version, n_layer, n_embd in MODELS:
        info = ModelInfo.for_shape(version, n_layer, n_embd)
        sizes = [estimate_memory(info, {**base, **cfg}).total / GB for _, cfg in METHODS]
        rows.append(f"| {name} ({n_layer} × {n_embd}) |" + "".join(f" {gb:.1f} |" for gb in sizes))
    return "\n".join(rows)


if __name__ == "__main__":
    for lang in HEAD:
        print(f"<!-- memory-table {lang} -->\n{memory_table(lang)}\n<!-- /memory-table -->\n")
