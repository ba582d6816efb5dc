"""The one chat template (data/template.py) on real files: every documented example, the golden conversations
(OpenAI and ShareGPT: system prompts, reasoning, several turns, tool calls and results) through the real tokenize
pipeline, the role-aware qa mask on real World tokens, the chat prompts of each think mode, the stop strings, and
the token view (CLI and Data tab)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from rwkv_simple_gui.chat.prompt import StopScanner
from rwkv_simple_gui.chat.session import fitted, names_subject, windowed
from rwkv_simple_gui.data import formats, template
from rwkv_simple_gui.data.binidx import read_binidx
from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.data.template import ToolCall, Turn
from rwkv_simple_gui.data.tokenizer import get_tokenizer
from rwkv_simple_gui.train.data import MaskBuilder
from tests.conftest import REPO_ROOT, run_cli

GOLDEN = Path(__file__).parents[1] / "golden"
DOC = REPO_ROOT / "docs" / "chat-template.md"
CUT = re.compile(r"^-----8<----- line (\d+)\n", re.M)
# fields of the golden files the text has no place for: named, never silently dropped
GOLDEN_UNUSED = {"openai": {"id": 1, "messages[].tool_calls[].id": 1, "messages[].tool_call_id": 1}, "sharegpt": {}}


def golden(name: str) -> dict[int, str]:
    """line -> text of a golden file (records cut by "-----8<----- line N")."""
    parts = CUT.split(GOLDEN.joinpath(name).read_text(encoding="utf-8"))[1:]
    return {int(line): text.removesuffix("\n") for line, text in zip(parts[::2], parts[1::2])}


def doc_examples() -> list[tuple[dict, str]]:
    """Each ```json record of docs/chat-template.md with the ```text block that follows it."""
    blocks = re.findall(r"```(json|text)\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    pairs = [(json.loads(a[1]), b[1]) for a, b in zip(blocks, blocks[1:]) if a[0] == "json" and b[0] == "text"]
    assert len(pairs) == 7
    return pairs


def learned_text(text: str, kind: str = "qa") -> str:
    tok = get_tokenizer("world")
    doc = np.array(tok.encode(text) + [0])
    weights = MaskBuilder(kind).target_weights(doc)
    return tok.decode(doc[1:][weights > 0])


@pytest.mark.parametrize("n", range(7))
def test_every_documented_example_renders_as_shown(n):
    record, text = doc_examples()[n]
    assert formats.normalise_record(record, formats.schema_of(record)).text == text


def test_the_documented_learned_part_is_what_the_qa_mask_learns():
    tools_example = doc_examples()[4][1]
    shown = re.search(r"decode to .*?\n\n```\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    assert learned_text(tools_example) == shown.replace("\\n", "\n").replace("⟨end of text⟩", "")


@pytest.mark.parametrize("name", ["openai", "sharegpt"])
def test_golden_conversations_tokenize_with_no_record_refused_and_no_field_dropped(name, tmp_path):
    src = GOLDEN / f"g1-conversations.{name}.jsonl"
    result = tokenize_file(src, tmp_path / name, skip_bad=False)
    expected = golden(f"g1-conversations.{name}.txt")
    assert result.skipped_bad == 0 and result.documents == len(expected) == len(src.read_text().splitlines())
    assert result.unused == GOLDEN_UNUSED[name]
    # every decoded document is its documented rendering (the items are shuffled: compare as sets)
    tok = get_tokenizer("world")
    items = read_binidx(tmp_path / name)
    decoded = sorted(tok.decode(items[i][:-1]) for i in range(len(items)))
    assert decoded == sorted(expected.values())
    assert all(items[i][-1] == 0 for i in range(len(items)))


@pytest.mark.parametrize("name", ["openai", "sharegpt"])
def test_learned_positions_decode_to_exactly_the_reasoning_and_assistant_parts(name):
    rendered, learned = golden(f"g1-conversations.{name}.txt"), golden(f"g1-conversations.{name}.learned.txt")
    records = {r.line: r for r in formats.read_records(GOLDEN / f"g1-conversations.{name}.jsonl")}
    for line, text in rendered.items():
        assert learned_text(text) == learned[line]
        # built from the conversation's own parts: each Assistant turn, with the blank line closing it
        replies = ["Assistant: " + template.render_reply(t) for t in records[line].conversation
                   if t.role == "assistant"]
        closing = "\n\n" if records[line].conversation[-1].role != "assistant" else ""
        assert learned[line] == "\n\n".join(replies) + closing
    every = "\n".join(learned.values())
    for word in ("System", "User:", "Tools:", "height_m", "Corporal Fenn\"", "archivist", "Who", "?"):
        assert word not in every  # system prompts, questions and tool results are never learned
    if name == "openai":
        assert "<think>\nI need both the tide table" in every and '{"name": "bell_log"' in every


def test_qa_mask_headers_count_only_at_a_turn_start():
    text = ("User: Quote the form.\n\nAssistant: It reads:\nUser: Osric\nAssistant: yes\n\nSystem: Be brief.\n\n"
            "User: Again?\n\nAssistant: Done.")
    # "User:" inside a reply (no blank line before it) stays learned; a System turn mid-way is not learned
    assert learned_text(text) == "Assistant: It reads:\nUser: Osric\nAssistant: yes\n\nAssistant: Done."
    # nothing to learn under qa (no turns, no Assistant turn): the document is learned whole, not ignored
    for text in ("just prose, no turns", "User: only a question"):
        assert MaskBuilder("qa").target_weights(np.array(get_tokenizer("world").encode(text))) is None


def test_one_format_per_file_names_the_other_format(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"text": "User: a\n\nAssistant: b"}) + "\n" +
                    json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n", encoding="utf-8")
    bad = [r for r in formats.read_records(path) if isinstance(r, formats.BadRecord)]
    assert [(b.line, b.reason.split(";")[0]) for b in bad] == [
        (2, "one format per file: this record is an OpenAI messages record, but the file's first record is a text "
            'record ({"text": ...})')]
    with pytest.raises(formats.DatasetError, match=r"mixed.jsonl, line 2: one format per file"):
        tokenize_file(path, tmp_path / "mixed")


def test_unused_fields_are_counted_and_named(tmp_path, project):
    path = project / "data" / "extra.jsonl"
    rows = [{"id": i, "text": f"User: q{i}\n\nAssistant: a{i}", "source": "forum" if i else None} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = formats.inspect(path)
    assert report.unused == {"id": 3, "source": 2} and report.bad_count == 0
    out = run_cli(project, "tokenize", "data/extra.jsonl", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["unused"] == {"id": 3, "source": 2}
    text = run_cli(project, "tokenize", "data/extra.jsonl").stdout
    assert "### unused = fields not in the training text: id (3 records), source (2 records)" in text


def test_reasoning_given_twice_or_unclosed_is_a_bad_record_that_says_so(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": "q"}, reply]}) + "\n" for reply in [
        {"role": "assistant", "reasoning_content": "r", "content": "<think>x</think>a"},
        {"role": "assistant", "content": "<think>never closed"},
    ]), encoding="utf-8")
    reasons = [r.reason for r in formats.read_records(path)]
    assert "reasoning twice" in reasons[0] and "never closed with </think>" in reasons[1]


def test_each_think_mode_prompt_is_a_token_prefix_of_the_trained_reply():
    tok = get_tokenizer("world")
    for reasoning, think in ((None, "off"), ("", "short"), ("Ask the archive.", "full")):
        trained = template.render([Turn("user", "Who keeps the keys?"),
                                   Turn("assistant", "Brother Aldo.", reasoning)])
        prompt = template.chat_prompt([], "Who keeps the keys?", think=think)
        assert trained.startswith(prompt)
        assert tok.encode(trained)[:len(tok.encode(prompt))] == tok.encode(prompt)
    assert template.chat_prompt([], "Why?", system="Be brief.", think="full", think_length="think a lot") == \
        "System: Be brief.\n\nUser: Why? (think a lot)\n\nAssistant: <think"
    with pytest.raises(ValueError, match="think length"):
        template.chat_prompt([], "Why?", think="full", think_length="think hard")


def test_a_reply_reads_back_into_reasoning_answer_and_calls():
    turn = Turn("assistant", "Let me check.", "Need the roster.", (ToolCall("gate_roster", {"night": "now"}),))
    reply = template.parse_reply(template.render_reply(turn))
    assert (reply.reasoning, reply.answer, reply.calls, reply.finished_thinking) == \
        ("Need the roster.", "Let me check.", turn.calls, True)
    cut = template.parse_reply("<think>\nstill thinking")
    assert (cut.reasoning, cut.answer, cut.finished_thinking) == ("still thinking", "", False)
    assert template.parse_reply('Say {"name": "x"} to it.').calls == ()  # JSON inside prose is not a call


def test_generation_stops_at_every_role_header():
    # regression: only "\n\nUser:" stopped a reply, which then ran on into a made-up "\n\nAssistant:" turn
    for header in ("\n\nAssistant:", "\n\nSystem:", "\n\nUser:"):
        scanner = StopScanner()
        shown = "".join(scanner.feed(piece) for piece in (" Teal", ".", header[:3], header[3:], " more"))
        assert scanner.stopped and shown + scanner.finish() == "Teal."


def test_the_history_window_keeps_the_last_questions_and_the_system_turns():
    history = [{"role": "system", "content": "S"}, {"role": "user", "content": "q1"},
               {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"},
               {"role": "assistant", "content": "<think>r</think>a2"}]
    assert [t.content for t in windowed(history, 0)] == ["S"]
    kept = windowed(history, 1)
    assert [(t.role, t.content, t.reasoning) for t in kept] == [("system", "S", None), ("user", "q2", None),
                                                               ("assistant", "a2", "r")]
    assert len(windowed(history, None)) == len(windowed(history, 5)) == 5


@pytest.mark.parametrize("question", [
    "Who founded Leyfen?", "What is the hill above Stanfen called?", "How far is Edley from Port Quill?",
    "Leyfen 是谁建立的？", "哪艘渡船开往 Leyfen？", "What does the API return?", 'And "Pro"?', "Wer gründete Leyfen?"])
def test_a_question_that_names_its_subject_is_not_a_follow_up(question):
    assert names_subject(question)


@pytest.mark.parametrize("question", [
    "How many rooms does it have?", "Since when?", "How often does it sail?", "Can I book it?", "它有几间客房？",
    "从什么时候开始？", "Where do I start? Is it far?", "What was I told?", "¿Cuándo?"])
def test_a_follow_up_names_nothing_of_its_own(question):
    assert not names_subject(question)


def test_the_fitted_history_keeps_the_window_only_before_a_follow_up():
    history = [{"role": "system", "content": "S"}, {"role": "user", "content": "Who runs the inn at Leyfen?"},
               {"role": "assistant", "content": "Orla Finch runs the inn at Leyfen."}]
    follow_up = fitted(history, "How many rooms does it have?", 1)
    assert [t.content for t in follow_up] == [m["content"] for m in history]
    assert [t.content for t in fitted(history, "Who founded Edley?", 1)] == ["S"]
    assert [t.content for t in fitted(history, "How many rooms does it have?", 0)] == ["S"]
    assert len(fitted(history, "Who founded Edley?", None)) == 3  # no note: the whole conversation


def test_token_view_on_the_command_line(project):
    golden_file = project / "data" / "conversations.jsonl"
    golden_file.write_text((GOLDEN / "g1-conversations.openai.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    out = run_cli(project, "tokens", "data/conversations.jsonl", "--line", "5", "--json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    tok = get_tokenizer("world")
    learned = tok.decode([item["id"] for item in view["items"] if item["learned"]])
    assert learned == golden("g1-conversations.openai.learned.txt")[5]
    assert view["learned"] == sum(item["learned"] for item in view["items"]) < view["tokens"]
    assert {item["role"] for item in view["items"]} == {"System", "User", "Assistant"}
    text = run_cli(project, "tokens", "data/conversations.jsonl", "--line", "7").stdout
    assert "↵\n│⟦Ass│istant│:│ Maps│ of│ the│ old│ coast│.│⟨eot⟩│⟧" in text
    assert re.search(r"\n10 of 21 tokens learned under loss_mask qa, 11 not learned$", text.rstrip()), text
    every = run_cli(project, "tokens", "data/conversations.jsonl", "--line", "7", "--loss-mask", "none", "--json")
    items = json.loads(every.stdout)["items"]
    assert [i["learned"] for i in items] == [False] + [True] * (len(items) - 1)
    missing = run_cli(project, "tokens", "data/conversations.jsonl", "--line", "40")
    assert missing.returncode == 1 and "line 40: no record on this line" in missing.stderr


def test_token_view_in_the_data_tab(project):
    from rwkv_simple_gui.ui import data_tab

    counts, shown = data_tab.show_tokens("data/sample.jsonl", 8, "qa")
    assert counts.startswith("**Line 8:** 19 of 43 tokens learned under loss_mask qa, 24 not learned")
    assert shown.count('class="tok tok-learned"') == 19 and shown.count('class="tok tok-ignored"') == 24
    assert '<span class="tok tok-ignored" title="id 40812 · System">System</span>' in shown
    se_counts, _ = data_tab.show_tokens("data/sample.jsonl", 8, "se", "User:", "Assistant:")
    assert "under loss_mask se" in se_counts


def test_the_chat_tab_shows_a_tool_call_as_a_call_and_reads_it_back():
    from rwkv_simple_gui.ui import chat_tab

    turn = Turn("assistant", "Looking.", "Need the tide.", (ToolCall("tide_table", {"date": "3 Emberfall"}),))
    shown = chat_tab.shown_reply(template.parse_reply(template.render_reply(turn)))
    assert [m.get("metadata", {}).get("title") for m in shown] == [chat_tab.THINK_TITLE, None, "🛠 tide_table"]
    assert shown[2]["content"] == '```json\n{\n "date": "3 Emberfall"\n}\n```'
    history = [{"role": "user", "content": "Tide?"}, *shown]
    assert chat_tab.conversation(history) == [Turn("user", "Tide?"), turn]
    # Gradio hands the history back as typed blocks: the same turns
    blocks = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in history]
    assert chat_tab.conversation(blocks) == [Turn("user", "Tide?"), turn]
