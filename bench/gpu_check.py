"""One command that measures on one CUDA GPU what only a GPU can show; prints one JSON object.

    python bench/gpu_check.py OUT_DIR             # on the GPU box: about 8 minutes on an H100/H200
    python bench/gpu_check.py OUT_DIR --dry-run   # the same code on the CPU with tiny shapes (CI runs it)

It writes OUT_DIR/gpu_check.json after every section and prints it at the end. Sections, in order:

* agreement: fla, chunked vs the fp64 sequential op, fp32 and bf16, forward + backward, RWKV-7 and
  RWKV-6; fla as fla's own RWKV-7 layer calls it (safe_gate, lower_bound) too; their speed at one layer;
* model: an RWKV-7 of the 1.5B shape (24 x 2048) generated on the GPU (no download), saved as bf16;
* train_*: our trainer (train.loop.train) with op fla, bf16: LoRA r64 at ctx 1024 bsz 1 and ctx 4096
  bsz 8, grad_cp on and off; state tuning and PiSSA at ctx 1024; an nf4 QLoRA step (bitsandbytes).
  Each gives tokens/s, peak VRAM (torch.cuda max allocated and reserved), our estimate.py beside it,
  and MFU = tokens/s x 4 x N / the GPU's dense bf16 peak, N = the parameters without the embedding
  (a frozen base costs 2N forward + 2N for the input gradients per token; the weight gradients of the
  small adapters, grad_cp's recomputation and the wkv recurrence are not counted);
* merge / chat: the LoRA adapter just trained merged by the CLI, then chat through the rwkv package
  with "cuda fp16";
* deepspeed_zero2: DeepSpeed ZeRO-2 on one GPU (on one device our trainer runs DeepSpeed only for the *_offload
  strategies, so this drives a plain ZeRO-2 engine over our model directly).

Packages are checked first: a missing one is named with its pip command, and the sections that need it
are skipped. Each section runs under its own time limit; one that fails records its error and the rest
go on. Model, data and runs live in a temporary folder (--work DIR keeps them).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
# run as a script, bench/ would come first on sys.path and its tokenize.py would shadow the standard library's
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

GIB = 2**30
# dense bf16 tensor-core peaks (NVIDIA datasheets, no sparsity), matched against the device name in order
BF16_PEAK_TFLOPS = [("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("GH200", 989.0),
                    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0)]
GPU_EXTRAS = {"triton": "", "fla-core": "0.6.0", "einops": "", "bitsandbytes": "0.50.2"}
NEEDED_BY = {"fla-core": "op fla: agreement (fla rows) and every train_* section",
             "einops": "fla-core", "triton": "fla-core", "bitsandbytes": "train_qlora_nf4",
             "deepspeed": "deepspeed_zero2", "rwkv": "chat", "gradio": "the app (python app.py), not this check",
             "pyrwkv-tokenizer": "the fast tokenizer (optional)"}
MFU_FORMULA = ("tokens/s x 4 x N / dense bf16 peak; N = parameters without the embedding; 4N = forward 2N + "
               "input gradients 2N of a frozen base (adapter weight gradients, grad_cp recompute, wkv not counted)")
TOLERANCE = {"float32": 5e-3, "bfloat16": 5e-2}  # relative; Triton's fp32 dots default to tf32 on the GPU
DIST_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE")


def log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# packages


def packages() -> dict[str, dict]:
    """Every package the app and this check use: installed version (None = missing) and pip command."""
    wanted = {}
    for line in (*(REPO / "requirements.txt").read_text().splitlines(),
                 *(REPO / "requirements-gpu.txt").read_text().splitlines()):
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(==\s*\S+)?", line.strip())
        if m and not line.startswith("#"):
            wanted[m.group(1)] = (m.group(2) or "").replace(" ", "")
    wanted.update({k: f"=={v}" if v else "" for k, v in GPU_EXTRAS.items()})
    out = {}
    for name, pin in wanted.items():
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            found = None
        out[name] = {"version": found, "pip": f"pip install {name}{pin}",
                     "needed_by": NEEDED_BY.get(name, "the trainer")}
    return out


def missing(pkgs: dict, *names: str) -> list[str]:
    return [n for n in names if pkgs[n]["version"] is None]


# ---------------------------------------------------------------------------------------------
# sections


class SectionTimeout(Exception):
    pass


class Skip(Exception):
    """A section that cannot run here, and why."""


@dataclass
class Check:
    args: argparse.Namespace
    work: Path
    device: str
    pkgs: dict
    shape: dict  # n_layer, n_embd, vocab, head_size
    start: float = field(default_factory=time.time)
    report: dict = field(default_factory=dict)
    model_path: Path | None = None
    adapter: Path | None = None
    merged: Path | None = None

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def op(self) -> str:
        return "fla" if self.cuda else "chunked"

    @property
    def precision(self) -> str:
        return "bf16" if self.cuda else "fp32"  # bf16 matmuls on a CPU are emulated: far too slow for a test

    def sync(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize()


@dataclass
class Section:
    name: str
    fn: Callable[[Check], dict]
    budget_s: float  # on the GPU; the dry run's shapes are tiny
    needs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # sections whose results this one uses
    gpu_needs: tuple[str, ...] = ("fla-core", "triton")  # packages needed on the GPU only (op fla)


def run_sections(check: Check, sections: list[Section], out_file: Path) -> None:
    def on_alarm(*_):
        raise SectionTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        _run_each(check, sections, out_file)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _run_each(check: Check, sections: list[Section], out_file: Path) -> None:
    results = check.report["sections"]
    for sec in sections:
        left = check.args.budget_s - (time.time() - check.start)
        absent = missing(check.pkgs, *sec.needs, *(sec.gpu_needs if check.cuda else ()))
        failed_before = [a for a in sec.after if results.get(a, {}).get("status") != "ok"]
        t0 = time.time()
        if absent:
            entry = {"status": "skipped", "reason": "missing " + ", ".join(
                f"{n} ({check.pkgs[n]['pip']})" for n in absent)}
        elif failed_before:
            entry = {"status": "skipped", "reason": f"needs section {', '.join(failed_before)}"}
        elif left < 10:
            entry = {"status": "skipped", "reason": f"the time budget of {check.args.budget_s:.0f} s is spent"}
        else:
            limit = int(min(sec.budget_s, left))
            log(f"{sec.name} (up to {limit} s)")
            signal.alarm(limit)
            try:
                entry = {"status": "ok", **sec.fn(check)}
            except Skip as e:
                entry = {"status": "skipped", "reason": str(e)}
            except SectionTimeout:
                entry = {"status": "failed", "error": f"timed out after {limit} s"}
            except Exception as e:  # noqa: BLE001 - one section's failure must not stop the others
                entry = {"status": "failed", "error": f"{type(e).__name__}: {e}"[:2000],
                         "traceback": traceback.format_exc()[-3000:]}
            finally:
                signal.alarm(0)
                free_memory(check)
        entry["seconds"] = round(time.time() - t0, 2)
        results[sec.name] = entry
        log(f"{sec.name}: {entry['status']} {entry.get('error') or entry.get('reason') or ''}")
        check.report["wall_s"] = round(time.time() - check.start, 1)
        write_json(out_file, check.report)


def free_memory(check: Check) -> None:
    gc.collect()
    if check.cuda:
        import torch
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def write_json(path: Path, data: dict) -> None:
    from rwkv_simple_gui.paths import atomic_output

    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# environment


def environment(check: Check) -> dict:
    import torch

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "torch_cuda": torch.version.cuda,
           "device": check.device, "cpu_count": os.cpu_count()}
    if check.cuda:
        props = torch.cuda.get_device_properties(0)
        torch.zeros(1, device="cuda")
        free, total = torch.cuda.mem_get_info()
        name = torch.cuda.get_device_name()
        peak = check.args.peak_tflops or next((v for k, v in BF16_PEAK_TFLOPS if k in name), None)
        env.update(gpu=name, capability=".".join(map(str, torch.cuda.get_device_capability())),
                   gpu_total_gib=round(total / GIB, 2), sm_count=props.multi_processor_count,
                   cuda_context_gib=round((total - free - torch.cuda.memory_reserved()) / GIB, 2),
                   bf16_peak_tflops=peak)
    return env


# ---------------------------------------------------------------------------------------------
# agreement of the wkv ops


def _fla_safe_gate7(r, log_w, k, v, a, b, state=None):
    """chunk_rwkv7 as fla's own RWKV-7 layer calls it: the decay bound licenses 64-token chunks."""
    from fla.ops.rwkv7 import chunk_rwkv7

    from rwkv_simple_gui.model import ops

    h0 = state.float().transpose(-1, -2).contiguous()
    y, h = chunk_rwkv7(r=r, w=log_w.to(r.dtype), k=k, v=v, a=a, b=b, scale=1.0, initial_state=h0,
                       output_final_state=True, safe_gate=True, lower_bound=ops.X070_LOG_DECAY_MIN, chunk_size=64)
    return y, h.transpose(-1, -2)


