"""The step budget before Start (issue 20): steps, tokens and passes counted from the data as the trainer counts
them, the "too short" and "facts" rules, the measured time and its cache, presets whose epochs fit the data they are
given, dataset suggestions that never lower the steps, and merged files named after their run."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from bench.facts import make, write
from rwkv_simple_gui import merge
from rwkv_simple_gui.data.binidx import read_binidx, write_binidx
from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.model import init_model, save_model
from rwkv_simple_gui.train import budget, presets
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.data import split_documents
from rwkv_simple_gui.train.prepare import prepare
from rwkv_simple_gui.train.step import estimate
from rwkv_simple_gui.ui import control, params_tab
from tests.conftest import SAMPLE, run_cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny perturbed model, bench/facts.py's 40 conversations and the sample, tokenized."""
    root = tmp_path_factory.mktemp("budget")
    save_model(init_model("x070", 2, 64, head_size=32, seed=5, perturb=0.05), root / "m.pth", dtype=torch.float32)
    write(root / "facts.jsonl", make(40))
    tokenize_file(root / "facts.jsonl", root / "facts")
    tokenize_file(SAMPLE, root / "sample")
    return root


def config(files, **extra) -> TrainConfig:
    return TrainConfig.from_dict({"model_path": str(files / "m.pth"), "data_path": str(files / "facts"),
                                  "finetune_mode": "lora", "lora_r": 4, "lora_alpha": 8, "ctx_len": 112,
                                  "dataload": "pad", "micro_bsz": 2, "mini_bsz": 1, "epoch_count": 3,
                                  "val_split": 0.05, "seed": 42, "precision": "fp32", "grad_cp": 0,
                                  "warmup_steps": 0, **extra}, source="test")


def test_budget_counts_steps_samples_tokens_and_passes_from_the_data(files):
    prepared = prepare(config(files))
    b = budget.budget(prepared.config, prepared.data_info, prepared.steps)
    sizes = np.minimum(np.asarray(read_binidx(files / "facts").sizes), 113) - 1
    train, held = split_documents(40, 0.05, 42)
    assert len(held) == 2 and b.documents == 38
    assert (b.steps, b.epochs, b.samples) == (57, 3, 114) == (prepared.steps["total_steps"], 3, 19 * 2 * 3)
    assert b.passes == pytest.approx(3.0) and b.tokens == round(sizes[train].mean() * 114)
    # mini_bsz accumulates: fewer optimizer steps, the same passes
    acc = prepare(config(files, mini_bsz=2))
    b2 = budget.budget(acc.config, acc.data_info, acc.steps)
    assert b2.steps == 30 and b2.passes == pytest.approx(3.0)
    # get: slices of the token stream, passes over its tokens
    get = prepare(config(files, dataload="get", loss_mask="none", val_split=0.0, ctx_len=32, epoch_steps=10))
    b3 = budget.budget(get.config, get.data_info, get.steps)
    assert b3.tokens == 3 * 10 * 2 * 32 and b3.passes == pytest.approx(b3.tokens / get.data_info.num_tokens)


