"""A GUI that never misleads (issue 26), in a real browser (headless Debian chromium driven by Playwright), on a
first visit, in Chinese and in English: an error replaces the result it concerns, in the page's language, with no
toast and no "Error" badge; a button that starts a job is off while it runs (a second Merge click waits and is
not lost); Stop is on only while a job runs; the live log shows its newest line unless the reader scrolled up; the
Tokenize histogram fits the data and its ctx_len follows the Parameters form; the Data tab starts over on each
upload; table headers break between words only. Screenshots go to test-artifacts/gui/<lang>/."""

from __future__ import annotations

import contextlib
import json
import re
import shutil

import pytest

from rwkv_simple_gui.train import presets
from rwkv_simple_gui.ui.i18n import LANGUAGES
from rwkv_simple_gui.ui.messages import translate
from tests.browser.test_browser import CHROMIUM, LOCALES, browser, open_tab, said, set_option, wait_text  # noqa: F401
from tests.conftest import REPO_ROOT, run_cli, start_app, stop_app

ARTIFACTS = REPO_ROOT / "test-artifacts" / "gui"

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian chromium is not installed (tests/setup.sh installs it)")

# Every visible "Error" label (Gradio's badge on an output, a toast's title), in either language.
ERROR_LABELS_JS = """() => [...document.querySelectorAll('body *')]
  .filter(e => ['Error', '错误'].includes((e.textContent || '').trim()) && e.checkVisibility())
  .map(e => e.outerHTML.slice(0, 120))"""
# One-word table headers drawn on one line: a word broken inside draws two boxes.
BROKEN_HEADERS_JS = """(sel) => [...document.querySelectorAll(sel + ' th .header-content .header')]
  .filter(h => h.textContent.trim() && !/\\s/.test(h.textContent.trim()) && h.getClientRects().length > 1)
  .map(h => h.textContent)"""
LOG = "#train-log textarea"
LOG_AT_END_JS = f"""() => {{ const t = document.querySelector('{LOG}');
  return t.scrollHeight > t.clientHeight && t.scrollTop + t.clientHeight >= t.scrollHeight - 2; }}"""
LOG_LINES = f"document.querySelector('{LOG}').value.split('\\n').filter(l => l.trim()).length"
PLOT_JS = "() => document.querySelector('#tok-hist .js-plotly-plot')?._fullLayout"
# The histogram's x-axis end, its shapes (the ctx_len line) and its notes, once drawn with ``condition``.
AXIS_JS = """(condition) => { const l = document.querySelector('#tok-hist .js-plotly-plot')?._fullLayout;
  if (!l?.xaxis?.range) return null;
  const drawn = {end: l.xaxis.range[1], lines: l.shapes.length, notes: (l.annotations || []).map(a => a.text)};
  return new Function('d', 'return ' + condition)(drawn) ? drawn : null; }"""
ALPACA = [{"instruction": "Name a colour of the sky.", "output": "Blue."},
          {"instruction": "Name a fruit that is yellow.", "output": "A banana."},
          {"instruction": "Name a large animal.", "output": "An elephant."}]


class Shots:
    """Numbered full-page screenshots of one test in one language."""

    def __init__(self, page, lang: str, test: str):
        self.page, self.prefix, self.n = page, test, 0
        self.folder = ARTIFACTS / lang
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob(f"{test}-*.png"):  # an earlier run's, which may have had more steps
            old.unlink()

    def __call__(self, what: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.folder / f"{self.prefix}-{self.n:02d}-{what}.png"), full_page=True,
                             timeout=120_000)


@contextlib.contextmanager
def app_page(project, browser, lang: str, test: str):
    """The app on ``project`` in a new page in ``lang``, on its first visit, with the test's Shots; a screenshot
    where a step fails; the app stopped afterwards."""
    proc, port, _ = start_app(project)
    shot = None
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale=LOCALES[lang])
        shot = Shots(page, lang, test)
        page.goto(f"http://127.0.0.1:{port}/")
        wait_text(page, "#data-inspect", LANGUAGES[lang]["data.inspect"], 60)
        yield page, shot
    except Exception:
        if shot:
            shot("FAILED-here")
        raise
    finally:
        stop_app(proc)


def quiet(page) -> None:
    """No toast and no "Error" badge: a failure says why where its result would be, nothing else."""
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").all_inner_texts()
    assert page.evaluate(ERROR_LABELS_JS) == []


