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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GB = 1024**3
RUNTIME_BYTES = 1.4 * GB
WEIGHT_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
QUANT_BYTES = {"int8": 1.0 + 4 / 256, "nf4": 0.5 + 4 / 64, "fp4": 0.5 + 4 / 64}
TRAINABLE_BYTES = 16.0
LOGIT_BYTES_EXTRA = 8.0  # fp32 log-softmax and its gradient, on top of the logits themselves


@dataclass(frozen=True)
class Shape:
    version: str
    n_layer: int
    n_embd: int
    vocab_size: int = 65536
    head_size: int = 64

    @property
    def dim_ffn(self) -> int:
        return 4 * self.n_embd if self.version == "x070" else int(3.5 * self.n_embd) // 32 * 32

    def linears(self) -> list[tuple[int, int]]:
        """(in, out) of the projections PEFT adapts in one block."""
        c, f = self.n_embd, self.dim_ffn
        att = [(c, c)] * (4 if self.version == "x070" else 5)
        ffn = [(c, f), (f, c)] + ([] if self.version == "x070" else [(c, c)])
        return att + ffn

    def lora_widths(self) -> tuple[int, int, int, int]:
        def width(factor: float) -> int:
            return max(32, round(factor * math.sqrt(self.n_embd) / 32) * 32)

        return width(2.5), width(2.5), width(1.7), width(5.0)

    def block_params(self) -> int:
        c = self.n_embd
        linear = sum(i * o for i, o in self.linears())
        if self.version == "x070":
            dw, da, dv, dg = self.lora_widths()
            small = 6 * c + 3 * c + 2 * c * (dw + da + dv + dg) + 3 * c + 2 * c + c + 4 * c
        else:
            small = 6 * c + c * 160 + 160 * c + c + 2 * c * 64 + c + 2 * c + 2 * c + 4 * c
        return linear + small

    def n_params(self) -> int:
        c = self.n_embd
        total = 2 * self.vocab_size * c + self.n_layer * self.block_params() + 2 * c + 2 * c  # + ln0, ln_out
        if self.version == "x070":
            total -= c + 2 * c * self.lora_widths()[2]  # layer 0 has no value-residual v0/v1/v2
        return total


def trainable_params(shape: Shape, cfg: dict) -> int:
    """Parameters the optimizer updates for this method (adapter plus train_parts)."""
    mode = cfg.get("finetune_mode", "lora")
    c, v, layers = shape.n_embd, shape.vocab_size, shape.n_layer
    linears = shape.linears()
    if mode in ("lora", "pissa"):
        r = int(cfg.get("lora_r" if mode == "lora" else "pissa_r", 64))
        per_block = sum(r * (i + o) for i, o in linears)
    elif mode == "bone":
        r = int(cfg.get("disha_r", 128))
        per_block = sum(r * o for _, o in linears)
    elif mode == "bat":
        r = int(cfg.get("disha_r", 128))
        per_block = sum(i * r for i, _ in linears)
    elif mode == "state_tuning":
        return layers * c * shape.head_size
    elif mode == "lisa":
        return int(cfg.get("lisa_r", 2)) * shape.block_params() + 2 * v * c
    else:
        return shape.n_params()
    parts = cfg.get("train_parts") or []
    extra = (v * c if "emb" in parts else 0) + (v * c if "head" in parts else 0)
    extra += layers * (10 * c if "time" in parts else 0) + layers * (6 * c if "ln" in parts else 0)
    return layers * per_block + extra


@dataclass
class Estimate:
    parts: dict[str, float]  # bytes

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def as_markdown(self) -> str:
        rows = "".join(f"| {name} | {size / GB:.2f} GB |\n" for name, size in self.parts.items())
        return f"**Estimated GPU memory: {self.total / GB:.1f} GB**\n\n| part | size |\n|---|---|\n{rows}"


def estimate_memory(shape: Shape, cfg: dict) -> Estimate:
    precision = cfg.get("precision", "bf16")
    act_bytes = WEIGHT_BYTES[precision]
    quant = cfg.get("quant", "none")
    n_params = shape.n_params()
    embed_head = 2 * shape.vocab_size * shape.n_embd
    if quant in QUANT_BYTES:
        weights = embed_head * act_bytes + (n_params - embed_head) * QUANT_BYTES[quant]
    else:
        weights = n_params * act_bytes
    b = int(cfg.get("micro_bsz", 1))
    t = int(cfg.get("chunk_ctx", 512)) if cfg.get("train_type") == "infctx" else int(cfg.get("ctx_len", 1024))
    tokens = b * t
    if int(cfg.get("grad_cp", 1)):
        activations = (shape.n_layer + 20) * tokens * shape.n_embd * act_bytes
    else:
        activations = 34 * shape.n_layer * tokens * shape.n_embd * act_bytes
    logits = tokens * shape.vocab_size * (act_bytes + LOGIT_BYTES_EXTRA)
    devices = max(1, int(cfg.get("devices", 1)))
    trainable = trainable_params(shape, cfg) * TRAINABLE_BYTES
    if devices > 1 and "stage_1" not in cfg.get("deepspeed_strategy", "deepspeed_stage_1"):
        trainable /= devices  # ZeRO 2/3 shard gradients and optimizer state
    return Estimate({
        "base weights": weights,
        "trained parameters + AdamW state": trainable,
        "activations": activations,
        "logits and loss": logits,
        "CUDA runtime": RUNTIME_BYTES,
    })
