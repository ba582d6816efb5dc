"""The training step's fast paths against the plain ones: the head's loss over weighted positions only, and AdamW
that updates only the used rows of an embedding. Both must give the plain path's numbers."""

from __future__ import annotations

import pytest
import torch

from rwkv_simple_gui.train import loss as loss_mod
from rwkv_simple_gui.train.distributed import clip_factor, clip_grad_norm
from rwkv_simple_gui.train.loss import head_loss_sum, weighted_loss_sum
from rwkv_simple_gui.train.optim import AdamWRows


def head_inputs(dtype, seed=0, B=2, T=9, C=8, V=50):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(B, T, C, generator=g, dtype=dtype)
    weight = torch.randn(V, C, generator=g, dtype=dtype)
    targets = torch.randint(0, V, (B, T), generator=g)
    weights = (torch.rand(B, T, generator=g) < 0.6).to(dtype) * torch.rand(B, T, generator=g, dtype=dtype)
    weights[0, 0] = 0.0
    return h, weight, targets, weights


@pytest.mark.parametrize("chunk_rows", [None, 3])  # one chunk; chunks of 3 rows
@pytest.mark.parametrize("upstream", [1.0, 0.37])
@pytest.mark.parametrize("V", [50, 4 * loss_mod.MAX_BLOCK])  # the largest logit by torch.max; by blocks
def test_head_loss_equals_the_full_logits_loss(monkeypatch, chunk_rows, upstream, V):
    if chunk_rows:
        monkeypatch.setattr(loss_mod, "HEAD_CHUNK_BYTES", 4 * V * chunk_rows)
    h, weight, targets, weights = head_inputs(torch.float64, V=V)
    h1, w1 = h.clone().requires_grad_(), weight.clone().requires_grad_()
    ref = weighted_loss_sum(h1 @ w1.T, targets, weights)
    (ref * upstream).backward()
    h2, w2 = h.clone().requires_grad_(), weight.clone().requires_grad_()
    rows = weights.flatten().nonzero().squeeze(1)
    got = head_loss_sum(h2, w2, targets, weights, rows)
    (got * upstream).backward()
    # both compute the cross entropy in fp32 (as the trainer does); L2Wrap's push (~5e-4 here) is well above that
    assert torch.allclose(got, ref, rtol=1e-6, atol=0)
    assert torch.allclose(h2.grad, h1.grad, rtol=1e-5, atol=2e-6)
    assert torch.allclose(w2.grad, w1.grad, rtol=1e-5, atol=2e-6)
    assert (h2.grad.flatten(0, 1)[weights.flatten() == 0] == 0).all()


def test_row_max_equals_torch_max_first_index_included():
    V = 8 * loss_mod.MAX_BLOCK
    x = torch.randn(6, V, generator=torch.Generator().manual_seed(3))
    x[1, [5, 700, 1900]] = 9.0  # ties in three blocks: the first is torch.max's
    x[2, [300, 301]] = 9.0  # a tie inside one block
    x[3] = 1.5  # every column equal
    x[4, -1] = 9.0  # the last column
    x[5, 1000] = float("nan")  # torch.max returns the NaN
    top, ids = loss_mod.row_max(x)
    ref_top, ref_ids = torch.max(x, -1, keepdim=True)
    assert torch.equal(ids, ref_ids)
    assert torch.equal(top[:5], ref_top[:5]) and top[5].isnan().all() and ref_top[5].isnan().all()
    assert ids[:5, 0].tolist() == [int(x[0].argmax()), 5, 300, 0, V - 1]


def test_head_loss_without_gradients_and_with_a_frozen_head():
    h, weight, targets, weights = head_inputs(torch.float32, seed=1)
    rows = weights.flatten().nonzero().squeeze(1)
    with torch.no_grad():
        assert torch.allclose(head_loss_sum(h, weight, targets, weights, rows),
                              weighted_loss_sum(h @ weight.T, targets, weights), rtol=1e-6)
    h1 = h.clone().requires_grad_()
    weighted_loss_sum(h1 @ weight.T, targets, weights).backward()
    h2 = h.clone().requires_grad_()
    head_loss_sum(h2, weight, targets, weights, rows).backward()
    assert torch.allclose(h2.grad, h1.grad, rtol=1e-5, atol=1e-7)


