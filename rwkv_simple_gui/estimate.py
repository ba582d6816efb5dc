"""A rough GPU-memory estimate for a fine-tuning run, shown next to the parameters.

    total = weights + trainable state + activations + logits + runtime

* weights: every base parameter at its storage size (bf16/fp16 2 bytes, fp32 4; int8 1, nf4/fp4 0.5
  plus per-block scales);
* trainable state: each trained parameter holds the weight, its gradient, an fp32 master copy and the
  two fp32 AdamW moments (16 bytes in bf16/fp16, 16 in fp32 as well: 4+4+4+4);
* activations: with grad_cp each block keeps its input (B·T·C) and one block at a time is recomputed
  (about 20·B·T·C values at peak); without it every block keeps about 34·B·T·C values;
* logits: B·T·V values in the compute dtype, plus fp32 log-softmax and its gradient (10 bytes each);
* runtime: the CUDA context, allocator slack and kernels' workspace, a constant 1.4 GB.

The constants were calibrated on RWKV-PEFT's published RWKV-7 figures (RTX 4090, bf16, ctx 1024,
micro_bsz 1, LoRA r 64): 0.1B 2.7 GB, 0.4B 3.4, 1.5B 5.6, 3B 8.8; `tests/test_estimate.py` holds the
estimate to within 15 % of them (and of the state-tuning column). Treat the figure as a guide, not a promise.

``python bench/memory_table.py`` prints the README's table of model size x method from this estimate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .peft.methods import method
from .train.config import TrainConfig

GB = 1024**3
RUNTIME_BYTES = 1.4 * GB
WEIGHT_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
# bytes per quantized weight (with bitsandbytes' per-block scales); 4bit is bitsandbytes' default 4-bit type, fp4
QUANT_BYTES = {"int8": 1.0 + 4 / 256, "nf4": 0.5 + 4 / 64, "fp4": 0.5 + 4 / 64, "4bit": 0.5 + 4 / 64, "fp8": 1.0}
TRAINABLE_BYTES = 16.0
LOGIT_BYTES_EXTRA = 8.0  # fp32 log-softmax and its gradient, on top of the logits themselves


@functools.lru_cache(maxsize=32)
def _adapted_linears(info_key: tuple) -> tuple[tuple[int, int], ...]:
    """(in, out) of every projection PEFT adapts, read off the model built on the meta device."""
    import torch

    from .model import RWKV, ModelInfo
    from .peft.base import target_linears

    version, n_layer, n_embd, head_size, vocab_size, dim_ffn, lora = info_key
    info = ModelInfo(version, n_layer, n_embd, head_size, vocab_size, dim_ffn, dict(lora))
    with torch.device("meta"):
        model = RWKV(info)
    return tuple((lin.in_features, lin.out_features) for _, lin in target_linears(model))


def adapted_linears(info) -> tuple[tuple[int, int], ...]:
    return _adapted_linears((info.version, info.n_layer, info.n_embd, info.head_size, info.vocab_size,
                             info.dim_ffn, tuple(sorted(info.lora.items()))))


def trainable_params(info, cfg: dict) -> int:
    """Parameters the optimizer updates for this method (adapter plus train_parts)."""
    row = method(cfg.get("finetune_mode", "lora"))
    count = row.count_trainable(adapted_linears(info), info, {**TrainConfig().to_dict(), **cfg})
    if "train_parts" not in row.options:
        return count
    parts = cfg.get("train_parts") or []
    c, v, layers = info.n_embd, info.vocab_size, info.n_layer
    extra = (v * c if "emb" in parts else 0) + (v * c if "head" in parts else 0)
    extra += layers * (10 * c if "time" in parts else 0) + layers * (6 * c if "ln" in parts else 0)
    return count + extra


CPU_NOTE = ("This machine has no CUDA GPU: the figure is what the run needs on a GPU. On this CPU it trains in RAM, "
            "slowly; fine for the demo model.")


@functools.lru_cache(maxsize=1)
def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass
class Estimate:
    parts: dict[str, float]  # bytes

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def as_markdown(self) -> str:
        rows = "".join(f"| {name} | {size / GB:.2f} GB |\n" for name, size in self.parts.items())
        text = f"**Estimated GPU memory: {self.total / GB:.1f} GB**\n\n| part | size |\n|---|---|\n{rows}"
        return text if has_cuda() else f"{text}\nℹ️ {CPU_NOTE}"


def estimate_memory(info, cfg: dict) -> Estimate:
    """The estimate for model ``info`` (``model.ModelInfo``: what ``detect`` read, or ``for_shape``) trained
    with the options ``cfg``."""
    precision = cfg.get("precision", "bf16")
    act_bytes = WEIGHT_BYTES[precision]
    quant = cfg.get("quant", "none")
    n_params = info.n_params
    embed_head = 2 * info.vocab_size * info.n_embd
    if quant in QUANT_BYTES:
        weights = embed_head * act_bytes + (n_params - embed_head) * QUANT_BYTES[quant]
    else:
        weights = n_params * act_bytes
    b = int(cfg.get("micro_bsz", 1))
    t = int(cfg.get("chunk_ctx", 512)) if cfg.get("train_type") == "infctx" else int(cfg.get("ctx_len", 1024))
    tokens = b * t
    if int(cfg.get("grad_cp", 1)):
        activations = (info.n_layer + 20) * tokens * info.n_embd * act_bytes
    else:
        activations = 34 * info.n_layer * tokens * info.n_embd * act_bytes
    logits = tokens * info.vocab_size * (act_bytes + LOGIT_BYTES_EXTRA)
    devices = max(1, int(cfg.get("devices", 1)))
    trainable = trainable_params(info, cfg) * TRAINABLE_BYTES
    if devices > 1 and "stage_1" not in cfg.get("deepspeed_strategy", "deepspeed_stage_1"):
        trainable /= devices  # ZeRO 2/3 shard gradients and optimizer state
    return Estimate({
        "base weights": weights,
        "trained parameters + AdamW state": trainable,
        "activations": activations,
        "logits and loss": logits,
        "CUDA runtime": RUNTIME_BYTES,
    })

