"""``python -m rwkv_simple_gui merge``: the seed's merge.sh, for every method."""

from __future__ import annotations

import argparse
import sys

from rwkv_simple_gui import paths
from rwkv_simple_gui.model import ModelFormatError

from .merger import DTYPES, FORMATS, QUANTS, merge
from .plan import MergeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="base model .pth (in model/)")
    parser.add_argument("--checkpoint", required=True, help="training checkpoint, e.g. output/RUN/rwkv-3.pth")
    parser.add_argument("--out", help="output path (default merge/<base>-<METHOD>-<epoch>.pth); the suffix "
                                      "follows --format")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default="pth",
                        help="pth: rwkv package / RWKV-Runner; st: Ai00 / web-rwkv safetensors; both")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="bf16", help="dtype of the .pth (.st is fp16)")
    parser.add_argument("--lora-alpha", type=float, help="LoRA alpha used in training (default: the run's config)")
    parser.add_argument("--pissa-init", help="init_pissa.pth of the run (default: next to the checkpoint)")
    parser.add_argument("--quant", choices=QUANTS, help="quantization used in training (default: the run's config)")
    parser.add_argument("--merge-state", action="store_true",
                        help="state tuning on RWKV-6: also write the model with the state merged in")


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    bars = []  # created on the first tensor, so a refused merge prints only its error

    def report(done: int, total: int, key: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="tensor", file=sys.stderr, dynamic_ncols=True))
        bars[0].set_postfix_str(key, refresh=False)
        bars[0].update(done - bars[0].n)

    try:
        result = merge(args.base, args.checkpoint, args.out, fmt=args.fmt, dtype=args.dtype,
                       lora_alpha=args.lora_alpha, pissa_init=args.pissa_init, quant=args.quant,
                       merge_state=args.merge_state, progress=report)
    except (MergeError, ModelFormatError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    for note in result.notes:
        print(f"note: {note}")
    kind = "state file" if result.output == "state" else "merged model"
    print(f"{result.method} ({result.version}): {result.keys_changed} tensors changed, "
          f"{result.seconds:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB")
    for path in result.outputs:
        print(f"{kind}: {paths.display(path)} ({path.stat().st_size / 2**20:.1f} MB)")
    return 0
