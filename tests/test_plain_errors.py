"""A user's mistake is said in plain words, once (issue 22, F10 and F11): tokenize with seed -1 says what the
seed is for and which values it takes; a configuration error the trainer finds (a model_path that is a
malicious pickle) ends in its FAILED line with no Python traceback before it."""

from __future__ import annotations

import os
import subprocess
import sys

import gradio as gr
import pytest
import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.data.binidx import write_binidx
from tests.conftest import run_cli


def test_tokenize_with_seed_minus_one_says_what_the_seed_takes(project):
    from rwkv_simple_gui.ui import tokenize_tab

    done = run_cli(project, "tokenize", "data/sample.jsonl", "--seed", "-1")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "seed must be a whole number from 0 to 4294967295, got -1" in done.stderr
    assert "expected non-negative integer" not in done.stderr
    with pytest.raises(gr.Error, match="seed must be a whole number from 0 to 4294967295, got -1"):
        tokenize_tab.run_tokenize("data/sample.jsonl", 1, 0, True, -1, "world", False, "data/s", 1024,
                                  progress=lambda *a, **k: None)
    assert not list((project / "data").glob("s.*"))


class Gadget:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_configuration_error_found_by_the_trainer_prints_no_traceback(tmp_path):
    torch.save({"emb.weight": Gadget()}, tmp_path / "evil.pth")
    write_binidx(tmp_path / "d", [[1, 2, 3, 0]] * 4)
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "rwkv_simple_gui", "train", "--model_path", str(tmp_path / "evil.pth"),
                           "--data_path", str(tmp_path / "d"), "--proj_dir", str(run), "--ctx_len", "32"],
                          capture_output=True, text=True, timeout=300,
                          env=paths.child_env())
    shown = done.stdout + done.stderr + (run / "train.log").read_text()
    assert done.returncode != 0 and "FAILED: Invalid settings: model_path" in shown
    assert "refused: it holds Python objects besides tensors" in shown and "pwned" not in shown
    assert "Traceback" not in shown
