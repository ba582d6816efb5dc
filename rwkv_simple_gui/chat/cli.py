"""``python -m rwkv_simple_gui chat``: one answer with --prompt, else an interactive loop."""

from __future__ import annotations

import argparse
import sys

from rwkv_simple_gui.chat.prompt import SamplingParams
from rwkv_simple_gui.chat.worker import ChatError, ChatWorker
from rwkv_simple_gui.demo import UNTRAINED_NOTE, is_demo_base

_DEFAULTS = SamplingParams()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="merged model .pth (in merge/ or model/)")
    parser.add_argument("--state", help="state-tuning file to mount (time_state .pth)")
    parser.add_argument("--strategy", default="cpu fp32", help='rwkv strategy, e.g. "cpu fp32", "cuda fp16"')
    parser.add_argument("--prompt", help="ask one question, print the answer and exit")
    parser.add_argument("--temperature", type=float, default=_DEFAULTS.temperature, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=_DEFAULTS.top_p)
    parser.add_argument("--top-k", type=int, default=_DEFAULTS.top_k, help="0 = off")
    parser.add_argument("--presence-penalty", type=float, default=_DEFAULTS.presence_penalty)
    parser.add_argument("--frequency-penalty", type=float, default=_DEFAULTS.frequency_penalty)
    parser.add_argument("--penalty-decay", type=float, default=_DEFAULTS.penalty_decay)
    parser.add_argument("--max-tokens", type=int, default=_DEFAULTS.max_tokens)
    parser.add_argument("--seed", type=int, help="random seed, for repeatable answers")


def _answer(worker: ChatWorker, history: list[dict], prompt: str, params: SamplingParams) -> str:
    parts = []
    for delta in worker.generate(history, prompt, params):
        parts.append(delta)
        print(delta, end="", flush=True)
    print(flush=True)
    return "".join(parts)


def main(args: argparse.Namespace) -> int:
    try:
        params = SamplingParams.from_mapping({
            "temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k,
            "presence_penalty": args.presence_penalty, "frequency_penalty": args.frequency_penalty,
            "penalty_decay": args.penalty_decay, "max_tokens": args.max_tokens, "seed": args.seed})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with ChatWorker(args.model, args.strategy, args.state) as worker:
            if is_demo_base(worker.facts.path) and not args.state:
                print(f"note: {UNTRAINED_NOTE}", file=sys.stderr)
            if args.prompt is not None:
                _answer(worker, [], args.prompt, params)
                return 0
            print(f"{worker.facts.path.name} ({worker.version}, {args.strategy}). Empty line or /exit quits, "
                  "/reset clears the history.", file=sys.stderr)
            history: list[dict] = []
            while True:
                try:
                    prompt = input("User: ").strip()
                except EOFError:
                    return 0
                if prompt in ("", "/exit"):
                    return 0
                if prompt == "/reset":
                    history.clear()
                    continue
                print("Assistant: ", end="", flush=True)
                answer = _answer(worker, history, prompt, params)
                history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    except ChatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
