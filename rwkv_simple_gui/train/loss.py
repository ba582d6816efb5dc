"""Token-weighted cross entropy with RWKV's L2Wrap.

The loss of an optimizer step is sum(CE * w) / sum(w) over every micro batch of every rank, so long and
short documents count per token and N processes give the same gradient as one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

L2WRAP = 1e-4


class L2Wrap(torch.autograd.Function):
    """Identity on the loss; in backward, pushes each learned position's largest logit towards 0, which keeps
    RWKV's logits from drifting upward. RWKV-LM uses 1e-4 * max / (B*T) per position, a per-position mean;
    here the mean is over the learned positions of the whole optimizer step (the loss's own scale), so the
    push does not depend on how the step is split into micro batches and ranks."""

    @staticmethod
    def forward(ctx, loss, logits, weights):
        ctx.save_for_backward(logits, weights)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        logits, weights = ctx.saved_tensors
        maxx, ids = torch.max(logits, -1, keepdim=True)
        push = maxx * (L2WRAP * grad_output) * weights.unsqueeze(-1).to(maxx.dtype)
        return grad_output, torch.zeros_like(logits).scatter_(-1, ids, push), None


def weighted_loss_sum(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum over positions of CE * weight (float32), with L2Wrap attached."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    total = (ce * weights.flatten().to(ce.dtype)).sum()
    return L2Wrap.apply(total, logits, weights)


HEAD_CHUNK_BYTES = 32 << 20  # fp32 logits held at once by head_loss_sum


class _HeadLoss(torch.autograd.Function):
    """weighted_loss_sum(h @ weightᵀ, ...) over the rows ``rows`` of h, the gradients formed in the forward pass:
    the loss is linear in its upstream gradient, so the logits of a chunk of rows can be dropped as soon as the
    chunk's share of the gradients is known, and no logits are ever kept."""

    @staticmethod
    def forward(ctx, h, weight, targets, weights, rows, grad_h, grad_weight):
        dt = torch.get_autocast_dtype(h.device.type) if torch.is_autocast_enabled(h.device.type) else h.dtype
        hs, w_mat = h.index_select(0, rows).to(dt), weight.to(dt)
        ys, ws = targets.index_select(0, rows)[:, None], weights.index_select(0, rows).float()[:, None]
        ctx.shape, ctx.rows = h.shape, rows
        ctx.grad_h = torch.empty_like(hs) if grad_h else None
        ctx.grad_weight = None
        total = h.new_zeros((), dtype=torch.float32)
        step = max(1, HEAD_CHUNK_BYTES // (4 * weight.shape[0]))
        for a in range(0, len(rows), step):
            b = min(a + step, len(rows))
            logits = (hs[a:b] @ w_mat.T).float()
            top, ids = row_max(logits)
            target = logits.gather(1, ys[a:b])
            e = logits.sub_(top).exp_()  # in place of the logits: one buffer per chunk
            sums = e.sum(-1, keepdim=True)
            total += ((top + sums.log() - target) * ws[a:b]).sum()
            if not (grad_h or grad_weight):
                continue
            g = e.mul_(ws[a:b] / sums)  # w * softmax
            g.scatter_add_(1, ys[a:b], -ws[a:b])  # - w * onehot(target)
            g.scatter_add_(1, ids, top * (L2WRAP * ws[a:b]))  # L2Wrap's push on the largest logit
            g = g.to(dt)
            if grad_h:
                ctx.grad_h[a:b] = g @ w_mat
            if grad_weight and ctx.grad_weight is not None and dt == weight.dtype:
                ctx.grad_weight.addmm_(g.T, hs[a:b])  # summed inside the matmul: no chunk-sized temporary
            elif grad_weight:
                part = (g.T @ hs[a:b]).to(weight.dtype)
                ctx.grad_weight = part if ctx.grad_weight is None else ctx.grad_weight.add_(part)
        if grad_weight and ctx.grad_weight is None:  # no weighted position
            ctx.grad_weight = torch.zeros_like(weight)
        return total

    @staticmethod
    def backward(ctx, grad_output):
        grad_h = grad_weight = None
        if ctx.grad_h is not None:
            grad_h = ctx.grad_h.new_zeros(ctx.shape).index_copy_(0, ctx.rows, _times(ctx.grad_h, grad_output))
        if ctx.grad_weight is not None:
            grad_weight = _times(ctx.grad_weight, grad_output)
        ctx.grad_h = ctx.grad_weight = None
        return grad_h, grad_weight, None, None, None, None, None


MAX_BLOCK = 256


def row_max(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.max(x, -1, keepdim=True)`` of a 2-D x, the first index of the largest value included, found from
    the largest of each block of MAX_BLOCK columns: on the CPU, torch.max with indices over a 65,536-wide row is
    ~8x slower than amax, which is vectorised."""
    n, V = x.shape
    if V % MAX_BLOCK or V < 2 * MAX_BLOCK:
        return torch.max(x, -1, keepdim=True)
    blocks = x.view(n, V // MAX_BLOCK, MAX_BLOCK)
    top, block = blocks.amax(-1).max(-1, keepdim=True)  # the first block holding the row's largest value
    inside = blocks.gather(1, block[:, :, None].expand(n, 1, MAX_BLOCK)).squeeze(1).argmax(-1, keepdim=True)
    return top, block * MAX_BLOCK + inside


def _times(t: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """t * grad_output, skipping the pass over t for the usual upstream gradient of 1 (read without a device sync
    only on the CPU)."""
    if grad_output.device.type == "cpu" and float(grad_output) == 1.0:
        return t
    return t.mul_(grad_output.to(t.dtype))


def head_loss_sum(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                  rows: torch.Tensor) -> torch.Tensor:
    """weighted_loss_sum(h @ weightᵀ, targets, weights), the same value and gradients, with logits only for the
    positions ``rows`` (the flat indices where ``weights`` > 0: the others add nothing to the loss or its
    gradients), a chunk of HEAD_CHUNK_BYTES at a time. h [B, T, C] (the head's input), weight [V, C]."""
    grad = torch.is_grad_enabled()
    return _HeadLoss.apply(h.flatten(0, 1), weight, targets.flatten(), weights.flatten(), rows,
                           grad and h.requires_grad, grad and weight.requires_grad)
