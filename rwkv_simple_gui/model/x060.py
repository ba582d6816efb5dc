"""RWKV-6 "Finch" (x060) time-mix and channel-mix, written as the maths in reference §3.

Parameter names and shapes are the checkpoint's (RWKV-LM v6 naming).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ops
from .x070 import token_shift


def lora_widths(n_embd: int) -> dict[str, int]:
    """RWKV-LM's widths of the data-dependent token-shift LoRA (per slice) and of the decay LoRA."""
    return {"maa": 64, "decay": 128} if n_embd >= 4096 else {"maa": 32, "decay": 64}


def dim_ffn(n_embd: int) -> int:
    return int(3.5 * n_embd) // 32 * 32


class TimeMix(nn.Module):
    def __init__(self, layer_id: int, n_embd: int, head_size: int, widths: dict[str, int]):
        super().__init__()
        C, N = n_embd, head_size
        H = C // N
        self.layer_id, self.n_head, self.head_size = layer_id, H, N

        def vec():
            return nn.Parameter(torch.empty(1, 1, C))

        self.time_maa_x, self.time_maa_w, self.time_maa_k = vec(), vec(), vec()
        self.time_maa_v, self.time_maa_r, self.time_maa_g = vec(), vec(), vec()
        self.time_maa_w1 = nn.Parameter(torch.empty(C, 5 * widths["maa"]))
        self.time_maa_w2 = nn.Parameter(torch.empty(5, widths["maa"], C))  # slices ordered w, k, v, r, g
        self.time_decay = vec()
        self.time_decay_w1 = nn.Parameter(torch.empty(C, widths["decay"]))
        self.time_decay_w2 = nn.Parameter(torch.empty(widths["decay"], C))
        self.time_faaaa = nn.Parameter(torch.empty(H, N))
        self.receptance = nn.Linear(C, C, bias=False)
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)
        self.gate = nn.Linear(C, C, bias=False)
        self.ln_x = nn.GroupNorm(H, C, eps=64e-5)

    def forward(self, x, shift, wkv_state, op: str):
        """x [B,T,C] (after ln1) -> (out [B,T,C], last x [B,C], wkv state [B,H,N,N])."""
        B, T, C = x.shape
        H, N = self.n_head, self.head_size
        xx = token_shift(x, shift)
        m = torch.tanh((x + xx * self.time_maa_x) @ self.time_maa_w1).view(B * T, 5, -1).transpose(0, 1)
        mw, mk, mv, mr, mg = torch.bmm(m, self.time_maa_w2).view(5, B, T, C).unbind(0)
        xw = x + xx * (self.time_maa_w + mw)
        xk = x + xx * (self.time_maa_k + mk)
        xv = x + xx * (self.time_maa_v + mv)
        xr = x + xx * (self.time_maa_r + mr)
        xg = x + xx * (self.time_maa_g + mg)

        r = self.receptance(xr).view(B, T, H, N)
        k = self.key(xk).view(B, T, H, N)
        v = self.value(xv).view(B, T, H, N)
        g = F.silu(self.gate(xg))
        # d = exp(-exp(time_decay + lora)); the ops take log d
        log_w = -torch.exp((self.time_decay + torch.tanh(xw @ self.time_decay_w1) @ self.time_decay_w2).float())

        y, wkv_state = ops.wkv6(op, r, log_w.view(B, T, H, N), k, v, self.time_faaaa, wkv_state)
        y = self.ln_x(y.reshape(B * T, C)).view(B, T, C)
        return self.output(y * g), x[:, -1], wkv_state


class ChannelMix(nn.Module):
    def __init__(self, n_embd: int, dim_ffn: int):
        super().__init__()
        self.time_maa_k = nn.Parameter(torch.empty(1, 1, n_embd))
        self.time_maa_r = nn.Parameter(torch.empty(1, 1, n_embd))
        self.key = nn.Linear(n_embd, dim_ffn, bias=False)
        self.receptance = nn.Linear(n_embd, n_embd, bias=False)
        self.value = nn.Linear(dim_ffn, n_embd, bias=False)

    def forward(self, x, shift):
        """x [B,T,C] (after ln2) -> (out [B,T,C], last x [B,C])."""
        xx = token_shift(x, shift)
        xk = x + xx * self.time_maa_k
        xr = x + xx * self.time_maa_r
        return torch.sigmoid(self.receptance(xr)) * self.value(torch.relu(self.key(xk)) ** 2), x[:, -1]
