"""Chat: prompt format and stop handling; the worker (the ``rwkv`` package in a child process) against our
own model and against ``PIPELINE.generate``; state mounting for RWKV-7 and RWKV-6; error messages; CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rwkv_simple_gui.chat import ChatError, ChatWorker, SamplingParams, available_strategies, build_prompt
from rwkv_simple_gui.chat.prompt import StopScanner
from rwkv_simple_gui.chat.worker import token_bytes, undecodable_mask
from rwkv_simple_gui.data.tokenizer import get_tokenizer
from rwkv_simple_gui.model import load_model, save_model
from tests.conftest import tiny_state_dict

GREEDY = {"temperature": 0, "presence_penalty": 0, "frequency_penalty": 0, "max_tokens": 8}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("chat")
    out = {}
    for version in ("x070", "x060"):
        sd = tiny_state_dict(version, seed=21)
        save_model(sd, root / f"{version}.pth", dtype=torch.float32)
        gen = torch.Generator().manual_seed(22)
        states = {f"blocks.{i}.att.time_state": torch.randn(2, 32, 32, generator=gen) * 0.5 for i in range(2)}
        torch.save(states, root / f"{version}-state.pth")
        out[version], out[f"{version}-state"] = root / f"{version}.pth", root / f"{version}-state.pth"
    return out


@pytest.fixture(scope="module")
def worker(files):
    with ChatWorker(files["x070"], "cpu fp32") as w:
        yield w


def _our_logits(path: Path, text: str, state_path: Path | None = None) -> np.ndarray:
    """Our model's next-token logits; with a state file, every layer starts from its time_state."""
    model = load_model(path)
    if state_path is not None:
        for key, value in torch.load(state_path, weights_only=True).items():
            model.get_submodule(key.rsplit(".", 1)[0]).time_state = torch.nn.Parameter(value)
    tokens = torch.tensor([get_tokenizer("world").encode(text)])
    with torch.no_grad():
        return model(tokens)[0][0, -1].numpy()


# ------------------------------------------------------------------------------------------------
# prompt and stop handling
# ------------------------------------------------------------------------------------------------

def test_prompt_format_with_history():
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi\r\n\r\nthere "},
               {"role": "assistant", "content": "Hello!"}]
    assert build_prompt(history, "Why?") == ("System: Be brief.\n\nUser: Hi\nthere\n\nAssistant: Hello!\n\n"
                                             "User: Why?\n\nAssistant:")
    with pytest.raises(ValueError, match="unknown chat role 'bot'"):
        build_prompt([{"role": "bot", "content": "x"}], "y")


def test_stop_scanner_holds_back_what_may_become_the_stop():
    scanner = StopScanner()
    shown = [scanner.feed(piece) for piece in (" Yes", ", sure", "\n", "\nUs", "er:", " more")]
    assert shown == ["Yes", ", sure", "", "", "", ""]
    assert scanner.stopped and "".join(shown) + scanner.finish() == "Yes, sure"
    scanner = StopScanner()
    shown = [scanner.feed(piece) for piece in ("A", "\n\nU", "nder")]
    assert "".join(shown) + scanner.finish() == "A\n\nUnder"
    assert not scanner.stopped


def test_sampling_params_are_checked():
    assert SamplingParams.from_mapping({"top_p": 0.5, "seed": None}).top_p == 0.5
    with pytest.raises(ValueError, match="unknown sampling setting"):
        SamplingParams.from_mapping({"alpha_presence": 1})
    with pytest.raises(ValueError, match="top_p must be between 0 and 1"):
        SamplingParams.from_mapping({"top_p": 2})


def test_strategies_offered_match_the_machine():
    expected = ["cpu fp32", "cpu bf16"] + (["cuda fp16", "cuda bf16"] if torch.cuda.is_available() else [])
    assert available_strategies() == expected


# ------------------------------------------------------------------------------------------------
# errors found before a worker starts
# ------------------------------------------------------------------------------------------------

