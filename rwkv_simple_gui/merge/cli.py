"""``python -m rwkv_simple_gui merge``: the seed's merge.sh, for every method. ``merge --config merge.sh 2`` reads a
seed user's merge.sh (as data, never run) with its positional epoch; flags win over it."""

from __future__ import annotations

import argparse
import sys

from rwkv_simple_gui import paths
from rwkv_simple_gui.model import ModelFormatError

from .errors import MergeError
from .merger import DTYPES, FORMATS, GGUF_TYPES, QUANTS, OutputExists, merge


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="MERGE_SH",
                        help="a merge.sh of RWKV-PEFT-Simple: its MODEL_PATH, QUANT, TRAIN_TYPE and LORA_ALPHA, read "
                             "with the seed's meaning (never run); give the epoch after it, as to merge.sh")
    parser.add_argument("epoch", nargs="?", help="with --config: the epoch to merge (merge.sh's $1: output/rwkv-N.pth)")
    parser.add_argument("--base", help="base model .pth (in model/)")
    parser.add_argument("--checkpoint",
                        help="a run folder (output/RUN: its recommended checkpoint, the best one when early stopping "
                             "kept it, else the last), a training checkpoint (output/RUN/rwkv-3.pth), a whole model "
                             "(RWKV-PEFT --merge 1) or an HF peft adapter folder (RWKV-PEFT --merge 0: "
                             "<proj_dir>-adapter/)")
    parser.add_argument("--out", help="output path (default merge/<run>-<epoch>.pth for a run's checkpoint, else "
                                      "merge/<base>-<METHOD>-<epoch>.pth); every format is named after it: NAME.pth, "
                                      "NAME.st, NAME-hf/, NAME.gguf")
    parser.add_argument("--format", dest="fmt", choices=FORMATS, default=["pth"], action="append",
                        help="pth: rwkv package / RWKV-Runner; st: Ai00 / web-rwkv; hf: Hugging Face folder "
                             "(RWKV-7); gguf: llama.cpp / Ollama; all: every one; both: pth and st (repeat to pick "
                             "several)")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="bf16",
                        help="dtype of the .pth and the HF folder (.st is fp16)")
    parser.add_argument("--gguf-type", choices=GGUF_TYPES, help="tensor type of the GGUF (default: --dtype)")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the self-check (each export loaded by its runtime, logits compared)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs that exist (else the merge is refused)")
    parser.add_argument("--force", action="store_true", help="use a state file on a base it was not tuned on")
    parser.add_argument("--lora-alpha", type=float, help="LoRA alpha used in training (default: the run's config)")
    parser.add_argument("--pissa-init", help="init_pissa.pth of the run (default: next to the checkpoint)")
    parser.add_argument("--quant", choices=QUANTS, help="quantization used in training (default: the run's config)")
    parser.add_argument("--merge-state", action="store_true",
                        help="state tuning on RWKV-6: also write the model with the state merged in")


def from_merge_sh(args: argparse.Namespace) -> list[str] | None:
    """Fill ``args`` from ``--config merge.sh EPOCH`` (flags given win); the import's report, or None."""
    from rwkv_simple_gui.train.seed_script import read_merge_sh

    if not args.config:
        if args.epoch is not None:
            raise MergeError(f"the epoch {args.epoch} is for --config merge.sh; without it give --checkpoint")
        return None
    imported = read_merge_sh(paths.resolve(args.config), [args.epoch] if args.epoch is not None else [])
    args.base = args.base or imported.base
    args.checkpoint = args.checkpoint or imported.checkpoint
    args.quant = args.quant if args.quant is not None else imported.quant
    args.lora_alpha = args.lora_alpha if args.lora_alpha is not None else imported.lora_alpha
    args.expect_methods = imported.methods
    return imported.report()


def main(args: argparse.Namespace) -> int:
    try:
        report = from_merge_sh(args)
    except (MergeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in report or []:
        print(line)
    missing = [flag for flag, value in (("--base", args.base), ("--checkpoint", args.checkpoint)) if not value]
    if missing:
        print(f"error: give {' and '.join(missing)} (or --config merge.sh EPOCH)", file=sys.stderr)
        return 2
    expected = getattr(args, "expect_methods", ())
    bar = _TensorBar()
    try:
        if expected:
            _check_type(args, expected)
        fmt = args.fmt[1:] or args.fmt  # an explicit --format replaces the default
        result = merge(args.base, args.checkpoint, args.out, fmt=list(dict.fromkeys(fmt)), dtype=args.dtype,
                       gguf_type=args.gguf_type, lora_alpha=args.lora_alpha, pissa_init=args.pissa_init,
                       quant=args.quant, merge_state=args.merge_state, force=args.force, check=args.check,
                       overwrite=args.overwrite, progress=bar)
    except OutputExists as exc:
        print(f"error: {paths.display(exc.path)} already exists: pass --overwrite to replace it, or --out another "
              "name", file=sys.stderr)
        return 2
    except (MergeError, ModelFormatError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    return _print_result(result)


class _TensorBar:
    """A progress bar over the tensors written, made on the first one, so a refused merge prints only its error."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int, key: str) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="tensor", file=sys.stderr, dynamic_ncols=True)
        self.bar.set_postfix_str(key, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_result(result) -> int:
    """What was written, its notes and self-checks; 1 when a self-check failed."""
    for note in result.notes:
        print(f"note: {note}")
    kind = "state file" if result.output == "state" else "merged model"
    print(f"{result.method} ({result.version}): {result.keys_changed} tensors changed, "
          f"{result.seconds:.1f} s, peak RSS {result.peak_rss_mb:.0f} MB")
    for path in result.outputs:
        size = sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size
        print(f"{kind}: {paths.display(path)} ({size / 2**20:.1f} MB)")
    for check in result.checks:
        print(f"self-check: {check.describe()}")
    return 0 if all(c.ok for c in result.checks) else 1


def _check_type(args: argparse.Namespace, expected: tuple[str, ...]) -> None:
    """merge.sh's TRAIN_TYPE against what the checkpoint holds (a mismatch would fold the wrong maths)."""
    from rwkv_simple_gui.model.lazy import LazyStateDict

    from .plan import inspect

    path = paths.resolve(args.checkpoint, base="output")
    if not path.is_file():
        return  # merge() says what is missing
    row = inspect(path, LazyStateDict(path), init_given=bool(args.pissa_init))[0]
    if row.name not in expected:
        raise MergeError(f"TRAIN_TYPE in {args.config} says {' or '.join(expected)}, but {paths.display(path)} holds "
                         f"a {row.name} checkpoint: set TRAIN_TYPE to match the run, or pick its checkpoint")
