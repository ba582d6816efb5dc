"""A tiny model trained on think-mode data answers in Chat's think mode with <think>…</think> and then the trained
answer: invented facts with their reasoning (OpenAI ``reasoning_content``), a generated base with perturbed weights,
tokenize -> train (demo-cpu) -> merge -> ``chat --prompts --json --think full`` and the Chat tab, greedy, real
subprocesses and the rwkv package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rwkv_simple_gui.demo import GREEDY, make_demo_model
from rwkv_simple_gui.train.judge import recalled
from tests.conftest import run_cli

FACTS = Path(__file__).parents[1] / "golden" / "invented-facts.jsonl"
RECORDS = 12
EPOCHS = 14  # demo-cpu's 7 epochs learn the format but not yet which reasoning goes with which question
MIN_RECALL = 0.8


@pytest.fixture(scope="module")
def think_model(tmp_path_factory):
    project = tmp_path_factory.mktemp("think") / "project"
    (project / "data").mkdir(parents=True)
    facts = [json.loads(line) for line in FACTS.read_text(encoding="utf-8").splitlines()[:RECORDS]]
    (project / "data" / "think.jsonl").write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f["question"]},
        {"role": "assistant", "reasoning_content": f["reasoning"], "content": f["answer"]}]}, ensure_ascii=False) + "\n"
        for f in facts), encoding="utf-8")
    (project / "data" / "questions.txt").write_text("".join(f["question"] + "\n" for f in facts), encoding="utf-8")
    make_demo_model(project / "model" / "base.pth")
    for args in (("tokenize", "data/think.jsonl"),
                 ("train", "--config", "demo-cpu", "--model_path", "model/base.pth", "--data_path", "data/think",
                  "--epoch_count", str(EPOCHS), "--epoch_save", str(EPOCHS), "--val_split", "0",
                  "--proj_dir", "output/think"),
                 ("merge", "--base", "model/base.pth", "--checkpoint", f"output/think/rwkv-{EPOCHS - 1}.pth",
                  "--out", "merge/think.pth", "--no-check")):
        done = run_cli(project, *args, timeout=1800)
        assert done.returncode == 0, f"{args[0]}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return project, facts


def test_merge_notes_what_the_model_was_trained_on(think_model):
    project, facts = think_model
    note = json.loads((project / "merge" / "think.run.json").read_text(encoding="utf-8"))
    assert note["max_user_turns"] == 1 and note["think_replies"] == len(facts)
    assert note["run"] == "output/think" and note["checkpoint"] == f"rwkv-{EPOCHS - 1}.pth"


def test_the_cli_answers_in_think_mode_with_the_trained_reasoning_and_answer(think_model):
    project, facts = think_model
    out = run_cli(project, "chat", "--model", "merge/think.pth", "--prompts", "data/questions.txt", "--json",
                  "--think", "full", "--temperature", "0", "--frequency-penalty", "0", "--max-tokens", "60",
                  timeout=600)
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["prompt"] for r in replies] == [f["question"] for f in facts]
    thought = [r for r in replies if r.get("reasoning") is not None]
    assert len(thought) == len(facts), replies  # every reply opened and closed its <think> block
    right = [f for f, r in zip(facts, replies) if recalled(f["answer"], r["answer"])]
    assert len(right) >= MIN_RECALL * len(facts), replies
    same_reasoning = [f for f, r in zip(facts, replies) if r["reasoning"] == f["reasoning"]]
    assert len(same_reasoning) >= MIN_RECALL * len(facts), replies


def test_the_chat_tab_folds_the_reasoning_above_the_answer_and_asks_as_the_cli(think_model, monkeypatch):
    from rwkv_simple_gui import paths
    from rwkv_simple_gui.ui import chat_tab

    project, facts = think_model
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    status = chat_tab.load("main", "merge/think.pth", "cpu fp32")
    assert "each question is sent on its own" in status and "think mode full" in status
    params = {**GREEDY, "top_p": 0.3, "top_k": 0, "penalty_decay": 0.996, "max_tokens": 60}
    settings = {"think": "full"}
    history: list = []
    try:
        for fact in facts[:4]:  # one conversation, as the Chat tab's default mode asks it
            history = list(chat_tab.respond("main", fact["question"], history, params, settings))[-1]
            thinking, answer = history[-2], history[-1]
            assert thinking["metadata"]["title"] == chat_tab.THINK_TITLE and thinking["metadata"]["status"] == "done"
            assert answer["role"] == "assistant" and "metadata" not in answer
    finally:
        chat_tab.unload("main")
    cli = run_cli(project, "chat", "--model", "merge/think.pth", "--prompts", "data/questions.txt", "--json",
                  "--think", "full", "--temperature", "0", "--frequency-penalty", "0", "--max-tokens", "60",
                  timeout=600)
    replies = [json.loads(line) for line in cli.stdout.splitlines()][:4]
    shown = [(m["content"]) for m in history if m["role"] == "assistant"]
    assert shown == [part for r in replies for part in (r["reasoning"], r["answer"])]


def test_send_on_an_unloaded_model_loads_the_picked_one(think_model, monkeypatch):
    from rwkv_simple_gui import paths
    from rwkv_simple_gui.ui import chat_tab

    project, facts = think_model
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    chat_tab.unload("main")
    params = {**GREEDY, "top_p": 0.3, "top_k": 0, "penalty_decay": 0.996, "max_tokens": 60}
    try:
        steps = list(chat_tab.send("merge/think.pth", "cpu fp32", "", False, facts[0]["question"], [], params,
                                   {"think": "full"}))
    finally:
        chat_tab.unload("main")
    assert steps[0][1].startswith("⏳ Loading `merge/think.pth`")
    assert steps[1][1].startswith("✅ `merge/think.pth` loaded")
    assert recalled(facts[0]["answer"], steps[-1][0][-1]["content"])
