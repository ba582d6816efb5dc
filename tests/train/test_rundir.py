"""rundir.claim: the one door through which the CLI, the GUI's runner and the trainer take a run folder."""

from __future__ import annotations

import json

import pytest

from rwkv_simple_gui.train import loop, rundir
from rwkv_simple_gui.train.config import TrainConfig


def another_run(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"finetune_mode": "lora"}))
    (folder / "rwkv-0.pth").write_bytes(b"weights")
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_a_folder_holding_another_run_is_refused_and_left_free(tmp_path):
    run_dir = tmp_path / "old"
    before = another_run(run_dir)
    with pytest.raises(rundir.RunRefused, match="already holds another run .*config.json, rwkv-0.pth"):
        rundir.claim(run_dir, {"finetune_mode": "bone"})
    assert rundir.lock_holder(run_dir) is None, "a refused claim holds nothing"
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != rundir.LOCK_FILE} == before
    # continuing that run (a checkpoint inside it to load) may take it
    hold = rundir.claim(run_dir, {"finetune_mode": "lora", "lora_load": str(run_dir / "rwkv-0.pth")})
    try:
        assert rundir.lock_holder(run_dir) is not None
    finally:
        hold.release()
    assert rundir.lock_holder(run_dir) is None


def test_a_second_claim_in_the_holding_process_is_the_same_hold_without_a_second_check(tmp_path):
    run_dir = tmp_path / "run"
    hold = rundir.claim(run_dir, {})
    try:
        (run_dir / "config.json").write_text("{}")  # what the CLI writes before its trainer claims the folder
        again = rundir.claim(run_dir, {"finetune_mode": "bone"})
        assert again is hold and hold.users == 2
        again.release()
        assert rundir.lock_holder(run_dir) is not None, "the first hold is still there"
    finally:
        hold.release()


def test_a_folder_that_cannot_be_made_is_a_plain_refusal(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(rundir.RunRefused, match=r"Cannot create or write the run folder .*afile/run .*Not a directory"):
        rundir.claim(tmp_path / "afile" / "run", {})


def test_the_trainer_claims_through_the_same_door(tmp_path):
    run_dir = tmp_path / "old"
    before = another_run(run_dir)
    cfg = TrainConfig.from_dict({"model_path": str(tmp_path / "none.pth"), "data_path": str(tmp_path / "none"),
                                 "finetune_mode": "bone"}, source="test")
    with pytest.raises(rundir.RunRefused, match="already holds another run"):
        loop.train(cfg, run_dir)
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != rundir.LOCK_FILE} == before
    assert rundir.lock_holder(run_dir) is None
