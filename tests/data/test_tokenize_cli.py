"""``python -m rwkv_simple_gui tokenize`` run as a real subprocess from outside the project folder."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rwkv_simple_gui import paths

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(project: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI with ``project`` as the project folder, started from another folder ``cwd``."""
    cwd.mkdir(exist_ok=True)
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project))
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


def test_csv_with_a_huge_field_and_a_broken_quote(project, tmp_path):
    data = project / "data"
    answer = "A long answer. " * 20_000  # 300 KB in one field: over the csv module's default limit
    (data / "long.csv").write_text(f'text\n"User: q\n\nAssistant: {answer}"\n"User: ok"\n', encoding="utf-8")
    proc = run_cli(project, tmp_path / "cwd", "long.csv", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["items"] == 2

    (data / "quote.csv").write_text('text\n"User: fine"\n"User: never closed\nUser: swallowed\n"User: b"\n',
                                    encoding="utf-8")
    proc = run_cli(project, tmp_path / "cwd", "quote.csv")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "quote.csv, line 3: broken quoting" in proc.stderr and "lines 3-5 were read as one row" in proc.stderr


def test_a_folder_where_a_file_is_expected(project, tmp_path):
    (project / "data" / "folder.jsonl").mkdir()
    proc = run_cli(project, tmp_path / "cwd", "data/folder.jsonl")
    assert proc.returncode == 1 and "folder.jsonl: this is a folder, not a file" in proc.stderr
    proc = run_cli(project, tmp_path / "cwd", "sample.jsonl", "--tokenizer", str(project / "data"))
    assert proc.returncode == 1 and "is a folder, not a file" in proc.stderr


def test_a_full_disk_is_said_in_plain_words(project, tmp_path):
    """A real 1 MB tmpfs, mounted in a user and mount namespace of the CLI's own (no root needed)."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("user namespaces are not available here")
    big = project / "data" / "big.jsonl"
    big.write_text(json.dumps({"text": "User: tell me more\n\nAssistant: " + "word " * 400_000}) + "\n",
                   encoding="utf-8")  # 400k tokens: 0.8 MB of spill plus 0.8 MB of .bin
    disk = tmp_path / "disk"
    disk.mkdir()
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project))
    script = (f"mount -t tmpfs -o size=1m none {disk} && {sys.executable} -m rwkv_simple_gui tokenize {big} "
              f"--out {disk}/big; echo exit=$?; ls -A {disk}")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert "exit=1" in proc.stdout, proc.stdout + proc.stderr
    assert "the disk holding" in proc.stderr and "is full" in proc.stderr and "Free some space" in proc.stderr
    assert "requested" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout.strip().endswith("exit=1"), "nothing is left on the full disk: " + proc.stdout


def test_leftovers_of_a_killed_run_are_removed_at_the_next_start(project, tmp_path):
    data = project / "data"
    big = data / "big.jsonl"
    big.write_text("".join(json.dumps({"text": f"User: {i}\n\nAssistant: " + "so " * 3000}) + "\n"
                           for i in range(2000)), encoding="utf-8")  # 12 MB: a few seconds of work
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project))
    victim = subprocess.Popen([sys.executable, "-m", "rwkv_simple_gui", "tokenize", str(big), "--workers", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(data.glob(".tokenize-*")) and time.time() < deadline and victim.poll() is None:
        time.sleep(0.01)
    victim.kill()
    victim.wait()
    work = list(data.glob(".tokenize-*"))
    assert work and work[0].name.startswith(f".tokenize-{paths.owner_tag(victim.pid)}-"), "killed while at work"
    # not ours, or still owned: kept
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead, living = paths.owner_tag(victim.pid), paths.owner_tag(alive.pid)
    kept = [data / f".notes.{dead}.tmp", data / f".x.jsonl.{living}-abcd1234.tmp", data / f"b.{dead}-abcd1234.tmp"]
    for p in kept:
        p.write_text("x")
    (data / f".tokenize-{living}-abcd1234").mkdir()
    dead_tmp = data / "sub" / f".y.bin.{dead}-k9_x2ab7.tmp"
    dead_tmp.parent.mkdir()
    dead_tmp.write_text("half")
    try:
        proc = run_cli(project, tmp_path / "cwd", "sample.jsonl", "--json")
        assert proc.returncode == 0, proc.stderr
        assert not work[0].exists() and not dead_tmp.exists()
        assert "removed data/sub/.y.bin" in proc.stderr and "left by a run that was killed" in proc.stderr
        assert all(p.exists() for p in kept) and (data / f".tokenize-{living}-abcd1234").is_dir()
    finally:
        alive.kill()
        alive.wait()
