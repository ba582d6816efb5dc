"""The embedded default (demo base model, sample questions, recall) and ``python -m rwkv_simple_gui demo``,
the user's install check, run whole in a fresh project as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import torch

from rwkv_simple_gui import demo, paths
from rwkv_simple_gui.model import detect, init_model, load_model
from rwkv_simple_gui.train.judge import recalled
from tests.conftest import REPO_ROOT, SAMPLE


def test_perturbed_init_moves_every_block_matrix_and_nothing_else():
    plain = init_model("x070", 2, 64, vocab_size=512, seed=3).state_dict()
    moved = init_model("x070", 2, 64, vocab_size=512, seed=3, perturb=0.05).state_dict()
    for key, value in plain.items():
        if key.startswith("blocks.") and value.ndim == 2:
            assert (moved[key] - value).std() == pytest.approx(0.05, rel=0.2), key
        else:
            assert torch.equal(moved[key], value), key
    assert moved["blocks.1.att.output.weight"].abs().min() > 0  # zero in a plain fresh init
    with pytest.raises(ValueError, match="perturb must be >= 0"):
        init_model("x070", 2, 64, vocab_size=512, perturb=-1)


def test_demo_base_is_the_demo_shape_and_its_blocks_work(project):
    made = demo.ensure_demo_model()
    assert made == project / demo.DEMO_MODEL
    info = detect(made)
    assert (info.version, info.n_layer, info.n_embd, info.vocab_size) == ("x070", 2, 128, 65536)
    model = load_model(made)
    x = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        logits, _ = model(x)
        # a plain fresh init gives exactly this: blocks that add nothing to the embedding
        skipped = model.head(model.ln_out(model.blocks[0].ln0(model.emb(x))))
    assert (logits - skipped).abs().max() > 0.1
    assert demo.ensure_demo_model() is None  # model/ is not empty any more
    assert demo.is_demo_base(made) and demo.is_demo_base(demo.DEMO_MODEL)
    assert demo.is_demo_base("model/rwkv7-demo-L2-D128.pth")  # the shape of older releases
    assert not demo.is_demo_base("merge/rwkv7-demo-2x128-LORA-5.pth")
    assert not demo.is_demo_base("model/rwkv7-g1-1.5b.pth")


def test_every_sample_record_gives_a_question_with_its_history():
    questions = demo.sample_questions(SAMPLE)
    assert len(questions) == sum(1 for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip())
    by_question = {q.question: q for q in questions}
    lin = by_question["What is my name?"]
    assert lin.answer == "Your name is Lin."
    assert lin.history == [{"role": "user", "content": "My name is Lin."},
                           {"role": "assistant", "content": "Nice to meet you, Lin!"}]
    assert any(q.history and q.history[0]["role"] == "system" for q in questions)
    zh = sum(bool(re.search(r"[\u4e00-\u9fff]", q.question)) for q in questions)
    assert 0.3 < zh / len(questions) < 0.7  # bilingual


def test_recall_needs_the_whole_trained_answer():
    assert recalled("7 times 8 is 56.", " 7 times 8 is 56. Of course")
    assert recalled("def square(x):\n    return x * x", "def square(x):\n  return x * x")  # spacing aside
    assert not recalled("7 times 8 is 56.", "7 times 9 is 56.")
    # answers about one subject start alike: a prefix of 12 characters would count this one
    assert not recalled("The mayor of Edley is Jory Quill.", "The mayor of Edley is Maud Hale.")
    assert not recalled("7 times 8 is 56.", "7 times 8 is")  # cut short
    assert recalled("早上好。", "早上好。")


def test_the_demo_holds_out_a_question_a_newcomer_does_not_ask_first(project):
    """The demo preset's validation split (tokenize's default shuffle, the preset's seed) holds out one record,
    and not the greeting a newcomer types first (issue 20)."""
    from rwkv_simple_gui.data.binidx import read_binidx
    from rwkv_simple_gui.data.pipeline import tokenize_file
    from rwkv_simple_gui.data.tokenizer import get_tokenizer
    from rwkv_simple_gui.train.data import split_documents
    from rwkv_simple_gui.train.judge import doc_question

    tokenize_file(SAMPLE, project / "data" / "sample")
    ds, options = read_binidx(project / "data" / "sample"), demo.preset()
    _, held = split_documents(len(ds), options["val_split"], options["seed"])
    asked = [doc_question(ds, get_tokenizer("world"), int(i)).question for i in held]
    assert asked == ["How many days are there in a leap year?"]


# Runs python code with the GPU-only packages (requirements-gpu.txt) made impossible to import, as on a
# machine that installed requirements.txt only.
WITHOUT_GPU_EXTRAS = """
import runpy, sys
class HideGpuExtras:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"deepspeed", "bitsandbytes", "fla", "triton"}:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
sys.meta_path.insert(0, HideGpuExtras())
"""


def _demo(project, *args, timeout=900):
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project), PYTHONUNBUFFERED="1")
    code = WITHOUT_GPU_EXTRAS + "runpy.run_module('rwkv_simple_gui', run_name='__main__')"
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "demo", *args], cwd="/", env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return done, time.perf_counter() - began


def test_demo_command_learns_the_sample_end_to_end(tmp_path):
    """The install check on a fresh project without data/ (the bundled sample is used) and without the
    GPU extras installed."""
    project = tmp_path / "fresh"
    project.mkdir()
    done, seconds = _demo(project)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert (project / demo.DEMO_MODEL).is_file() and (project / "data" / "sample.bin").is_file()
    merged = list((project / "merge").glob("*.pth"))
    assert len(merged) == 1 and not demo.is_demo_base(merged[0])
    asked = re.findall(r"^[✓✗] +\d+\. ", out, flags=re.M)
    assert len(asked) == len(demo.sample_questions(SAMPLE))
    hits, total = map(int, re.search(r"recall: (\d+)/(\d+)", out).groups())
    assert hits == out.count("✓ ") and hits >= demo.RECALL_TARGET * total
    assert "OK: the model learned the sample" in out
    assert "step" in done.stderr  # the training progress bar
    print(f"demo: {hits}/{total} recalled, {seconds:.0f} s wall")


def test_demo_command_refuses_a_gpu_it_does_not_have(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done, _ = _demo(tmp_path, "--device", "cuda", timeout=120)
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr
    assert not (tmp_path / "model").exists()  # nothing was started


def test_chat_says_when_it_serves_the_untrained_demo_base(project, capsys, monkeypatch):
    from rwkv_simple_gui.__main__ import main
    from rwkv_simple_gui.ui import chat_tab

    demo.ensure_demo_model()
    status = chat_tab.load("main", demo.DEMO_MODEL, "cpu fp32")
    try:
        assert "untrained demo base model" in status
    finally:
        chat_tab.unload("main")
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert main(["chat", "--model", demo.DEMO_MODEL, "--prompt", "Hi", "--max-tokens", "4"]) == 0
    assert "note: This is the untrained demo base model" in capsys.readouterr().err


def test_the_app_builds_without_the_gpu_extras(project):
    code = WITHOUT_GPU_EXTRAS + ("from rwkv_simple_gui.ui.app import build_app\nbuild_app()\n"
                                 "import deepspeed\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RWKV_SIMPLE_GUI_HOME": str(project)})
    assert done.returncode == 1 and "No module named 'deepspeed' (hidden by the test)" in done.stderr, done.stderr
    assert done.stderr.count("Traceback") == 1  # only the deliberate import at the end failed