def test_facts_rule_tells_short_distinct_answers_from_others(files, tmp_path):
    facts = budget.data_shape(str(files / "facts"), "world")
    assert facts.facts and facts.conversations == 40 and facts.answer_tokens < 20 and facts.distinct > 0.9
    assert budget.data_shape(str(files / "sample"), "world").facts
    same = [{"text": f"User: Question {i}?\n\nAssistant: OK, noted."} for i in range(30)]
    long = [{"text": f"User: Story {i}?\n\nAssistant: " + " ".join(f"word{i}x{j}" for j in range(80))}
            for i in range(30)]
    for name, rows in (("same", same), ("long", long)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        tokenize_file(tmp_path / f"{name}.jsonl", tmp_path / name)
        assert not budget.data_shape(str(tmp_path / name), "world").facts, name


def test_check_says_when_a_run_is_too_short_and_what_val_loss_will_do(files):
    passes = budget.min_passes("lora", 38).passes
    short = prepare(config(files, epoch_count=1))
    too_short = [w for w in short.warnings if w.startswith("too short to learn these answers")]
    need = budget.fitted_epochs(short.config, short.data_info, passes)
    assert len(too_short) == 1 and f"raise epoch_count to {need}" in too_short[0] and need == passes
    assert any(w.startswith("validation loss will rise while the model learns these answers") for w in short.warnings)
    assert not any("early stopping (early_stop_patience" in w for w in short.warnings)  # not suggested for facts
    enough = prepare(config(files, epoch_count=passes))
    assert not any(w.startswith("too short") for w in enough.warnings)
    early = prepare(config(files, epoch_count=passes, early_stop_patience=2))
    assert any("early stopping would end this run too soon" in w for w in early.warnings)
    assert any("validation loss of 2 held-out documents: fewer than 10, it is noise" in w for w in early.warnings)
    no_val = prepare(config(files, early_stop_patience=2, val_split=0.0))
    assert "early_stop_patience needs held-out documents: set val_split (e.g. 0.1) or val_data" in no_val.problems


def test_the_rule_asks_more_passes_of_more_facts_and_says_where_it_was_not_measured():
    rule = budget.min_passes
    assert [rule("lora", n).passes for n in (10, 40, 120, 300)] == [12, 12, 30, 42]  # as measured
    assert 12 < rule("lora", 80).passes < 30 and 30 < rule("lora", 200).passes < 42
    assert not rule("lora", 300).beyond and rule("lora", 301).beyond and rule("lora", 600).passes > 42
    assert rule("bone", 40) is None


def test_more_facts_need_more_passes_and_more_than_measured_are_named(files, tmp_path):
    passes = budget.min_passes("lora", 38).passes
    assert not any("rule was measured on" in w for w in prepare(config(files, epoch_count=passes)).warnings)
    for records, facts in ((300, 285), (600, 570)):
        write(tmp_path / f"many{records}.jsonl", make(records))
        tokenize_file(tmp_path / f"many{records}.jsonl", tmp_path / f"many{records}")
        many = prepare(config(files, data_path=str(tmp_path / f"many{records}"), epoch_count=passes))
        need = budget.min_passes("lora", facts).passes
        short = [w for w in many.warnings if w.startswith("too short")]
        assert len(short) == 1 and f"needed {need:.0f} passes" in short[0] and f"of {facts} facts" in short[0]
        named = [w for w in many.warnings if "rule was measured on up to 300 facts" in w]
        assert len(named) == (records > 300), many.warnings


def test_other_data_gets_early_stopping_suggested(files, tmp_path):
    rows = [{"text": f"User: Question {i}?\n\nAssistant: OK, noted."} for i in range(40)]
    (tmp_path / "same.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tokenize_file(tmp_path / "same.jsonl", tmp_path / "same")
    checked = prepare(config(files, data_path=str(tmp_path / "same"), val_split=0.25))
    assert any(w.startswith("early stopping (early_stop_patience, e.g. 2) would end the run") for w in checked.warnings)
    assert not any(w.startswith(("too short", "validation loss will rise")) for w in checked.warnings)


def test_time_is_measured_cached_per_shape_method_device_and_scaled_to_the_run(files, project):
    prepared = prepare(config(files))
    b = budget.budget(prepared.config, prepared.data_info, prepared.steps)
    key = budget.speed_key(prepared.config, prepared.model_info, "cpu")
    assert budget.cached_speed(key) is None
    seconds, how = budget.time_estimate(prepared, b, max_params=1)  # a larger model is not measured by the check
    assert seconds is None and "train --dry-run" in how
    seconds, how = budget.time_estimate(prepared, b)
    assert how.startswith("measured now") and budget.cached_speed(key) is not None
    speed = budget.cached_speed(key)
    assert speed.step_s > 0 and speed.token_s > 0 and speed.generate_s > 0
    expected_train = 57 * speed.step_s + 19 * 2 * 3 * budget.batch_lengths(prepared.config, prepared.data_info).mean() \
        * speed.token_s
    assert seconds["train_s"] == pytest.approx(expected_train)
    parts = ("setup_s", "train_s", "evaluate_s", "recall_s")
    assert seconds["total_s"] == pytest.approx(sum(seconds[k] for k in parts))
    six = budget.budget(prepared.config.replace(epoch_count=6), prepared.data_info,
                        prepare(config(files, epoch_count=6)).steps)
    again, how = budget.time_estimate(prepared, six)
    assert how.startswith("measured earlier") and again["train_s"] == pytest.approx(2 * seconds["train_s"])
    other = budget.speed_key(prepared.config.replace(finetune_mode="bone", disha_r=4), prepared.model_info, "cpu")
    assert other != key and budget.cached_speed(other) is None


def test_dry_run_prints_the_budget_and_the_time(files, project):
    done = run_cli(project, "train", "--model_path", str(files / "m.pth"), "--data_path", str(files / "facts"),
                   "--finetune_mode", "lora", "--lora_r", "4", "--ctx_len", "112", "--micro_bsz", "2",
                   "--mini_bsz", "1",
                   "--epoch_count", "2", "--val_split", "0.05", "--dry-run")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["budget"]["steps"] == out["estimate"]["total_steps"] == 38 and out["budget"]["passes"] == 2
    assert out["budget_notes"][0].startswith("38 optimizer steps (2 epochs), 76 samples")
    assert out["time"]["total_s"] > 0 and out["time"]["how"].startswith("measured now")
    assert any(w.startswith("too short") for w in out["warnings"])


def test_demo_preset_fits_its_epochs_to_the_data_it_is_given(files, project):
    options, fit = presets.read_preset(presets.find_preset("demo-cpu"))
    assert fit == {"passes": 14, "min_steps": 100, "rule_margin": 1.16} and "fit" not in options
    assert fit["passes"] >= fit["rule_margin"] * budget.min_passes("lora", 38).passes
    # 38 training documents: 14 passes (266 steps); 4 documents: 100 steps need 50 epochs (2 steps each)
    tiny = files / "four"
    write_binidx(tiny, [[5 + i, 6, 7, 0] for i in range(4)])
    for data, epochs in ((files / "facts", 14), (files / "sample", 14), (tiny, 50)):
        done = run_cli(project, "train", "--config", "demo-cpu", "--model_path", str(files / "m.pth"),
                       "--data_path", str(data), "--dry-run")
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["config"]["epoch_count"] == epochs == out["config"]["epoch_save"], data
        assert f"demo-cpu: epoch_count {epochs} fitted to" in done.stderr
    typed = run_cli(project, "train", "--config", "demo-cpu", "--model_path", str(files / "m.pth"),
                    "--data_path", str(files / "facts"), "--epoch_count", "3", "--dry-run")
    assert json.loads(typed.stdout)["config"]["epoch_count"] == 3 and "fitted" not in typed.stderr
    # the Parameters tab's Load fits to the dataset on the form
    form, note = params_tab.fitted_preset("demo-cpu", {"data_path": str(tiny)})
    assert form["epoch_count"] == 50 and note.startswith("Preset demo-cpu: epoch_count 50 fitted to")
    for name in presets.list_presets():
        assert presets.read_preset(presets.find_preset(name))[1], f"built-in preset {name} has no fit"


def test_demo_preset_fits_more_facts_with_the_rule(files, project):
    """300 facts learned 0/100 after the 14 passes the preset asked (issue 20); it now asks 1.16 times the rule's
    passes for that many facts, and the check finds the run long enough."""
    write(files / "f300.jsonl", make(300))
    tokenize_file(files / "f300.jsonl", files / "f300")
    form, note = params_tab.fitted_preset("demo-cpu", {"data_path": str(files / "f300")})
    need = 1.16 * budget.min_passes("lora", 285).passes
    assert form["epoch_count"] == math.ceil(need) and form["epoch_save"] == form["epoch_count"]
    assert f"285 facts need about {budget.min_passes('lora', 285).passes:.0f} passes on the demo base" in note
    checked = prepare(TrainConfig.from_dict({**form, "model_path": str(files / "m.pth")}, source="test"))
    assert not any(w.startswith("too short") for w in checked.warnings), checked.warnings


def test_dataset_suggestions_never_lower_the_steps(files):
    """The sample (24 documents) suggested micro_bsz 8 where the demo trains with 2: a third of the steps
    (issue 20). Now epoch_count rises with it."""
    info, _ = control.dataset_info(str(files / "sample"))
    values = {**TrainConfig().to_dict(), **presets.read_preset(presets.find_preset("demo-cpu"))[0],
              "model_path": str(files / "m.pth"), "data_path": str(files / "sample")}
    s = control.suggestions(info, values)
    assert s["micro_bsz"] > values["micro_bsz"]
    assert s["steps"] >= s["steps_before"] == estimate(TrainConfig.from_dict(values), info)["steps_this_run"]
    assert s["epoch_count"] > values["epoch_count"]
    assert "applying them never lowers the steps" in control.suggestion_text(s)


def test_two_runs_merged_with_default_names_give_two_files(files, project):
    base = files / "m.pth"
    outputs = []
    for run in ("lora-20250101-120000", "lora-20250101-130000"):
        folder = project / "output" / run
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_alpha": 4}))
        torch.save({"blocks.0.att.key.lora_A": torch.randn(2, 64), "blocks.0.att.key.lora_B": torch.randn(64, 2)},
                   folder / "rwkv-6.pth")
        outputs.append(merge.merge(base, folder, overwrite=False).outputs[0])
    assert [p.name for p in outputs] == ["lora-20250101-120000-6.pth", "lora-20250101-130000-6.pth"]
    assert all(p.is_file() for p in outputs)


def test_parameters_check_shows_the_budget_the_time_and_a_too_short_run(files, project):
    values = {**TrainConfig().to_dict(), **config(files, epoch_count=1).to_dict()}
    text = control.check(values)
    assert "📏 19 optimizer steps (1 epochs), 38 samples" in text and "each training document about 1 times" in text
    assert "📏 the data looks like facts" in text
    assert re.search(r"⏱️ about .* on this machine \(training .*step time measured now", text), text
    assert "- ⚠️ too short to learn these answers: each document is seen 1 times" in text
    again = control.check({**values, "epoch_count": budget.min_passes("lora", 38).passes})
    assert "too short" not in again and "step time measured earlier" in again
