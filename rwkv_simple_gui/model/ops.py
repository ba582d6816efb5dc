"""The wkv recurrences of RWKV-7 and RWKV-6, in three implementations that must agree.

* ``torch``   — the sequential definition, one token at a time (slow; the reference).
* ``chunked`` — the same maths in matrix form over chunks of tokens (the CPU default).
* ``fla``     — flash-linear-attention's Triton kernels (CUDA only, imported lazily).

RWKV-PEFT's op names ``cuda`` and ``triton`` are accepted as aliases (``OP_ALIASES``, ``resolve_op``).

Every op takes ``[B, T, H, N]`` inputs and an optional initial state ``[B, H, N, N]`` in the
``time_state`` orientation ``[head, value, key]`` and returns ``(y[B, T, H, N], final_state)``.
``y`` has the inputs' dtype; the state is fp32 (fp64 when the inputs are fp64). The torch ops
compute in fp32 whatever the input dtype, so bf16 models keep an fp32 recurrence.

RWKV-7 (state S[value, key], a = -κ̂, b = κ̂⊙α, d = exp(log_w)):
    S_t = S_{t-1} (diag(d_t) + a_t b_tᵀ) + v_t k_tᵀ,    y_t = S_t r_t
RWKV-6 (u = time_faaaa):
    y_t = S_{t-1} r_t + v_t (r_t · (u ⊙ k_t)),        S_t = S_{t-1} diag(d_t) + v_t k_tᵀ
"""

from __future__ import annotations

import functools
import logging

import torch

log = logging.getLogger(__name__)

OPS = ("auto", "torch", "chunked", "fla", "cuda", "triton")
# RWKV-PEFT's OP names, as aliases of ours: its cuda kernels -> our fastest CUDA path, its Triton kernel -> fla
# (flash-linear-attention's kernels are Triton kernels)
OP_ALIASES = {"cuda": "the fastest CUDA kernel here (fla when installed, else the chunked op on the GPU)",
              "triton": "fla (flash-linear-attention's Triton kernels)"}

# log of the smallest RWKV-7 decay: log d = -exp(-0.5)·σ(ŵ) >= -exp(-0.5)
X070_LOG_DECAY_MIN = -0.6065306597126334

# RWKV-7's decay is bounded (d >= 0.545), so factoring exp(±cumulative log-decay) over 32 tokens
# stays within 2.7e8 of 1: safe in fp32 (measured: as accurate as the fp32 sequential op, and 16x
# faster than it at 12 heads x 512 tokens). RWKV-6's decay is not bounded, so its chunked form
# never factors the decay across far-apart tokens (see wkv6_chunked).
X070_CHUNK = 32
X060_CHUNK = 32
X060_SUB = 8  # tokens per sub-block of a chunk, see _v6_pair_weights
# While every channel decays by at most exp(-60) over a chunk, RWKV-6's pair weights factor like RWKV-7's:
# exp(c⁻_t)·exp(-c_s) stays within fp32's range (1e±26, with 1e12 to spare for r and k) and is as accurate.
X060_FACTOR_LIMIT = 60.0


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def _initial_state(state, B, H, N, device, dtype) -> torch.Tensor:
    if state is None:
        return torch.zeros(B, H, N, N, device=device, dtype=dtype)
    return state.to(dtype).expand(B, H, N, N)


# ---------------------------------------------------------------------------------------------
# sequential reference (the definition)


def wkv7_sequential(r, log_w, k, v, a, b, state=None):
    B, T, H, N = r.shape
    out_dtype, dt = r.dtype, _compute_dtype(r)
    r, w, k, v, a, b = (x.to(dt) for x in (r, log_w.to(dt).exp(), k, v, a, b))
    S = _initial_state(state, B, H, N, r.device, dt)
    ys = []
    for t in range(T):
        sa = S @ a[:, t, :, :, None]  # the removal term reads the state before this token's decay
        S = S * w[:, t, :, None, :] + sa @ b[:, t, :, None, :] + v[:, t, :, :, None] @ k[:, t, :, None, :]
        ys.append((S @ r[:, t, :, :, None]).squeeze(-1))
    y = torch.stack(ys, dim=1) if T else r.new_zeros(B, 0, H, N)
    return y.to(out_dtype), S


