"""AdamW that leaves the never-used rows of an embedding alone.

A fine-tuning batch uses a few hundred of an embedding's 65,536 rows, yet torch's AdamW reads and writes every
row of the weight and of both moments at every step. The rows whose gradient has always been zero do not move
under AdamW: their moments are zero, so the update is lr * 0 / (0 + eps) = 0 (with eps > 0 and no weight decay,
which :func:`rows_exact` checks). Updating only the rows that have ever had a gradient is therefore the same
optimizer, not an approximation; a row once used keeps moving with its decaying moments, as in AdamW.
"""

from __future__ import annotations

import ctypes

import torch
from torch.optim.adam import adam

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def rows_exact(group: dict) -> bool:
    """Whether leaving unused rows alone is exact for this param group's settings."""
    return group["eps"] > 0 and group["weight_decay"] == 0 and not group["amsgrad"] and not group["maximize"]


class AdamWRows(torch.optim.AdamW):
    """torch's AdamW, except that ``row_params`` (2-D, rows = embedding entries) are updated only in the rows
    that have had a non-zero gradient at some step (those whose group is not :func:`rows_exact`: every row).
    Their state is AdamW's own (``self.state[p]``: step, exp_avg, exp_avg_sq), so ``state_dict()`` and a resume
    are unchanged, and a resumed run finds its used rows from the moments. Their gradient may be sparse
    (``nn.Embedding(sparse=True)``): then no dense gradient of the whole table is ever formed or scanned."""

    def __init__(self, params, row_params: list[torch.Tensor], **kwargs):
        super().__init__(params, **kwargs)
        ids = {id(p) for p in row_params}
        self.row_params = [p for g in self.param_groups if rows_exact(g) for p in g["params"] if id(p) in ids]
        self._used: dict[torch.Tensor, torch.Tensor] = {}  # param -> bool per row

    @torch.no_grad()
    def step(self, closure=None, grad_factor: torch.Tensor | None = None):
        """``grad_factor`` (gradient clipping's): every gradient is taken times it, in the fused kernels and the
        used rows without a pass of its own over the gradients."""
        held = {p: p.grad for p in self.row_params if p.grad is not None}
        for p in held:  # torch's step skips a parameter without a gradient, its state included
            p.grad = None
        if grad_factor is not None and all(group["fused"] for group in self.param_groups):
            self.grad_scale = 1 / grad_factor  # the fused kernels divide each gradient by it (GradScaler's way)
        elif grad_factor is not None:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.mul_(grad_factor)
        try:
            loss = super().step(closure)
        finally:
            self.__dict__.pop("grad_scale", None)
            for p, grad in held.items():
                p.grad = grad
        for group in self.param_groups:
            for p in group["params"]:
                if p in held:
                    self._row_step(p, held[p], group, grad_factor)
        return loss

    def _row_step(self, p: torch.Tensor, grad: torch.Tensor, group: dict, grad_factor: torch.Tensor | None) -> None:
        """AdamW's single-tensor update, on the used rows only."""
        state = self.state[p]
        if not state:
            fused = group["fused"] or group["capturable"]
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device if fused else "cpu")
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        used = self._used.get(p)
        if used is None:
            used = self._used[p] = state["exp_avg"].any(1) | state["exp_avg_sq"].any(1)
        if grad.is_sparse:  # the rows a batch looked up (a row whose gradient is zero stays where it is all the same)
            grad = grad.coalesce()
            seen, values = grad.indices()[0], grad.values()
            used[seen] = True
            rows = used.nonzero().squeeze(1)
            g = values.new_zeros(len(rows), p.shape[1]).index_copy_(0, torch.searchsorted(rows, seen), values)
        else:
            used |= grad.any(1)
            rows = used.nonzero().squeeze(1)
            g = grad.index_select(0, rows)
        m, v = state["exp_avg"].index_select(0, rows), state["exp_avg_sq"].index_select(0, rows)
        if grad_factor is not None:
            g.mul_(grad_factor)
        x = p.index_select(0, rows)
        beta1, beta2 = group["betas"]
        # torch's own fused AdamW kernel (it counts the step): one pass over the rows instead of seven
        adam([x], [g], [m], [v], [], [state["step"]], fused=True, decoupled_weight_decay=True, amsgrad=False,
             beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=0.0, eps=group["eps"], maximize=False)
        p.index_copy_(0, rows, x)
        state["exp_avg"].index_copy_(0, rows, m)
        state["exp_avg_sq"].index_copy_(0, rows, v)


def reuse_freed_memory() -> None:
    """Keep freed large blocks in this process's heap (glibc only; elsewhere nothing changes).

    A CPU step frees and allocates again tensors of 32 MiB and more (the embedding's and the head's gradients, a
    chunk of logits). glibc serves blocks above its 32 MiB ceiling with mmap and returns them to the kernel when
    freed, so every step pays a page fault per 4 KiB page of each: measured 43 ms against 162 ms for a 32 MiB
    zeros on this machine under load. The trainer's peak memory stays what it was; it is just not given back.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
