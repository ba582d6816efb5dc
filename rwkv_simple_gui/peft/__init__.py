"""Parameter-efficient fine-tuning methods, RWKV-PEFT compatible.

``apply_peft(model, cfg)`` turns a plain RWKV model into the one trained by ``cfg.finetune_mode``;
``adapter_state_dict`` gives exactly what ``rwkv-<epoch>.pth`` holds (RWKV-PEFT key names);
``load_adapted_model`` rebuilds a trained model from base + checkpoint (what the merger compares against).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from .base import AdaptedLinear, FrozenLinear, target_linears, wrap_targets
from .disha import BatLinear, BoneLinear
from .lisa import LisaSelector
from .lora import LoraLinear
from .pissa import INIT_FILE, PissaLinear, init_state_dict, read_init
from .state import add_time_states

__all__ = [
    "apply_peft", "trainable_parameters", "adapter_state_dict", "load_checkpoint", "load_adapted_model",
    "infer_mode", "LisaSelector", "init_state_dict", "INIT_FILE", "AdaptedLinear",
]

ADAPTER_SUFFIX = {"lora": (".lora_A", ".lora_B"), "pissa": (".lora_A", ".lora_B"),
                  "bone": (".disha",), "bat": (".disha",), "state_tuning": (".time_state",)}
PEFT_MODES = ("lora", "pissa", "bone", "bat")
PROJECTION = re.compile(r"\.(receptance|key|value|output|gate)\.weight$")


def _get(cfg, name, default=None):
    return cfg.get(name, default) if isinstance(cfg, dict) else getattr(cfg, name, default)


def part_matches(name: str, parts) -> bool:
    """Whether base parameter ``name`` belongs to one of the train_parts (emb, head, time, ln).

    "time" means the time-mix parameters: v6 names them ``time_*``; v7 has no such prefix, so there it is
    every att/ffn parameter other than the projections and ln_x (x_r.., w0/w1/w2, a*, v*, g*, k_k, k_a, r_k).
    """
    for part in parts:
        if part == "time":
            if "time" in name:
                return True
            if re.match(r"^blocks\.\d+\.(att|ffn)\.", name) and not PROJECTION.search(name) and ".ln_x." not in name:
                return True
        elif part in name:
            return True
    return False


def apply_peft(model: nn.Module, cfg) -> None:
    """Freeze the base and add ``cfg.finetune_mode``'s trainable parameters (in place).

    For pissa, ``cfg.pissa_init`` (a path) restores the saved starting point instead of a new SVD.
    """
    mode = _get(cfg, "finetune_mode")
    for p in model.parameters():
        p.requires_grad_(mode == "full")
    if mode in ("full", "lisa"):
        if mode == "lisa":
            for p in model.parameters():
                p.requires_grad_(True)
        return
    if mode == "lora":
        r, alpha, dropout = _get(cfg, "lora_r"), _get(cfg, "lora_alpha"), _get(cfg, "lora_dropout", 0.0)
        wrap_targets(model, lambda name, lin: LoraLinear(lin, r, alpha, dropout))
    elif mode == "pissa":
        r, niter, init_path = _get(cfg, "pissa_r"), _get(cfg, "svd_niter"), _get(cfg, "pissa_init")
        inits = read_init(init_path) if init_path else {}
        names = [n for n, _ in target_linears(model)]
        missing = [n for n in names if init_path and n not in inits]
        if missing:
            raise ValueError(f"{init_path}: no init_lora_A/B for {missing[0]}; it belongs to another model or run")
        wrap_targets(model, lambda name, lin: PissaLinear(lin, r, niter, inits.get(name)))
    elif mode == "bone":
        wrap_targets(model, lambda name, lin: BoneLinear(lin, _get(cfg, "disha_r")))
    elif mode == "bat":
        wrap_targets(model, lambda name, lin: BatLinear(lin, _get(cfg, "disha_r")))
    elif mode == "state_tuning":
        add_time_states(model)
        if _get(cfg, "quant", "none") != "none":
            wrap_targets(model, lambda name, lin: FrozenLinear(lin))
        return
    else:
        raise ValueError(f"finetune_mode={mode!r}: use lora, pissa, bone, bat, state_tuning, lisa or full")
    parts = _get(cfg, "train_parts", []) or []
    for name, p in model.named_parameters():
        if part_matches(name, parts) and not PROJECTION.search(name):
            p.requires_grad_(True)


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters that receive gradients now (for LISA: the current draw)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def adapter_state_dict(model: nn.Module, cfg) -> dict[str, torch.Tensor]:
    """What ``rwkv-<epoch>.pth`` holds: the adapter keys plus the train_parts (full/lisa: the whole model)."""
    mode = _get(cfg, "finetune_mode")
    if mode in ("full", "lisa"):
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    suffixes = ADAPTER_SUFFIX[mode]
    parts = (_get(cfg, "train_parts", []) or []) if mode in PEFT_MODES else []
    out = {}
    for name, p in model.named_parameters():
        if name.endswith(suffixes) or (part_matches(name, parts) and not PROJECTION.search(name)):
            out[name] = p.detach().cpu().clone()
    return out


def load_checkpoint(model: nn.Module, path) -> list[str]:
    """Load a training checkpoint into an adapted model; returns the keys loaded.

    Every key must exist in the model with the same shape, otherwise the checkpoint is for another model
    or another method, and the error says which key differs."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
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


