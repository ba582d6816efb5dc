"""The token view in a real browser (headless Debian chromium, Playwright): the Data tab opens it on a record of a
conversation file with reasoning and tool calls, and shows each token in its box, learned ones green, with the
counts; in Chinese the counts read in Chinese. A screenshot goes to test-artifacts/<lang>/."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from rwkv_simple_gui.ui.i18n import LANGUAGES
from tests.browser.test_browser import ARTIFACTS, CHROMIUM, LOCALES, browser, open_tab  # noqa: F401 (browser: a fixture)
from tests.conftest import start_app, stop_app
from tests.data.test_template import GOLDEN, golden

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian chromium is not installed (tests/setup.sh installs it)")
LINE = 5  # the golden conversation with a system prompt, tools, reasoning, two tool calls and their results


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_data_tab_opens_the_token_view_on_a_record(project, browser, lang):  # noqa: F811
    from playwright.sync_api import expect

    shutil.copyfile(GOLDEN / "g1-conversations.openai.jsonl", project / "data" / "conversations.jsonl")
    # the dataset picked last time is the one the Data tab opens with (a page load would reset a typed one)
    (project / ".state").mkdir()
    (project / ".state" / "settings.json").write_text(json.dumps({"dataset": "data/conversations.jsonl"}))
    proc, port, _ = start_app(project)
    try:
        page = browser.new_page(locale=LOCALES[lang], viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        open_tab(page, lang, "tab.data")
        expect(page.get_by_label(LANGUAGES[lang]["common.file"])).to_have_value("data/conversations.jsonl",
                                                                                timeout=60_000)
        page.get_by_text(LANGUAGES[lang]["data.tokens"]).click()
        line = page.locator("#data-token-line input")
        line.fill(str(LINE))
        line.press("Enter")
        page.click("#data-token-show")
        page.locator("#data-tokens .tok").first.wait_for(timeout=60_000)
        learned = page.locator("#data-tokens .tok-learned").all_inner_texts()
        ignored = page.locator("#data-tokens .tok-ignored").all_inner_texts()
        shown = lambda texts: "".join(texts).replace("↵", "").replace("⟨eot⟩", "")  # noqa: E731
        assert shown(learned) == golden("g1-conversations.openai.learned.txt")[LINE]
        assert shown(ignored).startswith("System: Answer from the Keep's records.")
        counts = page.locator("#data-token-counts").inner_text()
        word = "个参与学习" if lang == "zh" else "tokens learned under loss_mask qa"
        assert word in counts and re.search(rf"\b{len(learned)}\b", counts)
        assert str(len(learned) + len(ignored)) in counts
        # boxes: a learned token is green, a not-learned one is not
        colour = page.locator("#data-tokens .tok-learned").first.evaluate("e => getComputedStyle(e).backgroundColor")
        other = page.locator("#data-tokens .tok-ignored").first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour != other and "22, 163, 74" in colour
        shots = ARTIFACTS / lang
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "token-view.png"), full_page=True)
    finally:
        stop_app(proc)
