"""Peak memory and time of a LoRA merge on a 1.5B-shape RWKV-7 (24 layers, 2048 wide, bf16, ~3.06 GB), per
export format.

    python bench/merge.py [--runs 2] [--keep DIR] [--no-baseline] [--formats pth st hf gguf]

Writes a random base model and a LoRA r64 checkpoint (every att/ffn projection, plus ln keys) into a
temporary folder, then runs ``python -m rwkv_simple_gui merge --no-check`` in a child process ``--runs`` times
per format (the self-check is timed apart: it runs each runtime on the whole model) and
reads the child's own peak RSS from ``wait4``. For comparison it also runs the load-everything merge
(``torch.load`` the base, add B@A, ``torch.save``: what RWKV-PEFT's merge/merge.py does) on the same files.
Other processes on the machine disturb the timings: run it more than once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rwkv_simple_gui.model import RWKV, ModelInfo  # noqa: E402
from rwkv_simple_gui.model.writers import TorchZipWriter  # noqa: E402

BASELINE = r"""
import sys, torch
base, ckpt, out, alpha = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
w = torch.load(base, map_location="cpu", weights_only=True)
lora = torch.load(ckpt, map_location="cpu", weights_only=True)
for k, v in lora.items():
    if ".lora_" not in k:
        w[k] = v
for k in list(w):
    m = k[: -len(".weight")]
    if k.endswith(".weight") and m + ".lora_A" in lora:
        a, b = lora[m + ".lora_A"].float(), lora[m + ".lora_B"].float()
        w[k] = (w[k].float() + b @ a * (alpha / b.shape[1])).to(torch.bfloat16)
torch.save(w, out)
"""


def write_base(path: Path, n_layer: int, n_embd: int) -> None:
    """The model's exact key list and shapes (from a meta-device module), filled tensor by tensor."""
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in RWKV(ModelInfo.for_shape("x070", n_layer, n_embd)).state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    with open(path, "wb") as f:
        writer = TorchZipWriter(f, [(k, s, torch.bfloat16) for k, s in shapes.items()])
        for key, shape in shapes.items():
            writer.write(key, (torch.randn(shape, generator=gen) * 0.02).to(torch.bfloat16))
        writer.finish()


def write_lora(run: Path, n_layer: int, n_embd: int, r: int, alpha: int) -> Path:
    run.mkdir(parents=True)
    dims = {"att.receptance": (n_embd, n_embd), "att.key": (n_embd, n_embd), "att.value": (n_embd, n_embd),
            "att.output": (n_embd, n_embd), "ffn.key": (4 * n_embd, n_embd), "ffn.value": (n_embd, 4 * n_embd)}
    ckpt = {}
    for i in range(n_layer):
        for name, (out_f, in_f) in dims.items():
            ckpt[f"blocks.{i}.{name}.lora_A"] = (torch.randn(r, in_f) * 0.01).to(torch.bfloat16)
            ckpt[f"blocks.{i}.{name}.lora_B"] = (torch.randn(out_f, r) * 0.01).to(torch.bfloat16)
        for ln in ("ln1", "ln2"):
            ckpt[f"blocks.{i}.{ln}.weight"] = torch.ones(n_embd, dtype=torch.bfloat16)
    torch.save(ckpt, run / "rwkv-1.pth")
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_r": r, "lora_alpha": alpha}))
    return run / "rwkv-1.pth"


# A fork copies the forking process's resident pages into the child's peak RSS until it execs, and this
# script holds gigabytes after writing the base model; so a small fresh process starts the command.
LAUNCHER = r"""
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss": usage.ru_maxrss * 1024, "code": os.waitstatus_to_exitcode(status),
                  "stderr": child.stderr.read().decode()[-3000:]}))
"""


def measured(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS in bytes of the child: its own, from
    wait4, not sampled. CPU time is the steadier figure when other work shares the machine."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["code"]:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result['stderr']}")
    return result["seconds"], result["cpu"], result["rss"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--keep", help="write the files here and keep them (default: a temp dir, deleted)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the load-everything merge")
    parser.add_argument("--formats", nargs="+", default=["pth"], choices=("pth", "st", "hf", "gguf"))
    args = parser.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rwkv-merge-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        base = root / "base.pth"
        started = time.perf_counter()
        if not base.exists():
            write_base(base, args.layers, args.width)
        ckpt = root / "run" / "rwkv-1.pth"
        if not ckpt.exists():
            write_lora(root / "run", args.layers, args.width, args.rank, 2 * args.rank)
        size = base.stat().st_size
        print(f"base {size / 1e9:.2f} GB ({args.layers} layers, {args.width} wide, bf16), LoRA r{args.rank} "
              f"{ckpt.stat().st_size / 1e6:.0f} MB; generated in {time.perf_counter() - started:.0f} s")
        rows = []
        for run in range(args.runs):
            for fmt in args.formats:
                out = root / f"merged-{run}.pth"
                rows.append((f"streaming merge (ours), {fmt}", *measured([
                    sys.executable, "-m", "rwkv_simple_gui", "merge", "--base", str(base), "--checkpoint",
                    str(ckpt), "--out", str(out), "--format", fmt, "--no-check"])))
                for written in root.glob(f"merged-{run}*"):
                    shutil.rmtree(written) if written.is_dir() else written.unlink()
            if not args.no_baseline:
                out = root / f"merged-{run}.pth"
                rows.append(("load-all merge (RWKV-PEFT style)", *measured([
                    sys.executable, "-c", BASELINE, str(base), str(ckpt), str(out), str(2 * args.rank)])))
                out.unlink()
        print(f"{'method':34} {'wall s':>7} {'CPU s':>7} {'peak RSS':>10} {'RSS / file':>10}")
        for name, seconds, cpu, rss in rows:
            print(f"{name:34} {seconds:7.1f} {cpu:7.1f} {rss / 1e9:8.2f} GB {rss / size:10.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
