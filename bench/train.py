"""Training throughput and peak memory of the real trainer loop (LoRA by default).

CPU (default): RWKV-7 0.1B shape (12 layers, n_embd 768, vocab 65536), ctx 512, fp32 and bf16.
CUDA (--device cuda): RWKV-7 1.5B shape (24 layers, 2048) at ctx 1024 and 4096, bf16, op fla, grad_cp,
LoRA r64 alpha 128, micro_bsz 1 -- RWKV-PEFT publishes 5.6 GB for that setting at ctx 1024 (RTX 4090).

    python bench/train.py                       # CPU
    python bench/train.py --device cuda         # GPU
    python bench/train.py --layers 2 --embd 64 --ctx 64 --steps 3   # a quick smoke run

Random weights and random tokens: the speed and memory of a step do not depend on them. Each configuration
runs in its own process so peak memory is its own. Prints one line per configuration and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# run as a script, bench/ would come first on sys.path and its tokenize.py would shadow the standard library's
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]


def one(args) -> dict:
    """Run one configuration in this process; returns its figures."""
    import numpy as np
    import torch

    from rwkv_simple_gui.data.binidx import write_binidx
    from rwkv_simple_gui.model import init_model, save_model
    from rwkv_simple_gui.train.config import TrainConfig
    from rwkv_simple_gui.train.loop import train

    work = Path(args.work)
    model_path = work / f"x070-{args.layers}x{args.embd}.pth"
    if not model_path.exists():
        save_model(init_model("x070", args.layers, args.embd, vocab_size=args.vocab), model_path, dtype="bf16")
    rng = np.random.default_rng(0)
    n_docs = (args.steps + args.warmup) * args.micro_bsz
    prefix = work / f"docs-{args.ctx}-{n_docs}"
    if not Path(str(prefix) + ".idx").exists():
        write_binidx(prefix, [rng.integers(1, args.vocab, size=args.ctx + 1) for _ in range(n_docs)])
    cfg = TrainConfig(model_path=str(model_path), data_path=str(prefix), finetune_mode=args.mode, ctx_len=args.ctx,
                      micro_bsz=args.micro_bsz, mini_bsz=1, epoch_count=1, epoch_save=1, precision=args.precision,
                      grad_cp=1, op=args.op, lora_r=64, lora_alpha=128, lora_dropout=0.0, loss_mask="none",
                      lr_init=1e-5, lr_final=1e-5, warmup_steps=0, seed=0, data_shuffle=0)
    rates, peaks = [], []

    def progress(metric):
        rates.append(metric["tokens_per_s"])
        peaks.append(metric["gpu_mem"])

    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    state = train(cfg, work / f"run-{args.precision}-{args.ctx}", progress=progress)
    if state != "finished":
        raise SystemExit(f"training {state}: see {work}/run-{args.precision}-{args.ctx}/train.log")
    timed = sorted(rates[args.warmup:]) or sorted(rates)
    return {
        "device": args.device, "shape": f"{args.layers}x{args.embd}", "ctx": args.ctx, "precision": args.precision,
        "op": args.op, "mode": args.mode, "steps": len(rates), "tokens_per_s_median": timed[len(timed) // 2],
        "peak_gpu_gb": max(p for p in peaks if p is not None) if args.device == "cuda" else None,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "wall_s": time.time() - t0,
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--mode", default="lora")
    p.add_argument("--layers", type=int)
    p.add_argument("--embd", type=int)
    p.add_argument("--vocab", type=int, default=65536)
    p.add_argument("--ctx", type=int, nargs="*", help="context lengths (default: cpu 512, cuda 1024 4096)")
    p.add_argument("--precision", nargs="*", help="default: cpu fp32 bf16, cuda bf16")
    p.add_argument("--op", help="default: cpu chunked, cuda fla")
    p.add_argument("--micro-bsz", dest="micro_bsz", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: cpu 4, cuda 10)")
    p.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    p.add_argument("--work", help="folder for the generated model and data (default: a temporary one)")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process: one configuration
    args = p.parse_args()
    cuda = args.device == "cuda"
    args.layers = args.layers or (24 if cuda else 12)
    args.embd = args.embd or (2048 if cuda else 768)
    args.op = args.op or ("fla" if cuda else "chunked")
    args.steps = args.steps or (10 if cuda else 4)
    if args.one:
        args.ctx, args.precision = args.ctx[0], args.precision[0]
        print(json.dumps(one(args)))
        return 0
    ctxs = args.ctx or ([1024, 4096] if cuda else [512])
    precisions = args.precision or (["bf16"] if cuda else ["fp32", "bf16"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or tmp
        for ctx in ctxs:
            for prec in precisions:
                cmd = [sys.executable, __file__, "--one", "--device", args.device, "--mode", args.mode,
                       "--layers", str(args.layers), "--embd", str(args.embd), "--vocab", str(args.vocab),
                       "--ctx", str(ctx), "--precision", prec, "--op", args.op, "--micro-bsz", str(args.micro_bsz),
                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--work", work]
                out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
                if out.returncode != 0:
                    print(f"ctx {ctx} {prec}: FAILED\n{out.stdout[-2000:]}{out.stderr[-2000:]}", file=sys.stderr)
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results.append(r)
                mem = f"peak GPU {r['peak_gpu_gb']:.2f} GiB" if r["peak_gpu_gb"] is not None else \
                    f"peak RSS {r['peak_rss_gb']:.2f} GiB"
                print(f"{r['mode']} {r['shape']} ctx {ctx} {prec} op {r['op']} on {r['gpu'] or 'cpu'}: "
                      f"{r['tokens_per_s_median']:.0f} tokens/s (median of {r['steps'] - args.warmup} steps), {mem}",
                      flush=True)
    print(json.dumps(results, indent=1))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
