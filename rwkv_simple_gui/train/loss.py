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
