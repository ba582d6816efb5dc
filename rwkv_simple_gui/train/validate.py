"""TrainConfig checks, run before any work starts: a list of small named checks, each returning the
problems it finds in words that say what is wrong and what to change."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from rwkv_simple_gui import paths
from rwkv_simple_gui.data.stats import TOKEN_ALIGN, align_tokens
from rwkv_simple_gui.peft.methods import METHODS, method, or_list


@dataclass(frozen=True)
class Facts:
    """What the checks know besides the options: the model's and data's facts when read, the device."""

    model_info: object = None   # model.ModelInfo
    data_info: object = None    # train.data.DataInfo
    device: str | None = None   # "cpu" / "cuda": enables the checks that depend on the hardware
    world: int = 1              # training processes in all
    gpus: tuple = ()            # train.device.Gpu of each visible GPU (when the device is cuda)


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


def _fields(cfg, facts: Facts) -> list[str]:
    out = []
    for f in dataclasses.fields(cfg):
        value, meta = getattr(cfg, f.name), f.metadata
        if meta.get("auto"):
            if value == "auto":
                continue
            if not str(value).isdigit():
                out.append(f"{f.name}={value!r} is not allowed: use auto or a whole number")
                continue
            value = int(value)
        choices = meta.get("choices")
        if choices is not None:
            bad = [v for v in value if v not in choices] if isinstance(value, list) else (
                [value] if value not in choices else [])
            if bad:
                out.append(f"{f.name}={bad[0]!r} is not allowed: use {or_list(choices)}")
                continue
        if "min" in meta and value < meta["min"]:
            out.append(f"{f.name}={value} is too small: the minimum is {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.append(f"{f.name}={value} is too large: the maximum is {meta['max']}")
    return out


def _hostfile(cfg) -> list[str]:
    from .distributed import read_hostfile

    out = []
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


def _machines(cfg, facts: Facts) -> list[str]:
    from .distributed import launched_rank

    out = []
    if cfg.node_rank >= cfg.num_nodes:
        out.append(f"node_rank={cfg.node_rank} must be below num_nodes={cfg.num_nodes}: number the machines 0 .. "
                   f"{cfg.num_nodes - 1} (0 on the main machine)")
    if cfg.num_nodes > 1 and not cfg.master_addr.strip():
        out.append("master_addr is empty: type the address of machine 0 (the same on every machine)")
    # only the launching machine reads the hostfile; ranks that DeepSpeed started elsewhere may lack it
    if cfg.hostfile and not launched_rank():
        out += _hostfile(cfg)
    return out


def _file(cfg, name: str, what: str) -> list[str]:
    value = getattr(cfg, name)
    if not value:
        return []
    path = Path(value)
    if path.is_dir():
        return [f"{name}: {value!r} is a folder; pick the {what} file in it"]
    if not path.is_file():
        return [f"{name}: {what} {value!r} not found"]
    return []


def _files(cfg, facts: Facts) -> list[str]:
    """Every path option names something that exists (paths are resolved by ``prepare.resolve_paths``)."""
    out = []
    if not cfg.model_path:
        out.append("model_path is empty: choose the base model .pth (a file in model/)")
    out += _file(cfg, "model_path", "model file")
    if not cfg.data_path:
        out.append("data_path is empty: choose a tokenized dataset (the binidx prefix, e.g. data/sample)")
    else:
        missing = [ext for ext in (".bin", ".idx") if not Path(cfg.data_path + ext).is_file()]
        if missing:
            out.append(f"data_path: {cfg.data_path}{missing[0]} not found; give the prefix of a .bin/.idx pair "
                       f"written by the tokenize step")
    for f in dataclasses.fields(cfg):
        kind = f.metadata.get("path", (None,))[0]
        if kind == "file" and f.name not in ("model_path", "hostfile", "sample_prompts") and cfg.applies(f.name):
            out += _file(cfg, f.name, "checkpoint")
    return out


def _evaluation(cfg, facts: Facts) -> list[str]:
    """The held-out documents and the sample prompts can be read and leave something to train on."""
    from .data import held_out_count

    out = []
    if cfg.val_data and cfg.val_split:
        out.append("val_data and val_split are both set: hold out documents one way, clear one of them")
    if cfg.val_split and cfg.dataload == "get":
        out.append("val_split needs whole documents (dataload pad or only); with dataload get, tokenize held-out "
                   "text and give it as val_data")
    info = facts.data_info
    if cfg.val_split and info is not None and info.n_docs - held_out_count(info.n_docs, cfg.val_split) < 1:
        out.append(f"val_split={cfg.val_split} leaves no document of the {info.n_docs} to train on: add data or "
                   f"set val_split 0")
    out += _val_data(cfg, info)
    if cfg.early_stop_patience and not (cfg.val_data or cfg.val_split):
        out.append("early_stop_patience needs held-out documents: set val_split (e.g. 0.1) or val_data")
    return out + _sample_prompts(cfg)


def _val_data(cfg, info) -> list[str]:
    from .data import tokenizer_spec

    if not cfg.val_data:
        return []
    missing = [ext for ext in (".bin", ".idx") if not Path(cfg.val_data + ext).is_file()]
    if missing:
        return [f"val_data: {cfg.val_data}{missing[0]} not found; give the prefix of a .bin/.idx pair "
                f"written by the tokenize step"]
    if info is not None and tokenizer_spec(cfg.val_data) != info.tokenizer:
        return [f"val_data was tokenized with {tokenizer_spec(cfg.val_data)}, data_path with "
                f"{info.tokenizer}: tokenize both with the same tokenizer"]
    return []


def _sample_prompts(cfg) -> list[str]:
    from .judge import read_prompts

    if not (cfg.sample_prompts and cfg.sample_tokens):
        return []
    found = _file(cfg, "sample_prompts", "prompts")
    if not found:
        try:
            read_prompts(cfg.sample_prompts)
        except ValueError as err:
            found = [str(err)]
    return found


def _sequence(cfg, facts: Facts) -> list[str]:
    out = []
    if cfg.train_type == "infctx":
        if cfg.dataload != "pad":
            out.append(f"train_type infctx needs dataload pad (now {cfg.dataload})")
        if not method(cfg.finetune_mode).infctx:
            out.append(f"train_type infctx does not work with {cfg.finetune_mode}: set train_type none")
        if cfg.chunk_ctx > cfg.ctx_len:
            out.append(f"chunk_ctx={cfg.chunk_ctx} is larger than ctx_len={cfg.ctx_len}: lower chunk_ctx "
                       f"or raise ctx_len")
        if cfg.chunk_ctx % TOKEN_ALIGN:
            out.append(f"chunk_ctx={cfg.chunk_ctx} must be a multiple of {TOKEN_ALIGN} (try "
                       f"{cfg.chunk_ctx // TOKEN_ALIGN * TOKEN_ALIGN or TOKEN_ALIGN})")
    if cfg.ctx_len % TOKEN_ALIGN:
        out.append(f"ctx_len={cfg.ctx_len} must be a multiple of {TOKEN_ALIGN} for the WKV kernels (try "
                   f"{align_tokens(cfg.ctx_len)}, the max_length the tokenizer printed)")
    if cfg.loss_mask in ("qa", "se") and cfg.dataload == "get":
        out.append(f"loss_mask {cfg.loss_mask} needs whole documents: use dataload pad or only, or loss_mask none")
    if cfg.loss_mask == "se" and not (cfg.mask0 and cfg.mask1):
        out.append("loss_mask se needs both mask0 (stop learning) and mask1 (start learning) strings")
    return out


def _resume(cfg, facts: Facts) -> list[str]:
    if cfg.resume_from:  # the point gives the weights and the position
        from .resume import point_problems

        return point_problems(cfg, facts.world, facts.data_info)
    out, row = [], method(cfg.finetune_mode)
    if row.init_option and getattr(cfg, row.load_option) and not getattr(cfg, row.init_option):
        out.append(f"{row.load_option} is set but {row.init_option} is empty: give the {row.init_file} of the "
                   f"run you continue")
    if cfg.epoch_begin > 0 and row.load_option and not getattr(cfg, row.load_option):
        out.append(f"epoch_begin={cfg.epoch_begin} continues a run: set {row.load_option} to its last checkpoint "
                   f"(e.g. output/<run>/rwkv-{cfg.epoch_begin - 1}.pth)")
    return out


def _quant(cfg, facts: Facts) -> list[str]:
    from rwkv_simple_gui.peft.quant import NEEDS_BITSANDBYTES

    if cfg.quant == "none":
        return []
    out = []
    if not cfg.applies("quant"):
        out.append(f"quant {cfg.quant} cannot be used with {cfg.finetune_mode} (it trains the base weights): set "
                   f"quant none")
    if facts.world > 1:
        out.append("quant is not supported with several processes: set quant none, or train with devices 1 "
                   "on one machine (num_nodes 1, no hostfile)")
    if cfg.quant not in NEEDS_BITSANDBYTES:
        return out
    if facts.device is not None and facts.device != "cuda":
        out.append(f"quant {cfg.quant} needs a CUDA GPU (bitsandbytes); this machine trains on {facts.device}: set "
                   f"quant none, or fp8 (runs on CPU too)")
    elif importlib.util.find_spec("bitsandbytes") is None:
        out.append(f"quant {cfg.quant} needs the bitsandbytes package: pip install bitsandbytes, or set quant none")
    return out


def _deepspeed(cfg, facts: Facts) -> list[str]:
    from .distributed import strategy

    if not strategy(cfg, facts.world).deepspeed:
        return []
    out = []
    if importlib.util.find_spec("deepspeed") is None:
        out.append(f"{cfg.deepspeed_strategy} needs the deepspeed package: pip install deepspeed, or set "
                   f"deepspeed_strategy none")
    if method(cfg.finetune_mode).redraws:
        out.append(f"{cfg.finetune_mode} changes its trained layers during the run, which DeepSpeed cannot "
                   f"follow: set deepspeed_strategy none")
    if cfg.precision == "fp16":
        out.append("precision fp16 with DeepSpeed is not supported here: use bf16 (or deepspeed_strategy none)")
    return out


def _device(cfg, facts: Facts) -> list[str]:
    """The op and the precision on the device the trainer will run on."""
    out = []
    if cfg.op in ("fla", "cuda", "triton") and facts.device is not None and facts.device != "cuda":
        out.append(f"op {cfg.op} needs a CUDA GPU; this machine trains on {facts.device}: use op auto")
    if cfg.op in ("fla", "triton") and facts.device == "cuda":
        from rwkv_simple_gui.model.ops import fla_import_error

        err = fla_import_error()
        if err:
            out.append(f"op {cfg.op} needs flash-linear-attention ({err}): pip install flash-linear-attention, or "
                       f"use op auto")
    if cfg.precision == "fp16" and facts.device == "cpu":
        out.append("precision fp16 is for GPUs; on CPU use bf16 or fp32")
    return out


def _gpus(cfg, facts: Facts) -> list[str]:
    """The GPUs asked for are there, and can do the precision."""
    if facts.device != "cuda" or not facts.gpus:
        return []
    out = []
    if cfg.devices > len(facts.gpus) and not cfg.hostfile:
        out.append(f"devices={cfg.devices} but this machine has {len(facts.gpus)} GPU(s): set devices (GPU_COUNT) "
                   f"to at most {len(facts.gpus)}")
    old = [g.name for g in facts.gpus[:cfg.devices] if g.bf16 is False]
    if cfg.precision == "bf16" and old:
        out.append(f"precision bf16 needs an RTX 30xx / A100 or newer GPU; {old[0]} has no bf16: use fp16 or "
                   f"fp32")
    return out


def _against_model(cfg, facts: Facts) -> list[str]:
    if facts.model_info is None:
        return []
    out = [p for check in method(cfg.finetune_mode).checks for p in check(cfg, facts.model_info)]
    if method(cfg.finetune_mode).tunes_state and idle_blocks(cfg.model_path):
        out.append("state tuning cannot learn on this base model: its blocks do nothing (every att.output weight is "
                   "zero, as in a fresh init-model), so the state it tunes never reaches the output. Fine-tune a "
                   "trained model, or use lora / bone, which train the blocks themselves")
    return out


def idle_blocks(model_path: str) -> bool:
    """Whether the model's attention outputs are all zero (a fresh ``init-model``): then nothing the attention
    computes, the state included, reaches the output."""
    path = Path(model_path)
    try:
        stat = path.stat()
    except OSError:
        return False
    return _idle_blocks(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _idle_blocks(path: str, _mtime: int, _size: int) -> bool:
    from rwkv_simple_gui.model.lazy import LazyStateDict

    try:
        sd = LazyStateDict(path)
        names = sorted(k for k in sd if k.endswith(".att.output.weight"))
        return bool(names) and all(not sd.load(name).any() for name in names)
    except (OSError, ValueError, RuntimeError, KeyError):
        return False


def _against_data(cfg, facts: Facts) -> list[str]:
    info = facts.data_info
    if info is None:
        return []
    if info.n_docs == 0:
        return [f"the dataset {info.prefix} holds no documents: tokenize it again"]
    if cfg.dataload == "get" and info.num_tokens <= cfg.ctx_len + 1:
        return [f"the dataset has {info.num_tokens} tokens, not more than ctx_len+1={cfg.ctx_len + 1}: "
                f"lower ctx_len or use dataload pad"]
    return []


def _stage(cfg, facts: Facts) -> list[str]:
    """sft trains on texts, dpo/orpo on preference pairs: the data must be of the stage's kind."""
    from rwkv_simple_gui.data.preference import is_pair_dataset

    sets = [(name, getattr(cfg, name)) for name in ("data_path", "val_data")
            if getattr(cfg, name) and Path(getattr(cfg, name) + ".idx").is_file()]
    if cfg.stage == "sft":
        return [f"{name} {value} holds preference pairs (tokenized from prompt/chosen/rejected records): set stage "
                f"dpo or orpo, or tokenize a dataset of conversations"
                for name, value in sets if is_pair_dataset(value)]
    out = [f"{name} {value} is not a preference dataset: stage {cfg.stage} trains on pairs; tokenize a file of "
           f'{{"prompt", "chosen", "rejected"}} records' for name, value in sets if not is_pair_dataset(value)]
    return out + _preference_settings(cfg, facts)


