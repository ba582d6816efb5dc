"""The demo as a newcomer runs it: ``python -m rwkv_simple_gui demo`` in a fresh project folder, timed.

Prints the recall, the training + merge time the demo reports, the wall time of the whole command and
the machine's load average before and after (the figure depends on what else the CPU is doing).

    python bench/demo.py                      # the default method, 1 run
    python bench/demo.py --method full --runs 3
    python bench/demo.py --omp-wait ACTIVE    # compare with spinning OpenMP threads (the default is PASSIVE)
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


def one(method: str | None, device: str | None, omp_wait: str) -> dict:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as project:
        env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": project, "OMP_WAIT_POLICY": omp_wait}
        cmd = [sys.executable, "-m", "rwkv_simple_gui", "demo"]
        cmd += ["--method", method] if method else []
        cmd += ["--device", device] if device else []
        began = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - began
    found = re.search(r"recall: (\d+)/(\d+).*training (\d+) s, training \+ merge (\d+) s", done.stdout)
    if not found:
        sys.exit(f"the demo failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    hits, total, train_s, train_merge_s = map(int, found.groups())
    return {"method": method or "preset", "omp_wait": omp_wait, "exit": done.returncode, "recall": f"{hits}/{total}",
            "train_s": train_s, "train_merge_s": train_merge_s, "wall_s": round(wall),
            "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--omp-wait", default="PASSIVE", choices=("PASSIVE", "ACTIVE"))
    args = p.parse_args()
    results = []
    for _ in range(args.runs):
        r = one(args.method, args.device, args.omp_wait)
        results.append(r)
        print(f"{r['method']}: recall {r['recall']}, training + merge {r['train_merge_s']} s, demo wall "
              f"{r['wall_s']} s, exit {r['exit']} (load average {r['load_before']} -> {r['load_after']}, "
              f"OMP_WAIT_POLICY={r['omp_wait']})", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
