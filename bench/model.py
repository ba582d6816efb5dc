"""Speed of the wkv ops and of the whole model (prints figures; not a test).

    python bench/model.py                 # CPU: wkv ops at the 0.1B shape, whole 0.1B model
    python bench/model.py --device cuda   # CUDA: fla on a 1.5B shape, plus fla vs chunked agreement

Every timing is forward + backward. Other processes on the machine disturb CPU figures: run twice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Import from the project root, not from bench/ (whose tokenize.py would shadow the standard library's).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from rwkv_simple_gui.model import init_model, ops  # noqa: E402
from rwkv_simple_gui.model.rwkv import RWKV  # noqa: E402


def wkv_inputs(version: str, B: int, T: int, H: int, N: int, device, dtype):
    """Inputs shaped and scaled like the model's (RWKV-7 decay within its bounds, unit removal key)."""
    g = torch.Generator(device=device).manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32)

    r, k, v = randn(B, T, H, N), randn(B, T, H, N) * 0.3, randn(B, T, H, N)
    if version == "x070":
        log_w = ops.X070_LOG_DECAY_MIN * torch.sigmoid(randn(B, T, H, N) * 2)
        kk = F.normalize(randn(B, T, H, N), dim=-1)
        alpha = torch.sigmoid(randn(B, T, H, N))
        xs = [r, log_w, k, v, -kk, kk * alpha]
    else:
        xs = [r, -torch.exp(randn(B, T, H, N) - 2), k, v, randn(H, N) * 0.1]
    return [x.to(dtype).requires_grad_() for x in xs]


def run_wkv(version: str, op: str, xs, state=None):
    fn = ops.wkv7 if version == "x070" else ops.wkv6
    return fn(op, *xs, state=state)


def time_it(fn, repeat: int, warmup=None) -> float:
    """Best wall time of ``repeat`` runs after one warm-up run of ``warmup`` (default: ``fn``)."""
    (warmup or fn)()
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def fwd_bwd_wkv(version: str, op: str, xs):
    def step():
        for x in xs:
            x.grad = None
        y, s = run_wkv(version, op, xs)
        (y.float().square().mean() + s.square().mean()).backward()
    return step


def fwd_bwd_model(model: RWKV, idx: torch.Tensor):
    def step():
        model.zero_grad(set_to_none=True)
        logits, _ = model(idx)
        F.cross_entropy(logits.flatten(0, 1).float(), idx.roll(-1, 1).flatten()).backward()
    return step


def bench_cpu(args) -> None:
    H, N, T = 12, 64, args.ctx
    print(f"## wkv op alone, {H} heads of {N}, ctx {T}, fp32, forward+backward (best of {args.repeat})")
    print(f"{'version':8} {'batch':>5} {'sequential s':>13} {'chunked s':>10} {'speed-up':>9}")
    for version in ("x070", "x060"):
        for B in (1, 4):
            xs = wkv_inputs(version, B, T, H, N, "cpu", torch.float32)
            t_seq = time_it(fwd_bwd_wkv(version, "torch", xs), args.repeat)
            t_chk = time_it(fwd_bwd_wkv(version, "chunked", xs), args.repeat)
            print(f"{version:8} {B:5d} {t_seq:13.3f} {t_chk:10.3f} {t_seq / t_chk:8.1f}x")

    if args.ops_only:
        return
    print(f"\n## whole model, 0.1B shape (12 layers, 768, vocab 65536), batch 1, ctx {T}, fp32, forward+backward")
    for version in args.versions:
        model = init_model(version, n_layer=12, n_embd=768, vocab_size=65536, head_size=64)
        idx = torch.randint(0, 65536, (1, T), generator=torch.Generator().manual_seed(0))
        for op in ("torch", "chunked"):
            model.op = op
            t = time_it(fwd_bwd_model(model, idx), 1, warmup=fwd_bwd_model(model, idx[:, :32]))
            print(f"{version} op={op:8} {T / t:8.1f} tokens/s  ({t:.2f} s per step)")


def bench_cuda(args) -> None:
    device = "cuda"
    print(f"fla available: {ops.fla_import_error() or 'yes'}; device {torch.cuda.get_device_name()}")

    print("\n## agreement: fla (bf16) vs chunked (fp32 on the same bf16 inputs), 32 heads of 64, ctx 4096")
    for version in ("x070", "x060"):
        xs = wkv_inputs(version, 2, 4096, 32, 64, device, torch.bfloat16)
        s0 = torch.randn(2, 32, 64, 64, device=device) * 0.1
        results = {}
        for op in ("fla", "chunked"):
            inputs = [x.detach().clone().requires_grad_() for x in xs]
            state = s0.clone().requires_grad_()
            y, s = run_wkv(version, op, inputs, state)
            (y.float().square().mean() + s.square().mean()).backward()
            results[op] = [y.float(), s] + [x.grad.float() for x in inputs] + [state.grad]
        grads = ("r", "log_w", "k", "v", "a", "b") if version == "x070" else ("r", "log_w", "k", "v", "u")
        names = ["y", "final state", *(f"d{n}" for n in grads), "d(initial state)"]
        for name, a, b in zip(names, results["fla"], results["chunked"]):
            rel = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-12)
            print(f"{version} {name:17} max |fla - chunked| / max |chunked| = {rel:.2e}")

    print("\n## 1.5B shape (24 layers, 2048, vocab 65536), bf16, ctx 4096, batch 1, forward+backward")
    for version in args.versions:
        big = init_model(version, n_layer=24, n_embd=2048).to(device, torch.bfloat16)
        idx = torch.randint(0, 65536, (1, args.cuda_ctx), device=device)
        for grad_cp in (False, True):
            big.grad_cp = grad_cp
            big.train()
            torch.cuda.reset_peak_memory_stats()
            try:
                t = time_it(fwd_bwd_model(big, idx), args.repeat)
            except torch.OutOfMemoryError:
                print(f"{version} grad_cp={grad_cp}: out of memory")
                torch.cuda.empty_cache()
                continue
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(f"{version} op={ops.resolve_op('auto', device)} grad_cp={grad_cp}: "
                  f"{args.cuda_ctx / t:8.0f} tokens/s, peak memory {peak:.1f} GiB")
        del big
        torch.cuda.empty_cache()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per figure (best is shown)")
    p.add_argument("--ctx", type=int, default=512, help="CPU context length")
    p.add_argument("--ops-only", action="store_true", help="CPU: the wkv ops alone, not the whole model")
    p.add_argument("--cuda-ctx", type=int, default=4096, help="CUDA context length")
    p.add_argument("--versions", nargs="+", default=["x070"], choices=("x070", "x060"),
                   help="model versions for the whole-model figures")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is visible to torch")
    bench_cpu(args) if args.device == "cpu" else bench_cuda(args)


if __name__ == "__main__":
    main()
