"""What judging a run costs on the CPU demo: seconds per evaluation (validation loss over the held-out
documents) and per sampling round (the sample prompts answered greedily), against the seconds per
optimizer step.

Trains the demo preset (demo base model, the bundled sample) in a fresh temporary project, with the
validation split and sample settings given, and reads the figures the trainer records in metrics.jsonl
(``eval_s``, ``sample_s`` of each evaluation row).

    python bench/judge_overhead.py                       # the demo preset as shipped
    python bench/judge_overhead.py --val-split 0.1 --val-every 6 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI and the app run the trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--val-split", type=float, help="fraction held out (default: the preset's)")
    p.add_argument("--val-every", type=int, help="steps between evaluations (default: the preset's; 0 = epoch ends)")
    p.add_argument("--sample-tokens", type=int, help="tokens per sample answer (default: the preset's)")
    p.add_argument("--epochs", type=int, help="epoch_count (default: the preset's)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="judge-bench-") as project:
        os.environ["RWKV_SIMPLE_GUI_HOME"] = project
        from rwkv_simple_gui import demo, paths
        from rwkv_simple_gui.data.pipeline import tokenize_file
        from rwkv_simple_gui.train.config import TrainConfig
        from rwkv_simple_gui.train.loop import train
        from rwkv_simple_gui.train.rundir import read_evaluations, read_metrics, read_samples

        base = demo.make_demo_model(paths.resolve(demo.DEMO_MODEL))
        prefix = paths.resolve(demo.SAMPLE).with_suffix("")
        tokenize_file(demo.sample_path(), prefix)
        options = {**TrainConfig().to_dict(), **demo.preset(), "model_path": str(base), "data_path": str(prefix)}
        chosen = {"val_split": args.val_split, "val_every": args.val_every, "sample_tokens": args.sample_tokens,
                  "epoch_count": args.epochs}
        options.update({k: v for k, v in chosen.items() if v is not None})
        cfg = TrainConfig.from_dict(options, source="bench")
        run_dir = Path(project) / "output" / "bench"
        began = time.perf_counter()
        state = train(cfg, run_dir)
        wall = time.perf_counter() - began
        if state != "finished":
            sys.exit(f"training {state}:\n{(run_dir / 'train.log').read_text()[-3000:]}")
        evals, metrics, samples = read_evaluations(run_dir), read_metrics(run_dir), read_samples(run_dir)

    steps = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(metrics, metrics[1:])]
    eval_s = [e["eval_s"] for e in evals]
    sample_s = [e["sample_s"] for e in evals]
    rounds = len({s["step"] for s in samples})
    prompts = len({s["prompt"] for s in samples})
    print(f"demo preset on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}): val_split "
          f"{cfg.val_split}, val_every {cfg.val_every}, sample_tokens {cfg.sample_tokens}, {cfg.epoch_count} epochs")
    print(f"{len(metrics)} optimizer steps, median {statistics.median(steps):.2f} s per step (evaluations included "
          f"in the step they follow); whole training {wall:.0f} s")
    if evals:
        print(f"{len(evals)} evaluations of {evals[0]['val_tokens']} held-out tokens: median "
              f"{statistics.median(eval_s):.2f} s, "
              f"total {sum(eval_s):.1f} s")
    print(f"{rounds} sampling rounds of {prompts} prompts x {cfg.sample_tokens} tokens: median "
          f"{statistics.median(sample_s) if sample_s else 0:.2f} s, total {sum(sample_s):.1f} s "
          f"({100 * (sum(eval_s) + sum(sample_s)) / wall:.0f}% of the training time)")


if __name__ == "__main__":
    main()
