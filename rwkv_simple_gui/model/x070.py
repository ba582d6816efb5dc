"""RWKV-7 "Goose" (x070) time-mix and channel-mix, written as the maths in reference §2.

Parameter names and shapes are the checkpoint's (RWKV-LM train_temp naming), so a module's
``state_dict()`` is the file's flat key list.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ops


def lora_widths(n_embd: int) -> dict[str, int]:
    """RWKV-LM's LoRA widths for decay (w), in-context rate (a), value residual (v) and gate (g)."""
    def width(f: float) -> int:
        return max(32, round(f * n_embd**0.5 / 32) * 32)
    return {"w": width(2.5), "a": width(2.5), "v": width(1.7), "g": width(5.0)}


def token_shift(x: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    """Δ = x_{t-1} − x_t for x [B, T, C], with x_{-1} = ``prev`` [B, C]."""
    return torch.cat([prev.unsqueeze(1), x[:, :-1]], dim=1) - x


class TimeMix(nn.Module):
    def __init__(self, layer_id: int, n_embd: int, head_size: int, widths: dict[str, int]):
        super().__init__()
        C, N = n_embd, head_size
        H = C // N
        self.layer_id, self.n_head, self.head_size = layer_id, H, N

        def vec():
            return nn.Parameter(torch.empty(1, 1, C))

        self.x_r, self.x_w, self.x_k, self.x_v, self.x_a, self.x_g = (vec() for _ in range(6))
        self.w0, self.w1, self.w2 = (vec(), nn.Parameter(torch.empty(C, widths["w"])),
                                          nn.Parameter(torch.empty(widths["w"], C)))
        self.a0, self.a1, self.a2 = (vec(), nn.Parameter(torch.empty(C, widths["a"])),
                                          nn.Parameter(torch.empty(widths["a"], C)))
        if layer_id > 0:  # layer 0's value is v_first itself; its v0/v1/v2 would never be used
            self.v0, self.v1, self.v2 = (vec(), nn.Parameter(torch.empty(C, widths["v"])),
                                              nn.Parameter(torch.empty(widths["v"], C)))
        self.g1, self.g2 = nn.Parameter(torch.empty(C, widths["g"])), nn.Parameter(torch.empty(widths["g"], C))
        self.k_k, self.k_a = vec(), vec()
        self.r_k = nn.Parameter(torch.empty(H, N))
        self.receptance = nn.Linear(C, C, bias=False)
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)
        self.ln_x = nn.GroupNorm(H, C, eps=64e-5)

    def forward(self, x, shift, wkv_state, v_first, op: str):
        """x [B,T,C] (after ln1) -> (out [B,T,C], last x [B,C], wkv state [B,H,N,N], v_first)."""
        B, T, C = x.shape
        H, N = self.n_head, self.head_size
        xx = token_shift(x, shift)
        xr, xw, xk, xv, xa, xg = (x + xx * m for m in (self.x_r, self.x_w, self.x_k, self.x_v, self.x_a, self.x_g))

        r = self.receptance(xr)
        k = self.key(xk)
        v = self.value(xv)
        # d = exp(-e^{-0.5} σ(ŵ)) ∈ (0.545, 1); the ops take log d
        log_w = ops.X070_LOG_DECAY_MIN * torch.sigmoid((self.w0 + torch.tanh(xw @ self.w1) @ self.w2).float())
        alpha = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        if self.layer_id == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)

        kk = F.normalize((k * self.k_k).view(B, T, H, N), dim=-1, p=2.0)
        k = k * (1 + (alpha - 1) * self.k_a)

        def heads(t):
            return t.view(B, T, H, N)

        y, wkv_state = ops.wkv7(op, heads(r), log_w.view(B, T, H, N), heads(k), heads(v),
                                -kk, kk * heads(alpha), wkv_state)
        y = self.ln_x(y.reshape(B * T, C)).view(B, T, C)
        bonus = (heads(r) * heads(k) * self.r_k).sum(-1, keepdim=True) * heads(v)
        y = y + bonus.view(B, T, C)
        return self.output(y * g), x[:, -1], wkv_state, v_first


class ChannelMix(nn.Module):
    def __init__(self, n_embd: int, dim_ffn: int):
        super().__init__()
        self.x_k = nn.Parameter(torch.empty(1, 1, n_embd))
        self.key = nn.Linear(n_embd, dim_ffn, bias=False)
        self.value = nn.Linear(dim_ffn, n_embd, bias=False)

    def forward(self, x, shift):
        """x [B,T,C] (after ln2) -> (out [B,T,C], last x [B,C])."""
        xk = x + token_shift(x, shift) * self.x_k
        return self.value(torch.relu(self.key(xk)) ** 2), x[:, -1]