def _wkv_fn(version: str, op: str):
    from rwkv_simple_gui.model import ops

    if op == "fla_safe_gate":
        return _fla_safe_gate7
    wkv = ops.wkv7 if version == "x070" else ops.wkv6
    return lambda *xs, state: wkv(op, *xs, state=state)


def _forward_backward(fn, xs, state, weights):
    """Output, final state and the gradients (inputs, then initial state) of a fixed linear loss."""
    xs = [x.detach().clone().requires_grad_() for x in xs]
    s0 = state.detach().clone().requires_grad_()
    y, s = fn(*xs, state=s0)
    ((y.double() * weights[0]).sum() + (s.double() * weights[1]).sum()).backward()
    return [y.detach(), s.detach()] + [x.grad for x in xs] + [s0.grad]


def agreement(check: Check) -> dict:
    import torch

    from bench.model import wkv_inputs

    B, T, H, N = (2, 1024, 4, 64) if check.cuda else (1, 40, 2, 16)
    fla = check.cuda and not missing(check.pkgs, "fla-core", "triton")
    out = {"shape": {"B": B, "T": T, "H": H, "N": N}, "reference": "sequential op in fp64 on the same inputs",
           "tolerance": TOLERANCE, "fla": "ran" if fla else "not run: needs CUDA and fla-core"}
    g = torch.Generator(device=check.device).manual_seed(1)
    for version in ("x070", "x060"):
        base = wkv_inputs(version, B, T, H, N, check.device, torch.float32)
        s0 = torch.randn(B, H, N, N, generator=g, device=check.device) * 0.1
        grads = ("r", "log_w", "k", "v", "a", "b") if version == "x070" else ("r", "log_w", "k", "v", "u")
        names = ["y", "state", *(f"d{n}" for n in grads), "d_initial_state"]
        weights = [torch.randn((B, T, H, N), generator=g, device=check.device, dtype=torch.float64),
                   torch.randn((B, H, N, N), generator=g, device=check.device, dtype=torch.float64)]
        ops_here = ["chunked"] + (["fla"] + (["fla_safe_gate"] if version == "x070" else []) if fla else [])
        for dtype in (torch.float32, torch.bfloat16):
            dtype_name = str(dtype).removeprefix("torch.")
            xs = [x.detach().to(dtype) for x in base]
            ref = _forward_backward(_wkv_fn(version, "torch"), [x.double() for x in xs], s0.double(), weights)
            row = {}
            for op in ops_here:
                got = _forward_backward(_wkv_fn(version, op), xs, s0, weights)
                errors = {n: float((a.double() - b).abs().max() / b.abs().max()) for n, a, b in zip(names, got, ref)}
                worst = max(errors, key=errors.get)
                row[op] = {"worst": errors[worst], "worst_tensor": worst,
                           "ok": errors[worst] < TOLERANCE[dtype_name], "errors": errors}
            out[f"{version}_{dtype_name}"] = row
    out["speed"] = _op_speed(check, fla)
    return out


