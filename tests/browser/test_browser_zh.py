"""A first visit in Chinese, in a real browser (headless Debian chromium, Playwright): the Train tab's progress line,
the loss plot's legend and the runs table's headers of a finished run, and the Tokenize tab's error on a file with a
bad record, read in Chinese. A screenshot goes to test-artifacts/zh/."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from rwkv_simple_gui.ui.i18n import LANGUAGES
from tests.browser.test_browser import ARTIFACTS, CHROMIUM, LOCALES, browser, open_tab, wait_text  # noqa: F401
from tests.conftest import start_app, stop_app
from tests.ui.test_i18n import BAD_DATA, write_finished_run

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian chromium is not installed (tests/setup.sh installs it)")
ZH = LANGUAGES["zh"]
LEGEND_JS = "() => [...document.querySelectorAll('#train-loss svg text')].map(t => t.textContent)"  # Vega's SVG


def test_train_and_tokenize_read_in_chinese_on_first_visit(project, browser):  # noqa: F811
    write_finished_run(project)
    (project / "data" / "bad.jsonl").write_text(BAD_DATA)
    # the dataset picked last time is the one Tokenize opens with (a page load would reset a typed one)
    (project / ".state").mkdir()
    (project / ".state" / "settings.json").write_text(json.dumps({"dataset": "data/bad.jsonl"}))
    proc, port, _ = start_app(project)
    try:
        page = browser.new_page(locale=LOCALES["zh"], viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")

        open_tab(page, "zh", "tab.train")
        progress = wait_text(page, "#train-progress", "步 4/4", 60)
        assert "损失 2.0000" in progress and "最佳验证损失 2.5000，在第 4 步" in progress, progress
        for word in ("step", "epoch", "loss", "elapsed", "best"):
            assert f"{word} " not in progress, progress
        # the legend and the axes' titles: Vega may draw the translated titles a frame after the legend
        wanted = ["损失", "平滑", "验证", "最佳", "步", "曲线"]
        try:
            page.wait_for_function(f"() => {json.dumps(wanted)}.every(w => ({LEGEND_JS})().includes(w))",
                                   timeout=60_000)
        except PlaywrightTimeout:
            pass  # the assertion below names what was drawn
        drawn = set(page.evaluate(LEGEND_JS))
        assert set(wanted) <= drawn, drawn
        assert not {"loss", "smoothed", "validation", "best", "step", "series"} & drawn, drawn
        page.get_by_text(ZH["train.runs"]).click()
        runs = wait_text(page, "#train-runs", "开始时间", 30)
        assert "状态" in runs and "已完成" in runs and "started" not in runs
        (ARTIFACTS / "zh").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "zh" / "train-first-visit.png"), full_page=True)

        open_tab(page, "zh", "tab.tokenize")
        page.click("#tok-run")
        stats = wait_text(page, "#tok-stats", "第 2 行", 60)
        assert "一个文件只能有一种格式" in stats and "跳过这类数据" in stats and "format" not in stats, stats
        page.screenshot(path=str(ARTIFACTS / "zh" / "tokenize-error.png"), full_page=True)
    finally:
        stop_app(proc)
