"""The interface text catalogues: every key in both languages, every option translated, every key the tabs
ask for defined."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.ui import i18n, messages
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
    PACKAGE / "train" / "validate.py", PACKAGE / "train" / "prepare.py", PACKAGE / "estimate.py",
    PACKAGE / "demo.py"]
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
