"""The chunked wkv ops against the sequential definition: values, gradients, state carry, dispatch.

Tolerances: fp64 agreement to 1e-9 (the two forms are the same maths, so only rounding differs);
fp32 chunked vs fp64 sequential to 1e-4 relative to the output's scale.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rwkv_simple_gui.model import ops


def inputs7(B, T, H, N, log_w_range, dtype=torch.float64, seed=0):
    """RWKV-7 wkv inputs as the model makes them: unit removal key κ̂, a = -κ̂, b = κ̂⊙α, α ∈ (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(B, T, H, N, generator=g, dtype=dtype)
    k = torch.randn(B, T, H, N, generator=g, dtype=dtype) * 0.5
    v = torch.randn(B, T, H, N, generator=g, dtype=dtype)
    lo, hi = log_w_range
    log_w = lo + (hi - lo) * torch.rand(B, T, H, N, generator=g, dtype=dtype)
    kk = F.normalize(torch.randn(B, T, H, N, generator=g, dtype=dtype), dim=-1)
    alpha = torch.rand(B, T, H, N, generator=g, dtype=dtype)
    state = torch.randn(B, H, N, N, generator=g, dtype=dtype)
    return [r, log_w, k, v, -kk, kk * alpha], state


def inputs6(B, T, H, N, log_w_scale, dtype=torch.float64, seed=0):
    """RWKV-6 inputs; log_w = -exp(scale·z) spans decays from ~1 to ~0 (RWKV-6 decays are unbounded)."""
    g = torch.Generator().manual_seed(seed)
    r, k, v = (torch.randn(B, T, H, N, generator=g, dtype=dtype) for _ in range(3))
    log_w = -torch.exp(log_w_scale * torch.randn(B, T, H, N, generator=g, dtype=dtype))
    u = torch.randn(H, N, generator=g, dtype=dtype)
    state = torch.randn(B, H, N, N, generator=g, dtype=dtype)
    return [r, log_w, k, v, u], state


def forward_backward(fn, xs, state, seed=1, **kw):
    """Outputs and the gradients of a random linear function of (y, final state) w.r.t. every input."""
    xs = [x.clone().requires_grad_() for x in xs]
    s0 = state.clone().requires_grad_() if state is not None else None
    y, s = fn(*xs, state=s0, **kw)
    g = torch.Generator().manual_seed(seed)  # weights drawn in fp64: ops of any dtype get the same ones
    loss = (y * torch.randn(y.shape, generator=g, dtype=torch.float64).to(y.dtype)).sum() + \
        (s * torch.randn(s.shape, generator=g, dtype=torch.float64).to(s.dtype)).sum()
    loss.backward()
    grads = [x.grad for x in xs] + ([s0.grad] if s0 is not None else [])
    return y.detach(), s.detach(), grads


DECAYS7 = {"near_0.545": (ops.X070_LOG_DECAY_MIN, ops.X070_LOG_DECAY_MIN + 0.01),
           "near_1": (-1e-3, 0.0), "full_range": (ops.X070_LOG_DECAY_MIN, 0.0)}


@pytest.mark.parametrize("decay", list(DECAYS7))
@pytest.mark.parametrize("T", [1, 31, 70])
@pytest.mark.parametrize("with_state", [False, True])
def test_wkv7_chunked_matches_sequential_fp64(decay, T, with_state):
    xs, state = inputs7(2, T, 2, 16, DECAYS7[decay])
    state = state if with_state else None
    ref = forward_backward(ops.wkv7_sequential, xs, state)
    got = forward_backward(ops.wkv7_chunked, xs, state)
    for a, b in zip([ref[0], ref[1], *ref[2]], [got[0], got[1], *got[2]]):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), (a - b).abs().max()


@pytest.mark.parametrize("scale", [0.5, 2.0])
@pytest.mark.parametrize("T", [1, 20, 75])
@pytest.mark.parametrize("with_state", [False, True])
def test_wkv6_chunked_matches_sequential_fp64(scale, T, with_state):
    xs, state = inputs6(2, T, 2, 16, scale)
    state = state if with_state else None
    ref = forward_backward(ops.wkv6_sequential, xs, state)
    got = forward_backward(ops.wkv6_chunked, xs, state)
    for a, b in zip([ref[0], ref[1], *ref[2]], [got[0], got[1], *got[2]]):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), (a - b).abs().max()


