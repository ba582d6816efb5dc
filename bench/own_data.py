"""A user's own file, not the demo's: bench/facts.py's conversations about ONE invented island go through the
commands a user runs (tokenize -> train --config demo-cpu -> merge --checkpoint output/RUN) and are then asked in
Chat on the CPU through the rwkv package, greedy:

- one-turn: each one-turn question in a conversation of its own;
- second turns: the first question, then the second with the model's own first answer in the history;
- one conversation: every one-turn question in a single conversation, as ``chat --prompts FILE --json`` asks them
  (the Chat tab's default mode) when this checkout has it, else through the rwkv package with the history fitted
  as Chat fits it to a model trained on conversations of up to N questions (N - 1 earlier questions kept), and
  with the whole history.

Held-out records count as misses. ``--chat default`` asks only as Chat does (one-turn, second turns,
``chat --prompts``), leaving out the two comparisons whose cost grows with the file (the whole history is quadratic);
``--chat none`` keeps only the run's own recall check. Also: the same file in text form gives the same tokens; the
dry-run's predicted time beside the measured one; two runs merged with default names give two files; with
``--early-stop`` a run with early stopping on the same file (its validation loss rises) stops early and
``merge --checkpoint output/RUN`` takes its best checkpoint.

    python bench/own_data.py                          # 40 conversations, the demo base and a second one
    python bench/own_data.py --records 300 --bases 1 --chat default
    python bench/own_data.py --early-stop --bases 1 --chat none

Prints one JSON object per base (and per early-stopping run), then a summary line each; the load average beside
every time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GREEDY_FLAGS = ["--temperature", "0", "--presence-penalty", "0", "--frequency-penalty", "0"]


def cli(project: Path, *args: str, timeout: int = 36000) -> subprocess.CompletedProcess:
    env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": str(project), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "rwkv_simple_gui", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def make_base(project: Path, seed: int) -> Path:
    """The demo base the app generates (seed 0), or one of the same shape with other random weights."""
    import torch

    from rwkv_simple_gui import demo
    from rwkv_simple_gui.model import init_model, save_model

    path = project / (demo.DEMO_MODEL if seed == 0 else f"model/rwkv7-demo-2x128-seed{seed}.pth")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(init_model(**demo.DEMO_SHAPE, seed=seed, perturb=demo.DEMO_PERTURB), path, dtype=torch.bfloat16)
    return path


def same_tokens(project: Path, records: list[dict]) -> bool:
    """The messages file and its text form tokenize to the same documents."""
    from bench.facts import write
    from rwkv_simple_gui.data.binidx import read_binidx

    write(project / "data" / "own.text.jsonl", records, text=True)
    cli(project, "tokenize", "data/own.text.jsonl")
    a, b = read_binidx(project / "data" / "own"), read_binidx(project / "data" / "own.text")
    return len(a) == len(b) and all(list(a[i]) == list(b[i]) for i in range(len(a)))


def held_out(project: Path, run: Path) -> set[tuple[str, str]]:
    """(first question, last answer) of the records the run held out."""
    from rwkv_simple_gui.data.binidx import read_binidx
    from rwkv_simple_gui.data.tokenizer import get_tokenizer
    from rwkv_simple_gui.train import judge, rundir

    ds, tok = read_binidx(project / "data" / "own"), get_tokenizer("world")
    out = set()
    for doc in (rundir.read_config(run)["resolved"].get("val_docs") or []):
        q = judge.doc_question(ds, tok, doc)
        out.add((q.asked[0], q.answer))
    return out


def chat_recall(project: Path, model: Path, records: list[dict], held: set, max_user_turns: int,
                compare: bool) -> dict:
    """Greedy recall in Chat: one-turn questions alone, second turns after the model's own first answer, and the
    one-turn questions in one conversation."""
    from rwkv_simple_gui.chat.worker import ChatWorker
    from rwkv_simple_gui.data import template
    from rwkv_simple_gui.demo import GREEDY
    from rwkv_simple_gui.train.judge import recalled

    def turns(r):
        return [m["content"] for m in r["messages"]]

    one = [turns(r) for r in records if len(r["messages"]) == 2]
    two = [turns(r) for r in records if len(r["messages"]) == 4]
    params = {**GREEDY, "max_tokens": 64}

    def ask(worker, history, question):
        reply = template.cut_at_stop(worker.reply(history, question, params)).strip()
        return reply, history + [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]

    def counted(pairs):
        return sum(recalled(a, reply) and (q, a) not in held for q, a, reply in pairs)

    out = {}
    with ChatWorker(model, "cpu fp32") as worker:
        alone = [(q, a, ask(worker, [], q)[0]) for q, a in one]
        out["one_turn"] = [counted(alone), len(one)]
        seconds = []
        for q1, _, q2, a2 in two:  # a held-out record is keyed by its first question and its last answer
            _, history = ask(worker, [], q1)
            seconds.append((q1, a2, ask(worker, history, q2)[0]))
        out["second_turns"] = [counted(seconds), len(two)]
        windows = (("one_conversation_fitted", max_user_turns - 1), ("one_conversation_whole", None))
        for name, window in windows if compare else ():
            history, pairs = [], []
            for q, a in one:
                kept = history if window is None else history[len(history) - 2 * window:] if window else []
                reply, _ = ask(worker, kept, q)
                history += [{"role": "user", "content": q}, {"role": "assistant", "content": reply}]
                pairs.append((q, a, reply))
            out[name] = [counted(pairs), len(one)]
    if "--prompts" in cli(project, "chat", "--help").stdout:  # the Chat tab's default mode, on the command line
        (project / "questions.txt").write_text("".join(q + "\n" for q, _ in one), encoding="utf-8")
        done = cli(project, "chat", "--model", str(model), "--prompts", "questions.txt", "--json", *GREEDY_FLAGS)
        answers = [json.loads(line)["answer"] for line in done.stdout.splitlines() if line.startswith("{")]
        out["chat_prompts"] = [counted([(q, a, r) for (q, a), r in zip(one, answers)]), len(one)]
    return out


def one_base(project: Path, seed: int, records: list[dict], early_stop: bool, chat: str) -> dict:
    base = make_base(project, seed)
    data = ["--model_path", str(base.relative_to(project)), "--data_path", "data/own"]
    extra = ["--early_stop_patience", "2"] if early_stop else []
    dry = json.loads(cli(project, "train", "--config", "demo-cpu", *data, *extra, "--dry-run").stdout)
    load, began = os.getloadavg()[0], time.perf_counter()
    trained = cli(project, "train", "--config", "demo-cpu", *data, *extra)
    train_s = time.perf_counter() - began
    run = Path(re.search(r"run folder: (.+)", trained.stdout).group(1).strip())
    from rwkv_simple_gui.train import rundir

    status = rundir.read_status(run)
    merged = cli(project, "merge", "--base", str(base.relative_to(project)), "--checkpoint",
                 str(run.relative_to(project)), "--format", "pth", "--no-check")
    model = project / re.search(r"merged model: (\S+)", merged.stdout).group(1)
    picked = next((line for line in merged.stdout.splitlines() if "merged rwkv-" in line), "")
    held = held_out(project, run)
    turns = max(len(r["messages"]) // 2 for r in records)
    result = {"base_seed": seed, "records": len(records), "run": run.name, "steps": status["step"],
              "total_steps": status["total_steps"], "epochs": rundir.read_options(run)["epoch_count"],
              "predicted_s": round(dry["time"]["total_s"]), "train_wall_s": round(train_s),
              "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1),
              "held_out": len(held), "in_run_recall": {k: status.get("recall", {}).get(k) for k in (
                  "recall_hits", "recall_asked", "held_out_hits", "held_out_asked")},
              "early_stop": status.get("early_stop"), "best": status.get("best"), "merge_picked": picked,
              "merged": model.name}
    if chat != "none":
        result.update(chat_recall(project, model, records, held, turns, compare=chat == "all"))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=40)
    p.add_argument("--bases", type=int, default=2, help="1: the demo base; 2: also one with other random weights")
    p.add_argument("--early-stop", action="store_true", help="train with early_stop_patience 2")
    p.add_argument("--chat", choices=("all", "default", "none"), default="all",
                   help="all: also one conversation with the history fitted in Python and kept whole; default: only "
                        "as Chat asks; none: only the run's own recall check")
    p.add_argument("--work", type=Path, help="the project folder (default: a temporary one)")
    args = p.parse_args()
    from bench.facts import make, write

    with tempfile.TemporaryDirectory(prefix="own-data-") as tmp:
        project = args.work or Path(tmp)
        os.environ["RWKV_SIMPLE_GUI_HOME"] = str(project)
        records = make(args.records)
        write(project / "data" / "own.jsonl", records)
        cli(project, "tokenize", "data/own.jsonl")
        print(json.dumps({"records": len(records), "text_form_same_tokens": same_tokens(project, records)}),
              flush=True)
        merged = []
        for seed in range(args.bases):
            result = one_base(project, seed, records, args.early_stop, args.chat)
            merged.append(result["merged"])
            print(json.dumps(result, ensure_ascii=False), flush=True)
        if len(merged) > 1:
            print(json.dumps({"default_names": merged, "distinct_files": len(set(merged)) == len(merged) and all(
                (project / "merge" / m).is_file() for m in merged)}), flush=True)


if __name__ == "__main__":
    main()