def test_bad_inputs_give_clear_messages(files, tmp_path):
    with pytest.raises(ChatError, match="does not exist"):
        ChatWorker(tmp_path / "missing.pth")
    torch.save({"blocks.0.att.key.lora_A": torch.zeros(2, 4)}, tmp_path / "rwkv-1.pth")
    with pytest.raises(ChatError, match="training checkpoint .* merge it into its base model first"):
        ChatWorker(tmp_path / "rwkv-1.pth")
    with pytest.raises(ChatError, match="is a state file .*: pick the base model"):
        ChatWorker(files["x070-state"])
    torch.save({"emb.weight": torch.zeros(4, 4), "blocks.0.att.time_decay": torch.zeros(4)}, tmp_path / "v5.pth")
    with pytest.raises(ChatError, match="RWKV-4/5 model .* only RWKV-7 .* and RWKV-6 .* are supported"):
        ChatWorker(tmp_path / "v5.pth")
    (tmp_path / "text.pth").write_text("not a model")
    with pytest.raises(ChatError, match="not an RWKV model"):
        ChatWorker(tmp_path / "text.pth")
    (tmp_path / "m.st").write_bytes(b"")
    with pytest.raises(ChatError, match=r"\.pth files only"):
        ChatWorker(tmp_path / "m.st")
    torch.save({f"blocks.{i}.att.time_state": torch.zeros(1, 64, 64) for i in range(2)}, tmp_path / "s.pth")
    with pytest.raises(ChatError, match=r"time_state is \[1, 64, 64\], this x070 model needs \[2, 32, 32\]"):
        ChatWorker(files["x070"], state_path=tmp_path / "s.pth")
    torch.save({"blocks.0.att.time_state": torch.zeros(2, 32, 32)}, tmp_path / "s1.pth")
    with pytest.raises(ChatError, match="states for 1 layers, the model has 2"):
        ChatWorker(files["x070"], state_path=tmp_path / "s1.pth")
    with pytest.raises(ChatError, match="strategy 'cpu fp32i8' is not valid"):
        ChatWorker(files["x070"], "cpu fp32i8")
    if not torch.cuda.is_available():
        with pytest.raises(ChatError, match="needs a CUDA GPU"):
            ChatWorker(files["x070"], "cuda fp16")


# ------------------------------------------------------------------------------------------------
# the worker
# ------------------------------------------------------------------------------------------------

def test_worker_logits_equal_our_model(worker, files):
    text = build_prompt([], "What is RWKV?")
    np.testing.assert_allclose(worker.logits(text), _our_logits(files["x070"], text), rtol=0, atol=1e-4)


def test_greedy_answer_equals_our_models_argmax(worker, files):
    tok = get_tokenizer("world")
    model = load_model(files["x070"])
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    tokens = tok.encode(build_prompt(history, "Tell me more"))
    generated = []
    with torch.no_grad():
        for _ in range(GREEDY["max_tokens"]):
            nxt = int(model(torch.tensor([tokens + generated]))[0][0, -1].argmax())
            if nxt == 0:
                break
            generated.append(nxt)
    # an unfinished UTF-8 character at the very end is not shown
    expected = tok.decode(generated).split("\n\nUser:")[0].rstrip("\ufffd").strip()
    deltas = list(worker.generate(history, "Tell me more", GREEDY))
    assert "".join(deltas) == expected and expected


