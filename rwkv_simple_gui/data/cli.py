"""``python -m rwkv_simple_gui tokenize INPUT``: the seed's make_tokenize.sh, with its printout.

Prints what make_tokenize.py prints (a preview of the first and last item, the ``### Final ...``
summary, max_length, max_length_power_of_two, data_line_count and the factor table) plus the
dropped / skipped counts and a MICRO_BSZ hint; ``--json`` prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import paths

PREVIEW_TOKENS = 100


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="dataset file (.jsonl/.json/.csv/.parquet); a bare name is looked up in data/")
    p.add_argument(
        "--copies", type=int, default=1, metavar="N", help="shuffled copies written (the seed's N_EPOCH; default 1)"
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=0,
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


def _preview(result) -> list[str]:
    """The seed's check: the first and the last item decoded back to text."""
    from .binidx import read_binidx
    from .tokenizer import get_tokenizer

    data = read_binidx(result.prefix)
    tok = get_tokenizer(result.tokenizer["spec"])
    lines = []
    for i in sorted({0, len(data) - 1}):
        item = data[i]
        lines.append("-" * 70 + f"[{result.prefix.name} idx {i} sz {item.size}]")
        ids = item[:-1] if result.eof else item
        if ids.size > 2 * PREVIEW_TOKENS:
            lines += [tok.decode(ids[:PREVIEW_TOKENS]), "· " * 30, tok.decode(ids[-PREVIEW_TOKENS:])]
        else:
            lines.append(tok.decode(ids))
    return lines


def format_report(result, prefix=None, *, lang: str = "en") -> str:
    """make_tokenize.py's printout for a :class:`~.pipeline.TokenizeResult`, plus dropped/skipped and a hint.

    ``prefix`` is the output prefix as shown (default: the result's, relative to the project).
    """
    from .stats import format_factor_table, micro_bsz_hint

    name = paths.display(prefix if prefix is not None else result.prefix)
    lines = _preview(result) + [
        "-" * 80,
        f"### Final {name}.bin/idx has {result.tokens} tokens, {result.items} items. Dtype <class 'numpy.uint16'>",
        f"### append_eof = {result.eof}",
        f"### max_length = {result.max_length}",
        f"### max_length_power_of_two = {result.max_length_power_of_two}",
        f"### data_line_count = {result.data_line_count}",
    ]
    if result.max_tokens:
        lines.append(f"### dropped = {result.dropped} documents longer than {result.max_tokens} tokens (EOF included)")
    if result.skipped_bad:
        lines.append(f"### skipped_bad = {result.skipped_bad} bad records")
        lines += [f"###   {result.format.unit} {b.line}: {b.reason}" for b in result.bad[:10]]
    lines.append("### The first ten factors of the five numbers nearby (±10):")
    lines.append(format_factor_table(result.factors))
    lines.append("### hint:\n" + micro_bsz_hint(result.data_line_count, lang))
    lines.append(
        f"### {result.documents} documents, {result.copies} copies, tokenizer {result.tokenizer['name']} "
        f"[{result.backend}], {result.workers} worker(s), {result.seconds:.2f} s"
    )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from .pipeline import tokenize_file

    from .binidx import split_prefix

    out = paths.resolve(args.out) if args.out else None
    for left in paths.remove_leftovers(*([split_prefix(out).parent] if out else [])):
        print(f"removed {paths.display(left)}, left by a run that was killed", file=sys.stderr)
    bars = _Bars()
    try:
        result = tokenize_file(
            paths.resolve(args.input, base="data"),
            out,
            copies=args.copies,
            max_tokens=args.max_tokens,
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