def failed(page, selector: str, english: str, lang: str, button: str, timeout_s: float = 60) -> str:
    """The ❌ message shown in ``selector``, in the page's language, nothing else about the failure, and the
    ``button`` that started the job on again."""
    text = wait_text(page, selector, re.escape(translate(english, lang).replace("*", "")), timeout_s)
    assert "❌" in text, text  # (Markdown's emphasis is not in the text)
    page.wait_for_function(f"() => !document.querySelector('{button}').disabled", timeout=30_000)
    quiet(page)
    return text


def axis(page, condition: str) -> dict:
    """The Tokenize histogram's x-axis once ``condition`` (JS on ``d``: end, lines, notes) holds."""
    return page.wait_for_function(AXIS_JS, arg=condition, timeout=30_000).json_value()


def pick(page, selector: str, value: str) -> None:
    """Type a value into a dropdown that takes custom values (again if the page's own load, slow on a busy
    machine, set it back meanwhile)."""
    box = page.locator(f"{selector} input")
    for _ in range(5):
        box.fill(value)
        box.press("Enter")
        page.wait_for_timeout(1500)
        if box.input_value() == value:
            return
    raise AssertionError(f"{selector} did not keep {value!r}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_data_and_tokenize_show_what_is_true(project, browser, lang, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shutil.copyfile(project / "data" / "sample.jsonl", uploads / "first.jsonl")
    (uploads / "second.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ALPACA), encoding="utf-8")
    with app_page(project, browser, lang, "data-tokenize") as (page, shot):

        # a failed Inspect says why where the summary goes
        pick(page, "#data-file", "data/nope.jsonl")
        page.click("#data-inspect")
        failed(page, "#data-summary", "does not exist", lang, "#data-inspect")
        shot("inspect-a-missing-file")

        # an upload is read at once; a second one needs no ×, and nothing of the first stays
        page.locator("#data-upload input[type=file]").set_input_files(str(uploads / "first.jsonl"))
        summary = wait_text(page, "#data-summary", "first.jsonl", 60)
        assert translate("Every record is valid.", lang) in summary
        wait_text(page, "#data-preview", "leap year", 30)
        assert page.evaluate(BROKEN_HEADERS_JS, "#data-preview") == []
        shot("first-upload")
        page.locator("#data-upload input[type=file]").set_input_files(str(uploads / "second.jsonl"))
        summary = wait_text(page, "#data-summary", "second.jsonl", 60)
        assert "first.jsonl" not in summary and "alpaca" in summary.lower()
        preview = wait_text(page, "#data-preview", "Name a colour", 30)
        assert "leap year" not in preview
        assert page.evaluate(BROKEN_HEADERS_JS, "#data-preview") == []
        quiet(page)
        shot("second-upload-starts-over")

        # the ctx_len Tokenize checks against is the one the form trains with (the demo preset's 112)
        open_tab(page, lang, "tab.tokenize")
        slider = page.locator("#tok-ctx-len input[type=number]")
        page.wait_for_function("() => document.querySelector('#tok-ctx-len input[type=number]')?.value === '112'",
                               timeout=30_000)
        pick(page, "#tok-file", "data/sample.jsonl")
        page.click("#tok-run")
        wait_text(page, "#tok-stats", "data_line_count", 120)
        longest = 100  # the sample's longest document, end token included
        drawn = axis(page, "d.lines === 1")  # the data and the ctx_len line, nothing more
        assert longest <= drawn["end"] <= 112 * 1.1, drawn
        report_lines = page.evaluate("""() => {
          const gutters = [...document.querySelectorAll('#tok-report .cm-lineNumbers .cm-gutterElement')]
            .filter(g => /^\\d+$/.test(g.textContent));
          const lines = [...document.querySelectorAll('#tok-report .cm-line')];
          return gutters.map(g => [g.getBoundingClientRect().top,
                                   lines[+g.textContent - 1]?.getBoundingClientRect().top]); }""")
        assert all(line is not None and abs(number - line) < 2 for number, line in report_lines), report_lines
        shot("tokenize-fits-the-data")

        # a longer ctx_len on the form: the slider follows, the axis still fits the data
        open_tab(page, lang, "tab.params")
        set_option(page, "ctx_len", 1024)
        open_tab(page, lang, "tab.tokenize")
        page.wait_for_function("() => document.querySelector('#tok-ctx-len input[type=number]')?.value === '1024'",
                               timeout=30_000)
        drawn = axis(page, "d.notes.some(n => n.includes('1024'))")
        assert longest <= drawn["end"] <= longest * 1.1 and drawn["lines"] == 0, drawn
        assert "1024" in page.locator("#tok-lengths").inner_text()
        shot("ctx-len-1024-off-the-chart")

        # a preset picked on the Parameters tab moves it back (a preset that isn't there says so, by the buttons)
        open_tab(page, lang, "tab.params")
        pick(page, "#params-preset", "nope")
        page.click("#params-load-preset")
        failed(page, "#params-preset-msg", f"No preset named 'nope'; pick one of {', '.join(presets.list_presets())}.",
               lang, "#params-load-preset")
        pick(page, "#params-preset", "demo-cpu")
        page.click("#params-load-preset")
        open_tab(page, lang, "tab.tokenize")
        page.wait_for_function("() => document.querySelector('#tok-ctx-len input[type=number]')?.value === '112'",
                               timeout=30_000)
        assert slider.input_value() == "112"
        open_tab(page, lang, "tab.params")
        assert page.locator("#params-preset-msg").inner_text().strip() == ""  # the load's success replaced the error
        open_tab(page, lang, "tab.tokenize")

        # a failed tokenize replaces the whole result: no histogram or report of the run before stays
        page.click("#tok-run")
        failed(page, "#tok-stats", "data/sample.bin already exists", lang, "#tok-run")
        page.wait_for_function(f"() => !({PLOT_JS})()", timeout=30_000)
        assert page.locator("#tok-report .cm-line").filter(has_text="max_length").count() == 0
        assert page.locator("#tok-lengths").inner_text().strip() == ""
        shot("tokenize-failure-replaces-the-result")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_train_merge_chat_show_what_is_true(project, browser, lang):
    assert run_cli(project, "tokenize", "data/sample.jsonl").returncode == 0
    with app_page(project, browser, lang, "train-merge-chat") as (page, shot):

        # nothing runs: Stop is off, Start is on
        open_tab(page, lang, "tab.train")
        page.locator("#train-stop").wait_for()
        page.wait_for_function("() => document.querySelector('#train-stop').disabled", timeout=30_000)
        assert page.locator("#train-start").is_enabled()
        shot("idle-stop-is-off")

        # Start with a form the check refuses: why, where the Train tab answers; Start is on again
        open_tab(page, lang, "tab.params")
        set_option(page, "ctx_len", 100)
        open_tab(page, lang, "tab.train")
        page.click("#train-start")
        failed(page, "#train-message", "Fix these on the Parameters tab first:", lang, "#train-start")
        assert "ctx_len" in page.locator("#train-message").inner_text()
        shot("start-refused")

        # a short run (24 steps of one record) that logs a line per step (an evaluation each step, no sample
        # answers), so its log outgrows the box
        open_tab(page, lang, "tab.params")
        page.get_by_text(LANGUAGES[lang]["group.evaluate"], exact=True).click()  # a closed group
        for name, value in (("ctx_len", 112), ("micro_bsz", 1), ("epoch_count", 1), ("epoch_save", 1),
                            ("val_every", 1), ("sample_tokens", 0)):
            set_option(page, name, value)
        wait_text(page, "#params-check", said("Ready to train", lang), 60)
        open_tab(page, lang, "tab.train")
        page.click("#train-start")
        wait_text(page, "#train-status", said("running", lang), 120)
        page.wait_for_function("() => document.querySelector('#train-start').disabled", timeout=30_000)
        assert page.locator("#train-stop").is_enabled() and page.locator("#train-resume").is_disabled()
        assert "❌" not in page.locator("#train-message").inner_text()  # the refusal is gone with its cause

        # the log follows its end...
        page.wait_for_function(f"() => {LOG_LINES} >= 18", timeout=300_000)
        page.wait_for_function(LOG_AT_END_JS, timeout=10_000)
        # ...until the reader scrolls up; then it stays where they are while lines come in
        page.locator(LOG).hover()
        page.mouse.wheel(0, -5000)
        page.wait_for_function(f"() => document.querySelector('{LOG}').scrollTop === 0", timeout=10_000)
        lines = page.evaluate(f"() => {LOG_LINES}")
        page.wait_for_function(f"() => {LOG_LINES} > {lines}", timeout=120_000)
        page.wait_for_timeout(1000)
        assert page.evaluate(f"() => document.querySelector('{LOG}').scrollTop") == 0
        shot("log-held-where-the-reader-scrolled")
        page.locator(LOG).hover()  # the samples above it have grown: the box moved down
        page.mouse.wheel(0, 20000)  # back to the end: it follows again
        page.wait_for_function(LOG_AT_END_JS, timeout=10_000)
        wait_text(page, "#train-status", said("finished", lang), 300)
        page.wait_for_function(f"() => document.querySelector('{LOG}').value.includes('finished:')", timeout=30_000)
        page.wait_for_function(LOG_AT_END_JS, timeout=10_000)
        page.wait_for_function("() => !document.querySelector('#train-start').disabled", timeout=30_000)
        assert page.locator("#train-stop").is_disabled()
        shot("finished-log-at-its-end")
        # Merge: off while a merge runs; the second click (another format) waits for it and is not lost
        page.click("#train-to-merge")
        wait_text(page, "#merge-plan", "lora", 60)
        self_check = page.get_by_label(LANGUAGES[lang]["merge.check"])
        self_check.uncheck()  # the first merge only has to run: the second one's check is read
        page.click("#merge-button")
        page.wait_for_function("() => document.querySelector('#merge-button').disabled", timeout=10_000)
        page.locator("#merge-formats").get_by_text("st", exact=True).click()
        self_check.check()
        page.click("#merge-button", timeout=300_000)  # waits until the first merge has ended
        result = wait_text(page, "#merge-result", r"merge/[\w.-]+\.st", 300)
        merged = sorted(p.name for p in (project / "merge").iterdir())
        # the model, its Ai00 file and the run note Chat fits its history to (merge/run_note.py)
        assert [n.split(".", 1)[1] for n in merged] == ["pth", "run.json", "st"], merged
        assert translate("storing the weights in fp16", lang) in result and "✅" in result
        quiet(page)
        shot("merge-second-click-ran")

        # merging into an existing name: the error replaces the success, nothing of it stays
        page.click("#merge-button")
        text = failed(page, "#merge-result", f"merge/{merged[2]} already exists: tick Overwrite to replace it, or "
                      "choose another output name", lang, "#merge-button")
        assert "✅" not in text and "logits" not in text
        shot("merge-error-replaces-the-success")

        # Chat: Send with no model to answer says why in the status line (not as a badge on the chat), and the
        # question stays in its box; Load of a model that isn't there says so; a good one replaces the error
        open_tab(page, lang, "tab.chat")
        pick(page, "#chat-model", "merge/nope.pth")
        wait_text(page, "#chat-status", "nope.pth", 60)  # the pick's own hint is in before the jobs below write there
        page.locator("#chat-message textarea").fill("hi")
        page.click("#chat-send")
        wait_text(page, "#chat-status", "❌", 120)
        quiet(page)
        assert page.locator("#chat-message textarea").input_value() == "hi"
        page.click("#chat-load")
        failed(page, "#chat-status", "does not exist", lang, "#chat-load", 120)
        assert page.locator("#chat-think input:checked").count() == 1  # the failed Load kept the think mode
        shot("chat-load-error")
        pick(page, "#chat-model", f"merge/{merged[0]}")
        wait_text(page, "#chat-status", re.escape(merged[0]), 60)
        page.click("#chat-load")
        status = wait_text(page, "#chat-status", "✅", 300)
        assert "❌" not in status
        page.click("#chat-send")  # off while the answer streams
        page.wait_for_function("() => document.querySelector('#chat-send').disabled", timeout=10_000)
        page.wait_for_function("() => document.querySelector('#chat-message textarea').value === ''", timeout=120_000)
        assert page.locator("#chat-chatbot .message.bot").count() == 1 and page.locator("#chat-send").is_enabled()
        quiet(page)
        shot("chat-loaded-and-answered")

        # Stop is on while a run goes, stops it, and is off again (a run of 1000 epochs: it never ends on its own
        # before the click, however fast the machine)
        open_tab(page, lang, "tab.params")
        set_option(page, "epoch_count", 1000)
        wait_text(page, "#params-check", said("Ready to train", lang), 60)
        open_tab(page, lang, "tab.train")
        page.click("#train-start")
        wait_text(page, "#train-status", said("running", lang), 120)
        page.wait_for_function("() => !document.querySelector('#train-stop').disabled", timeout=30_000)
        page.click("#train-stop")
        assert "output/" in wait_text(page, "#train-message", "output/", 30)
        wait_text(page, "#train-status", said("stopped", lang), 120)
        page.wait_for_function("() => document.querySelector('#train-stop').disabled"
                               " && !document.querySelector('#train-start').disabled", timeout=30_000)
        quiet(page)
        shot("stopped-stop-is-off")
