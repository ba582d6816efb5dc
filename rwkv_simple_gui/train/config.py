"""TrainConfig: every training option in one place, with the metadata the GUI, the CLI and the exported
``training.sh`` are generated from.

Option names are the seed's ``training.sh`` variable names in lower case (MICRO_BSZ -> ``micro_bsz``).
Each field's metadata holds: ``label``, ``help`` (plain English, with the seed's advice), ``group``,
``choices``, ``min``/``max``, ``path`` (for a path option: what it names, ``file``, ``prefix`` (a binidx pair)
or ``dir``, and the project folder a bare name is looked up in) and ``help_key`` (for translated help in the
GUI). Which methods an option applies to is the method table's (``peft.methods``). Model shape is never an
option: it is read from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from rwkv_simple_gui.peft.methods import METHOD_NAMES, applies
from rwkv_simple_gui.peft.methods import RESUME_FIXED as METHOD_RESUME_FIXED

TRAIN_PARTS = ("emb", "head", "time", "ln")
DEEPSPEED_STRATEGIES = (
    "none",
    "deepspeed_stage_1",
    "deepspeed_stage_2",
    "deepspeed_stage_2_offload",
    "deepspeed_stage_3",
    "deepspeed_stage_3_offload",
)
OP_CHOICES = ("auto", "torch", "chunked", "fla", "cuda", "triton")  # model.ops.OPS (cuda, triton: RWKV-PEFT's)
QUANT_CHOICES = ("none", "int8", "nf4", "fp4", "4bit", "fp8")      # peft.quant.KINDS + none
# The meaning of saved options: a config.json, a preset or an exported training.sh records the version it
# was written with; ``migrate`` turns an older one into today's meaning (see OPTIONS_HISTORY).
VERSION_KEY = "options_version"
OPTIONS_VERSION = 2
OPTIONS_HISTORY = {2: "RWKV-PEFT's meaning of epoch_count (from epoch_begin), epoch_steps (micro-batches per "
                      "epoch, auto), loss_mask none (no mask) and get (runs until stopped)"}
# keys a run's config.json holds besides the options (model shape, dataset, seed/steps the trainer chose)
RUN_INFO_KEYS = ("model_info", "data_info", "resolved")
GROUPS = ("model", "data", "method", "schedule", "optimizer", "hardware", "evaluate", "run")
# options that shape a run's data order and its saved state: an exact resume refuses a change to any of them
# (those that don't apply to the run's method are not compared)
RESUME_FIXED = ("model_path", "data_path", "finetune_mode", "train_parts", *METHOD_RESUME_FIXED, "quant", "ctx_len",
                "dataload", "loss_mask", "mask0", "mask1", "data_shuffle", "epoch_steps", "micro_bsz", "mini_bsz",
                "devices", "num_nodes", "deepspeed_strategy", "precision", "seed", "val_split", "stage", "pref_beta")
# options a resume may change, but then the steps after it are not those of the run left alone: the resume is
# said to be one with changed options, never "exact"
RESUME_INEXACT = ("epoch_count", "lr_init", "lr_final", "lr_schedule", "warmup_steps", "beta1", "beta2", "adam_eps",
                  "weight_decay", "lora_dropout", "train_type", "chunk_ctx")


def _opt(default: Any, group: str, label: str, help: str, *, choices=None, min=None, max=None, path=None, **extra):
    meta = {"group": group, "label": label, "help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if min is not None:
        meta["min"] = min
    if max is not None:
        meta["max"] = max
    if path is not None:
        meta["path"] = path
    meta.update(extra)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    # --- model -------------------------------------------------------------------------------------
    model_path: str = _opt(
        "", "model", "Base model",
        "The RWKV .pth to fine-tune (a file in model/). Its version, layers and width are read from the file.",
        path=("file", "model"))
    finetune_mode: str = _opt(
        "bone", "method", "Fine-tuning method",
        "lora: small low-rank adapters. pissa: LoRA started from the weights' main directions (learns faster). "
        "bone / bat: the two DiSHA modes, usually the best quality for the memory (DiSHA r 128 costs about as "
        "much as LoRA r 64). state_tuning: trains only the initial state (tiny files, learns style/role; use "
        "a high learning rate, 1 -> 0.01). lisa: a few random whole layers at a time. full: every weight.",
        choices=METHOD_NAMES)
    stage: str = _opt(
        "sft", "method", "Training stage",
        "sft: learn the replies of a dataset (the usual fine-tuning). dpo / orpo: preference tuning from a dataset "
        "of pairs (a prompt, a chosen and a rejected reply; tokenize such a file first): the model learns to prefer "
        "the chosen reply. dpo compares against the base model (the adapter switched off), so it needs an adapter "
        "method (lora, pissa, bone, bat, state_tuning); orpo needs no reference and also learns the chosen reply.",
        choices=("sft", "dpo", "orpo"))
    pref_beta: float = _opt(
        0.1, "method", "Preference strength (beta / lambda)",
        "dpo: beta, how far the model may move from the base to prefer the chosen reply (0.1 is usual; higher "
        "stays closer to the base). orpo: lambda, the weight of the preference term beside the chosen reply's "
        "loss (0.1 is usual).", min=0.0, max=100.0)
    train_type: str = _opt(
        "none", "method", "Train type",
        "infctx: train sequences longer than memory allows, chunk_ctx tokens at a time, carrying the state "
        "between chunks. Needs dataload pad; not with state_tuning.", choices=("none", "infctx"))
    op: str = _opt(
        "auto", "hardware", "WKV kernel",
        "How the attention recurrence is computed. auto picks fla on CUDA when installed, else the chunked "
        "PyTorch op. torch is the slow, exact reference. RWKV-PEFT's names are accepted: cuda = our fastest CUDA "
        "kernel (fla when installed), triton = fla (its kernels are Triton kernels); both need a CUDA GPU.",
        choices=OP_CHOICES)
    quant: str = _opt(
        "none", "hardware", "Quantize base weights",
        "Store the frozen base weights quantized to save GPU memory, as RWKV-PEFT does: int8 (bitsandbytes "
        "blockwise 8-bit, the usual choice), nf4, fp4, 4bit (bitsandbytes' quantize_4bit default, i.e. fp4) need "
        "a CUDA GPU; fp8 (a float8_e4m3fn copy of the weights, the input cast to fp8 too) also runs on CPU. Not "
        "for full or lisa, and not with several GPUs. Merge with the same setting.",
        choices=QUANT_CHOICES)
    # --- data --------------------------------------------------------------------------------------
    data_path: str = _opt(
        "", "data", "Dataset (binidx prefix)",
        "The tokenized dataset: the path of the .bin/.idx pair without extension (e.g. data/sample).",
        path=("prefix", "data"))
    ctx_len: int = _opt(
        512, "data", "Context length (CTX_LEN)",
        "Tokens per sample. For pad/only use the max_length the tokenizer printed (longer documents are "
        "cut). Longer costs more memory.", min=16, max=1048576)
    dataload: str = _opt(
        "pad", "data", "Data loading",
        "pad: one document per sample, padded to ctx_len, padding not learned (the usual choice for "
        "conversations). only: one document per sample, no padding to ctx_len (micro_bsz 1 advised). get: "
        "random ctx_len slices of the whole token stream (pre-training style; an epoch is epoch_steps steps).",
        choices=("pad", "get", "only"))
    loss_mask: str = _opt(
        "qa", "data", "Loss mask",
        "Which target tokens are learned. none: no mask at all, as in RWKV-PEFT: with dataload pad the window "
        "after a short document is filled with the documents that follow it, and those tokens are learned too. "
        "pad: the document's own tokens only. qa: only the Assistant replies (their reasoning and tool calls too, "
        "each up to the next turn); System, User and tool results are not learned. se: your own start and stop "
        "strings (mask1 / mask0).",
        choices=("none", "pad", "qa", "se"))
    mask0: str = _opt(
        "User:", "data", "se mask: stop learning at",
        "For loss_mask se: text that switches learning off.")
    mask1: str = _opt(
        "Assistant:", "data", "se mask: start learning at",
        "For loss_mask se: text that switches learning on (the text itself is learned).")
    data_shuffle: int = _opt(
        1, "data", "Shuffle each epoch",
        "1: a new random document order every epoch (tokenize with N_EPOCH 1 and raise epoch_count). 0: file "
        "order (tokenize with N_EPOCH > 1 and epoch_count 1).", choices=(0, 1))
    chunk_ctx: int = _opt(
        512, "data", "infctx chunk (CHUNK_CTX)",
        "infctx only: tokens per chunk; ctx_len must be at least this. Smaller uses less memory.",
        min=16, max=1048576)
    # --- schedule ----------------------------------------------------------------------------------
    epoch_count: int = _opt(
        3, "schedule", "Epochs (EPOCH_COUNT)",
        "Epochs to train in this run, counted from epoch_begin (as in RWKV-PEFT: epoch_begin 3 with epoch_count "
        "3 trains epochs 3, 4 and 5). The learning rate schedule spans epoch_begin + epoch_count epochs. With "
        "dataload get and run_until_stopped 1 the run goes on after them until you stop it.",
        min=1, max=100000)
    epoch_steps: str = _opt(
        "auto", "schedule", "Micro-batches per epoch (EPOCH_STEPS)",
        "As in RWKV-PEFT: an epoch is this many micro-batches of micro_bsz samples (split over the devices), "
        "i.e. documents 0 .. epoch_steps x micro_bsz - 1 for pad/only. auto: the seed's formula, document count "
        "/ micro_bsz, so every document is read once per epoch. A number that leaves documents out, or reads past "
        "the last one (where RWKV-PEFT fails), is warned about before Start.", min=1, max=10_000_000,
        auto=True)
    run_until_stopped: int = _opt(
        1, "schedule", "get: run until stopped",
        "dataload get only. 1: as RWKV-PEFT's get, training goes on after epoch_count epochs (at lr_final, "
        "saving every epoch_save epochs) until you press Stop. 0: stop after epoch_count epochs.", choices=(0, 1))
    epoch_save: int = _opt(
        1, "schedule", "Save every N epochs", "Write rwkv-<epoch>.pth every this many epochs (the last "
        "epoch is always saved).", min=1, max=100000)
    epoch_begin: int = _opt(
        0, "schedule", "First epoch (EPOCH_BEGIN)",
        "To continue a run: the number of the first epoch to train, i.e. the epochs already done. Set it with "
        "the checkpoint to load (lora_load, pissa_load + pissa_init, disha_load): epoch_begin 1 with lora_load "
        "rwkv-0.pth and epoch_count 2 writes rwkv-1 and rwkv-2; the step count, learning rate and loss curve "
        "continue from there.", min=0, max=100000)
    micro_bsz: int = _opt(
        1, "schedule", "Batch per device (MICRO_BSZ)",
        "Samples per forward pass on each device. If memory is short keep 1 and raise mini_bsz instead. "
        "Advice for micro_bsz x mini_bsz: <1k lines 4-8, <5k 8-16, >10k 32-64.", min=1, max=4096)
    mini_bsz: int = _opt(
        2, "schedule", "Gradient accumulation (MINI_BSZ)",
        "Micro-batches accumulated per optimizer step: a bigger effective batch for no extra memory.",
        min=1, max=4096)
    lr_init: float = _opt(
        2e-5, "optimizer", "Initial learning rate (LR_INIT)",
        "1e-5 .. 8e-5 for lora/pissa/bone/bat; about 1 for state_tuning; 1e-5 or lower for full.",
        min=0.0, max=100.0)
    lr_final: float = _opt(
        2e-5, "optimizer", "Final learning rate (LR_FINAL)",
        "The rate reached at the last step (state_tuning: about 0.01). Equal to lr_init = constant.",
        min=0.0, max=100.0)
    lr_schedule: str = _opt(
        "cos", "optimizer", "LR schedule",
        "After warmup, how the rate goes from lr_init to lr_final over the whole run: cos (cosine), wsd "
        "(flat, then a cosine decay over the last 20% of steps), linear, or constant (lr_init throughout).",
        choices=("cos", "wsd", "linear", "constant"))
    warmup_steps: int = _opt(
        20, "optimizer", "Warmup steps", "Optimizer steps over which the rate rises linearly from 0 to "
        "lr_init.", min=0, max=10_000_000)
    beta1: float = _opt(0.9, "optimizer", "Adam beta1", "AdamW first-moment decay.", min=0.0, max=0.99999)
    beta2: float = _opt(0.95, "optimizer", "Adam beta2", "AdamW second-moment decay.", min=0.0, max=0.99999)
    adam_eps: float = _opt(1e-18, "optimizer", "Adam epsilon", "AdamW epsilon (RWKV uses 1e-18; 1e-8 is "
                           "the common default).", min=0.0, max=1.0)
    weight_decay: float = _opt(
        0.0, "optimizer", "Weight decay", "AdamW weight decay, applied only to matrices (never to norms, "
        "biases or mixing vectors).", min=0.0, max=10.0)
    # --- method options ----------------------------------------------------------------------------
    train_parts: list = _opt(
        ["time", "ln"], "method", "Also train",
        "Base parameters trained (and saved) besides the adapter, by name: emb (embedding), head (output "
        "layer), time (time-mix parameters), ln (layer norms).",
        choices=TRAIN_PARTS)
    lora_r: int = _opt(64, "method", "LoRA rank", "Adapter rank: bigger learns more, costs more.",
                       min=1, max=4096)
    lora_alpha: int = _opt(128, "method", "LoRA alpha", "Adapter scale; alpha = 2 x rank is advised. The "
                           "merge must use the same value.", min=1, max=65536)
    lora_dropout: float = _opt(0.01, "method", "LoRA dropout", "Dropout on the adapter input.",
                               min=0.0, max=0.9)
    lora_load: str = _opt("", "method", "Resume LoRA from", "A previous rwkv-<epoch>.pth to continue from.",
                          path=("file", "output"))
    pissa_r: int = _opt(64, "method", "PiSSA rank", "Rank of the principal directions trained.",
                        min=1, max=4096)
    svd_niter: int = _opt(16, "method", "SVD iterations", "Iterations of the randomized SVD that starts "
                          "PiSSA (more = more exact, slower start).", min=1, max=1000)
    pissa_load: str = _opt("", "method", "Resume PiSSA from", "A previous rwkv-<epoch>.pth to continue "
                           "from; also set pissa_init.", path=("file", "output"))
    pissa_init: str = _opt("", "method", "PiSSA init file", "The init_pissa.pth written by the run you "
                           "continue (needed with pissa_load).", path=("file", "output"))
    disha_r: int = _opt(128, "method", "DiSHA rank", "Block size of bone/bat; bat needs it to divide the "
                        "model width and the FFN width. r 128 costs about as much as LoRA r 64.",
                        min=1, max=4096)
    disha_load: str = _opt("", "method", "Resume DiSHA from", "A previous rwkv-<epoch>.pth to continue from.",
                           path=("file", "output"))
    state_load: str = _opt("", "method", "Resume state from", "A previous rwkv-<epoch>.pth (time_state) to "
                           "continue from.", path=("file", "output"))
    lisa_r: int = _opt(2, "method", "LISA layers", "How many layers are trained at a time.", min=1,
                       max=1024)
    lisa_k: int = _opt(100, "method", "LISA interval", "Optimizer steps before new layers are drawn.",
                       min=1, max=10_000_000)
    # --- hardware ----------------------------------------------------------------------------------
    precision: str = _opt(
        "bf16", "hardware", "Precision",
        "bf16 is advised on GPUs that support it (RTX 30xx and newer); fp16 for older GPUs; fp32 is exact "
        "but slow and memory-hungry.", choices=("bf16", "fp16", "fp32"))
    grad_cp: int = _opt(1, "hardware", "Gradient checkpointing", "1: recompute activations in the backward "
                        "pass: much less memory, about 30% slower.", choices=(0, 1))
    devices: int = _opt(1, "hardware", "Devices (GPU_COUNT)", "GPUs (or CPU processes) used together; "
                        "micro_bsz is per device.", min=1, max=1024)
    deepspeed_strategy: str = _opt(
        "deepspeed_stage_1", "hardware", "DeepSpeed strategy",
        "DeepSpeed ZeRO: stage 1 is fastest; 2 and 3 split more state across GPUs; *_offload moves the optimizer "
        "state to CPU memory, which also helps on one GPU (it then runs DeepSpeed in one process). Plain stage "
        "1/2/3 on one device partition nothing: that runs without DeepSpeed (same maths) and the check says so. "
        "none: plain gradient all-reduce (every device keeps a full optimizer copy; fine for adapters).",
        choices=DEEPSPEED_STRATEGIES)
    num_nodes: int = _opt(
        1, "hardware", "Machines (nodes)",
        "Machines training together, each with `devices` GPUs. Above 1, run the same train command on every "
        "machine, with the same options and the model/data at the same paths, changing only node_rank: 0 on "
        "the main machine (it writes the run folder), 1, 2, ... on the others.", min=1, max=1024)
    node_rank: int = _opt(
        0, "hardware", "This machine's number (node_rank)",
        "With several machines: 0 on the main machine, 1 .. num_nodes-1 on the others, a different number "
        "on each. Only machine 0 writes the run folder; the others print to their terminal.", min=0, max=1023)
    master_addr: str = _opt(
        "127.0.0.1", "hardware", "Main machine address (master_addr)",
        "With several machines: the IP address or host name of machine 0 as the other machines reach it "
        "(e.g. 192.168.1.10); type the same value on every machine.")
    master_port: int = _opt(
        29500, "hardware", "Main machine port (master_port)",
        "With several machines: a free TCP port on machine 0 that the others can reach (open it in its "
        "firewall); type the same value on every machine.", min=1, max=65535)
    hostfile: str = _opt(
        "", "hardware", "DeepSpeed hostfile",
        "Instead of typing a command on every machine: a file with one line 'hostname slots=N' per machine "
        "(N = its GPUs), this machine first. Start the run on this machine only; DeepSpeed starts the others "
        "over passwordless ssh (needs pdsh, and the project at the same path on every machine). The file sets "
        "the machines and GPUs: leave num_nodes 1, and set master_addr to this machine's address. Empty: off.",
        path=("file", None))
    # --- evaluate ----------------------------------------------------------------------------------
    val_data: str = _opt(
        "", "evaluate", "Validation data (binidx prefix)",
        "Held-out documents, tokenized like any dataset (the .bin/.idx prefix): their loss is computed at each "
        "evaluation and never trained on. Empty: use val_split, or no validation loss.", path=("prefix", "data"))
    val_split: float = _opt(
        0.0, "evaluate", "Validation split",
        "Instead of val_data: this fraction (0-0.5) of the training documents is held out, chosen with the run's "
        "seed, never trained on and recorded in config.json. 0: off. Needs dataload pad or only.", min=0.0, max=0.5)
    val_every: int = _opt(
        0, "evaluate", "Evaluate every N steps",
        "Optimizer steps between evaluations (validation loss and sample answers); 0: at each epoch end. The last "
        "step is always evaluated, and a new run evaluates the base model at step 0.", min=0, max=10_000_000)
    sample_prompts: str = _opt(
        "", "evaluate", "Sample prompts file",
        "Prompts the model answers at each evaluation, so you can read what it learned: a jsonl file with a text "
        "or prompt field, or one prompt per line. A plain question is asked as 'User: ...\n\nAssistant:' when "
        "the data holds User: turns. Empty: the first 3 distinct User turns of the data.", path=("file", "data"))
    sample_tokens: int = _opt(
        64, "evaluate", "Sample answer length", "Tokens per sample answer (greedy decoding). 0: no samples.",
        min=0, max=4096)
    early_stop_patience: int = _opt(
        0, "evaluate", "Early stopping: patience",
        "Stop the run when the validation loss (val_split or val_data) has not improved by early_stop_min_delta for "
        "this many evaluations in a row; the best checkpoint is kept, and Merge of the run folder takes it. 0: off. "
        "Not for a dataset of facts (a held-out answer cannot be learned from the others): its validation loss rises "
        "while the model learns the trained answers.", min=0, max=100000)
    early_stop_min_delta: float = _opt(
        0.0, "evaluate", "Early stopping: minimum improvement",
        "How much lower than the best so far the validation loss must be to count as an improvement.",
        min=0.0, max=100.0)
    save_every_steps: int = _opt(
        0, "evaluate", "Save every N steps",
        "Also write a step checkpoint rwkv-step-<step>.pth every this many optimizer steps (0: epoch ends only). "
        "The newest checkpoint is always a point that Resume continues from exactly.", min=0, max=10_000_000)
    keep_last: int = _opt(
        3, "evaluate", "Keep the last K step checkpoints",
        "Older step checkpoints are deleted, except the best one by validation loss; epoch checkpoints are all "
        "kept. 0: keep every step checkpoint.", min=0, max=100000)
    tensorboard: int = _opt(
        0, "evaluate", "TensorBoard", "1: also write TensorBoard event files into <run>/tensorboard (needs the "
        "tensorboard package).", choices=(0, 1))
    # --- run ---------------------------------------------------------------------------------------
    proj_dir: str = _opt("", "run", "Run folder", "Where the run writes its files. Empty: a new folder "
                         "output/<finetune_mode>-<date>-<time>.", path=("dir", "output"))
    seed: int = _opt(-1, "run", "Random seed", "-1: a different seed each run; any other value makes the run "
                     "repeatable.", min=-1, max=2**31 - 1)
    wandb: str = _opt("", "run", "wandb project", "Also log to Weights & Biases under this project (needs the "
                      "wandb package). Empty: off.")
    resume_from: str = _opt(
        "", "run", "Resume exactly from",
        "A run folder (its newest resume point) or one resume point (<run>/resume/step-<N>): training continues "
        "as if never interrupted, with the saved weights, optimizer, data position and random state. Set by the "
        "Resume button and by train --resume RUN_DIR. Options that shape the run must keep their values.",
        path=("dir", "output"))

    # ------------------------------------------------------------------------------------------------
    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def option(cls, name: str) -> dataclasses.Field:
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f
        raise KeyError(name)

    def applies(self, name: str) -> bool:
        """Whether option ``name`` matters for this config's finetune_mode."""
        return applies(name, self.finetune_mode)

    def to_dict(self) -> dict:
        """Every option, stamped with the options' version (what a saved file needs to keep its meaning)."""
        return {**dataclasses.asdict(self), VERSION_KEY: OPTIONS_VERSION}

    @property
    def several_machines(self) -> bool:
        """Whether the run spans machines (num_nodes > 1, or a DeepSpeed hostfile)."""
        return self.num_nodes > 1 or bool(self.hostfile)

    @property
    def epoch_steps_set(self) -> int | None:
        """epoch_steps as a number, None for auto."""
        return None if self.epoch_steps == "auto" else int(self.epoch_steps)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        """Build from a dict of today's meaning (a saved file goes through :func:`migrate` first); unknown keys
        and wrong types raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k != VERSION_KEY}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown option(s) {', '.join(unknown)}; "
                             f"valid options are: {', '.join(sorted(names))}")
        values = {k: coerce(k, v, source) for k, v in data.items()}
        return cls(**values)

    @classmethod
    def from_json(cls, path, notes: list | None = None) -> "TrainConfig":
        """A JSON file of options (a preset, a run's config.json); one saved before today's options_version
        is migrated, and what that changed is appended to ``notes``."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
        return cls.from_saved(data, str(path), notes)

    @classmethod
    def from_saved(cls, data, source: str, notes: list | None = None) -> "TrainConfig":
        """Options as a file saved them (a preset, a run's config.json): one saved before today's
        options_version is migrated, and what that changed is appended to ``notes``."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object of option: value")
        data, changed = migrate(data, source)
        if notes is not None:
            notes.extend(changed)
        for key in RUN_INFO_KEYS:  # a run's config.json also records what the trainer resolved
            data.pop(key, None)
        return cls.from_dict(data, source=source)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------------------------
    def to_cli_args(self, only_changed: bool = True) -> list[str]:
        """``--name value`` pairs for ``python -m rwkv_simple_gui train`` (defaults left out)."""
        defaults = TrainConfig()
        args: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if only_changed and value == getattr(defaults, f.name):
                continue
            args.append("--" + f.name)
            if isinstance(value, list):
                args.extend(str(v) for v in value)
            else:
                args.append(str(value))
        return args


# The GUI looks up translated labels/help under this key (English text above is the fallback).
for _f in dataclasses.fields(TrainConfig):
    _f.metadata = type(_f.metadata)({**_f.metadata, "help_key": f"train.{_f.name}"})


def _as_auto(value) -> str:
    """"auto" or a whole number, kept as text."""
    text = str(value).strip().lower() if not isinstance(value, bool) else ""
    if text == "auto" or text.isdigit():
        return text if text == "auto" else str(int(text))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise ValueError


def _as_list(value) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)):
        raise TypeError
    return [str(v) for v in value]


def _as_int(value) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise TypeError
    return int(value)


def _as_float(value) -> float:
    if isinstance(value, bool):
        raise TypeError
    return float(value)


def _as_str(value) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


_CONVERT = {"list": _as_list, "int": _as_int, "float": _as_float, "str": _as_str}


def coerce(name: str, value: Any, source: str = "config") -> Any:
    """Convert ``value`` to option ``name``'s type, or raise ValueError naming the option and the fix."""
    f = TrainConfig.option(name)
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    if f.metadata.get("auto"):
        try:
            return _as_auto(value)
        except ValueError:
            raise ValueError(f"{source}: option {name}={value!r} should be auto or a whole number") from None
    convert = _CONVERT.get(kind)
    try:
        return value if convert is None else convert(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: option {name}={value!r} should be a {kind}"
                         + (f" (one of {', '.join(map(str, f.metadata['choices']))})" if "choices" in f.metadata
                            else "")) from None


def _v1_epochs(out: dict) -> list[str]:
    begin = out.get("epoch_begin") or 0
    if not (begin and "epoch_count" in out):
        return []
    total = out["epoch_count"]
    out["epoch_count"] = max(1, total - begin)
    return [f"epoch_count {total} -> {out['epoch_count']} (it counted the {begin} epochs before "
            f"epoch_begin in; now it counts the epochs trained from epoch_begin)"]


def _v1_epoch_steps(out: dict, data: dict) -> list[str]:
    notes = []
    if out.get("dataload", "pad") == "get":
        world = (out.get("devices") or 1) * (out.get("num_nodes") or 1)
        per_process = out.get("epoch_steps", 1000)
        out["epoch_steps"] = str(int(per_process) * world)
        if world > 1 or "epoch_steps" not in data:
            notes.append(f"epoch_steps {per_process} per process -> {out['epoch_steps']} for all {world} "
                         f"process(es) together")
        out["run_until_stopped"] = 0
        notes.append("run_until_stopped 0 (this get run stopped after its epochs)")
    elif "epoch_steps" in out and out["epoch_steps"] != "auto":
        notes.append(f"epoch_steps {out['epoch_steps']} -> auto (it was not used for dataload "
                     f"{out.get('dataload', 'pad')}: an epoch read every document)")
        out["epoch_steps"] = "auto"
    return notes


def _v1_loss_mask(out: dict) -> list[str]:
    if out.get("loss_mask") != "none":
        return []
    out["loss_mask"] = "pad"
    return ["loss_mask none -> pad (none learned only the documents' own tokens then; today none "
            "means no mask at all)"]


def migrate(data: dict, source: str = "config") -> tuple[dict, list[str]]:
    """Options saved with an older ``options_version`` (none recorded = 1) in today's meaning, so a run or a
    preset keeps training what it trained; the notes say what changed (a heading naming ``source``, then one
    line per change). ``data`` may be partial (a preset).

    Version 1 counted epoch_begin into epoch_count, ignored epoch_steps for pad/only (an epoch was every
    document), counted epoch_steps per process for get and stopped get runs after epoch_count, and treated
    loss_mask none as pad."""
    version = data.get(VERSION_KEY, 1)
    if not isinstance(version, int) or version > OPTIONS_VERSION:
        raise ValueError(f"{source}: {VERSION_KEY} {version!r} is newer than this version of rwkv-simple-gui "
                         f"understands ({OPTIONS_VERSION}); update it")
    out = {k: v for k, v in data.items() if k != VERSION_KEY}
    if version == OPTIONS_VERSION:
        return out, []
    notes = [*_v1_epochs(out), *_v1_epoch_steps(out, data), *_v1_loss_mask(out)]
    if not notes:
        return out, []
    return out, [f"{source}: saved before {VERSION_KEY} {OPTIONS_VERSION} ({OPTIONS_HISTORY[2]}); migrated to "
                 f"train what it trained:", *notes]
