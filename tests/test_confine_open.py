"""In the app, what a browser makes it read or write is checked on what is really opened (issue 22, F1 and F7):
the Train tab's poll and its served log, the preference plot and the Merge tab's description read nothing of a
folder outside the project; a symbolic link swapped in between the check and the open leads nowhere outside,
for previews (reads) and for the temporary files of exports (writes); a pipe in data/ does not hold the app."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import gradio as gr
import pytest
import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.data.formats import DatasetError
from tests.conftest import SAMPLE

SECRET = "SECRET-7f3a: the outside file"


@pytest.fixture
def confined(project, tmp_path):
    """The app's confinement over ``project``, and a folder outside it full of secrets."""
    outside = tmp_path / "outside"
    run = outside / "run"
    run.mkdir(parents=True)
    (run / "train.log").write_text(f"{SECRET}\n" * 3, encoding="utf-8")
    (run / "status.json").write_text(json.dumps({"state": "failed", "error": SECRET, "step": 1}))
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_alpha": 8, "model_path": SECRET}))
    with open(run / "metrics.jsonl", "w") as f:
        for step in (1, 2):
            f.write(json.dumps({"step": step, "loss": 1.0, "lr": 1e-4, "reward_margin": 0.5, "reward_acc": 1.0})
                    + "\n")
    torch.save({"blocks.0.att.key.lora_A": torch.zeros(2, 64), "blocks.0.att.key.lora_B": torch.zeros(64, 2)},
               run / "rwkv-0.pth")
    secret = outside / "secret.jsonl"
    secret.write_text(json.dumps({"text": f"User: hi\n\nAssistant: {SECRET}"}) + "\n", encoding="utf-8")
    for name in ("output", "merge"):
        (project / name).mkdir(exist_ok=True)
    (project / "data" / "escape").symlink_to(outside, target_is_directory=True)
    paths.confine()
    yield project, outside
    paths.unconfine()


def test_the_train_tab_reads_and_serves_nothing_of_a_folder_outside(confined):
    from rwkv_simple_gui.ui import train_tab

    project, outside = confined
    for run in (str(outside / "run"), "data/escape/run", "../outside/run"):
        shown = train_tab.poll(run, follow=False)
        assert "Refused" in shown[1] and SECRET not in repr(shown), run
        assert shown[6] is None  # no file to serve
        assert train_tab.poll_preference(run, follow=False)["visible"] is False
    inside = project / "output" / "run"  # a run folder whose files are links out of the project
    inside.mkdir()
    for name in ("train.log", "status.json", "metrics.jsonl", "samples.jsonl"):
        (inside / name).symlink_to(outside / "run" / name)
    shown = train_tab.poll("output/run", follow=False)
    assert SECRET not in repr(shown) and shown[6] is None
    assert "Refused" in shown[1]  # status.json is a link out: said so, not followed
    assert train_tab.poll_preference("output/run", follow=False)["visible"] is False


def test_the_merge_tab_describes_nothing_outside(confined):
    from rwkv_simple_gui.ui import merge_tab

    project, outside = confined
    for path in (str(outside / "run" / "rwkv-0.pth"), "data/escape/run/rwkv-0.pth"):
        assert merge_tab.describe(path).startswith("❌ Refused")
    for run in (str(outside / "run"), "data/escape/run"):
        assert merge_tab.checkpoint_choices(run) == []
        checkpoints, base = merge_tab.pick_run(run)
        assert SECRET not in repr(base) and not checkpoints["choices"]
    (project / "output" / "mine").mkdir()
    (project / "output" / "mine" / "rwkv-0.pth").symlink_to(outside / "run" / "rwkv-0.pth")
    assert "Refused" in merge_tab.describe("output/mine/rwkv-0.pth")


def test_open_read_checks_what_it_opened_and_never_waits_on_a_pipe(confined):
    project, outside = confined
    data = project / "data"
    with paths.open_read(data / "sample.jsonl") as f:
        assert f.read() == SAMPLE.read_bytes()
    (data / "link.jsonl").symlink_to(outside / "secret.jsonl")
    with pytest.raises(paths.PathRefused, match="leads to .*outside/secret.jsonl"):
        paths.open_read(data / "link.jsonl")
    os.mkfifo(data / "pipe.jsonl")  # nobody writes to it: an open for reading would wait for ever
    with pytest.raises(paths.PathRefused, match="not a regular file"):
        paths.open_read(data / "pipe.jsonl")
    paths.unconfine()  # the command line reads any path
    with paths.open_read(data / "link.jsonl") as f:
        assert SECRET.encode() in f.read()


@contextlib.contextmanager
def swapping(folder: Path, outside: Path):
    """While in the block, a thread swaps the real ``folder`` for a link to ``outside`` for a moment, again and
    again: a path checked while the folder is real may be opened while it is the link."""
    hidden = folder.with_name(f".{folder.name}.real")
    stop = threading.Event()

    def swap():
        while not stop.wait(0.01):  # real for 10 ms
            with contextlib.suppress(OSError):
                os.rename(folder, hidden)
                os.symlink(outside, folder)
            time.sleep(0.002)  # the link for 2 ms
            with contextlib.suppress(OSError):
                os.unlink(folder)
                os.rename(hidden, folder)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if folder.is_symlink():
            folder.unlink()
        if hidden.exists():  # (the app may have made the folder again while it was away)
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(hidden, folder)


def test_a_link_swapped_between_check_and_open_reads_nothing_outside(confined):
    from rwkv_simple_gui.ui import data_tab

    project, outside = confined
    (project / "data" / "d").mkdir()
    shutil.copyfile(SAMPLE, project / "data" / "d" / "x.jsonl")
    (outside / "x.jsonl").write_bytes((outside / "secret.jsonl").read_bytes())
    shown = 0
    with swapping(project / "data" / "d", outside):
        for _ in range(300):
            try:
                frame, _, _ = data_tab.preview_page("data/d/x.jsonl", 1)
            except (gr.Error, paths.PathRefused, OSError, DatasetError):  # refused, or caught while it was away
                continue
            assert SECRET not in frame.to_string()
            shown += 1
    assert shown


def test_the_temporary_files_of_an_export_never_land_outside(confined):
    from rwkv_simple_gui.ui import data_tab

    project, outside = confined
    drop = outside / "drop"
    drop.mkdir()
    (project / "data" / "d").mkdir()
    done = 0
    with swapping(project / "data" / "d", drop):
        for _ in range(60):
            try:
                data_tab.export_dataset("data/sample.jsonl", "data/d/x.jsonl", True)
                done += 1
            except (gr.Error, paths.PathRefused, OSError):  # refused, or the folder was away
                continue
    assert done and list(drop.iterdir()) == []  # nothing, not even a hidden temporary file
    assert not list((project / "data").rglob(".*.tmp"))


def test_the_apps_own_state_is_written_but_never_through_a_link_out(confined):
    from rwkv_simple_gui.ui import common

    project, outside = confined
    common.remember("lang", "zh")  # .state/ is made inside the project, as the Parameters tab does on a first visit
    assert common.load_settings()["lang"] == "zh" and (project / ".state" / "settings.json").is_file()
    shutil.rmtree(project / ".state")
    (project / ".state").symlink_to(outside, target_is_directory=True)
    with pytest.raises(paths.PathRefused):
        common.remember("lang", "en")
    assert not (outside / "settings.json").exists()