def _op_speed(check: Check, fla: bool) -> dict:
    """Forward + backward of the wkv op alone at one 1.5B layer (32 heads of 64, ctx 4096, bf16)."""
    import torch

    from bench.model import wkv_inputs

    B, T, H, N = (1, 4096, 32, 64) if check.cuda else (1, 64, 1, 16)
    out = {"shape": {"B": B, "T": T, "H": H, "N": N, "dtype": "bf16"}}
    for version in ("x070", "x060"):
        xs = wkv_inputs(version, B, T, H, N, check.device, torch.bfloat16)
        s0 = torch.zeros(B, H, N, N, device=check.device)
        weights = [torch.ones(B, T, H, N, device=check.device, dtype=torch.float64),
                   torch.ones(B, H, N, N, device=check.device, dtype=torch.float64)]
        for op in ["chunked"] + (["fla"] + (["fla_safe_gate"] if version == "x070" else []) if fla else []):
            fn = _wkv_fn(version, op)
            _forward_backward(fn, xs, s0, weights)  # compiles / autotunes
            times = []
            for _ in range(3):
                check.sync()
                t = time.perf_counter()
                _forward_backward(fn, xs, s0, weights)
                check.sync()
                times.append(time.perf_counter() - t)
            out[f"{version}_{op}_ms"] = round(1000 * sorted(times)[1], 2)
    return out


