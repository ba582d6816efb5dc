"""TrainConfig checks, run before any work starts. Each message says what is wrong and what to change."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import shutil
from pathlib import Path

from rwkv_simple_gui import paths

LOADS = {"lora": "lora_load", "pissa": "pissa_load", "bone": "disha_load", "bat": "disha_load",
         "state_tuning": "state_load"}


def divisors_near(n: int, around: int, count: int = 3) -> list[int]:
    divs = [d for d in range(1, n + 1) if n % d == 0]
    # nearest on a log scale: ranks are thought of as 32, 64, 128, ...
    return sorted(sorted(divs, key=lambda d: abs(math.log(d / max(around, 1))))[:count])


def _or_list(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _check_fields(cfg) -> list[str]:
    out = []
    for f in dataclasses.fields(cfg):
        value, meta = getattr(cfg, f.name), f.metadata
        choices = meta.get("choices")
        if choices is not None:
            bad = [v for v in value if v not in choices] if isinstance(value, list) else (
                [value] if value not in choices else [])
            if bad:
                out.append(f"{f.name}={bad[0]!r} is not allowed: use {_or_list(choices)}")
                continue
        if "min" in meta and value < meta["min"]:
            out.append(f"{f.name}={value} is too small: the minimum is {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.append(f"{f.name}={value} is too large: the maximum is {meta['max']}")
    return out


def _file(cfg, name: str, base: str, what: str) -> list[str]:
    value = getattr(cfg, name)
    if value and not paths.resolve(value, base).is_file():
        return [f"{name}: {what} {value!r} not found (looked at {paths.resolve(value, base)})"]
    return []


def processes(cfg) -> int:
    """Training processes in all: what the launcher started (in a rank), the hostfile's slots, or devices x
    num_nodes."""
    from .distributed import launched_rank, read_hostfile

    if launched_rank():
        return int(os.environ["WORLD_SIZE"])
    if cfg.hostfile:
        try:
            return sum(slots for _, slots in read_hostfile(paths.resolve(cfg.hostfile)))
        except ValueError:
            pass  # reported by _machines
    return cfg.devices * cfg.num_nodes


def _machines(cfg) -> list[str]:
    from .distributed import launched_rank, read_hostfile

    out = []
    if cfg.node_rank >= cfg.num_nodes:
        out.append(f"node_rank={cfg.node_rank} must be below num_nodes={cfg.num_nodes}: number the machines 0 .. "
                   f"{cfg.num_nodes - 1} (0 on the main machine)")
    if cfg.num_nodes > 1 and not cfg.master_addr.strip():
        out.append("master_addr is empty: type the address of machine 0 (the same on every machine)")
    # only the launching machine reads the hostfile; ranks that DeepSpeed started elsewhere may lack it
    if cfg.hostfile and not launched_rank():
        if cfg.num_nodes > 1:
            out.append("hostfile and num_nodes > 1 are both set: with a hostfile start the run once, on the first "
                       "machine listed (DeepSpeed starts the others); set num_nodes 1")
        try:
            hosts = read_hostfile(paths.resolve(cfg.hostfile))
        except ValueError as e:
            out.append(str(e))
        else:
            if len(hosts) > 1 and cfg.master_addr.strip() in ("127.0.0.1", "localhost", ""):
                out.append(f"master_addr={cfg.master_addr!r} cannot be reached from the other machines of the "
                           f"hostfile: set it to the address of {hosts[0][0]}, the first machine listed")
        if importlib.util.find_spec("deepspeed") is None:
            out.append("hostfile needs the deepspeed package (its launcher starts the machines): pip install "
                       "deepspeed, or clear hostfile")
        if shutil.which("pdsh") is None:
            out.append("hostfile needs pdsh, which DeepSpeed uses to start every machine over ssh: install it "
                       "(apt install pdsh), or clear hostfile and start each machine with num_nodes/node_rank")
    return out


def problems(cfg, model_info=None, data_info=None, device: str | None = None) -> list[str]:
    out = _check_fields(cfg) + _machines(cfg)
    mode = cfg.finetune_mode
    world = processes(cfg)

    # files
    if not cfg.model_path:
        out.append("model_path is empty: choose the base model .pth (a file in model/)")
    else:
        out += _file(cfg, "model_path", "model", "model file")
    if not cfg.data_path:
        out.append("data_path is empty: choose a tokenized dataset (the binidx prefix, e.g. data/sample)")
    else:
        prefix = str(paths.resolve(cfg.data_path, "data"))
        missing = [ext for ext in (".bin", ".idx") if not Path(prefix + ext).is_file()]
        if missing:
            out.append(f"data_path: {prefix}{missing[0]} not found; give the prefix of a .bin/.idx pair "
                       f"written by the tokenize step")
    for name in ("lora_load", "pissa_load", "pissa_init", "disha_load", "state_load"):
        if cfg.applies(name):
            out += _file(cfg, name, "output", "checkpoint")

    # combinations
    if cfg.train_type == "infctx":
        if cfg.dataload != "pad":
            out.append(f"train_type infctx needs dataload pad (now {cfg.dataload})")
        if mode == "state_tuning":
            out.append("train_type infctx does not work with state_tuning: set train_type none")
        if cfg.chunk_ctx > cfg.ctx_len:
            out.append(f"chunk_ctx={cfg.chunk_ctx} is larger than ctx_len={cfg.ctx_len}: lower chunk_ctx "
                       f"or raise ctx_len")
        if cfg.chunk_ctx % 16:
            out.append(f"chunk_ctx={cfg.chunk_ctx} must be a multiple of 16 (try {cfg.chunk_ctx // 16 * 16 or 16})")
    if cfg.ctx_len % 16:
        up = (cfg.ctx_len + 15) // 16 * 16
        out.append(f"ctx_len={cfg.ctx_len} must be a multiple of 16 for the WKV kernels (try {up}, the "
                   f"max_length the tokenizer printed)")
    if cfg.loss_mask in ("qa", "se") and cfg.dataload == "get":
        out.append(f"loss_mask {cfg.loss_mask} needs whole documents: use dataload pad or only, or loss_mask none")
    if cfg.loss_mask == "se" and not (cfg.mask0 and cfg.mask1):
        out.append("loss_mask se needs both mask0 (stop learning) and mask1 (start learning) strings")
    if cfg.pissa_load and mode == "pissa" and not cfg.pissa_init:
        out.append("pissa_load is set but pissa_init is empty: give the init_pissa.pth of the run you continue")
    if cfg.epoch_begin >= cfg.epoch_count:
        out.append(f"epoch_begin={cfg.epoch_begin} leaves nothing to do: epoch_count={cfg.epoch_count} is the "
                   f"total number of epochs, raise it above epoch_begin")
    if cfg.epoch_begin > 0 and mode in LOADS and not getattr(cfg, LOADS[mode]):
        out.append(f"epoch_begin={cfg.epoch_begin} continues a run: set {LOADS[mode]} to its last checkpoint "
                   f"(e.g. output/<run>/rwkv-{cfg.epoch_begin - 1}.pth)")
    if cfg.quant != "none":
        if mode in ("full", "lisa"):
            out.append(f"quant {cfg.quant} cannot be used with {mode} (it trains the base weights): set quant none")
        if world > 1:
            out.append("quant is not supported with several processes: set quant none, or train with devices 1 "
                       "on one machine (num_nodes 1, no hostfile)")
        if device is not None and device != "cuda":
            out.append(f"quant {cfg.quant} needs a CUDA GPU (bitsandbytes); on {device} set quant none")
        elif importlib.util.find_spec("bitsandbytes") is None:
            out.append(f"quant {cfg.quant} needs the bitsandbytes package: pip install bitsandbytes, or set quant none")
    if world > 1 and cfg.deepspeed_strategy != "none":
        if importlib.util.find_spec("deepspeed") is None:
            out.append(f"{cfg.deepspeed_strategy} needs the deepspeed package: pip install deepspeed, or set "
                       f"deepspeed_strategy none")
        if mode == "lisa":
            out.append("lisa changes its trained layers during the run, which DeepSpeed cannot follow: set "
                       "deepspeed_strategy none")
        if cfg.precision == "fp16":
            out.append("precision fp16 with DeepSpeed is not supported here: use bf16 (or deepspeed_strategy none)")
    if cfg.op == "fla" and device is not None and device != "cuda":
        out.append(f"op fla needs a CUDA GPU; on {device} use op auto")
    if cfg.precision == "fp16" and device == "cpu":
        out.append("precision fp16 is for GPUs; on CPU use bf16 or fp32")

    # against the model
    if model_info is not None:
        C, L = model_info.n_embd, model_info.n_layer
        dims = sorted({C, model_info.dim_ffn})
        if mode == "bat":
            for d in dims:
                if d % cfg.disha_r:
                    out.append(f"disha_r={cfg.disha_r} must divide {'n_embd' if d == C else 'dim_ffn'}={d} "
                               f"for bat (try {_or_list(divisors_near(C, cfg.disha_r))})")
                    break
        if mode in ("bone", "bat") and cfg.disha_r > C:
            out.append(f"disha_r={cfg.disha_r} is larger than n_embd={C}: try {_or_list(divisors_near(C, C // 16))}")
        for m, name in (("lora", "lora_r"), ("pissa", "pissa_r")):
            if mode == m and getattr(cfg, name) > C:
                out.append(f"{name}={getattr(cfg, name)} is larger than n_embd={C}: use at most {C}")
        if mode == "lisa" and cfg.lisa_r > L:
            out.append(f"lisa_r={cfg.lisa_r} is more than the model's {L} layers: use at most {L}")

    # against the data
    if data_info is not None:
        if data_info.n_docs == 0:
            out.append(f"the dataset {data_info.prefix} holds no documents: tokenize it again")
        elif cfg.dataload == "get" and data_info.num_tokens <= cfg.ctx_len + 1:
            out.append(f"the dataset has {data_info.num_tokens} tokens, not more than ctx_len+1={cfg.ctx_len + 1}: "
                       f"lower ctx_len or use dataload pad")
    return out
