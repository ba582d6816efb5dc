"""``python -m rwkv_simple_gui tokenize INPUT [COPIES] [MAX_LEN] [--no-eof]``: the seed's make_tokenize.sh (its
positional call ``make_tokenize.sh FILE N_EPOCH CTX_LEN --no-eof`` works as is; the flags too), with its printout.

Prints what make_tokenize.py prints (a preview of the first and last item, the ``### Final ...``
summary, max_length, max_length_power_of_two, data_line_count and the factor table) plus the
dropped / skipped counts and a MICRO_BSZ hint; ``--json`` prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import paths
from .report import format_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="dataset file (.jsonl/.json/.csv/.parquet); a name not found from the project folder "
                                 "is looked up in data/, as make_tokenize.sh does")
    p.add_argument("copies_pos", nargs="?", type=int, metavar="COPIES",
                   help="make_tokenize.sh's 2nd argument (N_EPOCH): the same as --copies")
    p.add_argument("max_len_pos", nargs="?", type=int, metavar="MAX_LEN",
                   help="make_tokenize.sh's 3rd argument (CTX_LEN): the same as --max-tokens")
    p.add_argument(
        "--copies", type=int, default=None, metavar="N", help="shuffled copies written (the seed's N_EPOCH; default 1)"
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        metavar="N",
        help="drop documents longer than N tokens, EOF included (0: keep all)",
    )
    p.add_argument("--no-eof", action="store_true", help="do not append token 0 after each document")
    p.add_argument("--out", metavar="PREFIX", help="write PREFIX.bin/.idx/.meta.json (default: data/<input name>)")
    p.add_argument("--seed", type=int, default=42, help="shuffle seed (default 42)")
    p.add_argument(
        "--tokenizer",
        default="world",
        metavar="world|PATH.json",
        help="World vocabulary (default) or an HF tokenizer.json",
    )
    p.add_argument("--skip-bad", action="store_true", help="skip bad records and count them instead of stopping")
    p.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes (default: one per CPU for large files)"
    )
    p.add_argument("--json", action="store_true", help="print only one JSON object with the results")


class _Bars:
    """tqdm bars on stderr, one per stage; silent when stderr is not a terminal."""

    def __init__(self):
        self.bar = None
        self.stage = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            byte_stage = stage == "tokenizing"
            self.bar = tqdm(
                total=total,
                desc=stage,
                unit="B" if byte_stage else " items",
                unit_scale=byte_stage,
                disable=None,
                file=sys.stderr,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _one_of(positional, flag, name: str, default: int) -> int:
    if positional is not None and flag is not None and positional != flag:
        raise ValueError(f"{name} is given twice ({positional} and {flag}): give it once")
    return next((v for v in (positional, flag) if v is not None), default)


def input_path(value: str):
    """The dataset file: from the project folder, else in data/ (make_tokenize.sh reads data/$1)."""
    found = paths.resolve(value, base="data")
    in_data = paths.PROJECT_ROOT / "data" / value
    if not found.exists() and not Path(value).is_absolute() and in_data.exists():
        return in_data
    return found


def main(args: argparse.Namespace) -> int:
    from .binidx import split_prefix
    from .pipeline import tokenize_file

    try:
        copies = _one_of(args.copies_pos, args.copies, "COPIES (--copies)", 1)
        max_tokens = _one_of(args.max_len_pos, args.max_tokens, "MAX_LEN (--max-tokens)", 0)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    out = paths.resolve(args.out) if args.out else None
    for left in paths.remove_leftovers(*([split_prefix(out).parent] if out else [])):
        print(f"removed {paths.display(left)}, left by a run that was killed", file=sys.stderr)
    bars = _Bars()
    try:
        result = tokenize_file(
            input_path(args.input),
            out,
            copies=copies,
            max_tokens=max_tokens,
            eof=not args.no_eof,
            seed=args.seed,
            tokenizer=args.tokenizer,
            skip_bad=args.skip_bad,
            workers=args.workers,
            progress=bars,
        )
    except (ValueError, OSError) as e:  # DatasetError, TokenizerError and BinIdxError are ValueErrors
        bars.close()
        if args.json:
            print(
                json.dumps(
                    {"error": str(e), "file": str(getattr(e, "path", "")) or None, "line": getattr(e, "line", None)},
                    ensure_ascii=False,
                )
            )
        print(f"error: {e}", file=sys.stderr)
        return 1
    bars.close()
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print(format_report(result))
    return 0
