"""Chat's fitted history on a real model, the same in ``chat --prompts`` and the Chat tab: a model whose merge note
says it trained on two-question conversations is sent the question before a follow-up ("How many rooms does it
have?") and nothing before a question that names its subject ("Who founded Edley?"). A generated base with
perturbed weights (greedy answers differ with what is in front of the question), the note as merge writes it,
real subprocesses and the rwkv package."""

from __future__ import annotations

import json

import pytest

from rwkv_simple_gui.demo import GREEDY, make_demo_model
from tests.conftest import run_cli

QUESTIONS = ["Who runs the inn at Leyfen?", "How many rooms does it have?", "Who founded Edley?"]
FLAGS = ["--json", "--temperature", "0", "--presence-penalty", "0", "--frequency-penalty", "0", "--max-tokens", "12"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = tmp_path_factory.mktemp("fit") / "project"
    make_demo_model(project / "merge" / "inn.pth")
    (project / "merge" / "inn.run.json").write_text(json.dumps({"run": "output/inn", "max_user_turns": 2}),
                                                     encoding="utf-8")
    (project / "questions.txt").write_text("".join(q + "\n" for q in QUESTIONS), encoding="utf-8")
    return project


def answers(project, *history: str) -> list[str]:
    done = run_cli(project, "chat", "--model", "merge/inn.pth", "--prompts", "questions.txt", *FLAGS, *history,
                   timeout=600)
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["answer"] for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def fitted(project) -> list[str]:
    """The answers of ``chat --prompts`` with the default history (fit): both tests compare with them."""
    return answers(project)


def test_the_cli_keeps_the_earlier_question_only_before_a_follow_up(project, fitted):
    last_kept, alone = answers(project, "--history", "1"), answers(project, "--history", "0")
    # the history changes these answers, so the comparisons below tell which history was sent
    assert last_kept[1] != alone[1] and last_kept[2] != alone[2]
    assert fitted == [alone[0], last_kept[1], alone[2]]


def test_the_chat_tab_asks_as_the_cli(project, fitted, monkeypatch):
    from rwkv_simple_gui import paths
    from rwkv_simple_gui.ui import chat_tab

    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    status = chat_tab.load("main", "merge/inn.pth", "cpu fp32")
    assert "names its subject" in status and "sent on its own" in status
    params = {**GREEDY, "top_p": 0.3, "top_k": 0, "penalty_decay": 0.996, "max_tokens": 12}
    history: list = []
    try:
        for question in QUESTIONS:
            history = list(chat_tab.respond("main", question, history, params, {}))[-1]
    finally:
        chat_tab.unload("main")
    assert [m["content"] for m in history if m["role"] == "assistant"] == fitted