def wkv6_sequential(r, log_w, k, v, u, state=None):
    B, T, H, N = r.shape
    out_dtype, dt = r.dtype, _compute_dtype(r)
    r, w, k, v, u = (x.to(dt) for x in (r, log_w.to(dt).exp(), k, v, u))
    S = _initial_state(state, B, H, N, r.device, dt)
    ys = []
    for t in range(T):
        r_t, k_t, v_t = r[:, t], k[:, t], v[:, t]
        bonus = (r_t * u * k_t).sum(-1, keepdim=True) * v_t  # v6 reads the state before adding k_t v_t
        ys.append((S @ r_t[..., None]).squeeze(-1) + bonus)
        S = S * w[:, t, :, None, :] + v_t[..., None] @ k_t[..., None, :]
    y = torch.stack(ys, dim=1) if T else r.new_zeros(B, 0, H, N)
    return y.to(out_dtype), S


# ---------------------------------------------------------------------------------------------
# chunked matrix form


def _to_chunks(x: torch.Tensor, L: int, dt: torch.dtype) -> torch.Tensor:
    """[B, T, H, N] -> [B, H, n_chunks, L, N], zero-padded at the end.

    A padded token has log-decay 0 (d = 1) and zero r/k/v/a/b, so it leaves the state unchanged.
    """
    B, T, H, N = x.shape
    pad = (-T) % L
    x = x.to(dt)
    if pad:
        x = torch.cat([x, x.new_zeros(B, pad, H, N)], dim=1)
    # contiguous: every tensor computed from a permuted view keeps its strides, and each matmul would copy it
    return x.view(B, (T + pad) // L, L, H, N).permute(0, 3, 1, 2, 4).contiguous()


def _from_chunks(y: torch.Tensor, T: int) -> torch.Tensor:
    B, H, C, L, N = y.shape
    return y.permute(0, 2, 3, 1, 4).reshape(B, C * L, H, N)[:, :T]


def _scan_chunk_states(S: torch.Tensor, E: torch.Tensor, F: torch.Tensor, diagonal: bool = False) -> torch.Tensor:
    """[B, H, C+1, N, N]: the state before every chunk and after the last, for S_{c+1} = S_c E_c + F_c.

    E is [B, H, C, N, N], or with ``diagonal`` [B, H, C, 1, N] holding diag(E_c) as a row.
    """
    starts = []
    # unbind, not E[:, :, c]: the backward of each index fills a zero tensor of E's whole shape
    for E_c, F_c in zip(E.unbind(2), F.unbind(2)):
        starts.append(S)
        S = (S * E_c if diagonal else S @ E_c) + F_c
    starts.append(S)
    return torch.stack(starts, dim=2)


def wkv7_chunked(r, log_w, k, v, a, b, state=None, chunk_len: int = X070_CHUNK):
    """RWKV-7 over chunks of ``chunk_len`` tokens (any T).

    Within a chunk, with c_t the cumulative log-decay up to and including token t (c⁻_t = c_t − log d_t),
    γ = exp(c), and u_t = S_{t-1} a_t the vector the delta rule removes:
        u_t = S_0 (a_t⊙γ⁻_t) + Σ_{s<t} u_s (b̂_s·ã_t) + Σ_{s<t} v_s (k̂_s·ã_t),  ã = a⊙γ⁻, b̂ = b/γ, k̂ = k/γ
    i.e. (I − A_ab) U = Ã S_0ᵀ + A_ak V with strictly lower A_ab, A_ak. Solving the unit-triangular
    system once per chunk gives the WY form U = W S_0ᵀ + U_v with W, U_v independent of S_0, so
        Y = (R̃ + B_rb W) S_0ᵀ + (B_rb U_v + B_rk V),     R̃ = r⊙γ, B_* = lower-inclusive r̃·{b̂, k̂}
        S_L = S_0 (diag(γ_L) + Wᵀ B_e) + (U_vᵀ B_e + Vᵀ K_e),   B_e = b⊙γ_L/γ, K_e = k⊙γ_L/γ
    Only the last line runs sequentially (one N×N product per chunk). 1/γ is bounded by
    exp(0.61·chunk_len), which the x070 decay parametrisation guarantees (log d >= -0.6065).
    """
    B, T, H, N = r.shape
    out_dtype, dt = r.dtype, _compute_dtype(r)
    L = max(1, min(chunk_len, T))  # short inputs (decoding) are not padded to a whole chunk
    r, lw, k, v, a, b = (_to_chunks(x, L, dt) for x in (r, log_w, k, v, a, b))

    c = lw.cumsum(dim=-2)
    c_last = c[..., -1:, :]
    a_t = a * (c - lw).exp()
    r_t = r * c.exp()
    inv = (-c).exp()
    b_h, k_h = b * inv, k * inv

    strict = torch.ones(L, L, dtype=torch.bool, device=r.device).tril(-1)
    incl = torch.ones(L, L, dtype=torch.bool, device=r.device).tril()
    zero = r.new_zeros(())
    A_ab = torch.where(strict, a_t @ b_h.mT, zero)
    A_ak = torch.where(strict, a_t @ k_h.mT, zero)
    B_rb = torch.where(incl, r_t @ b_h.mT, zero)
    B_rk = torch.where(incl, r_t @ k_h.mT, zero)

    eye = torch.eye(L, dtype=dt, device=r.device)
    WU = torch.linalg.solve_triangular(eye - A_ab, torch.cat([a_t, A_ak @ v], dim=-1), upper=False, unitriangular=True)
    W, U_v = WU.split(N, dim=-1)
    P = r_t + B_rb @ W
    Q = B_rb @ U_v + B_rk @ v

    to_end = (c_last - c).exp()
    b_e, k_e = b * to_end, k * to_end
    E = torch.diag_embed(c_last.squeeze(-2).exp()) + W.mT @ b_e
    F = U_v.mT @ b_e + v.mT @ k_e

    S0 = _initial_state(state, B, H, N, r.device, dt)
    S = _scan_chunk_states(S0, E, F)
    y = P @ S[:, :, :-1].mT + Q
    return _from_chunks(y, T).to(out_dtype), S[:, :, -1]


def _v6_pair_weights(r, k, c, c_ex, sub_len: int) -> torch.Tensor:
    """A[t, s] = Σ_j r_t[j] k_s[j] exp(c⁻_t[j] − c_s[j]) for s < t within each chunk, [B, H, C, L, L].

    Computed without ever forming a factor above 1: inside a sub-block of ``sub_len`` tokens the
    weights are formed per channel in log space; across sub-blocks they factor through the end e of
    the key's sub-block, exp(c⁻_t − c_e)·exp(c_e − c_s), both <= 1, which turns them into matmuls.
    """
    L = r.shape[-2]
    nb = L // sub_len
    rb, kb, cb, cexb = (x.unflatten(-2, (nb, sub_len)) for x in (r, k, c, c_ex))  # [B, H, C, nb, sub, N]

    strict = torch.ones(sub_len, sub_len, dtype=torch.bool, device=r.device).tril(-1)
    log_pair = (cexb[..., :, None, :] - cb[..., None, :, :]).masked_fill(~strict[:, :, None], float("-inf"))
    within = torch.einsum("...tj,...sj,...tsj->...ts", rb, kb, log_pair.exp())  # [B, H, C, nb, sub, sub]
    eye = torch.eye(nb, dtype=r.dtype, device=r.device)
    within = torch.einsum("...itu,ij->...itju", within, eye).flatten(-4, -3).flatten(-2, -1)

    c_end = cb[..., -1, :]  # [B, H, C, nb, N]
    k_to_end = kb * (c_end[..., None, :] - cb).exp()
    # r_t decayed from the end of sub-block i; clamped where t is not after block i (masked below)
    r_from = r[..., None, :, :] * (c_ex[..., None, :, :] - c_end[..., :, None, :]).clamp(max=0).exp()
    across = (r_from @ k_to_end.mT).movedim(-3, -2).flatten(-2, -1)  # [B, H, C, L, nb*sub]
    block = torch.arange(L, device=r.device) // sub_len
    return within + torch.where(block[:, None] > block[None, :], across, across.new_zeros(()))


def wkv6_chunked(r, log_w, k, v, u, state=None, chunk_len: int = X060_CHUNK, sub_len: int = X060_SUB):
    """RWKV-6 over chunks of ``chunk_len`` tokens (any T).

    Within a chunk (c, c⁻ as in :func:`wkv7_chunked`):
        y_t = S_0 (r_t⊙exp(c⁻_t)) + Σ_{s<t} v_s Σ_j r_t[j] k_s[j] exp(c⁻_t[j] − c_s[j]) + v_t (r_t·(u⊙k_t))
        S_L = S_0 diag(exp(c_L)) + Σ_s v_s (k_s⊙exp(c_L − c_s))ᵀ
    The RWKV-6 decay can be arbitrarily small, so exp(c⁻_t − c_s) is never split into exp(c⁻_t)·exp(−c_s),
    which would overflow (see :func:`_v6_pair_weights`).
    """
    B, T, H, N = r.shape
    out_dtype, dt = r.dtype, _compute_dtype(r)
    if chunk_len % sub_len:
        raise ValueError(f"chunk_len {chunk_len} must be a multiple of sub_len {sub_len}")
    sub_len = max(1, min(sub_len, T))
    L = min(chunk_len, -(-T // sub_len) * sub_len) or sub_len  # short inputs: no padding to a whole chunk
    r, lw, k, v = (_to_chunks(x, L, dt) for x in (r, log_w, k, v))
    u = u.to(dt)[None, :, None, None, :]  # [1, H, 1, 1, N]

    c = lw.cumsum(dim=-2)
    c_ex = c - lw
    c_last = c[..., -1:, :]
    if T and float(c_last.detach().min()) >= -X060_FACTOR_LIMIT:  # one host sync; the common case for real models
        strict = torch.ones(L, L, dtype=torch.bool, device=r.device).tril(-1)
        A = torch.where(strict, (r * c_ex.exp()) @ (k * (-c).exp()).mT, r.new_zeros(()))
    else:
        A = _v6_pair_weights(r, k, c, c_ex, sub_len)
    A = A + torch.diag_embed((r * u * k).sum(-1))

    E = c_last.exp()  # [B, H, C, 1, N]: per-key decay over the whole chunk, applied to S's columns
    F = v.mT @ (k * (c_last - c).exp())

    S = _scan_chunk_states(_initial_state(state, B, H, N, r.device, dt), E, F, diagonal=True)
    y = (r * c_ex.exp()) @ S[:, :, :-1].mT + A @ v
    return _from_chunks(y, T).to(out_dtype), S[:, :, -1]


# ---------------------------------------------------------------------------------------------
# fla (CUDA)


@functools.cache
def fla_import_error() -> str | None:
    """None when fla's RWKV kernels import, else why not."""
    try:
        import fla.ops.rwkv6  # noqa: F401
        import fla.ops.rwkv7  # noqa: F401
    except Exception as e:  # ImportError, or Triton failing to find a driver
        return f"{type(e).__name__}: {e}"
    return None


def _like(r: torch.Tensor, *xs: torch.Tensor) -> list[torch.Tensor]:
    """``xs`` in r's dtype: fla's kernels take one dtype, and under bf16 autocast a block hands the op bf16
    projections beside fp32 products with fp32 parameters (the decay, k_k, v's mix)."""
    return [x.to(r.dtype) for x in xs]


def wkv7_fla(r, log_w, k, v, a, b, state=None):
    """fla's ``chunk_rwkv7``: w is the log-decay, scale 1, state [B, H, key, value] (our transpose)."""
    from fla.ops.rwkv7 import chunk_rwkv7

    h0 = None if state is None else state.float().expand(r.shape[0], -1, -1, -1).transpose(-1, -2).contiguous()
    log_w, k, v, a, b = _like(r, log_w, k, v, a, b)
    y, h = chunk_rwkv7(r=r, w=log_w, k=k, v=v, a=a, b=b, scale=1.0, initial_state=h0, output_final_state=True)
    return y, h.transpose(-1, -2)


def wkv6_fla(r, log_w, k, v, u, state=None):
    """fla's ``chunk_rwkv6``: w is the log-decay, u = time_faaaa, scale 1, state [B, H, key, value]."""
    from fla.ops.rwkv6 import chunk_rwkv6

    h0 = None if state is None else state.float().expand(r.shape[0], -1, -1, -1).transpose(-1, -2).contiguous()
    log_w, k, v, u = _like(r, log_w, k, v, u)
    y, h = chunk_rwkv6(r, k, v, log_w, u, scale=1.0, initial_state=h0, output_final_state=True)
    return y, h.transpose(-1, -2)


# ---------------------------------------------------------------------------------------------
# dispatch

_WKV7 = {"torch": wkv7_sequential, "chunked": wkv7_chunked, "fla": wkv7_fla}
_WKV6 = {"torch": wkv6_sequential, "chunked": wkv6_chunked, "fla": wkv6_fla}


@functools.cache
def _announce(op: str, device: str) -> None:
    log.info("wkv op: %s on %s", op, device)


def resolve_op(op: str, device) -> str:
    """The wkv implementation that runs for ``op`` on ``device``: "torch", "chunked" or "fla".

    "auto" picks fla on CUDA when it imports, else chunked. RWKV-PEFT's names are aliases (``OP_ALIASES``):
    "cuda" is auto on a CUDA device, "triton" is fla. An explicit choice that cannot run raises a RuntimeError
    that says why and what to use instead.
    """
    if op not in OPS:
        raise ValueError(f"unknown wkv op {op!r}; choose one of {', '.join(OPS)}")
    device = torch.device(device)
    if op in OP_ALIASES and device.type != "cuda":
        raise RuntimeError(f"wkv op {op!r} (RWKV-PEFT's name for {OP_ALIASES[op]}) needs a CUDA device, but the "
                           f"model is on {device}; use op='auto' or 'chunked' on CPU")
    if op == "cuda":
        op = "auto"
    elif op == "triton":
        op = "fla"
    if op == "auto":
        op = "fla" if device.type == "cuda" and fla_import_error() is None else "chunked"
    elif op == "fla":
        if device.type != "cuda":
            raise RuntimeError(f"wkv op 'fla' needs a CUDA device, but the model is on {device}; "
                               "use op='chunked' (or 'auto') on CPU")
        err = fla_import_error()
        if err is not None:
            raise RuntimeError(f"wkv op 'fla' is unavailable ({err}); install it with "
                               "'pip install flash-linear-attention' or use op='chunked'")
    _announce(op, str(device))
    return op


def wkv7(op: str, r, log_w, k, v, a, b, state=None):
    """RWKV-7 wkv with a resolved ``op`` ("torch", "chunked" or "fla"); see the module docstring."""
    return _WKV7[op](r, log_w, k, v, a, b, state)


def wkv6(op: str, r, log_w, k, v, u, state=None):
    """RWKV-6 wkv with a resolved ``op`` ("torch", "chunked" or "fla"); see the module docstring."""
    return _WKV6[op](r, log_w, k, v, u, state)
