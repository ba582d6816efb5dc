"""``python -m rwkv_simple_gui tokenize`` run as a real subprocess from outside the project folder."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_cli(project: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI with ``project`` as the project folder, started from another folder ``cwd``."""
    cwd.mkdir(exist_ok=True)
    env = dict(os.environ, RWKV_SIMPLE_GUI_HOME=str(project), PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "rwkv_simple_gui", "tokenize", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_sizes(prefix: Path) -> list[int]:
    """Item sizes from the .idx header and size table (MMIDIDX layout); checks the .bin length."""
    idx = Path(f"{prefix}.idx").read_bytes()
    n = struct.unpack_from("<Q", idx, 18)[0]
    sizes = list(struct.unpack_from(f"<{n}i", idx, 34))
    assert Path(f"{prefix}.bin").stat().st_size == 2 * sum(sizes)
    return sizes


def test_json_output_and_default_prefix_in_data(project, tmp_path):
    proc = run_cli(project, tmp_path / "cwd", "sample.jsonl", "--json", "--copies", "2", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    prefix = project / "data" / "sample"  # resolved in the project's data/, not the working directory
    sizes = read_sizes(prefix)
    assert (project / "data" / "sample.meta.json").is_file() and not list((tmp_path / "cwd").iterdir())
    assert out["items"] == out["data_line_count"] == len(sizes) == 48
    assert out["tokens"] == sum(sizes) and out["dropped"] == 0
    assert out["max_length"] == (max(sizes) + 15) // 16 * 16
    assert out["max_length_power_of_two"] == 1 << (max(sizes) - 1).bit_length()
    factors = {f["count"]: f for f in out["factors"]}
    assert sorted(factors) == list(range(38, 59))
    assert factors[48] == {
        "count": 48,
        "micro_bsz": [2, 3, 4, 6, 8, 12, 16, 24],
        "epoch_steps": [24, 16, 12, 8, 6, 4, 3, 2],
    }
    assert factors[47] == {"count": 47, "micro_bsz": [47], "epoch_steps": [1]}


def test_printout_like_make_tokenize(project, tmp_path):
    proc = run_cli(project, tmp_path / "cwd", "data/sample.jsonl", "--out", "out/s", "--no-eof", "--max-tokens", "60")
    assert proc.returncode == 0, proc.stderr
    sizes = read_sizes(project / "out" / "s")
    text = proc.stdout
    assert f"### Final out/s.bin/idx has {sum(sizes)} tokens, {len(sizes)} items. Dtype <class 'numpy.uint16'>" in text
    assert "### append_eof = False\n" in text
    assert f"### max_length = {(max(sizes) + 15) // 16 * 16}\n" in text
    assert f"### data_line_count = {len(sizes)}\n" in text
    assert f"### dropped = {24 - len(sizes)} documents longer than 60 tokens" in text
    assert "### The first ten factors of the five numbers nearby (±10):\n\n" in text
    n = len(sizes) + 10
    assert f"\n{n}\nMICRO_BSZ   = " in text and "\nEPOCH_STEPS = [" in text
    assert "[s idx 0 sz" in text  # the seed's preview of the first item


def test_bad_input_fails_with_file_line_reason(project, tmp_path):
    bad = project / "data" / "bad.jsonl"
    bad.write_text('{"text": "User: hi\\n\\nAssistant: yo"}\n{"text": "no end\n{"text": "fine"}\n', encoding="utf-8")
    proc = run_cli(project, tmp_path / "cwd", "bad.jsonl")
    assert proc.returncode != 0
    assert "bad.jsonl, line 2: invalid JSON" in proc.stderr and "--skip-bad" in proc.stderr
    assert sorted(p.name for p in (project / "data").iterdir()) == ["bad.jsonl", "sample.jsonl"]

    proc = run_cli(project, tmp_path / "cwd", "bad.jsonl", "--skip-bad", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["items"], out["skipped_bad"], out["bad"][0]["line"]) == (2, 1, 2)

    proc = run_cli(project, tmp_path / "cwd", "missing.jsonl", "--json")
    assert proc.returncode != 0 and "file not found" in json.loads(proc.stdout)["error"]
