"""Resuming a run folder that was damaged after a crash or edited by hand (issue 22, F9): a resume point whose
trainer.pt or rng-0.pt is missing or cut short, a point.json whose position does not add up, a garbage
status.json, a changed learning rate. Each is said in plain words (no traceback, no errno text), the Resume
button continues from the last checkpoint's weights instead, nothing is silently skipped, and a resume with
changed options is never called exact."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rwkv_simple_gui import runner
from rwkv_simple_gui.train import loop, rundir
from rwkv_simple_gui.train.resume import resume_options
from tests.train.test_resume import ENV, config, opts, small  # noqa: F401 - small is a fixture

STOP_AT = 3


@pytest.fixture(scope="module")
def stopped(small, tmp_path_factory):  # noqa: F811
    """A run stopped after step 3 of 8: checkpoint rwkv-0.pth (part of epoch 0) and resume point step 3."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    stop = loop.StopFlag()
    stopper = lambda m: stop.event.set() if m["step"] == STOP_AT else None  # noqa: E731
    assert loop.train(config(opts(small, run)), run, progress=stopper, stop=stop) == "stopped"
    return run


@pytest.fixture
def run(stopped, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(stopped, copy)
    return copy


def point(run: Path) -> Path:
    return run / rundir.RESUME_DIR / rundir.resume_point_name(STOP_AT)


def resume_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rwkv_simple_gui", "train", *args], env=ENV,
                          capture_output=True, text=True, timeout=300)


def finished_without_traceback(out: subprocess.CompletedProcess, run: Path) -> str:
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert rundir.read_status(run)["state"] == "finished"
    assert "Traceback" not in text + (run / "train.log").read_text()
    return text


@pytest.mark.parametrize("damage", ["trainer.pt missing", "trainer.pt truncated", "rng-0.pt truncated",
                                    "rng-0.pt missing"])
def test_a_damaged_resume_point_is_named_and_the_run_continues_from_its_checkpoint(run, damage):
    name, what = damage.split()
    file = point(run) / name
    if what == "missing":
        file.unlink()
    else:
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    given = resume_cli("--config", str(run / "config.json"), "--resume_from", str(point(run)),
                       "--proj_dir", str(run))
    assert given.returncode == 2 and "Traceback" not in given.stderr, given.stderr
    assert f"is damaged: {name} is {what}" in given.stderr and "Errno" not in given.stderr

    plan = resume_options(run)
    assert plan.point is None and f"{name} is {what}" in plan.note and "damaged" in plan.note
    assert "from the weights of rwkv-0.pth at epoch 0" in plan.note
    text = finished_without_traceback(resume_cli("--resume", str(run)), run)
    assert "exact resume" not in text


@pytest.mark.parametrize("edit", [{"next_step": 10**6}, {"step": 10**6}, {"next_epoch": 5}, {"steps_per_epoch": 2},
                                  {"tokens": "many"}, {"options": []}])
def test_an_edited_point_json_is_refused_not_followed(run, edit):
    path = point(run) / rundir.POINT_FILE
    saved = json.loads(path.read_text())
    if "steps_per_epoch" in edit:  # consistent in itself: only the run's own plan shows it is wrong
        edit = {"steps_per_epoch": 2, "next_epoch": 1, "next_step": 1}
    path.write_text(json.dumps({**saved, **edit}))
    given = resume_cli("--config", str(run / "config.json"), "--resume_from", str(point(run)),
                       "--proj_dir", str(run))
    assert given.returncode == 2 and "Traceback" not in given.stderr, given.stderr
    assert "was edited" in given.stderr or "the resume point is damaged" in given.stderr, given.stderr
    assert rundir.read_status(run)["state"] == "stopped"  # the folder is left as it was
    try:  # the Resume button goes back to the checkpoint saying why, or says why not
        options, note = runner.resume_config(run)
        assert options["resume_from"] == "" and "is damaged" in note and "was edited" in note
    except runner.RunnerError as err:
        assert "was edited" in str(err)


def test_a_garbage_status_json_neither_breaks_the_train_tab_nor_the_trainer(run, project):
    from rwkv_simple_gui.ui import train_tab

    for garbage in ("[1, 2]", '{"state": "running", "loss": "abc", "best": {"x": 1}}', "\x00\xff not json"):
        (run / "status.json").write_bytes(garbage.encode("utf-8", "surrogateescape"))
        shown = train_tab.poll(str(run), follow=False)
        assert "status.json" in shown[1] and "damaged" in shown[1]
        assert len(shown[3]) > 0  # the loss curve is still drawn from metrics.jsonl
    finished_without_traceback(resume_cli("--resume", str(run)), run)
    assert rundir.read_status(run)["step"] == 8


def test_a_changed_learning_rate_is_not_called_an_exact_resume(run):
    config_path = run / "config.json"
    options = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**options, "lr_init": options["lr_init"] * 2}))
    plan = resume_options(run)
    assert plan.point == point(run) and not plan.note.startswith("exact")
    assert f"lr_init: was {options['lr_init']!r}, now {options['lr_init'] * 2!r}" in plan.note
    text = finished_without_traceback(resume_cli("--resume", str(run)), run)
    assert "exact resume" not in text and "changed options (lr_init" in text
    log = (run / "train.log").read_text()
    assert "resumed exactly" not in log and "with changed options (lr_init" in log
