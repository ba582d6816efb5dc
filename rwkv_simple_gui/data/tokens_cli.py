"""``python -m rwkv_simple_gui tokens FILE --line N``: one record's tokens, with what the loss mask learns.

The record is rendered as training text and tokenized as ``tokenize`` does; each token is printed between │
boundaries, the learned ones in green on a terminal (inside ⟦ ⟧ otherwise), then the counts. ``--json`` prints
one object: {"line", "loss_mask", "tokens", "learned", "items": [{"id", "text", "role", "learned"}]}.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import paths
from .masks import KINDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="dataset file (.jsonl/.json/.csv/.parquet); a bare name is looked up in data/")
    p.add_argument("--line", type=int, default=1, help="the record's line (record/row number for .json/.parquet), "
                                                       "as the Data tab's preview shows it (default 1)")
    p.add_argument("--loss-mask", choices=KINDS, default="qa", help="the loss_mask to weigh the tokens with")
    p.add_argument("--mask0", default="User:", help="se mask: text that switches learning off")
    p.add_argument("--mask1", default="Assistant:", help="se mask: text that switches learning on")
    p.add_argument("--tokenizer", default="world", metavar="world|PATH.json", help="as for tokenize")
    p.add_argument("--no-eof", action="store_true", help="as for tokenize: no end-of-text token 0")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def main(args: argparse.Namespace) -> int:
    from .token_view import record_view, to_text

    try:
        v = record_view(paths.resolve(args.input, base="data"), args.line, args.loss_mask, tokenizer=args.tokenizer,
                        eof=not args.no_eof, mask0=args.mask0, mask1=args.mask1)
    except (ValueError, OSError) as e:  # DatasetError and TokenizerError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(v.to_json(), ensure_ascii=False))
    else:
        print(to_text(v, color=sys.stdout.isatty()))
    return 0
