"""The step budget's "too short" rule, measured: passes over each document a method needs on the CPU demo base to
give back 85% of the trained answers of bench/facts.py's conversations about one invented island (40, or
``--records N``).

For each method: the demo preset with the method's demo options (demo.METHOD_OPTIONS), trained EPOCHS epochs with a
checkpoint every STEP epochs; each checkpoint is asked every trained question (train.judge.recall_rows: greedy, as
Chat asks, the model's own earlier replies in the history). Prints, per method, the recall at each checkpoint and
the first pass count that reaches the target: the number train/budget.py's MIN_PASSES holds.

    python bench/budget_rule.py                       # lora, 20 epochs, a checkpoint every 2
    python bench/budget_rule.py --methods lora pissa bone --epochs 24 --every 4
    python bench/budget_rule.py --records 300 --epochs 42 --every 7 --questions 100   # does the rule carry to 300?
    python bench/budget_rule.py --records 300 --set lora_r=64 lora_alpha=128           # any option, as typed

The recall of an epoch-k checkpoint of a longer run is a conservative figure for a k-epoch run (whose learning
rate decays sooner); the load average is printed beside the times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET = 0.85


def measure(method: str, epochs: int, every: int, work: Path, records: int = 40, asked: int | None = None,
            overrides: dict | None = None) -> dict:
    import torch

    from bench.facts import make, write
    from rwkv_simple_gui import demo, peft
    from rwkv_simple_gui.data.binidx import read_binidx
    from rwkv_simple_gui.data.pipeline import tokenize_file
    from rwkv_simple_gui.data.tokenizer import get_tokenizer
    from rwkv_simple_gui.train import judge, loop, rundir
    from rwkv_simple_gui.train.config import TrainConfig

    base = work / "model" / "rwkv7-demo-2x128.pth"
    if not base.is_file():
        demo.make_demo_model(base)
    prefix = work / "data" / ("facts" if records == 40 else f"facts-{records}")
    if not prefix.with_suffix(".idx").is_file():
        write(prefix.with_suffix(".jsonl"), make(records))
        tokenize_file(prefix.with_suffix(".jsonl"), prefix)
    options = {**TrainConfig().to_dict(), **demo.preset(), **demo.METHOD_OPTIONS.get(method, {}),
               "finetune_mode": method, "model_path": str(base), "data_path": str(prefix), "epoch_count": epochs,
               "epoch_save": every, "val_split": 0.0, "sample_tokens": 0, **(overrides or {})}
    label = "-".join([method, str(records), *(f"{k}{v}" for k, v in (overrides or {}).items())])
    run_dir = work / "output" / label
    load_before, began = os.getloadavg()[0], time.perf_counter()
    state = loop.train(TrainConfig.from_dict(options, source="bench"), run_dir)
    if state != "finished":
        sys.exit(f"{method}: the run {state}; see {run_dir / 'train.log'}")
    train_s = time.perf_counter() - began
    tok, ds = get_tokenizer("world"), read_binidx(prefix)
    questions = judge.pick_questions(ds, tok, range(len(ds)), [], asked or len(ds), 0)
    curve = {}
    for entry in rundir.checkpoint_entries(run_dir):
        if entry["epoch"] is None:
            continue
        model = peft.load_adapted_model(base, entry["path"], rundir.read_options(run_dir)).eval()

        def forward(x, state, model=model):
            model.op = "torch" if x.shape[1] == 1 else "chunked"
            return model(x, state)

        with torch.no_grad():
            rows = judge.recall_rows(forward, tok, questions, "cpu")
        curve[entry["epoch"] + 1] = sum(r["recalled"] for r in rows) / len(rows)
    needed = next((passes for passes, share in sorted(curve.items()) if share >= TARGET), None)
    return {"method": method, "records": records, "asked": len(questions), "overrides": overrides or {},
            "lr_init": options["lr_init"], "passes_needed": needed, "recall_by_passes": curve,
            "steps_per_epoch": rundir.read_status(run_dir)["total_steps"] // epochs, "train_s": round(train_s),
            "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["lora"])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--every", type=int, default=2)
    p.add_argument("--records", type=int, default=40, help="conversations of bench/facts.py to train on")
    p.add_argument("--questions", type=int, help="ask this many trained questions per checkpoint (default: all)")
    p.add_argument("--set", nargs="+", default=[], metavar="OPTION=VALUE",
                   help="training options over the demo preset's, e.g. lora_r=64 lr_init=0.01 (JSON values)")
    p.add_argument("--work", type=Path, help="keep the model, data and runs here (default: a temporary folder)")
    args = p.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    with tempfile.TemporaryDirectory(prefix="budget-rule-") as tmp:
        work = args.work or Path(tmp)
        os.environ["RWKV_SIMPLE_GUI_HOME"] = str(work)
        for method in args.methods:
            result = measure(method, args.epochs, args.every, work, args.records, args.questions, overrides)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