def infer_mode(state_dict: dict) -> str:
    keys = list(state_dict)
    if any(k.endswith(".lora_A") for k in keys):
        return "lora"
    disha = [v for k, v in state_dict.items() if k.endswith(".disha")]
    if disha:
        return "bat" if disha[0].dim() == 3 else "bone"
    if keys and all(k.endswith(".time_state") for k in keys):
        return "state_tuning"
    return "full"


def _run_config(checkpoint_path: Path, run_config):
    if run_config is None:
        candidate = checkpoint_path.parent / "config.json"
        if candidate.is_file():
            run_config = candidate
    if isinstance(run_config, (str, Path)):
        data = json.loads(Path(run_config).read_text(encoding="utf-8"))
        for key in ("model_info", "data_info", "resolved"):  # the trainer's notes, not options
            data.pop(key, None)
        return data
    if run_config is not None and not isinstance(run_config, dict):
        return {k: getattr(run_config, k) for k in vars(run_config)}
    return run_config


def load_adapted_model(base_path, checkpoint_path, run_config=None, *, dtype=torch.float32, device="cpu") -> nn.Module:
    """Base model + the method's adapter + the trained checkpoint, in eval mode.

    ``run_config`` (TrainConfig, dict, or path to a run's config.json; default: config.json next to the
    checkpoint) gives the method and its options. Without one, the method is read from the checkpoint keys
    (LoRA then needs lora_alpha from a config). PiSSA uses the init_pissa.pth next to the checkpoint, or
    the one the config names.
    """
    from rwkv_simple_gui.model import load_model

    checkpoint_path = Path(checkpoint_path)
    sd = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    cfg = dict(_run_config(checkpoint_path, run_config) or {})
    init_next_to = checkpoint_path.parent / INIT_FILE
    if "finetune_mode" not in cfg:
        mode = infer_mode(sd)
        if mode == "lora" and init_next_to.is_file():
            mode = "pissa"
        if mode == "lora":
            raise ValueError(f"{checkpoint_path}: a LoRA checkpoint needs lora_alpha: pass run_config (the run's "
                             f"config.json)")
        cfg["finetune_mode"] = mode
    mode = cfg["finetune_mode"]
    lora_a = next((v for k, v in sd.items() if k.endswith(".lora_A")), None)
    if lora_a is not None:
        cfg.setdefault("lora_r", lora_a.shape[0])
        cfg.setdefault("pissa_r", lora_a.shape[0])
        cfg["lora_dropout"] = 0.0
    disha = next((v for k, v in sd.items() if k.endswith(".disha")), None)
    if disha is not None:
        cfg.setdefault("disha_r", disha.shape[-1] if disha.dim() == 3 else disha.shape[0])
    if mode == "pissa":
        init = init_next_to if init_next_to.is_file() else cfg.get("pissa_init")
        if not init or not Path(init).is_file():
            raise FileNotFoundError(f"PiSSA checkpoint {checkpoint_path} needs its {INIT_FILE}: not found next to "
                                    f"it; pass a run_config whose pissa_init names it")
        cfg["pissa_init"] = str(init)
    cfg.setdefault("svd_niter", 1)
    cfg["quant"] = "none"
    model = load_model(base_path, dtype=torch.float32, device="cpu")
    apply_peft(model, cfg)
    load_checkpoint(model, checkpoint_path)
    model.to(device=device, dtype=dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
