"""``python -m rwkv_simple_gui chat``: one answer with --prompt, a file of questions with --prompts, else an
interactive loop. Every way asks as the Chat tab's default mode does (chat/session.py): the model's history
window, the system prompt and think mode given here."""

from __future__ import annotations

import argparse
import json
import sys

from rwkv_simple_gui import paths
from rwkv_simple_gui.chat import session
from rwkv_simple_gui.chat.prompt import SamplingParams
from rwkv_simple_gui.chat.worker import ChatError, ChatWorker
from rwkv_simple_gui.data import template
from rwkv_simple_gui.demo import UNTRAINED_NOTE, is_demo_base

_DEFAULTS = SamplingParams()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="merged model .pth (in merge/ or model/)")
    parser.add_argument("--state", help="state-tuning file to mount (time_state .pth)")
    parser.add_argument("--strategy", default="cpu fp32", help='rwkv strategy, e.g. "cpu fp32", "cuda fp16"')
    parser.add_argument("--prompt", help="ask one question, print the answer and exit")
    parser.add_argument("--prompts", metavar="FILE",
                        help="ask the file's questions (one a line) as one conversation and exit")
    parser.add_argument("--json", action="store_true",
                        help='with --prompt/--prompts: print one JSON line {"prompt", "answer"} per question '
                             '(+ "reasoning" and "calls" when the reply has them)')
    parser.add_argument("--system", default="", help="system prompt")
    parser.add_argument("--think", choices=template.THINK_MODES, default="off",
                        help="think mode: off, short (<think>\\n</think>), full (<think)")
    parser.add_argument("--think-length", choices=[w for w in template.THINK_LENGTHS if w], default="",
                        help="with --think full: the words after the question, e.g. 'think a bit'")
    parser.add_argument("--history", default="fit", metavar="fit|all|N",
                        help="earlier questions sent with each new one: fit (default: as many as the model's "
                             "training conversations had, from its merge note, and only before a follow-up that "
                             "names nothing of its own), all, or a number")
    parser.add_argument("--temperature", type=float, default=_DEFAULTS.temperature, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=_DEFAULTS.top_p)
    parser.add_argument("--top-k", type=int, default=_DEFAULTS.top_k, help="0 = off")
    parser.add_argument("--presence-penalty", type=float, default=_DEFAULTS.presence_penalty)
    parser.add_argument("--frequency-penalty", type=float, default=_DEFAULTS.frequency_penalty)
    parser.add_argument("--penalty-decay", type=float, default=_DEFAULTS.penalty_decay)
    parser.add_argument("--max-tokens", type=int, default=_DEFAULTS.max_tokens)
    parser.add_argument("--seed", type=int, help="random seed, for repeatable answers")


def _window(args: argparse.Namespace, model) -> int | None:
    if args.history == "fit":
        return session.fit(model).window
    if args.history == "all":
        return None
    if not args.history.isdigit():
        raise ValueError(f"--history {args.history!r}: use fit, all or a number of earlier questions")
    return int(args.history)


def _questions(path: str) -> list[str]:
    file = paths.resolve(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--prompts {paths.display(file)}: cannot be read as UTF-8 text ({exc})") from None
    questions = [line.strip() for line in lines if line.strip()]
    if not questions:
        raise ValueError(f"--prompts {paths.display(file)}: holds no question; write one a line")
    return questions


class _Conversation:
    """One conversation with the worker, asked as the Chat tab's default mode asks."""

    def __init__(self, worker: ChatWorker, args: argparse.Namespace, params: SamplingParams, window: int | None):
        self.worker, self.args, self.params, self.window = worker, args, params, window
        self.history: list[template.Turn] = []

    def shown(self, question: str) -> list[template.Turn]:
        if self.args.history == "fit":
            return session.fitted(self.history, question, self.window)
        return session.windowed(self.history, self.window)

    def ask(self, question: str, echo: bool) -> template.Reply:
        parts = []
        for delta in self.worker.generate(self.shown(question), question, self.params,
                                          system=self.args.system, think=self.args.think,
                                          think_length=self.args.think_length):
            parts.append(delta)
            if echo:
                print(delta, end="", flush=True)
        if echo:
            print(flush=True)
        reply = template.parse_reply("".join(parts))
        self.history += [template.Turn("user", question),
                         template.Turn("assistant", reply.answer, reply.reasoning, reply.calls)]
        return reply


def _json_line(question: str, reply: template.Reply) -> str:
    line = {"prompt": question, "answer": reply.answer}
    if reply.reasoning is not None:
        line["reasoning"] = reply.reasoning
    if reply.calls:
        line["calls"] = [{"name": c.name, "arguments": c.arguments} for c in reply.calls]
    return json.dumps(line, ensure_ascii=False)


def main(args: argparse.Namespace) -> int:
    try:
        params = SamplingParams.from_mapping({
            "temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k,
            "presence_penalty": args.presence_penalty, "frequency_penalty": args.frequency_penalty,
            "penalty_decay": args.penalty_decay, "max_tokens": args.max_tokens, "seed": args.seed})
        questions = _questions(args.prompts) if args.prompts else [args.prompt] if args.prompt is not None else None
        if args.think_length and args.think != "full":
            raise ValueError("--think-length goes with --think full (G1 pairs the words with <think)")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with ChatWorker(args.model, args.strategy, args.state) as worker:
            if is_demo_base(worker.facts.path) and not args.state:
                print(f"note: {UNTRAINED_NOTE}", file=sys.stderr)
            try:
                window = _window(args, worker.facts.path)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            chat = _Conversation(worker, args, params, window)
            if questions is not None:
                _ask_all(chat, questions, args.json)
                return 0
            shown = session.fit(worker.facts.path).describe() if args.history == "fit" else \
                f"earlier questions sent with each new one: {'all' if window is None else window}."
            print(f"{worker.facts.path.name} ({worker.version}, {args.strategy}). {shown} Empty line or /exit quits, "
                  "/reset clears the history.", file=sys.stderr)
            return _talk(chat)
    except ChatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _ask_all(chat: _Conversation, questions: list[str], as_json: bool) -> None:
    for question in questions:
        reply = chat.ask(question, echo=not as_json)
        if as_json:
            print(_json_line(question, reply), flush=True)


def _talk(chat: _Conversation) -> int:
    """Questions typed at the terminal until an empty line, /exit or the end of input."""
    while True:
        try:
            question = input("User: ").strip()
        except EOFError:
            return 0
        if question in ("", "/exit"):
            return 0
        if question == "/reset":
            chat.history.clear()
            continue
        print("Assistant: ", end="", flush=True)
        chat.ask(question, echo=True)
