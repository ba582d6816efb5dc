"""The Train tab's samples panel and "did it learn?" in a real browser (headless Debian chromium), in Chinese and in
English (issue 26's samples part, issue 20's held-out names): a finished run of the sample with a validation split
and an evaluation after every step is shown; the panel asks as Chat asks (the System turn before the question),
marks the held-out questions, shows the newest answer and the base model's first and folds the ones between; the
status names the held-out questions and the recall verdict. Screenshots go to test-artifacts/samples-<lang>.png."""

from __future__ import annotations

import json

import pytest
import torch

from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.model import init_model, save_model
from rwkv_simple_gui.train import loop, rundir
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.ui.i18n import LANGUAGES
from rwkv_simple_gui.ui.messages import translate
from tests.browser.test_browser import (  # noqa: F401
    ARTIFACTS,
    CHROMIUM,
    ENGLISH_SENTENCE,
    LOCALES,
    VISIBLE_TEXT_JS,
    browser,
    open_tab,
)
from tests.conftest import SAMPLE, start_app, stop_app

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian chromium is not installed (tests/setup.sh installs it)")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A project with one finished run: the sample, each record with a System turn, 4 held out, an evaluation after
    each of the 3 epochs and of the base model."""
    project = tmp_path_factory.mktemp("samples") / "project"
    (project / "data").mkdir(parents=True)
    (project / "model").mkdir()
    # every record of the sample with a System turn, so whichever questions the panel asks carry one
    records = [json.loads(line)["text"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    records = [text if text.startswith("System:") else f"System: Answer briefly.\n\n{text}" for text in records]
    (project / "data" / "sys.jsonl").write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                                        for t in records), encoding="utf-8")
    tokenize_file(project / "data" / "sys.jsonl", project / "data" / "sys")
    save_model(init_model("x070", 2, 64, head_size=32, seed=5, perturb=0.05), project / "model" / "m.pth",
               dtype=torch.float32)
    options = {**TrainConfig().to_dict(), "model_path": str(project / "model" / "m.pth"),
               "data_path": str(project / "data" / "sys"), "finetune_mode": "lora", "lora_r": 4, "lora_alpha": 8,
               "ctx_len": 112, "dataload": "pad", "micro_bsz": 10, "mini_bsz": 1, "epoch_count": 3, "epoch_save": 3,
               "precision": "fp32", "grad_cp": 0, "lr_init": 1e-2, "lr_final": 1e-2, "warmup_steps": 0,
               "train_parts": [], "seed": 3, "val_split": 0.15, "sample_tokens": 4,
               "data_shuffle": 0}
    run_dir = project / "output" / "samples-run"
    assert loop.train(TrainConfig.from_dict(options, source="test"), run_dir) == "finished", \
        (run_dir / "train.log").read_text()
    return project, run_dir


@pytest.mark.timeout(1800)  # the fixture trains a run: minutes on a busy 2-core CPU
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_samples_panel_asks_as_chat_marks_held_out_and_shows_newest_and_base_first(finished_run, browser, lang):
    project, run_dir = finished_run
    samples = rundir.read_samples(run_dir)
    steps = sorted({s["step"] for s in samples})
    assert len(steps) == 4, "an evaluation of the base model and after each epoch"
    system_prompts = [s["prompt"] for s in samples if s["prompt"].startswith("System: ")]
    assert len(system_prompts) == len(samples), "every question is asked with its System turn"
    held = rundir.read_config(run_dir)["resolved"]["val_questions"]
    proc, port, _ = start_app(project)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1400}, locale=LOCALES[lang])
        page.goto(f"http://127.0.0.1:{port}/")
        open_tab(page, lang, "tab.train")
        status = page.locator("#train-status")
        status.filter(has_text="samples-run").wait_for(timeout=60_000)
        panel = page.locator("#train-samples")
        panel.filter(has_text=translate("held out, never trained", lang)).first.wait_for(timeout=60_000)
        text = panel.inner_text()
        # asked as Chat asks: the System turn is part of the prompt shown
        assert system_prompts[0].split("\n")[0] in text
        # held-out questions are marked, trained ones too
        assert text.count(translate("held out, never trained", lang)) == 2
        assert text.count(translate("trained", lang)) >= 3
        # per question: the newest answer, then the base model's; the others folded
        first = panel.locator("details[open]").first
        rows = first.locator(":scope > table tr").all_inner_texts()
        assert rows[1].startswith(str(steps[-1])) and rows[2].startswith("base"), rows
        folded = first.locator(":scope > details")
        assert folded.locator("summary").inner_text().strip() == translate(f"{len(steps) - 2} earlier answers", lang)
        assert not folded.locator("table").is_visible()
        # the status names the held-out questions and says what the recall check found
        said = status.inner_text()
        assert translate(f"held out, never trained: `{held[0]}`", lang).split("`")[0].strip() in said
        assert held[0] in said
        verdict = rundir.read_status(run_dir)["recall"]["verdict"][0]
        assert translate(verdict, lang) in said
        panel.locator("details.recall summary").click()
        assert panel.locator("details.recall table").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"samples-{lang}.png"), full_page=True, timeout=120_000)
        if lang == "zh":
            english = [t for t in page.evaluate(VISIBLE_TEXT_JS) if ENGLISH_SENTENCE.search(t)]
            assert english == [], english
        assert LANGUAGES[lang]["train.samples"] in page.content()
    finally:
        stop_app(proc)