def test_sampling_equals_pipeline_generate(worker, files):
    """Same seed, same settings: the worker's stream and the package's own PIPELINE.generate agree."""
    params = {"temperature": 1.3, "top_p": 0.9, "top_k": 50, "presence_penalty": 0.4, "frequency_penalty": 0.6,
              "penalty_decay": 0.98, "max_tokens": 16, "seed": 7}
    prompt = build_prompt([], "Write a poem")
    script = r"""
import json, sys, numpy as np, torch
from rwkv.model import RWKV
from rwkv.utils import PIPELINE, PIPELINE_ARGS
path, prompt, p = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
pipeline = PIPELINE(RWKV(model=path[:-4], strategy="cpu fp32"), "rwkv_vocab_v20230424")
np.random.seed(p["seed"]); torch.manual_seed(p["seed"])
args = PIPELINE_ARGS(temperature=p["temperature"], top_p=p["top_p"], top_k=p["top_k"],
                     alpha_presence=p["presence_penalty"], alpha_frequency=p["frequency_penalty"],
                     alpha_decay=p["penalty_decay"], token_stop=[0],
                     token_ban=[i for i in range(65536) if i and i not in pipeline.tokenizer.idx2token])
print("RESULT" + json.dumps(pipeline.generate(prompt, token_count=p["max_tokens"], args=args)))
"""
    done = subprocess.run([sys.executable, "-c", script, str(files["x070"]), prompt, json.dumps(params)],
                          env={**os.environ, "RWKV_V7_ON": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = json.loads(done.stdout.split("RESULT", 1)[1])
    assert "\n\nUser:" not in expected and len(expected) > 10  # a stop would rightly end the worker earlier
    ours = worker.reply([], "Write a poem", params)
    # PIPELINE.generate stops showing text at a byte that never completes a character (it keeps sampling
    # the same tokens); the worker shows it as U+FFFD and goes on
    assert ours == expected.strip() or (ours.startswith(expected.rstrip()) and "\ufffd" in ours[len(expected):])


def _world_trie():
    import rwkv
    from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

    return TRIE_TOKENIZER(str(Path(rwkv.__file__).parent / "rwkv_vocab_v20230424.txt"))


def test_only_ids_the_vocabulary_decodes_can_be_sampled():
    trie = _world_trie()
    banned = undecodable_mask(trie, 65536)
    assert banned.nonzero().flatten().tolist() == list(range(65530, 65536))  # World ids are 1..65529
    assert not banned[0]  # the end of the text stays possible
    assert token_bytes(trie, 65533) == b""
    text = "Hello 你好 🙂"
    assert b"".join(token_bytes(trie, i) for i in trie.encode(text)) == text.encode()


def test_a_model_that_prefers_undecodable_ids_still_answers(files, tmp_path):
    """The ids above the vocabulary are the most likely ones here: without the restriction the first
    sampled token is one of them and decoding it fails (KeyError: 65533)."""
    sd = torch.load(files["x070"], weights_only=True)
    sd["ln_out.weight"].zero_()  # the last hidden state is ln_out.bias whatever the text ...
    sd["ln_out.bias"].fill_(1.0)
    sd["head.weight"][65530:] = 1.0  # ... and it points at the ids the vocabulary lacks
    save_model(sd, tmp_path / "wide.pth")
    with ChatWorker(tmp_path / "wide.pth") as w:
        assert int(np.argmax(w.logits(build_prompt([], "Hi")))) >= 65530
        for seed in range(3):
            assert w.reply([], "Hi", {"temperature": 1.0, "top_p": 1.0, "max_tokens": 20, "seed": seed})


def test_the_demo_base_at_high_temperature_never_fails(tmp_path):
    from rwkv_simple_gui.demo import make_demo_model

    with ChatWorker(make_demo_model(tmp_path / "demo.pth")) as w:
        prompts = ["你好", "Hello!", "What is 7 times 8?", "写一首诗", "🙂", "def f(x):", "1 + 1 =", "Why?",
                   "用 emoji 表示下雨天", "Tell me a story"]
        shown = 0
        for seed, prompt in enumerate(prompts):
            params = {"temperature": 2.0, "top_p": 1.0, "presence_penalty": 0, "frequency_penalty": 0,
                      "max_tokens": 50, "seed": seed}
            shown += len(w.reply([], prompt, params))
        assert shown > 300


def test_closing_a_stream_early_leaves_the_worker_usable(worker):
    stream = worker.generate([], "Hello", {**GREEDY, "max_tokens": 50})
    next(stream)
    stream.close()
    assert worker.reply([], "Hello", GREEDY) == worker.reply([], "Hello", GREEDY)


@pytest.mark.parametrize("version", ["x070", "x060"])
def test_mounted_state_matches_our_model_with_that_state(files, version):
    """RWKV-7 mounts the [H, value, key] state as-is, RWKV-6 transposed; both must equal our model
    started from the same time_state."""
    text = build_prompt([], "Who are you?")
    with ChatWorker(files[version], "cpu fp32", files[f"{version}-state"]) as w:
        mounted = w.logits(text)
    ours = _our_logits(files[version], text, files[f"{version}-state"])
    assert np.abs(ours - _our_logits(files[version], text)).max() > 1e-2  # the state matters
    np.testing.assert_allclose(mounted, ours, rtol=0, atol=1e-4)


def test_a_model_the_package_cannot_load_is_reported(files, tmp_path):
    sd = torch.load(files["x070"], weights_only=True)
    del sd["blocks.0.ln0.weight"]
    save_model(sd, tmp_path / "no-ln0.pth")
    with pytest.raises(ChatError, match="rwkv package could not load .*no-ln0.pth.*ln0"):
        ChatWorker(tmp_path / "no-ln0.pth")


def test_a_dead_worker_is_reported(files):
    w = ChatWorker(files["x070"])
    w._process.kill()
    with pytest.raises(ChatError, match="chat worker stopped"):
        w.reply([], "Hi", GREEDY)
    w.close()


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------

def _cli(capsys, monkeypatch, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """``python -m rwkv_simple_gui chat ...`` in this process (the worker is still its own process)."""
    from rwkv_simple_gui.__main__ import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["chat", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_answers_one_prompt(worker, files, capsys, monkeypatch):
    code, out, err = _cli(capsys, monkeypatch, "--model", str(files["x070"]), "--prompt", "Tell me more",
                          "--temperature", "0", "--presence-penalty", "0", "--frequency-penalty", "0",
                          "--max-tokens", "8")
    assert code == 0, err
    assert out.strip() == worker.reply([], "Tell me more", GREEDY) != ""


def test_cli_interactive_loop_keeps_history_until_reset(worker, files, capsys, monkeypatch):
    greedy = ("--temperature", "0", "--presence-penalty", "0", "--frequency-penalty", "0", "--max-tokens", "6")
    code, out, err = _cli(capsys, monkeypatch, "--model", str(files["x070"]), *greedy,
                          stdin="Hi\nAnd then?\n/reset\nAnd then?\n/exit\n")
    assert code == 0, err
    answers = [line.split("Assistant: ", 1)[1] for line in out.split("User: ") if "Assistant: " in line]
    first = worker.reply([], "Hi", GREEDY | {"max_tokens": 6})
    with_history = worker.reply([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": first}],
                                "And then?", GREEDY | {"max_tokens": 6})
    fresh = worker.reply([], "And then?", GREEDY | {"max_tokens": 6})
    assert [a.strip() for a in answers] == [first, with_history, fresh]
    assert with_history != fresh  # the history really reached the model


def test_cli_reports_errors(files, tmp_path, capsys, monkeypatch):
    code, _, err = _cli(capsys, monkeypatch, "--model", str(tmp_path / "nope.pth"), "--prompt", "hi")
    assert code == 2 and "nope.pth does not exist" in err
    code, _, err = _cli(capsys, monkeypatch, "--model", str(files["x070"]), "--prompt", "hi", "--top-p", "3")
    assert code == 2 and "top_p must be between 0 and 1" in err


def test_a_state_of_another_base_is_refused_before_the_model_in_use_is_let_go(files, project):
    """The state file carries its base's fingerprint; Chat refuses it on another model of the same shape
    (unless forced), and checks that before it unloads the model in use."""
    import gradio as gr

    from rwkv_simple_gui.merge import merge
    from rwkv_simple_gui.ui import chat_tab

    (project / "model").mkdir()
    tuned_on = project / "model" / "a.pth"
    tuned_on.write_bytes(files["x070"].read_bytes())
    save_model(tiny_state_dict("x070", seed=5), project / "model" / "b.pth", dtype=torch.float32)
    run = project / "output" / "state-run"
    run.mkdir(parents=True)
    (run / "rwkv-1.pth").write_bytes(files["x070-state"].read_bytes())
    state = merge(tuned_on, run / "rwkv-1.pth", "s.pth").outputs[0]
    assert state == project / "merge" / "s.pth"
    with pytest.raises(ChatError, match="state file s.pth was tuned on a.pth .*not on b.pth"):
        ChatWorker(project / "model" / "b.pth", state_path=state)

    assert "loaded" in chat_tab.load("main", "model/a.pth", "cpu fp32")
    in_use = chat_tab._workers["main"]
    try:
        with pytest.raises(gr.Error, match="tuned on a.pth.*tick “use the state anyway”"):
            chat_tab.load("main", "model/b.pth", "cpu fp32", "merge/s.pth")
        assert chat_tab._workers["main"] is in_use and in_use.logits("Hi").shape == (65536,)
        assert "with state `merge/s.pth` loaded" in chat_tab.load("main", "model/b.pth", "cpu fp32", "merge/s.pth",
                                                                   force_state=True)
    finally:
        chat_tab.unload("main")
