"""A training step's matmul rate as a share of torch's own matmul rate on the same matmuls (prints figures; not a test).

    python bench/train_step.py [--epochs 3]

The demo's step: the demo-cpu preset (LoRA r16 + emb/head, ctx 112, micro_bsz 2, qa mask, fp32) on the demo
model (RWKV-7 2 x 128, vocab 65536) and the bundled sample, through the real trainer. A step's matmul work is
6 x P x tokens flops, P = the parameters used as matmuls (every 2-D weight but the embedding, which is a lookup;
the 65,536-wide head is most of it) and tokens = the step's real tokens. After every step the same matmuls (forward
Y = X Wᵀ, backward dX = dY W and dW = dYᵀ X, at the step's token count) are timed with torch alone, so each
step is paired with a yardstick measured under the same load; the share is yardstick time / step time, and the
median over the steps is printed with the machine's load. 1.0 would be a step that does nothing but its matmuls.
The same share in CPU seconds (this process's, one report to the next against the yardstick's) is printed too: on a
machine shared with other jobs it does not count the time the step waited for a core.
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
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]


def matmul_seconds(weights: list, tokens: int, repeat: int = 2, clock=time.perf_counter) -> float:
    """Best time (``clock``'s) of the forward and backward matmuls of every weight at ``tokens`` rows."""
    import torch

    shapes = [w.shape for w in weights]
    xs = [torch.randn(tokens, s[1]) for s in shapes]
    dys = [torch.randn(tokens, s[0]) for s in shapes]
    mats = [torch.randn(s) for s in shapes]
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        for w, x, dy in zip(mats, xs, dys):
            x @ w.T
            dy @ w
            dy.T @ x
        best = min(best, clock() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3, help="epochs of the sample (12 steps each; the first is skipped)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default; 1 is steadier "
                   "on a busy machine)")
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-step-") as project:
        os.environ["RWKV_SIMPLE_GUI_HOME"] = project
        import torch

        from rwkv_simple_gui import demo
        from rwkv_simple_gui.data.pipeline import tokenize_file
        from rwkv_simple_gui.train import loop
        from rwkv_simple_gui.train.config import TrainConfig

        root = Path(project)
        model_path = demo.make_demo_model(root / "model" / "demo.pth")
        tokenize_file(demo.BUNDLED_SAMPLE, root / "data" / "sample")
        options = {**demo.preset(), "model_path": str(model_path), "data_path": str(root / "data" / "sample"),
                   "epoch_count": args.epochs, "epoch_save": args.epochs, "sample_tokens": 0, "val_split": 0.0}
        cfg = TrainConfig.from_dict({**TrainConfig().to_dict(), **options})
        weights, shares, cpu_shares, rates, last_tokens, last_cpu = [], [], [], [], [0], [time.process_time()]
        built = loop.Trainer._build

        def build(self, *a):
            built(self, *a)
            weights.extend(p for name, p in self.model.named_parameters() if p.dim() == 2 and name != "emb.weight")

        def progress(metric):
            tokens, last_tokens[0] = metric["tokens"] - last_tokens[0], metric["tokens"]
            step_cpu = time.process_time() - last_cpu[0]
            if metric["epoch"] > 0:  # epoch 0 warms up
                step_s = tokens / metric["tokens_per_s"]
                shares.append(matmul_seconds(weights, tokens) / step_s)
                cpu_shares.append(matmul_seconds(weights, tokens, clock=time.process_time) / step_cpu)
                rates.append(metric["tokens_per_s"])
            last_cpu[0] = time.process_time()

        loop.Trainer._build = build
        began = time.time()
        state = loop.train(cfg, root / "run", progress=progress)
        if state != "finished":
            sys.exit(f"training {state}: {(root / 'run' / 'train.log').read_text()[-2000:]}")
    n_matmul = sum(w.numel() for w in weights)
    rate = statistics.median(rates)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(shares)} steps timed in "
          f"{time.time() - began:.0f} s; matmul parameters {n_matmul / 1e6:.2f} M")
    print(f"step: {rate:.0f} tokens/s = {6 * n_matmul * rate / 1e9:.1f} GFLOP/s of matmul work; share of torch's own "
          f"matmul rate: median {statistics.median(shares):.2f} (min {min(shares):.2f}, max {max(shares):.2f}); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"the same in CPU seconds (step from one progress report to the next, matmuls alone; steadier on a shared "
          f"machine): median {statistics.median(cpu_shares):.2f} (min {min(cpu_shares):.2f}, "
          f"max {max(cpu_shares):.2f})")


if __name__ == "__main__":
    main()