def test_wkv6_chunked_survives_vanishing_decay():
    """log_w down to -e^8: a factored exp(-cumsum) would overflow; the chunked op must stay finite and exact."""
    xs, state = inputs6(1, 80, 2, 8, log_w_scale=4.0, seed=3)
    assert xs[1].min() < -1000
    y_ref, s_ref = ops.wkv6_sequential(*xs, state=state)
    y, s = ops.wkv6_chunked(*xs, state=state)
    assert torch.isfinite(y).all() and torch.allclose(y, y_ref, rtol=1e-9, atol=1e-9)
    assert torch.allclose(s, s_ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("decay", ["near_0.545", "near_1"])
def test_wkv7_chunked_fp32_long_sequence(decay):
    xs, state = inputs7(1, 600, 2, 64, DECAYS7[decay], seed=4)
    y_ref, s_ref = ops.wkv7_sequential(*xs, state=state)
    y, s = ops.wkv7_chunked(*[x.float() for x in xs], state=state.float())
    assert y.dtype == torch.float32
    assert (y.double() - y_ref).abs().max() < 1e-4 * y_ref.abs().max()
    assert (s.double() - s_ref).abs().max() < 1e-4 * s_ref.abs().max()


def test_wkv6_chunked_fp32_long_sequence():
    xs, state = inputs6(1, 600, 2, 64, log_w_scale=1.0, seed=4)
    y_ref, s_ref = ops.wkv6_sequential(*xs, state=state)
    y, s = ops.wkv6_chunked(*[x.float() for x in xs], state=state.float())
    assert (y.double() - y_ref).abs().max() < 1e-4 * y_ref.abs().max()
    assert (s.double() - s_ref).abs().max() < 1e-4 * s_ref.abs().max()


def test_gradcheck_chunked_across_chunk_boundaries():
    """Finite differences, with chunks (and RWKV-6 sub-blocks) of 2-4 tokens so that every path crosses them."""
    xs, state = inputs7(1, 5, 1, 3, DECAYS7["full_range"], seed=5)
    xs = [x.requires_grad_() for x in xs]
    state.requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: ops.wkv7_chunked(*a[:6], state=a[6], chunk_len=2), (*xs, state))
    for scale in (1.0, 4.0):  # RWKV-6 pair weights factored, and (decays beyond the limit) per channel
        xs, state = inputs6(1, 9, 1, 3, log_w_scale=scale, seed=5)
        assert (xs[1].sum(1).min() < -ops.X060_FACTOR_LIMIT) == (scale == 4.0)
        xs = [x.requires_grad_() for x in xs]
        state.requires_grad_()
        assert torch.autograd.gradcheck(
            lambda *a: ops.wkv6_chunked(*a[:5], state=a[5], chunk_len=4, sub_len=2), (*xs, state))


@pytest.mark.parametrize("chunk_decay", [0.98, 1.02])
def test_wkv6_chunked_fp32_at_the_factoring_limit(chunk_decay):
    """Channels that decay by e^-58.8 or e^-61.2 over a chunk: just within the limit the pair weights are factored
    (their factors reach e^±60 in fp32), just beyond it they are formed per channel; both stay accurate."""
    xs, state = inputs6(1, 96, 2, 64, log_w_scale=0.3, seed=6)
    chunks = xs[1].view(1, 3, ops.X060_CHUNK, 2, 64)  # every channel of every chunk decays by chunk_decay * limit
    xs[1] = (chunks / chunks.sum(2, keepdim=True) * -chunk_decay * ops.X060_FACTOR_LIMIT).view(1, 96, 2, 64)
    ref = forward_backward(ops.wkv6_sequential, xs, state)
    got = forward_backward(ops.wkv6_chunked, [x.float() for x in xs], state.float())
    for a, b in zip([ref[0], ref[1], *ref[2]], [got[0], got[1], *got[2]]):
        assert (a - b.double()).abs().max() < 1e-4 * a.abs().max()


@pytest.mark.parametrize("version", ["x070", "x060"])
@pytest.mark.parametrize("op", ["torch", "chunked"])
def test_state_carry_equals_one_pass(version, op):
    """T tokens at once == T/2 then T/2 with the state carried."""
    if version == "x070":
        xs, state = inputs7(2, 50, 2, 8, DECAYS7["full_range"], seed=6)
        fn = ops.wkv7
    else:
        xs, state = inputs6(2, 50, 2, 8, 1.0, seed=6)
        fn = ops.wkv6
    per_token = [x for x in xs if x.ndim == 4]
    shared = [x for x in xs if x.ndim != 4]  # RWKV-6's u
    y, s = fn(op, *xs, state=state)
    first = [x[:, :25] for x in per_token] + shared
    second = [x[:, 25:] for x in per_token] + shared
    y1, s1 = fn(op, *first, state=state)
    y2, s2 = fn(op, *second, state=s1)
    assert torch.allclose(torch.cat([y1, y2], dim=1), y, rtol=1e-9, atol=1e-9)
    assert torch.allclose(s2, s, rtol=1e-9, atol=1e-9)


def test_bf16_inputs_keep_dtype_and_fp32_state():
    xs, state = inputs7(1, 40, 2, 16, DECAYS7["full_range"], dtype=torch.float32, seed=7)
    y_ref, s_ref = ops.wkv7_chunked(*[x.bfloat16().float() for x in xs], state=state)
    y, s = ops.wkv7_chunked(*[x.bfloat16() for x in xs], state=state)
    assert y.dtype == torch.bfloat16 and s.dtype == torch.float32
    assert torch.allclose(y.float(), y_ref, rtol=1e-2, atol=1e-2)
    assert torch.allclose(s, s_ref, rtol=1e-5, atol=1e-5)


def test_resolve_op():
    assert ops.resolve_op("auto", "cpu") == "chunked"
    assert ops.resolve_op("torch", "cpu") == "torch"
    assert ops.resolve_op("chunked", torch.device("cpu")) == "chunked"
    with pytest.raises(RuntimeError, match="needs a CUDA device.*chunked"):
        ops.resolve_op("fla", "cpu")
    with pytest.raises(RuntimeError, match="'cuda' \\(RWKV-PEFT's name.*needs a CUDA device"):
        ops.resolve_op("cuda", "cpu")
    with pytest.raises(ValueError, match="unknown wkv op 'cuda2'"):
        ops.resolve_op("cuda2", "cpu")
