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
micro_bsz 1, LoRA r 64): 0.1B 2.7 GB, 0.4B 3.4, 1.5B 5.6, 3B 8.8; `tests/train/test_estimate.py` holds the
estimate to within 15 % of them (and of the state-tuning column). Treat the figure as a guide, not a promise.

``python bench/memory_table.py`` prints the README's table of model size x method from this estimate.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from rwkv_simple_gui.peft.methods import METHOD_OPTIONS, method

from .config import VERSION_KEY, TrainConfig

GB = 1024**3
RUNTIME_BYTES = 1.4 * GB
WEIGHT_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
# bytes per quantized weight (with bitsandbytes' per-block scales); 4bit is bitsandbytes' default 4-bit type, fp4
QUANT_BYTES = {"int8": 1.0 + 4 / 256, "nf4": 0.5 + 4 / 64, "fp4": 0.5 + 4 / 64, "4bit": 0.5 + 4 / 64, "fp8": 1.0}
TRAINABLE_BYTES = 16.0
LOGIT_BYTES_EXTRA = 8.0  # fp32 log-softmax and its gradient, on top of the logits themselves


def trainable_params(info, cfg: TrainConfig) -> int:
    """Parameters one optimizer step updates, counted as the trainer counts them: the model of shape ``info``
    built on the meta device (no memory), the method applied by ``peft.apply_peft`` (adapter and train_parts),
    ``peft.trainable_parameters``; LISA's at a time: its largest draw of lisa_r layers and what it always
    trains."""
    return _trainable_params((info.version, info.n_layer, info.n_embd, info.head_size, info.vocab_size,
                              info.dim_ffn, tuple(sorted(info.lora.items()))),
                             tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                          for k, v in dataclasses.asdict(cfg).items() if k in COUNT_OPTIONS)))


# the options that decide what trains (the rest of the config does not change the count)
COUNT_OPTIONS = frozenset({"finetune_mode", "train_parts", "svd_niter", *METHOD_OPTIONS} - {
    "lora_load", "pissa_load", "pissa_init", "disha_load", "state_load", "quant"})


@functools.lru_cache(maxsize=64)
def _trainable_params(info_key: tuple, options: tuple) -> int:
    import torch

    from rwkv_simple_gui import peft
    from rwkv_simple_gui.model import RWKV, ModelInfo

    version, n_layer, n_embd, head_size, vocab_size, dim_ffn, lora = info_key
    info = ModelInfo(version, n_layer, n_embd, head_size, vocab_size, dim_ffn, dict(lora))
    cfg = TrainConfig().replace(**{k: list(v) if isinstance(v, tuple) else v for k, v in options})
    with torch.device("meta"):
        model = RWKV(info)
        peft.apply_peft(model, cfg)
    if method(cfg.finetune_mode).redraws:  # the largest draw: layer 0 of RWKV-7 lacks the value residual's
        from rwkv_simple_gui.peft.lisa import LAYER

        selector = peft.LisaSelector(model, cfg.lisa_r, cfg.lisa_k, seed=0)
        layers: dict[int, int] = {}
        always = 0
        for name, p in model.named_parameters():
            if selector.always(name):
                always += p.numel()
            else:
                layer = int(LAYER.match(name).group(1))
                layers[layer] = layers.get(layer, 0) + p.numel()
        return always + sum(sorted(layers.values(), reverse=True)[:cfg.lisa_r])
    return sum(p.numel() for p in peft.trainable_parameters(model).values())


def as_config(cfg) -> TrainConfig:
    """A TrainConfig of ``cfg`` (a dict of options takes the defaults for the rest)."""
    return cfg if isinstance(cfg, TrainConfig) else TrainConfig().replace(
        **{k: v for k, v in cfg.items() if k != VERSION_KEY})


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


def estimate_memory(info, cfg: TrainConfig | dict) -> Estimate:
    """The estimate for model ``info`` (``model.ModelInfo``: what ``detect`` read, or ``for_shape``) trained
    with ``cfg`` (a TrainConfig, or a dict of the options that differ from the defaults)."""
    cfg = as_config(cfg)
    act_bytes = WEIGHT_BYTES[cfg.precision]
    n_params = info.n_params
    embed_head = 2 * info.vocab_size * info.n_embd
    if cfg.quant in QUANT_BYTES:
        weights = embed_head * act_bytes + (n_params - embed_head) * QUANT_BYTES[cfg.quant]
    else:
        weights = n_params * act_bytes
    tokens = cfg.micro_bsz * (cfg.chunk_ctx if cfg.train_type == "infctx" else cfg.ctx_len)
    if cfg.grad_cp:
        activations = (info.n_layer + 20) * tokens * info.n_embd * act_bytes
    else:
        activations = 34 * info.n_layer * tokens * info.n_embd * act_bytes
    logits = tokens * info.vocab_size * (act_bytes + LOGIT_BYTES_EXTRA)
    devices = max(1, cfg.devices)
    trainable = trainable_params(info, cfg) * TRAINABLE_BYTES
    if devices > 1 and "stage_1" not in cfg.deepspeed_strategy:
        trainable /= devices  # ZeRO 2/3 shard gradients and optimizer state
    return Estimate({
        "base weights": weights,
        "trained parameters + AdamW state": trainable,
        "activations": activations,
        "logits and loss": logits,
        "CUDA runtime": RUNTIME_BYTES,
    })
