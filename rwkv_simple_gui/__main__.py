"""Command line: ``python -m rwkv_simple_gui tokenize|train|merge|chat|init-model|demo ...``.

Each sub-command lives in its own module, imported only when used, so ``tokenize`` never pays for
importing torch and ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rwkv_simple_gui.peft.methods import METHOD_NAMES

# OpenMP threads that wait by spinning stall each other when the CPU is shared with other processes: on
# 2 busy cores the demo trained in 386 s with spinning threads, 136 s with sleeping ones (bench/demo.py
# --omp-wait ACTIVE / PASSIVE). It must be set before torch is imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# name -> module exposing add_arguments(parser) and main(args) -> int
COMMANDS = {
    "tokenize": ("rwkv_simple_gui.data.cli", "jsonl/csv/parquet -> binidx, with length stats and the factor table"),
    "tokens": ("rwkv_simple_gui.data.tokens_cli", "one record's tokens and which of them the loss mask learns"),
    "init-model": ("rwkv_simple_gui.model.cli", "create a fresh random RWKV-7/RWKV-6 model"),
    "train": ("rwkv_simple_gui.train.cli", f"fine-tune ({', '.join(METHOD_NAMES)})"),
    "merge": ("rwkv_simple_gui.merge.cli", "fold a training checkpoint into the base model"),
    "chat": ("rwkv_simple_gui.chat.cli", "talk to a model through the rwkv package"),
    "demo": ("rwkv_simple_gui.demo_cli", "install check: train the demo model on the sample, merge, ask its questions"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rwkv_simple_gui", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
