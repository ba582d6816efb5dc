"""``python -m rwkv_simple_gui demo``: the whole chain on the bundled sample, as an install check.

demo base model (generated if missing) -> tokenize data/sample.jsonl -> train with the demo-cpu preset ->
merge into merge/ -> ask the model every question of the sample, greedy, and compare with the trained
answer. Exit 0: every step worked and at least --min-recall of the answers came back (the model learned;
80% by default, none for state tuning, which learns a style rather than 24 answers); 1: the chain worked
but the model did not learn enough (with the demo's settings that means a broken training or merge
path); 2: a step failed (the message names it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime

from . import demo
from .peft.methods import METHOD_NAMES, METHODS

ANSWER_TOKENS = 96  # room for the sample's longest answer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", choices=METHOD_NAMES, help="fine-tuning method (default: the demo preset's)")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="where to train and chat (default: cuda when a GPU is there, else cpu)")
    parser.add_argument("--min-recall", type=float,
                        help="share of the sample's answers the model must give back for exit 0 (default "
                             f"{demo.RECALL_TARGET}, state_tuning 0; 0 checks only that every step runs)")


class StepFailed(Exception):
    def __init__(self, step: str, reason: str):
        super().__init__(f"{step} failed: {reason}")


def _say(text: str) -> None:
    print(text, flush=True)


def _bar(total: int, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)


def _options(method: str | None, device: str, data_path) -> dict:
    options = demo.preset(data_path)
    options.update(demo.METHOD_OPTIONS.get(method or options["finetune_mode"], {}))
    if method:
        options["finetune_mode"] = method
    if device == "cuda":
        options["precision"] = "bf16"
    return options


def _train(options: dict, run_dir) -> dict:
    """Train in this process; returns the last step's metrics."""
    from .train.config import TrainConfig
    from .train.loop import train
    from .train.rundir import read_status

    cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), **options}, source="the demo preset")
    bars, last = [], {}

    def progress(metric: dict) -> None:
        if not bars:
            bars.append(_bar(metric["total_steps"], "step"))
        bars[0].set_postfix_str(f"epoch {metric['epoch']} loss {metric['loss']:.3f}", refresh=False)
        bars[0].update(metric["step"] - bars[0].n)
        last.update(metric)

    try:
        state = train(cfg, run_dir, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    if state != "finished":
        status = read_status(run_dir) or {}
        raise StepFailed("training", f"{status.get('error') or state} (see {run_dir / 'train.log'})")
    return last


def _merge(base, run_dir):
    from . import merge

    bars = []

    def progress(done: int, total: int, _key: str) -> None:
        if not bars:
            bars.append(_bar(total, "tensor"))
        bars[0].update(done - bars[0].n)

    try:
        return merge.merge(base, run_dir, progress=progress)
    except (merge.MergeError, OSError) as exc:
        raise StepFailed("merge", str(exc)) from exc
    finally:
        for bar in bars:
            bar.close()


def _one_line(text: str, width: int = 48) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


def _ask(model, state, questions, strategy: str) -> int:
    from .chat.worker import ChatError, ChatWorker
    from .train.judge import recalled

    hits = 0
    try:
        with ChatWorker(model, strategy, state) as worker:
            for n, q in enumerate(questions, 1):
                reply = worker.reply(q.history, q.question, {**demo.GREEDY, "max_tokens": ANSWER_TOKENS})
                hit = recalled(q.answer, reply)
                hits += hit
                _say(f"{'✓' if hit else '✗'} {n:2}. {_one_line(q.question)}\n"
                     f"      trained: {_one_line(q.answer)}\n      model:   {_one_line(reply)}")
    except ChatError as exc:
        raise StepFailed("chat", str(exc)) from exc
    return hits


def run(method: str | None, device: str, min_recall: float | None) -> int:
    from . import paths
    from .data.pipeline import tokenize_file

    started = time.perf_counter()
    base = paths.resolve(demo.DEMO_MODEL)
    if base.is_file():
        _say(f"[1/5] demo base model: {paths.display(base)}")
    else:
        _say(f"[1/5] generating the demo base model {paths.display(base)} ...")
        demo.make_demo_model(base)

    sample = demo.sample_path()
    prefix = paths.resolve(demo.SAMPLE).with_suffix("")
    try:
        result = tokenize_file(sample, prefix)
    except (ValueError, OSError) as exc:  # DatasetError, TokenizeError
        raise StepFailed("tokenize", str(exc)) from exc
    _say(f"[2/5] tokenized {paths.display(sample)}: {result.documents} documents, {result.tokens} tokens "
         f"-> {paths.display(prefix)}.bin/.idx")

    options = _options(method, device, prefix)
    if min_recall is None:
        # state tuning trains one initial state per layer: a style or a role, not the sample's answers
        min_recall = demo.RECALL_TARGET if METHODS[options["finetune_mode"]].recalls else 0.0
    options.update(model_path=str(base), data_path=str(prefix))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = paths.folder("output") / f"demo-{options['finetune_mode']}-{stamp}"
    _say(f"[3/5] training {options['finetune_mode']} on {device}: {options['epoch_count']} epochs "
         f"-> {paths.display(run_dir)}")
    t_train = time.perf_counter()
    last = _train(options, run_dir)
    train_s = time.perf_counter() - t_train
    _say(f"      {last['step']} steps in {train_s:.0f} s, last loss {last['loss']:.3f}")

    merged = _merge(base, run_dir)
    out = merged.outputs[0]
    _say(f"[4/5] merged into {paths.display(out)} in {merged.seconds:.1f} s")

    questions = demo.sample_questions(sample)
    _say(f"[5/5] asking the {len(questions)} questions of the sample (greedy):")
    is_state = merged.method == "state"
    strategy = "cuda fp16" if device == "cuda" else "cpu fp32"
    hits = _ask(base if is_state else out, out if is_state else None, questions, strategy)
    share = hits / max(len(questions), 1)
    _say(f"recall: {hits}/{len(questions)} ({share:.0%}) answers come back word for word; training {train_s:.0f} s, "
         f"training + merge {train_s + merged.seconds:.0f} s, whole demo {time.perf_counter() - started:.0f} s")
    if share < min_recall:
        _say(f"FAILED: the model gave back fewer than {min_recall:.0%} of the answers it was trained on; "
             f"see {paths.display(run_dir / 'train.log')}")
        return 1
    _say("OK: the model learned the sample: fine-tuning and merging work on this machine.")
    return 0


def main(args: argparse.Namespace) -> int:
    device = args.device
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch looks for a GPU: train and chat stay on the CPU
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: this machine has no CUDA GPU that torch can use (is it a CPU build of "
              "torch? see the README's GPU install line)", file=sys.stderr)
        return 2
    try:
        return run(args.method, device, args.min_recall)
    except StepFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
