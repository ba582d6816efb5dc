"""The interface text catalogues: every key in both languages, every option translated, every key the tabs
ask for defined."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.ui import i18n, messages, messages_zh, params_tab
from rwkv_simple_gui.ui.messages import PLACEHOLDER
from rwkv_simple_gui.ui.i18n_options import ZH_OPTIONS

UI = Path(i18n.__file__).parent


def test_english_and_chinese_have_the_same_keys():
    assert set(i18n.EN) - set(i18n.ZH) == set() and set(i18n.ZH) - set(i18n.EN) == set()


def test_every_option_has_its_own_chinese_help():
    options = {f.name for f in TrainConfig.options()}
    assert set(ZH_OPTIONS) == options
    assert [n for n in options if i18n.ZH[f"opt.{n}.help"] == i18n.EN[f"opt.{n}.help"]] == []


def test_every_key_the_tabs_use_is_defined():
    used = {key for path in UI.glob("*.py") for key in re.findall(r'\bt\("([\w.]+)"\)', path.read_text())}
    assert used, "the scan found no t(...) calls"
    assert sorted(used - set(i18n.EN)) == []


# --- run-time messages (ui/messages.py) ------------------------------------------------------------

PACKAGE = UI.parent
MESSAGE_SOURCES = sorted(set(UI.glob("*_tab.py")) | {UI / "common.py", UI / "control.py", UI / "app.py"}) + [
    PACKAGE / "train" / "validate.py", PACKAGE / "train" / "prepare.py", PACKAGE / "train" / "budget.py",
    PACKAGE / "train" / "presets.py", PACKAGE / "train" / "judge.py", PACKAGE / "train" / "estimate.py",
    PACKAGE / "demo.py", PACKAGE / "paths.py"]
REPORTING_CALLS = {"Error", "Warning", "Info", "append", "extend"}
NOT_MESSAGES = {"python -m rwkv_simple_gui train"}  # a command line shown as such


def _template(node) -> str | None:
    """A string's template: an f-string's text with each ``{expression}`` as written (no format spec)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"
                       for v in node.values)
    return None


def _strings(node):
    """Every string under ``node``, f-strings whole (their parts and expressions are not strings of their own)."""
    text = _template(node)
    if text is not None:
        yield text
        return
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.Subscript, ast.keyword)):
            yield from _strings(child)


def _reported(tree):
    """The strings a user may read: raised, returned, appended to a list of problems, assigned to a message."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in REPORTING_CALLS or name.endswith("Error"):
                for arg in node.args:
                    yield from _strings(arg)
        elif isinstance(node, (ast.Return, ast.Assign, ast.AugAssign)) and node.value is not None:
            yield from _strings(node.value)


def message_templates() -> dict[str, str]:
    """``{segment: file}`` of every message line in the sources (what ``messages.translate`` matches)."""
    found = {}
    for path in MESSAGE_SOURCES:
        for text in _reported(ast.parse(path.read_text(encoding="utf-8"))):
            for line in text.split("\n"):
                body = line[messages.LINE_PREFIX.match(line).end():].strip()
                words = re.findall(r"[A-Za-z]{2,}", PLACEHOLDER.sub("", body))
                if len(words) >= 2 and " " in body and not body.startswith("<") and body not in NOT_MESSAGES:
                    found.setdefault(body, path.name)
    return found


def test_every_message_template_has_chinese():
    """A message added in English shows in English until its template gets a Chinese entry in
    ui/messages_zh.py: this lists the ones still missing."""
    templates = message_templates()
    assert len(templates) > 100, "the scan found too few messages"
    missing = [f"{file}: {text!r}" for text, file in templates.items() if not messages.known(text)]
    assert missing == [], "\n".join(missing)


CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_SENTENCE = re.compile(r"\b[A-Za-z][a-z']+(?:[ ,]+[A-Za-z][a-z']+){3,}")


def test_chinese_templates_keep_the_placeholders_of_the_english():
    for en, zh in messages_zh.ZH.items():
        assert sorted(PLACEHOLDER.findall(en)) == sorted(PLACEHOLDER.findall(zh)), en
        assert CJK.search(zh) or not re.search(r"[a-z]{3,} [a-z]{3,}", PLACEHOLDER.sub("", en)), en


def test_a_message_is_translated_line_by_line_with_its_parts():
    text = ("### ⚠️ Fix before training\n- model_path is empty: choose the base model .pth (a file in model/)\n"
            "- ctx_len=100 must be a multiple of 16 for the WKV kernels (try 112, the max_length the tokenizer printed)\n"
            "- a message nobody translated yet stays as it is")
    zh = messages.translate(text, "zh").split("\n")
    assert zh[0] == "### ⚠️ 训练前请修正" and zh[1].startswith("- model_path 为空")
    assert "ctx_len=100" in zh[2] and "112" in zh[2] and CJK.search(zh[2])
    assert zh[3] == "- a message nobody translated yet stays as it is"
    assert messages.translate(text, "en") == text
    # a value filled into a message is translated too
    assert messages.translate("Pick a dataset file first.", "zh") == "请先选择数据文件。"


def test_the_parameters_check_reads_in_chinese(project):
    """The check of a real form (demo model, sample tokenized, then a broken option) has no English sentence."""
    from rwkv_simple_gui.demo import ensure_demo_model
    from rwkv_simple_gui.ui import control, tokenize_tab

    ensure_demo_model()
    tokenize_tab.run_tokenize("data/sample.jsonl", 1, 0, True, 42, "world", False, "", 1024, progress=lambda *a, **k: None)
    values = params_tab.form_defaults()
    for form in (values, {**values, "ctx_len": 100, "warmup_steps": 10_000, "data_path": "data/nope"}):
        zh = messages.translate(control.check(form), "zh")
        english = [line for line in zh.split("\n") if ENGLISH_SENTENCE.search(PLACEHOLDER.sub("", line))]
        assert english == [], english
    assert "可以开始训练" in messages.translate(control.check(values), "zh")
