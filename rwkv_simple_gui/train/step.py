"""One training step's parts, below the Trainer: the model as a run builds it (method injected, checkpoint
loaded, trained parameters in fp32), the optimizer's groups, the forward/backward of one micro batch and the plan's
counts. The Trainer (loop.py), the measured-time budget (budget.py) and the check (prepare.py) share them."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from rwkv_simple_gui import paths, peft
from rwkv_simple_gui.model.rwkv import RWKV

from .config import TrainConfig
from .data import held_out_count, make_plan
from .distributed import Dist
from .loss import head_loss_sum, weighted_loss_sum
from .optim import AdamWRows
from .rundir import Log

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
PART_LR_SCALE = {"att.w0": 2.0, "att.time_decay": 2.0}  # the decay base learns at 2x lr, as in RWKV-LM


class UserError(ValueError):
    """A problem with the user's settings or files, said in plain words: train.log gets no traceback for it."""


class ConfigError(UserError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def choose_device() -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def make_optimizer(cfg: TrainConfig, named_params: dict, fused: bool, rowwise: bool = False) -> torch.optim.AdamW:
    """AdamW groups: weight decay only on matrices; the decay base (w0 / time_decay) at 2x lr. ``fused``: torch's
    one-kernel AdamW (CPU and CUDA). ``rowwise``: a trained embedding is updated only in the rows that have been
    used (optim.AdamWRows)."""
    groups: dict[tuple[float, float], list] = {}
    for name, p in named_params.items():
        scale = next((s for key, s in PART_LR_SCALE.items() if name.endswith(key)), 1.0)
        decay = cfg.weight_decay if p.dim() >= 2 else 0.0
        groups.setdefault((scale, decay), []).append(p)
    param_groups = [{"params": ps, "lr_scale": s, "weight_decay": d} for (s, d), ps in groups.items()]
    options = dict(lr=cfg.lr_init, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps, fused=fused or None)
    rows = [p for name, p in named_params.items() if name == "emb.weight"] if rowwise else []
    return AdamWRows(param_groups, rows, **options)


def training_documents(cfg: TrainConfig, info) -> int:
    """Documents trained on (those val_split holds out are not)."""
    return info.n_docs - held_out_count(info.n_docs, cfg.val_split)


def estimate(cfg: TrainConfig, info, world: int | None = None) -> dict:
    """The run's :class:`train.data.Plan` (epochs, optimizer steps, micro-batches) from the dataset's document
    count (``info``: a DataInfo; no model needed), as a dict."""
    world = world or cfg.devices
    n_docs = training_documents(cfg, info)
    return {"documents": n_docs, **make_plan(cfg, n_docs, world).to_dict()}


def _load_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    # frozen base weights may live in the compute dtype on GPU; trained weights stay fp32 (master copy)
    if device.type == "cuda" and not peft.method(cfg.finetune_mode).trains_base and cfg.precision in AUTOCAST:
        return AUTOCAST[cfg.precision]
    return torch.float32


def _apply_with_init(model, cfg: TrainConfig, run_dir: Path, dist: Dist, log: Log) -> None:
    """Inject the method. A method with an init file (PiSSA's SVD) computes it once, on rank 0, and every
    other rank starts from the file it writes, so all hold the same frozen weights."""
    row = peft.method(cfg.finetune_mode)
    if not row.init_file:
        peft.apply_peft(model, cfg)
        return
    init_path, given = Path(run_dir) / row.init_file, getattr(cfg, row.init_option)

    def save_init():
        with paths.atomic_output(init_path) as tmp:
            torch.save(row.layer_module().init_state_dict(model), tmp)

    if given:
        peft.apply_peft(model, cfg)
        if dist.is_main and not init_path.exists():  # the run folder keeps what its merge needs
            save_init()
        return
    if dist.is_main:
        log(f"{row.name}: computing the starting point of every adapted layer")
        peft.apply_peft(model, cfg)
        save_init()
    dist.barrier()
    if not dist.is_main:
        peft.apply_peft(model, cfg.replace(**{row.init_option: str(init_path)}))


def build_model(cfg: TrainConfig, device: torch.device, run_dir: Path, dist: Dist, log: Log):
    from rwkv_simple_gui.model import load_model

    model = load_model(cfg.model_path, dtype=_load_dtype(cfg, device), device=str(device), op=cfg.op)
    model.grad_cp = bool(cfg.grad_cp)
    _apply_with_init(model, cfg, run_dir, dist, log)
    load_option = peft.method(cfg.finetune_mode).load_option
    resume = getattr(cfg, load_option) if load_option else ""
    if resume:
        keys = peft.load_checkpoint(model, resume)
        log(f"resumed from {paths.display(resume)} ({len(keys)} tensors)")
    for p in peft.trainable_parameters(model).values():
        # contiguous: DeepSpeed views each parameter as flat bytes, and PiSSA's factors come out transposed
        p.data = p.data.float().contiguous()
    if cfg.quant != "none":
        from rwkv_simple_gui.peft.quant import quantize_model

        log(f"quantized {quantize_model(model, cfg.quant)} frozen linears to {cfg.quant}")
    return model


def forward_backward(model, batch, cfg: TrainConfig, device, scale: float, autocast, backward,
                     last: bool = True) -> tuple[torch.Tensor, int]:
    """Loss sum of one micro batch (a 0-dim tensor: reading it would wait for the device) and its real token
    count; ``backward(loss * scale, is_last_pass)`` is called once per pass (``last``: this micro batch ends the
    optimizer step)."""
    real = (batch.w > 0).any(0).nonzero()  # on the host: no device sync
    if len(real) == 0:  # nothing learned here; a zero loss keeps every rank's collective calls in step
        real = torch.zeros(1, dtype=torch.long)
    # causal model: positions after the last weighted target change nothing, so they are not computed
    T = min(batch.x.shape[1], math.ceil((int(real[-1]) + 1) / 16) * 16)
    x, y, w = (t[:, :T].to(device) for t in (batch.x, batch.y, batch.w))
    # the plain model computes logits only where a target is weighted (a DeepSpeed engine gets the whole head)
    own_head = isinstance(model, RWKV)
    chunk = cfg.chunk_ctx if cfg.train_type == "infctx" else T
    state, total = None, torch.zeros((), device=device)
    for start in range(0, T, chunk):
        part = slice(start, start + chunk)
        with autocast():
            if own_head:
                h, state = model(x[:, part], state, head=False)
                rows = batch.w[:, :T][:, part].flatten().nonzero().squeeze(1).to(device)
                # the scale goes into the weights, so the backward pass starts from 1 (no pass over the gradients)
                scaled = head_loss_sum(h, model.head.weight, y[:, part], w[:, part] * scale, rows)
            else:
                logits, state = model(x[:, part], state)
                scaled = weighted_loss_sum(logits, y[:, part], w[:, part]) * scale
        # each chunk is back-propagated at once and the state is cut (truncated BPTT), so memory holds
        # one chunk's graph however long the sequence is
        backward(scaled, last and start + chunk >= T)
        total += scaled.detach() / scale
        state = [tuple(t.detach() for t in layer) for layer in state]
    return total, batch.tokens


def no_backward(loss, last: bool) -> None:
    """forward_backward's backward for evaluation passes (under torch.no_grad)."""
