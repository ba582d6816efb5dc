"""PiSSA: LoRA started from the weight's principal directions. With W ~ U S V^T (rank r, randomized SVD),
A = sqrt(S) V^T, B = U sqrt(S), and the frozen weight becomes the residual W - B A; y = W_res x + B (A x).
Merged: (W - B0 A0) + B A.

The starting A, B (``init_pissa.pth``, keys ``model.<module>.init_lora_A/B`` as RWKV-PEFT writes them) are
needed to rebuild W_res when resuming or merging, since the randomized SVD is not reproducible."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import lora
from .base import AdaptedLinear, Getter, cast_for, option, target_linears, train_parts, wrap_targets
from .methods import METHODS

INIT_FILE = METHODS["pissa"].init_file


def residual(weight: torch.Tensor, a0: torch.Tensor, b0: torch.Tensor) -> torch.Tensor:
    """W - B0 A0 (fp32): the frozen weight PiSSA trains on."""
    return torch.addmm(weight.float(), b0.float(), a0.float(), alpha=-1.0)


class PissaLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, r: int, niter: int, init: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(base)
        w = base.weight.detach().float()
        if init is None and w.is_meta:  # a model without data (the memory estimate counts it): shapes only
            a, b = torch.empty(r, self.in_features, device="meta"), torch.empty(self.out_features, r, device="meta")
        elif init is None:
            u, s, v = torch.svd_lowrank(w, q=r, niter=niter)
            root = s[:r].sqrt()
            a, b = root[:, None] * v[:, :r].T, u[:, :r] * root
        else:
            a, b = (t.detach().float().to(w.device) for t in init)
            if a.shape != (r, self.in_features) or b.shape != (self.out_features, r):
                raise ValueError(f"init_pissa shapes {tuple(a.shape)}/{tuple(b.shape)} do not match pissa_r={r} "
                                 f"and the layer {self.out_features}x{self.in_features}")
        self.weight = nn.Parameter(residual(w, a, b).to(base.weight.dtype), requires_grad=False)
        self.lora_A = nn.Parameter(a.clone())
        self.lora_B = nn.Parameter(b.clone())
        self.init_A, self.init_B = (a, b) if w.is_meta else (a.cpu(), b.cpu())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = F.linear(F.linear(x, cast_for(self.lora_A, x)), cast_for(self.lora_B, x))
        return self.base_forward(x) + low

    def merged_weight(self) -> torch.Tensor:
        return lora.fold(self.base_weight(), self.lora_A, self.lora_B, 1.0)


def init_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {f"model.{name}.init_lora_{ab}": getattr(m, f"init_{ab}").clone()
            for name, m in model.named_modules() if isinstance(m, PissaLinear) for ab in "AB"}


def read_init(path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{module name: (A0, B0)}`` from an init_pissa.pth, with or without the ``model.`` prefix."""
    from rwkv_simple_gui.model import read_state_dict

    sd = read_state_dict(path)
    out: dict[str, list] = {}
    for key, value in sd.items():
        name = key[len("model."):] if key.startswith("model.") else key
        for ab, idx in (("A", 0), ("B", 1)):
            suffix = f".init_lora_{ab}"
            if name.endswith(suffix):
                out.setdefault(name[: -len(suffix)], [None, None])[idx] = value
    bad = [k for k, v in out.items() if v[0] is None or v[1] is None]
    if not out or bad:
        incomplete = f"; incomplete for {bad[0]}" if bad else ""
        raise ValueError(f"{path}: not an init_pissa.pth (expected *.init_lora_A/B pairs{incomplete})")
    return {k: (v[0], v[1]) for k, v in out.items()}


def inject(model: nn.Module, cfg) -> None:
    """A new SVD per layer, or (``pissa_init`` set) the starting point a run saved."""
    r, niter, init_path = option(cfg, "pissa_r"), option(cfg, "svd_niter"), option(cfg, "pissa_init")
    inits = read_init(init_path) if init_path else {}
    missing = [n for n, _ in target_linears(model) if init_path and n not in inits]
    if missing:
        raise ValueError(f"{init_path}: no init_lora_A/B for {missing[0]}; it belongs to another model or run")
    wrap_targets(model, lambda name, lin: PissaLinear(lin, r, niter, inits.get(name)))
    train_parts(model, cfg)


def frozen_weight(weight: torch.Tensor, get: Getter) -> torch.Tensor:
    return residual(weight, get("init_lora_A"), get("init_lora_B"))


def merge_weight(weight: torch.Tensor, get: Getter, cfg) -> torch.Tensor:
    return lora.fold(weight, get("lora_A"), get("lora_B"), 1.0)


def check(weight_shape, get_shape) -> str | None:
    problem = lora.check_pair(weight_shape, get_shape("lora_A"), get_shape("lora_B"))
    if problem is None:
        for half in "AB":
            init, trained = list(get_shape(f"init_lora_{half}")), list(get_shape(f"lora_{half}"))
            if init != trained:
                return (f"init_lora_{half} is {init} but lora_{half} is {trained}: the init file is of another PiSSA "
                        f"rank; pick the {INIT_FILE} of the same run")
    return problem
