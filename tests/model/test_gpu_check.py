"""bench/gpu_check.py: its --dry-run (every section's code on the CPU, tiny shapes) as a real process, and
its section runner: a failing or overlong section is recorded and the others go on."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_check.py"


def load_script():
    saved = list(sys.path)  # the script puts the repository first on sys.path
    try:
        spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("gpu_check")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out), "--dry-run"], capture_output=True, text=True,
                          timeout=900, cwd="/")
    return proc, out / "gpu_check.json"


def test_dry_run_prints_one_json_object_and_writes_it(dry_run):
    proc, path = dry_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)  # stdout holds the JSON alone; the trainer's log went to stderr
    assert report == json.loads(path.read_text())
    assert report["dry_run"] is True and report["env"]["device"] == "cpu"
    assert list(report["sections"]) == [s.name for s in load_script().SECTIONS]


def test_dry_run_runs_every_section(dry_run):
    sections = json.loads(dry_run[0].stdout)["sections"]
    skipped = {name: s["reason"] for name, s in sections.items() if s["status"] != "ok"}
    assert list(skipped) == ["train_qlora_nf4_ctx1024"] and "CUDA" in skipped["train_qlora_nf4_ctx1024"]
    for name, s in sections.items():
        if name.startswith("train_") and s["status"] == "ok":
            assert s["steps"] == 2 and s["tokens_per_s"] > 0 and math.isfinite(s["loss_last"]), (name, s)
            assert s["estimate_gib"] > 1.4 and s["op"] == "chunked"  # the estimate includes the CUDA runtime
    assert sections["train_state_tuning_ctx1024"]["method"] == "state_tuning"
    assert sections["train_lora_ctx4096_bsz8_cp0"]["grad_cp"] == 0
    assert sections["deepspeed_zero2"]["zero_stage"] == 2 and sections["deepspeed_zero2"]["tokens_per_s"] > 0
    assert sections["model"]["n_params"] > 0 and sections["model"]["generated_on"] == "cpu"
    assert sections["merge"]["adapter"].startswith("lora-") and sections["merge"]["merged_shape"] == "2x64"
    assert sections["chat"]["strategy"] == "cpu fp32" and sections["chat"]["answer"]


def test_dry_run_agreement_of_the_cpu_ops(dry_run):
    agreement = json.loads(dry_run[0].stdout)["sections"]["agreement"]
    assert agreement["fla"].startswith("not run")
    for key in ("x070_float32", "x070_bfloat16", "x060_float32", "x060_bfloat16"):
        row = agreement[key]["chunked"]
        assert row["ok"] and len(row["errors"]) >= 8, (key, row)
    assert agreement["x070_float32"]["chunked"]["worst"] < 1e-5
    assert agreement["speed"]["x070_chunked_ms"] > 0


def test_dry_run_names_missing_packages(dry_run):
    report = json.loads(dry_run[0].stdout)
    absent = {name for name, v in report["packages"].items() if v is None}
    assert set(report["missing"]) == absent
    for name, info in report["missing"].items():
        assert info["pip"].startswith(f"pip install {name}") and info["needed_by"]
        assert f"missing {name}: pip install {name}" in dry_run[0].stderr


def test_a_failing_section_is_recorded_and_the_rest_go_on(tmp_path):
    gc = load_script()

    def boom(check):
        raise ValueError("bad input")

    def slow(check):
        time.sleep(10)

    args = argparse.Namespace(budget_s=60.0)
    check = gc.Check(args, tmp_path, "cpu", gc.packages(), {})
    check.report["sections"] = {}
    gc.run_sections(check, [gc.Section("boom", boom, 5), gc.Section("slow", slow, 1),
                            gc.Section("after_boom", lambda c: {"x": 1}, 5, after=("boom",)),
                            gc.Section("fine", lambda c: {"x": 2}, 5)], tmp_path / "r.json")
    sections = json.loads((tmp_path / "r.json").read_text())["sections"]
    assert sections["boom"]["status"] == "failed" and sections["boom"]["error"] == "ValueError: bad input"
    assert sections["slow"]["status"] == "failed" and sections["slow"]["error"] == "timed out after 1 s"
    assert sections["slow"]["seconds"] < 5  # cut at 1 s, not the 10 s it asked for
    assert sections["after_boom"]["status"] == "skipped" and "boom" in sections["after_boom"]["reason"]
    assert sections["fine"]["status"] == "ok" and sections["fine"]["x"] == 2
