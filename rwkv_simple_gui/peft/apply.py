"""A method applied to a model: inject it, list what trains, save and load its checkpoint keys."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .base import PROJECTION, option, part_matches
from .methods import method


def apply_peft(model: nn.Module, cfg) -> None:
    """Freeze the base and add ``cfg.finetune_mode``'s trainable parameters (in place).

    For pissa, ``cfg.pissa_init`` (a path) restores the saved starting point instead of a new SVD.
    """
    row = method(option(cfg, "finetune_mode"))
    for p in model.parameters():
        p.requires_grad_(row.layer is None)
    if row.layer is not None:
        row.layer_module().inject(model, cfg)


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters that receive gradients now (for LISA: the current draw)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def adapter_state_dict(model: nn.Module, cfg) -> dict[str, torch.Tensor]:
    """What ``rwkv-<epoch>.pth`` holds: the adapter keys plus the train_parts (whole-model methods: all)."""
    row = method(option(cfg, "finetune_mode"))
    if row.trains_base:
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    parts = (option(cfg, "train_parts", []) or []) if "train_parts" in row.options else []
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters()
            if name.endswith(row.key_suffixes) or (part_matches(name, parts) and not PROJECTION.search(name))}


def load_checkpoint(model: nn.Module, path) -> list[str]:
    """Load a training checkpoint into an adapted model; returns the keys loaded.

    Every key must exist in the model with the same shape, otherwise the checkpoint is for another model
    or another method, and the error says which key differs."""
    from rwkv_simple_gui.model import read_state_dict

    sd = read_state_dict(path)  # refuses pickled code in plain words, like every model file
    own = dict(model.named_parameters())
    own.update(dict(model.named_buffers()))
    for key, value in sd.items():
        if key not in own:
            raise ValueError(f"{path}: key {key} does not exist in this model; the checkpoint was trained "
                             f"with another method or base model")
        if tuple(own[key].shape) != tuple(value.shape):
            raise ValueError(f"{path}: {key} has shape {tuple(value.shape)} but the model expects "
                             f"{tuple(own[key].shape)}; check the base model and the rank (lora_r/pissa_r/disha_r)")
        with torch.no_grad():
            own[key].copy_(value.to(own[key].dtype))
    return list(sd)


def load_adapted_model(base_path, checkpoint_path, options: dict, *, dtype=torch.float32,
                       device="cpu") -> nn.Module:
    """Base model + the method's adapter + the trained checkpoint, in eval mode.

    ``options`` are the run's (``train.rundir.read_options``); a method's init file (PiSSA) is the one they
    name, or the one next to the checkpoint.
    """
    from rwkv_simple_gui.model import load_model

    checkpoint_path = Path(checkpoint_path)
    cfg = {**options, "lora_dropout": 0.0, "quant": "none"}
    row = method(cfg["finetune_mode"])
    if row.init_file:
        beside = checkpoint_path.parent / row.init_file
        init = beside if beside.is_file() else cfg.get(row.init_option)
        if not init or not Path(init).is_file():
            raise FileNotFoundError(f"{row.name} checkpoint {checkpoint_path} needs its {row.init_file}: not found "
                                    f"next to it, and the options name none")
        cfg[row.init_option] = str(init)
    model = load_model(base_path, dtype=torch.float32, device="cpu")
    apply_peft(model, cfg)
    load_checkpoint(model, checkpoint_path)
    model.to(device=device, dtype=dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
