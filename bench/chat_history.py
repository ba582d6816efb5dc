"""Does a model fine-tuned on one-question data still answer the 2nd and 5th question of a conversation?

A generated demo base is trained (demo-cpu; ``--epochs`` changes its epoch count) on 24 invented one-question facts
(``--facts``: tests/golden/invented-facts.jsonl, each on another subject, or tests/golden/island-facts.jsonl, all
about one island: alike questions, as real data about a product or a character), merged, then asked the questions
greedily, five to a conversation, with
``chat --prompts FILE --json`` three ways: each question on its own (``--history 0``, what pressing Clear before
each gives), Chat's default (``--history fit``: the merge note says the model trained on one-question
conversations, so no earlier question is sent), and the whole conversation sent (``--history all``, the old
behaviour). Prints the recall of each way, overall and at conversation positions 2 and 5, and the load average.

    python bench/chat_history.py
    python bench/chat_history.py --facts tests/golden/island-facts.jsonl --epochs 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FACTS = REPO / "tests" / "golden" / "invented-facts.jsonl"
PER_CONVERSATION = 5
RECALL_CHARS = 12


def cli(project: str, *args: str) -> str:
    env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": project, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "rwkv_simple_gui", *args], cwd=project, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", default=str(FACTS), help="jsonl of {question, answer} (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="epoch_count (default: the demo-cpu preset's)")
    args = parser.parse_args()
    facts = [json.loads(line) for line in Path(args.facts).read_text(encoding="utf-8").splitlines()]
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="chat-history-") as project:
        root = Path(project)
        (root / "data").mkdir()
        (root / "data" / "facts.jsonl").write_text("".join(json.dumps({"messages": [
            {"role": "user", "content": f["question"]}, {"role": "assistant", "content": f["answer"]}]},
            ensure_ascii=False) + "\n" for f in facts), encoding="utf-8")
        sys.path.insert(0, str(REPO))
        from rwkv_simple_gui.demo import make_demo_model

        make_demo_model(root / "model" / "base.pth")
        cli(project, "tokenize", "data/facts.jsonl")
        epochs = ["--epoch_count", str(args.epochs), "--epoch_save", str(args.epochs)] if args.epochs else []
        cli(project, "train", "--config", "demo-cpu", "--model_path", "model/base.pth", "--data_path", "data/facts",
            "--proj_dir", "output/facts", *epochs)
        last = max((root / "output" / "facts").glob("rwkv-[0-9]*.pth"), key=lambda p: int(p.stem.split("-")[1]))
        cli(project, "merge", "--base", "model/base.pth", "--checkpoint", str(last), "--out", "merge/facts.pth",
            "--no-check")
        held_out = json.loads((root / "output" / "facts" / "config.json").read_text()).get("resolved", {}) \
            .get("val_docs", [])
        conversations = [facts[i:i + PER_CONVERSATION] for i in range(0, len(facts), PER_CONVERSATION)]
        results = {}
        for way in ("0", "fit", "all"):
            hits = []
            for n, conversation in enumerate(conversations):
                questions = root / f"q{n}.txt"
                questions.write_text("".join(f["question"] + "\n" for f in conversation), encoding="utf-8")
                out = cli(project, "chat", "--model", "merge/facts.pth", "--prompts", str(questions), "--json",
                          "--history", way, "--temperature", "0", "--frequency-penalty", "0", "--max-tokens", "40")
                replies = [json.loads(line) for line in out.splitlines()]
                hits.append([r["answer"].strip().startswith(f["answer"].strip()[:RECALL_CHARS])
                             for f, r in zip(conversation, replies)])
            flat = [h for conv in hits for h in conv]
            at = {k: [conv[k - 1] for conv in hits if len(conv) >= k] for k in (2, 5)}
            results[way] = {"recall": f"{sum(flat)}/{len(flat)}",
                            **{f"question {k}": f"{sum(v)}/{len(v)}" for k, v in at.items()}}
        load.append(os.getloadavg()[0])
    print(json.dumps({"facts": Path(args.facts).name, "epochs": args.epochs or "preset",
                      "history 0 (each on its own)": results["0"], "history fit (Chat's default)": results["fit"],
                      "history all (whole conversation)": results["all"], "held_out_docs": held_out,
                      "load_before_after": load}, indent=1))


if __name__ == "__main__":
    main()