def _preference_settings(cfg, facts: Facts) -> list[str]:
    """What stage dpo / orpo cannot train with."""
    from .distributed import strategy

    out = []
    if cfg.stage == "dpo" and method(cfg.finetune_mode).trains_base:
        out.append(f"stage dpo compares the model with its base (the adapter switched off), but {cfg.finetune_mode} "
                   f"changes the base weights themselves, so the base would need a second copy of the model in "
                   f"memory: use {or_list(m.name for m in METHODS.values() if not m.trains_base)}, or stage orpo (it "
                   f"needs no reference)")
    if cfg.train_type == "infctx":
        out.append(f"stage {cfg.stage} scores each reply in one pass: set train_type none")
    if cfg.dataload == "get":
        out.append(f"stage {cfg.stage} needs whole pairs: use dataload pad or only")
    if cfg.stage == "dpo" and strategy(cfg, facts.world).stage == 3 and strategy(cfg, facts.world).deepspeed:
        out.append("stage dpo switches the adapter off for its reference pass, which ZeRO-3's partitioned "
                   "parameters do not allow: use deepspeed_stage_1 or 2")
    return out


CHECKS = (_fields, _machines, _files, _evaluation, _sequence, _resume, _quant, _deepspeed, _device, _gpus,
          _against_model, _against_data, _stage)


def field_problems(cfg) -> list[str]:
    """The problems of single options (types, choices, ranges), which every other check relies on."""
    return _fields(cfg, Facts())


def problems(cfg, model_info=None, data_info=None, device=None) -> list[str]:
    """Every problem of ``cfg`` (its paths resolved); the method's own checks run once it is a valid one.
    ``device``: a train.device.DeviceFacts, "cpu"/"cuda", or None (the hardware checks are left out)."""
    kind, gpus = (device, ()) if device is None or isinstance(device, str) else (device.kind, device.gpus)
    facts = Facts(model_info, data_info, kind, processes(cfg), gpus)
    out = _fields(cfg, facts)
    if any(p.startswith("finetune_mode=") for p in out):
        return out
    for check in CHECKS[1:]:
        out += check(cfg, facts)
    return list(dict.fromkeys(out))
