"""Merge and Chat tab handlers on a real trained run: pick the run, merge it, chat with the result."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import gradio as gr
import pytest
import torch

from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.model import detect, init_model, save_model
from rwkv_simple_gui.ui import chat_tab, merge_tab
from tests.conftest import REPO_ROOT, SAMPLE


class NoProgress:
    def __call__(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """A tiny base model and a real two-epoch LoRA run on the sample data, made once by the train CLI."""
    root = tmp_path_factory.mktemp("trained")
    (root / "data").mkdir()
    shutil.copyfile(SAMPLE, root / "data" / "sample.jsonl")
    save_model(init_model("x070", n_layer=2, n_embd=64, vocab_size=65536, head_size=32, seed=0),
               root / "model" / "tiny.pth", dtype=torch.float32)
    tokenize_file(root / "data" / "sample.jsonl", root / "data" / "sample")
    subprocess.run([sys.executable, "-m", "rwkv_simple_gui", "train", "--model_path", "model/tiny.pth",
                    "--data_path", "data/sample", "--finetune_mode", "lora", "--lora_r", "8", "--lora_alpha", "16",
                    "--ctx_len", "112", "--micro_bsz", "8", "--epoch_count", "2", "--lr_init", "1e-3",
                    "--precision", "fp32", "--proj_dir", "output/run1"],
                   cwd=REPO_ROOT, env={**os.environ, "RWKV_SIMPLE_GUI_HOME": str(root)}, check=True,
                   capture_output=True)
    return root


@pytest.fixture
def trained_run(project, trained_project):
    """This test's own copy of the trained project (merges write into it)."""
    for folder in ("model", "data", "output"):
        shutil.copytree(trained_project / folder, project / folder, dirs_exist_ok=True)
    return project


def test_picking_a_run_fills_epoch_base_and_method(trained_run):
    assert merge_tab.run_choices() == ["output/run1"]
    checkpoints, base = merge_tab.pick_run("output/run1")
    assert [value for _, value in checkpoints["choices"]] == ["output/run1/rwkv-0.pth", "output/run1/rwkv-1.pth"]
    assert checkpoints["choices"][0][0].startswith("rwkv-0.pth · epoch 0 · step 2")
    assert checkpoints["value"] == "output/run1/rwkv-1.pth" and base["value"].endswith("model/tiny.pth")
    plan = merge_tab.describe("output/run1/rwkv-1.pth")
    assert "lora" in plan and "lora_alpha 16" in plan


def test_merge_then_chat_with_the_merged_model(trained_run):
    project = trained_run
    message, merged = merge_tab.run_merge("model/tiny.pth", "output/run1/rwkv-1.pth", "", "both", "fp32", None,
                                          progress=NoProgress())
    assert merged == "merge/run1-1.pth" and "lora merged" in message
    assert (project / "merge" / "run1-1.st").is_file()
    assert detect(project / merged).version == "x070"
    assert merged in chat_tab.model_choices()

    status = chat_tab.load("main", merged, "cpu fp32")
    assert "loaded" in status and "x070" in status
    try:
        params = dict(temperature=0.0, top_p=0.3, top_k=0, presence_penalty=0.0, frequency_penalty=0.0,
                      penalty_decay=0.996, max_tokens=8)
        updates = list(chat_tab.respond("main", "Hello!", [], params))
        history = updates[-1]
        assert [m["role"] for m in history] == ["user", "assistant"]
        assert history[0]["content"] == "Hello!" and history[1]["content"]
        assert len(updates) >= 2, "the answer streams"
        # Gradio 6 hands history back as typed blocks; the next turn accepts it
        blocks = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in history]
        again = list(chat_tab.respond("main", "And then?", blocks, params))[-1]
        assert [m["content"] for m in again[:2]] == [m["content"] for m in history]
        assert again[2] == {"role": "user", "content": "And then?"}
    finally:
        assert "free" in chat_tab.unload("main")


def test_merge_and_chat_errors_are_plain_words(trained_run):
    with pytest.raises(gr.Error, match="Pick the base model"):
        merge_tab.run_merge("", "output/run1/rwkv-1.pth", "", "pth", "bf16", None, progress=NoProgress())
    with pytest.raises(gr.Error, match="training checkpoint"):
        chat_tab.load("main", "output/run1/rwkv-1.pth", "cpu fp32")
    with pytest.raises(gr.Error, match="Load a model first"):
        list(chat_tab.respond("main", "hi", [], {}))
    assert chat_tab.unload("main") == "Nothing loaded."
