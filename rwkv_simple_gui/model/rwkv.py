"""The RWKV language model (x070 or x060): embedding, blocks, output head.

Module names equal the checkpoint key names, so ``state_dict()`` is the file's flat key list and
PEFT code can wrap ``att.receptance`` etc. by name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from . import ops, x060, x070

VERSIONS = ("x070", "x060")


class ModelFormatError(ValueError):
    """A file that is not a usable RWKV-7/RWKV-6 checkpoint; the message says what was found."""


@dataclass
class ModelInfo:
    """The shape of an RWKV model, as read from its keys (never typed by a user)."""

    version: str  # "x070" or "x060"
    n_layer: int
    n_embd: int
    head_size: int
    vocab_size: int
    dim_ffn: int
    lora: dict[str, int] = field(default_factory=dict)  # x070: w, a, v, g; x060: maa, decay
    dtype: str = "fp32"  # of the file (emb.weight)
    n_params: int = 0
    time_state: bool = False  # the file carries blocks.*.att.time_state

    @property
    def n_head(self) -> int:
        return self.n_embd // self.head_size

    def to_dict(self) -> dict:
        return {**asdict(self), "n_head": self.n_head}

    def describe(self) -> str:
        lora = ", ".join(f"{k}={v}" for k, v in self.lora.items())
        return (f"RWKV {self.version}: {self.n_layer} layers, n_embd {self.n_embd}, {self.n_head} heads of "
                f"{self.head_size}, vocab {self.vocab_size}, ffn {self.dim_ffn}, LoRA widths ({lora}), "
                f"{self.n_params / 1e6:.1f}M params, {self.dtype}")

    @classmethod
    def for_shape(cls, version: str, n_layer: int, n_embd: int, vocab_size: int = 65536,
                  head_size: int = 64) -> "ModelInfo":
        """The RWKV-LM geometry of a fresh model of this size."""
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {version!r}")
        if n_layer < 1 or n_embd < 1 or head_size < 1 or n_embd % head_size:
            raise ValueError(f"n_embd ({n_embd}) must be a positive multiple of head_size ({head_size}), "
                             f"and n_layer ({n_layer}) positive")
        if version == "x070":
            info = cls(version, n_layer, n_embd, head_size, vocab_size, 4 * n_embd, x070.lora_widths(n_embd))
        else:
            info = cls(version, n_layer, n_embd, head_size, vocab_size, x060.dim_ffn(n_embd), x060.lora_widths(n_embd))
        with torch.device("meta"):
            info.n_params = sum(p.numel() for p in RWKV(info).parameters())
        return info


class Block(nn.Module):
    def __init__(self, info: ModelInfo, layer_id: int):
        super().__init__()
        C = info.n_embd
        self.layer_id = layer_id
        self.is_v7 = info.version == "x070"
        self.ln1 = nn.LayerNorm(C)
        self.ln2 = nn.LayerNorm(C)
        if layer_id == 0:
            self.ln0 = nn.LayerNorm(C)
        arch = x070 if self.is_v7 else x060
        self.att = arch.TimeMix(layer_id, C, info.head_size, info.lora)
        self.ffn = arch.ChannelMix(C, info.dim_ffn)

    def forward(self, x, att_shift, wkv, ffn_shift, v_first, op: str):
        if self.layer_id == 0:
            x = self.ln0(x)
        if self.is_v7:
            dx, att_shift, wkv, v_first = self.att(self.ln1(x), att_shift, wkv, v_first, op)
        else:
            dx, att_shift, wkv = self.att(self.ln1(x), att_shift, wkv, op)
        x = x + dx
        dx, ffn_shift = self.ffn(self.ln2(x), ffn_shift)
        return x + dx, att_shift, wkv, ffn_shift, v_first


State = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class RWKV(nn.Module):
    """``forward(idx[B,T], state=None) -> (logits[B,T,V], state)``.

    ``state`` holds one ``(att_shift[B,C], wkv[B,H,N,N], ffn_shift[B,C])`` per layer, wkv in the
    ``time_state`` orientation [head, value, key] (fp32). Parameters are allocated, not initialised:
    use :func:`load_model` or :func:`init_model`.
    """

    def __init__(self, info: ModelInfo, op: str = "auto"):
        super().__init__()
        if op not in ops.OPS:
            raise ValueError(f"unknown wkv op {op!r}; choose one of {', '.join(ops.OPS)}")
        self.info = info
        self.op = op
        self.grad_cp = False
        # the weight is passed in: nn.Embedding's own init (normal_) costs seconds under a meta device (on
        # first use its meta kernel imports torch._dynamo), and load_model / init_model set it anyway
        self.emb = nn.Embedding(info.vocab_size, info.n_embd, _weight=torch.empty(info.vocab_size, info.n_embd))
        self.blocks = nn.ModuleList(Block(info, i) for i in range(info.n_layer))
        self.ln_out = nn.LayerNorm(info.n_embd)
        self.head = nn.Linear(info.n_embd, info.vocab_size, bias=False)

    def initial_state(self, batch_size: int) -> State:
        """Zeros, except that an att module holding a ``time_state`` parameter starts from it (with grad)."""
        C, H, N = self.info.n_embd, self.info.n_head, self.info.head_size
        w = self.emb.weight
        state = []
        for block in self.blocks:
            time_state = getattr(block.att, "time_state", None)
            if time_state is None:
                wkv = torch.zeros(batch_size, H, N, N, device=w.device, dtype=torch.float32)
            else:
                wkv = time_state.float().unsqueeze(0).expand(batch_size, H, N, N)
            att_shift = torch.zeros(batch_size, C, device=w.device, dtype=w.dtype)
            state.append((att_shift, wkv, torch.zeros_like(att_shift)))
        return state

    def forward(self, idx: torch.Tensor, state: State | None = None, head: bool = True) -> tuple[torch.Tensor, State]:
        """``head=False``: the head's input [B, T, C] instead of the logits (a loss that needs only some
        positions' logits computes them itself: train/loss.py head_loss_sum)."""
        op = ops.resolve_op(self.op, idx.device)
        if state is None:
            state = self.initial_state(idx.shape[0])
        if len(state) != len(self.blocks):
            raise ValueError(f"state has {len(state)} layers, the model {len(self.blocks)}")
        x = self.emb(idx)
        v_first = None
        new_state = []
        use_cp = self.grad_cp and self.training and torch.is_grad_enabled()
        for block, (att_shift, wkv, ffn_shift) in zip(self.blocks, state):
            if use_cp:
                x, att_shift, wkv, ffn_shift, v_first = checkpoint(
                    block, x, att_shift, wkv, ffn_shift, v_first, op, use_reentrant=False)
            else:
                x, att_shift, wkv, ffn_shift, v_first = block(x, att_shift, wkv, ffn_shift, v_first, op)
            new_state.append((att_shift, wkv, ffn_shift))
        x = self.ln_out(x)
        return (self.head(x) if head else x), new_state