def embedding_run(opt_class, steps, used_rows, lr_of, state=None, sparse=False, **kw):
    """An embedding-like matrix and a vector trained with AdamW; step i's gradient touches rows used_rows[i].
    ``sparse``: the gradient as nn.Embedding(sparse=True) gives it (rows repeated, a looked-up row of zeros)."""
    g = torch.Generator().manual_seed(0)
    emb = torch.nn.Parameter(torch.randn(40, 6, generator=g))
    vec = torch.nn.Parameter(torch.randn(6, generator=g))
    groups = [{"params": [emb], "weight_decay": 0.0}, {"params": [vec], "weight_decay": 0.0}]
    opt = opt_class(groups, **kw) if opt_class is torch.optim.AdamW else opt_class(groups, [emb], **kw)
    if state is not None:
        emb.data.copy_(state["emb"])
        vec.data.copy_(state["vec"])
        opt.load_state_dict(state["opt"])
    for i in steps:
        grad = torch.zeros_like(emb)
        grad[used_rows[i]] = torch.randn(len(used_rows[i]), 6, generator=torch.Generator().manual_seed(i))
        emb.grad, vec.grad = grad, torch.randn(6, generator=torch.Generator().manual_seed(100 + i))
        if sparse:
            emb.grad = lookup_gradient(grad, used_rows[i])
        for group in opt.param_groups:
            group["lr"] = lr_of(i)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return emb.detach().clone(), vec.detach().clone(), opt