# ---------------------------------------------------------------------------------------------
# the generated model and data


def make_model(check: Check) -> dict:
    import torch

    from rwkv_simple_gui.model import init_model, save_model

    s = check.shape
    t0 = time.time()
    model = init_model("x070", s["n_layer"], s["n_embd"], vocab_size=s["vocab"], head_size=s["head_size"],
                       device=check.device)
    check.sync()
    init_s = time.time() - t0
    # a fresh init has att.output and ffn.value at zero (blocks that do nothing): perturb every matrix
    g = torch.Generator(device=check.device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2 and name != "emb.weight":
                p.add_(torch.randn(p.shape, generator=g, device=p.device) * (0.1 / math.sqrt(p.shape[1])))
    n_params = sum(p.numel() for p in model.parameters())
    check.model_path = check.work / "x070-gpu-check.pth"
    t1 = time.time()
    save_model(model, check.model_path, dtype="bf16")
    return {"shape": s, "n_params": n_params, "generated_on": check.device, "init_s": round(init_s, 2),
            "save_s": round(time.time() - t1, 2), "file_gib": round(check.model_path.stat().st_size / GIB, 3)}


def dataset(check: Check, ctx_len: int, n_docs: int) -> Path:
    """Random token documents of exactly ctx_len + 1 tokens (one full sample each, no padding)."""
    import numpy as np

    from rwkv_simple_gui.data.binidx import write_binidx

    prefix = check.work / f"data-{ctx_len}-{n_docs}"
    if not Path(str(prefix) + ".idx").exists():
        rng = np.random.default_rng(ctx_len)
        write_binidx(prefix, [rng.integers(1, check.shape["vocab"], size=ctx_len + 1) for _ in range(n_docs)])
    return prefix


# ---------------------------------------------------------------------------------------------
# training runs


def _model_info(check: Check):
    from rwkv_simple_gui.model import ModelInfo

    s = check.shape
    return ModelInfo.for_shape("x070", s["n_layer"], s["n_embd"], s["vocab"], s["head_size"])


def _estimate(check: Check, cfg: dict) -> dict:
    from rwkv_simple_gui.train.estimate import GB, estimate_memory

    est = estimate_memory(_model_info(check), cfg)
    return {"estimate_gib": round(est.total / GB, 2),
            "estimate_parts_gib": {k: round(v / GB, 2) for k, v in est.parts.items()}}


def _mfu(check: Check, tokens_per_s: float) -> float | None:
    peak = check.report["env"].get("bf16_peak_tflops")
    if not check.cuda or not peak:
        return None
    s = check.shape
    n = _model_info(check).n_params - s["vocab"] * s["n_embd"]
    return round(tokens_per_s * 4 * n / (peak * 1e12), 4)


def _memory(check: Check, estimate: dict) -> dict:
    if not check.cuda:
        return {"peak_allocated_gib": None, "peak_reserved_gib": None, **estimate}
    import torch

    reserved = torch.cuda.max_memory_reserved() / GIB
    # what nvidia-smi shows (the figure estimate.py was calibrated on) is the reserved memory plus the context
    seen = reserved + check.report["env"]["cuda_context_gib"]
    return {"peak_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 2),
            "peak_reserved_gib": round(reserved, 2), "reserved_plus_context_gib": round(seen, 2), **estimate,
            "measured_over_estimate": round(seen / estimate["estimate_gib"], 3)}


@contextlib.contextmanager
def _own_signal_handlers():
    """train() installs SIGTERM/SIGINT handlers for its stop flag; give this script its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def train_run(check: Check, mode: str, ctx_len: int, micro_bsz: int, grad_cp: int, **options) -> dict:
    from rwkv_simple_gui.train.config import TrainConfig
    from rwkv_simple_gui.train.loop import train

    warmup, timed = (2, 3) if check.cuda else (1, 1)
    prefix = dataset(check, ctx_len, (warmup + timed) * micro_bsz)
    name = f"{mode}-{ctx_len}-{micro_bsz}-cp{grad_cp}-{options.get('quant', 'none')}"
    run_dir = check.work / "runs" / name
    cfg = TrainConfig(**{
        "model_path": str(check.model_path), "data_path": str(prefix), "finetune_mode": mode, "ctx_len": ctx_len,
        "micro_bsz": micro_bsz, "mini_bsz": 1, "epoch_count": 1, "epoch_save": 1, "precision": check.precision,
        "grad_cp": grad_cp, "op": check.op, "lora_r": 64, "lora_alpha": 128, "lora_dropout": 0.0, "pissa_r": 64,
        "loss_mask": "none", "lr_init": 1e-5, "lr_final": 1e-5, "warmup_steps": 0, "seed": 0, "data_shuffle": 0,
        "proj_dir": str(run_dir), **options})
    metrics = []
    free_memory(check)
    t0 = time.time()
    with _own_signal_handlers():
        state = train(cfg, run_dir, progress=metrics.append)
    if state != "finished":
        error = json.loads((run_dir / "status.json").read_text()).get("error") or ""
        if SectionTimeout.__name__ in error:  # the alarm went off inside train(), which turned it into a status
            raise SectionTimeout()
        raise RuntimeError(f"training {state}: {error}")
    rates = sorted(m["tokens_per_s"] for m in metrics[warmup:])
    tps = rates[len(rates) // 2]
    if mode == "lora" and options.get("quant", "none") == "none":
        check.adapter = run_dir / "rwkv-0.pth"
    return {"method": mode, "ctx_len": ctx_len, "micro_bsz": micro_bsz, "grad_cp": grad_cp, "op": check.op,
            "precision": check.precision, **options, "steps": len(metrics),
            "tokens_per_s": round(tps, 1), "first_step_s": round(metrics[0]["tokens"] / metrics[0]["tokens_per_s"], 2),
            "loss_first": metrics[0]["loss"], "loss_last": metrics[-1]["loss"], "mfu": _mfu(check, tps),
            **_memory(check, _estimate(check, cfg.to_dict())), "run_s": round(time.time() - t0, 1)}


def _train_section(mode: str, ctx_len: int, micro_bsz: int, grad_cp: int, **options) -> Callable[[Check], dict]:
    def run(check: Check) -> dict:
        if options.get("quant", "none") != "none" and not check.cuda:
            raise Skip(f"quant {options['quant']} needs a CUDA GPU (bitsandbytes)")
        if check.cuda:
            return train_run(check, mode, ctx_len, micro_bsz, grad_cp, **options)
        return train_run(check, mode, ctx_len // 32, min(micro_bsz, 2), grad_cp, **options)
    return run


# ---------------------------------------------------------------------------------------------
# merge and chat (the CLI, as a user runs them)


def _cli(check: Check, *args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env.update(PYTHONPATH=str(REPO), RWKV_SIMPLE_GUI_HOME=str(check.work))
    return subprocess.run([sys.executable, "-m", "rwkv_simple_gui", *args], cwd=check.work, env=env,
                          capture_output=True, text=True, timeout=timeout)


def merge(check: Check) -> dict:
    from rwkv_simple_gui.model import detect

    check.merged = check.work / "merged.pth"
    t0 = time.time()
    out = _cli(check, "merge", "--base", str(check.model_path), "--checkpoint", str(check.adapter),
               "--out", str(check.merged), timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"merge exited {out.returncode}: {(out.stderr or out.stdout)[-1500:]}")
    info = detect(check.merged)
    return {"adapter": check.adapter.parent.name, "merge_s": round(time.time() - t0, 1),
            "merged_gib": round(check.merged.stat().st_size / GIB, 3), "merged_shape": f"{info.n_layer}x{info.n_embd}"}


def chat(check: Check) -> dict:
    strategy = "cuda fp16" if check.cuda else "cpu fp32"
    model = check.merged if check.merged and check.merged.exists() else check.model_path
    t0 = time.time()
    out = _cli(check, "chat", "--model", str(model), "--strategy", strategy, "--prompt", "Hello! Who are you?",
               "--max-tokens", "32", "--temperature", "0", "--seed", "0", timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"chat exited {out.returncode}: {(out.stderr or out.stdout)[-1500:]}")
    return {"strategy": strategy, "model": model.name, "answer": out.stdout.strip()[:500],
            "chat_s": round(time.time() - t0, 1)}


# ---------------------------------------------------------------------------------------------
# DeepSpeed ZeRO-2 on one device


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _single_process_group(check: Check):
    import deepspeed
    import torch.distributed as dist

    saved = {k: os.environ.get(k) for k in DIST_ENV}
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
    try:
        deepspeed.init_distributed(dist_backend="nccl" if check.cuda else "gloo")
        yield
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def deepspeed_zero2(check: Check) -> dict:
    import deepspeed
    import torch
    import torch.nn.functional as F

    from rwkv_simple_gui.model import load_model
    from rwkv_simple_gui.peft import apply_peft
    from rwkv_simple_gui.train.config import TrainConfig

    ctx_len, micro_bsz, steps, warmup = (1024, 1, 5, 2) if check.cuda else (32, 1, 2, 1)
    cfg = TrainConfig(finetune_mode="lora", lora_r=64, lora_alpha=128, lora_dropout=0.0, ctx_len=ctx_len,
                      micro_bsz=micro_bsz, grad_cp=1, precision=check.precision, deepspeed_strategy="deepspeed_stage_2")
    free_memory(check)
    with _single_process_group(check):
        model = load_model(check.model_path, dtype="bf16" if check.cuda else "fp32", device=check.device, op=check.op)
        model.grad_cp = True
        apply_peft(model, cfg)
        trained = [p for p in model.parameters() if p.requires_grad]
        for p in trained:
            p.data = p.data.float().contiguous()
        optimizer = torch.optim.AdamW(trained, lr=1e-5)
        config = {"train_micro_batch_size_per_gpu": micro_bsz, "gradient_accumulation_steps": 1,
                  "gradient_clipping": 1.0, "zero_optimization": {"stage": 2}, "zero_allow_untested_optimizer": True,
                  "zero_force_ds_cpu_optimizer": False, "steps_per_print": 2**31 - 1}
        engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
        engine.train()
        g = torch.Generator().manual_seed(0)
        rates, losses = [], []
        for step in range(steps):
            idx = torch.randint(1, check.shape["vocab"], (micro_bsz, ctx_len + 1), generator=g).to(check.device)
            check.sync()
            t = time.perf_counter()
            with torch.autocast(check.device, dtype=torch.bfloat16, enabled=check.cuda):
                logits, _ = engine(idx[:, :-1])
                loss = F.cross_entropy(logits.flatten(0, 1).float(), idx[:, 1:].flatten())
            engine.backward(loss)
            engine.step()
            check.sync()
            rates.append(micro_bsz * ctx_len / (time.perf_counter() - t))
            losses.append(float(loss.detach()))
        timed = sorted(rates[warmup:])
        tps = timed[len(timed) // 2]
        result = {"zero_stage": engine.zero_optimization_stage(), "ctx_len": ctx_len, "micro_bsz": micro_bsz,
                  "grad_cp": 1, "op": check.op, "steps": steps, "tokens_per_s": round(tps, 1),
                  "precision": check.precision, "loss_first": losses[0], "loss_last": losses[-1],
                  "mfu": _mfu(check, tps), **_memory(check, _estimate(check, cfg.to_dict()))}
        del engine, model, optimizer, trained
    return result


# ---------------------------------------------------------------------------------------------


SECTIONS = [
    Section("agreement", agreement, 120, gpu_needs=()),  # its fla rows need fla-core; it says when they did not run
    Section("model", make_model, 90, gpu_needs=()),
    Section("train_lora_ctx1024_bsz1_cp1", _train_section("lora", 1024, 1, 1), 150, after=("model",)),
    Section("merge", merge, 120, after=("train_lora_ctx1024_bsz1_cp1",), gpu_needs=()),
    Section("chat", chat, 120, ("rwkv",), ("model",), gpu_needs=()),
    Section("train_lora_ctx4096_bsz8_cp1", _train_section("lora", 4096, 8, 1), 90, after=("model",)),
    Section("train_lora_ctx1024_bsz1_cp0", _train_section("lora", 1024, 1, 0), 60, after=("model",)),
    Section("train_state_tuning_ctx1024", _train_section("state_tuning", 1024, 1, 1, lr_init=1e-2, lr_final=1e-2),
            60, after=("model",)),
    Section("train_pissa_ctx1024", _train_section("pissa", 1024, 1, 1), 75, after=("model",)),
    Section("train_qlora_nf4_ctx1024", _train_section("lora", 1024, 1, 1, quant="nf4"), 75, after=("model",),
            gpu_needs=("fla-core", "triton", "bitsandbytes")),
    Section("deepspeed_zero2", deepspeed_zero2, 90, ("deepspeed",), ("model",)),
    Section("train_lora_ctx4096_bsz8_cp0", _train_section("lora", 4096, 8, 0), 90, after=("model",)),
]


def with_prerequisites(names: list[str]) -> list[Section]:
    """The sections named, and every section their results come from, in the table's order."""
    by_name = {s.name: s for s in SECTIONS}
    wanted, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += by_name[name].after
    return [s for s in SECTIONS if s.name in wanted]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="folder for gpu_check.json (created)")
    p.add_argument("--dry-run", action="store_true", help="run every section on the CPU with tiny shapes")
    p.add_argument("--budget-s", type=float, default=None, help="total time budget (default: 480 on a GPU, 300 dry)")
    p.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, if it is not in the built-in table")
    p.add_argument("--only", nargs="*", choices=[s.name for s in SECTIONS], help="run only these sections")
    p.add_argument("--work", help="keep the generated model, data and runs in this folder (default: temporary)")
    args = p.parse_args()
    args.budget_s = args.budget_s or (300.0 if args.dry_run else 480.0)
    # stdout carries the JSON alone: everything else written to fd 1 (the trainer's log, DeepSpeed, NCCL)
    # goes to stderr
    json_out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)

    pkgs = packages()
    absent = [n for n, v in pkgs.items() if v["version"] is None]
    for n in absent:
        log(f"missing {n}: {pkgs[n]['pip']}  (needed by {pkgs[n]['needed_by']}; offline: see bench/README.md)")
    if pkgs["torch"]["version"] is None:
        log("torch is not installed: install the CUDA build that matches the driver first")
        return 2
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        log(f"no CUDA GPU is visible to torch {torch.__version__} (built for CUDA {torch.version.cuda}): "
            "install the CUDA build of torch, or run with --dry-run on a CPU")
        return 2
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / "gpu_check.json"
    shape = ({"n_layer": 2, "n_embd": 64, "vocab": 65536, "head_size": 64} if args.dry_run
             else {"n_layer": 24, "n_embd": 2048, "vocab": 65536, "head_size": 64})
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        work = Path(args.work).resolve() if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        check = Check(args, work, "cpu" if args.dry_run else "cuda", pkgs, shape)
        check.report.update(gpu_check=1, dry_run=args.dry_run, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            budget_s=args.budget_s, packages={n: v["version"] for n, v in pkgs.items()},
                            missing={n: {"pip": pkgs[n]["pip"], "needed_by": pkgs[n]["needed_by"]} for n in absent},
                            env=environment(check), mfu_formula=MFU_FORMULA, sections={})
        run_sections(check, with_prerequisites(args.only) if args.only else SECTIONS, out_file)
    check.report["wall_s"] = round(time.time() - check.start, 1)
    write_json(out_file, check.report)
    print(json.dumps(check.report, ensure_ascii=False), file=json_out, flush=True)
    failed = [n for n, s in check.report["sections"].items() if s["status"] == "failed"]
    log(f"done in {check.report['wall_s']} s: {out_file}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
