"""``python -m rwkv_simple_gui init-model``: write a fresh random RWKV-7/RWKV-6 model (demos, tests)."""

from __future__ import annotations

import argparse
import sys

from .. import paths
from .checkpoint import DTYPES, save_model
from .init import init_model
from .rwkv import VERSIONS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", choices=VERSIONS, required=True, help="x070 (RWKV-7) or x060 (RWKV-6)")
    p.add_argument("--n-layer", type=int, required=True, help="number of blocks (>= 2 for RWKV-Runner)")
    p.add_argument("--n-embd", type=int, required=True, help="model width, a multiple of --head-size")
    p.add_argument("--vocab", type=int, default=65536, help="vocabulary size (65536 = the World tokenizer)")
    p.add_argument("--head-size", type=int, default=64, help="channels per head (CUDA kernels need 64)")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="bf16", help="dtype of the saved weights")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same model")
    p.add_argument("--out", required=True, help="output file, e.g. model/tiny.pth (or .safetensors)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def _print_progress(done: int, total: int) -> None:
    print(f"\rinitialising layer {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    out = paths.resolve(args.out, base="model")
    if out.exists() and not args.force:
        print(f"error: {paths.display(out)} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    try:
        model = init_model(args.version, args.n_layer, args.n_embd, vocab_size=args.vocab,
                           head_size=args.head_size, seed=args.seed, progress=_print_progress)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    save_model(model, out, dtype=args.dtype)
    info = model.info
    info.dtype = args.dtype
    print(f"wrote {paths.display(out)} ({out.stat().st_size / 2**20:.1f} MiB)")
    print(info.describe())
    return 0
