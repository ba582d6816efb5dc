"""Peak memory of tokenizing one huge record: ``python -m rwkv_simple_gui tokenize`` on a jsonl whose
only line is a single ~201 MB ``{"text": ...}`` record (mixed Chinese, English, emoji, line breaks).

    python bench/huge_record.py [--mb 201] [--keep FILE]

The tokenizer runs in a child process; its own peak RSS comes from ``wait4`` (not sampled). The same
command on a one-line file gives the fixed cost of the process (Python, numpy, the tokenizer), and the
figures printed are peak / record size and (peak - fixed cost) / record size: how many times the
record the run holds at once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PIECES = (
    ["the", "model", "learns", "from", "every", "token", "of", "this", "long", "record", "and", "RWKV", "state"]
    + ["我们", "模型", "训练", "数据", "长文本", "一个", "没有", "问题", "可以", "，", "。", "！"]
    + ["🙂", "👍🏽", "🚀", "✅", " ", " ", " ", "\n", "\n\n", "Assistant: ", "User: "]
)


def write_huge_record(path: Path, megabytes: float, seed: int = 0) -> int:
    """One jsonl line holding a single seed-format record of about ``megabytes`` MB; returns its bytes.

    Written a megabyte at a time: the peak RSS of a child includes what its parent held when it forked.
    """
    rng = np.random.default_rng(seed)
    pieces = np.array(PIECES, dtype=object)
    per_chunk = int(1_000_000 / np.mean([len(p.encode("utf-8")) for p in PIECES]))
    with open(path, "wb") as f:
        written = f.write(b'{"text": "User: ')
        while written < megabytes * 1_000_000:
            body = "".join(pieces[rng.integers(0, len(PIECES), per_chunk)])
            written += f.write(json.dumps(body, ensure_ascii=False)[1:-1].encode("utf-8"))
        written += f.write(b'"}\n')
    return written


def tokenize_peak_rss(input_path: Path, out_prefix: Path) -> tuple[int, float]:
    """Peak RSS in bytes of the tokenize CLI on ``input_path`` (the child's own, from wait4) and its seconds."""
    env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": str(out_prefix.parent)}
    cmd = [sys.executable, "-m", "rwkv_simple_gui", "tokenize", str(input_path), "--out", str(out_prefix), "--json"]
    log = out_prefix.with_name(out_prefix.name + ".log")
    began = time.perf_counter()
    with open(log, "wb") as output:
        child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # the child's own peak, not the sum of every child so far
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"tokenize failed: {log.read_text(errors='replace')[-2000:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - began


def record_ratio(folder: Path, megabytes: float) -> dict:
    """Peak RSS of tokenizing one record of ``megabytes`` MB, less the fixed cost, in units of the record."""
    small, huge = folder / "small.jsonl", folder / "huge.jsonl"
    small.write_text('{"text": "User: hi\\n\\nAssistant: hello"}\n', encoding="utf-8")
    record = write_huge_record(huge, megabytes)
    fixed, _ = tokenize_peak_rss(small, folder / "small")
    peak, seconds = tokenize_peak_rss(huge, folder / "huge")
    return {"record_bytes": record, "fixed_rss": fixed, "peak_rss": peak, "seconds": seconds,
            "ratio": (peak - fixed) / record}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=201, help="record size in MB (default 201)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="huge-record-") as tmp:
        r = record_ratio(Path(tmp), args.mb)
    mb = 1 / 1_000_000
    print(f"record {r['record_bytes'] * mb:.0f} MB: peak RSS {r['peak_rss'] * mb:.0f} MB "
          f"(fixed cost {r['fixed_rss'] * mb:.0f} MB) in {r['seconds']:.1f} s")
    print(f"peak = {r['peak_rss'] / r['record_bytes']:.2f} x the record; "
          f"above the fixed cost = {r['ratio']:.2f} x the record")


if __name__ == "__main__":
    main()