def lookup_gradient(dense: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``dense`` as an embedding's sparse gradient: each row's gradient in two halves (a token looked up twice),
    and row 39 looked up with a zero gradient."""
    index = rows + rows + [39]
    values = torch.cat([dense[rows] / 2, dense[rows] / 2, torch.zeros(1, dense.shape[1])])
    return torch.sparse_coo_tensor(torch.tensor([index], dtype=torch.long), values, dense.shape,
                                   check_invariants=True)


USED = [[1, 2], [2, 7], [], [30], [1], [5, 6, 7], [], [2]]  # rows stop being used, reappear, steps without any


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fused", [False, True])
def test_rowwise_adamw_equals_dense_adamw(fused, sparse):
    kw = dict(betas=(0.9, 0.95), eps=1e-8, fused=fused or None)
    lr_of = lambda i: 0.01 * (1 - i / 10)  # noqa: E731 - a changing rate, as the schedule does
    emb_d, vec_d, dense = embedding_run(torch.optim.AdamW, range(8), USED, lr_of, **kw)
    emb_r, vec_r, rows = embedding_run(AdamWRows, range(8), USED, lr_of, sparse=sparse, **kw)
    assert torch.allclose(emb_r, emb_d, rtol=1e-6, atol=1e-7) and torch.allclose(vec_r, vec_d, rtol=1e-6, atol=1e-7)
    init = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    never = [r for r in range(40) if all(r not in u for u in USED)]
    assert torch.equal(emb_r[never], init[never])  # never used: untouched
    assert not torch.allclose(emb_r[[30]], init[[30]])  # used once at step 3, moved on every later step
    sd_d, sd_r = dense.state_dict(), rows.state_dict()
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.allclose(sd_r["state"][0][key], sd_d["state"][0][key], rtol=1e-6, atol=1e-9)
    assert float(sd_r["state"][0]["step"]) == float(sd_d["state"][0]["step"]) == 8


def test_rowwise_adamw_resumes_like_dense_adamw():
    """A resume point saved from the row-wise optimizer, loaded into a fresh one, continues as dense AdamW would."""
    kw = dict(betas=(0.9, 0.95), eps=1e-8)
    lr_of = lambda i: 0.01  # noqa: E731
    emb, vec, opt = embedding_run(AdamWRows, range(4), USED, lr_of, **kw)
    saved = {"emb": emb, "vec": vec, "opt": opt.state_dict()}
    emb_r, _, _ = embedding_run(AdamWRows, range(4, 8), USED, lr_of, state=saved, **kw)
    emb_d, _, _ = embedding_run(torch.optim.AdamW, range(8), USED, lr_of, **kw)
    assert torch.allclose(emb_r, emb_d, rtol=1e-6, atol=1e-7)


def test_rowwise_adamw_updates_every_row_where_it_would_not_be_exact():
    """Weight decay moves unused rows too: such a group is left to torch's AdamW."""
    emb = torch.nn.Parameter(torch.ones(4, 2))
    opt = AdamWRows([{"params": [emb], "weight_decay": 0.1}], [emb], lr=0.1)
    assert opt.row_params == []
    emb.grad = torch.zeros(4, 2)
    emb.grad[0] = 1.0
    opt.step()
    assert (emb[1:] < 1).all()


@pytest.mark.parametrize("scale", [0.01, 100.0])  # within the limit (no scaling) and above it
def test_clip_grad_norm_equals_torch_with_a_sparse_embedding_gradient(scale):
    g = torch.Generator().manual_seed(3)
    dense = [torch.randn(40, 6, generator=g) * scale, torch.randn(5, 6, generator=g) * scale]
    dense[0][[0, 3, 8, 20]] = 0.0
    used = [r for r in range(40) if r not in (0, 3, 8, 20)]
    ref = [torch.nn.Parameter(torch.zeros_like(d)) for d in dense]
    ours = [torch.nn.Parameter(torch.zeros_like(d)) for d in dense]
    for p, d in zip(ref, dense):
        p.grad = d.clone()
    ours[0].grad, ours[1].grad = lookup_gradient(dense[0], used), dense[1].clone()
    torch.nn.utils.clip_grad_norm_(ref, 1.0)
    clip_grad_norm(ours, 1.0)
    assert ours[0].grad.is_sparse
    for r, o in zip(ref, ours):
        assert torch.allclose(o.grad.to_dense(), r.grad, rtol=1e-6, atol=1e-9)
    if scale < 1:
        assert torch.equal(ours[1].grad, dense[1])  # not scaled at all


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_clipping_inside_the_update_equals_clip_then_adamw(scale, fused, sparse):
    """The trainer's step: clip_factor handed to AdamWRows.step equals clip_grad_norm_ then torch's AdamW."""
    kw = dict(lr=0.01, betas=(0.9, 0.95), eps=1e-8, fused=fused or None)
    results = []
    for ours in (False, True):
        g = torch.Generator().manual_seed(5)
        emb = torch.nn.Parameter(torch.randn(40, 6, generator=g))
        mat = torch.nn.Parameter(torch.randn(5, 6, generator=g))
        groups = [{"params": [emb], "weight_decay": 0.0}, {"params": [mat], "weight_decay": 0.0}]
        opt = AdamWRows(groups, [emb], **kw) if ours else torch.optim.AdamW(groups, **kw)
        for i, rows in enumerate([[1, 2], [2, 7], [1, 2, 7]]):  # rows seen at several steps
            grad = torch.zeros(40, 6)
            size = scale * 10**i  # a factor that changes from step to step (Adam ignores a constant one)
            grad[rows] = torch.randn(len(rows), 6, generator=g) * size
            mat.grad = torch.randn(5, 6, generator=g) * size
            if ours:
                emb.grad = lookup_gradient(grad, rows) if sparse else grad
                opt.step(grad_factor=clip_factor([emb, mat], 1.0))
            else:
                emb.grad = grad
                torch.nn.utils.clip_grad_norm_([emb, mat], 1.0)
                opt.step()
            opt.zero_grad(set_to_none=True)
        results.append((emb.detach(), mat.detach()))
    (emb_ref, mat_ref), (emb_ours, mat_ours) = results
    assert torch.allclose(emb_ours, emb_ref, rtol=1e-6, atol=1e-7)
    assert torch.allclose(mat_ours, mat_ref, rtol=1e-6, atol=1e-7)
