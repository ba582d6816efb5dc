"""Judging a run while it trains: validation loss, held-out documents, sample answers, step checkpoints,
TensorBoard, the Train and Merge tabs' views of them; one trainer per run folder; the train CLI's plain words.

One small real run (a perturbed 2x64 model, the bundled sample tokenized) is trained in this process and
checked against independent computations; the lock tests use real trainer processes."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rwkv_simple_gui import paths, peft, runner
from rwkv_simple_gui.data.binidx import read_binidx, write_binidx
from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.data.tokenizer import get_tokenizer
from rwkv_simple_gui.model import init_model, load_model, save_model
from rwkv_simple_gui.train import loop, rundir
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.data import split_documents
from rwkv_simple_gui.train.judge import decodable_ids
from rwkv_simple_gui.ui import merge_tab, train_tab
from tests.conftest import REPO_ROOT, SAMPLE, run_cli

VAL_SPLIT, SAMPLE_TOKENS = 0.25, 6


@pytest.fixture(scope="module")
def chat_data(tmp_path_factory):
    """A perturbed 2x64 World-vocabulary model and the sample's 24 conversations, tokenized."""
    root = tmp_path_factory.mktemp("judge")
    save_model(init_model("x070", 2, 64, head_size=32, seed=5, perturb=0.05), root / "m.pth", dtype=torch.float32)
    tokenize_file(SAMPLE, root / "sample")
    return root


def options(root: Path, **extra) -> dict:
    return {**TrainConfig().to_dict(), "model_path": str(root / "m.pth"), "data_path": str(root / "sample"),
            "finetune_mode": "lora", "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "ctx_len": 112,
            "dataload": "only", "loss_mask": "qa", "micro_bsz": 6, "mini_bsz": 1, "epoch_count": 1,
            "epoch_save": 1, "precision": "fp32", "grad_cp": 0, "lr_init": 1e-2, "lr_final": 1e-3,
            "warmup_steps": 0, "train_parts": [], "seed": 7, **extra}


@pytest.fixture(scope="module")
def judged(chat_data):
    """val_split 0.25 (6 of 24 held out), an evaluation after every step, TensorBoard on; every batch the
    trainer trains on (not the evaluations' ones) recorded."""
    trained = []
    real = loop.forward_backward

    def recording(model, batch, cfg, device, scale, autocast, backward, last=True):
        if backward is not loop.no_backward:
            trained.extend(tuple(row[:12].tolist()) for row in batch.x)
        return real(model, batch, cfg, device, scale, autocast, backward, last)

    cfg = TrainConfig.from_dict(options(chat_data, val_split=VAL_SPLIT, val_every=1, sample_tokens=SAMPLE_TOKENS,
                                        tensorboard=1), source="test")
    run_dir = chat_data / "run"
    loop.forward_backward = recording
    try:
        assert loop.train(cfg, run_dir) == "finished", (run_dir / "train.log").read_text()
    finally:
        loop.forward_backward = real
    return run_dir, trained


def masked_loss(model, docs, loss_mask_on: list[int], loss_mask_off: list[int]) -> float:
    """Token-weighted cross entropy over ``docs`` with the qa mask: a target is learned when the last marker
    at or before it is "Assistant:" (the marker's own tokens learned too)."""
    total = weight = 0.0
    for doc in docs:
        doc = np.asarray(doc, dtype=np.int64)
        learn, marks = np.zeros(len(doc)), []
        for pos in range(len(doc)):
            for marker, value in ((loss_mask_on, 1.0), (loss_mask_off, 0.0)):
                if list(doc[pos:pos + len(marker)]) == marker:
                    marks.append((pos, value))
        for pos, value in sorted(marks):
            learn[pos:] = value
        with torch.no_grad():
            logits, _ = model(torch.from_numpy(doc[None, :-1]))
        ce = F.cross_entropy(logits[0].double(), torch.from_numpy(doc[1:]), reduction="none")
        w = torch.from_numpy(learn[1:])
        total, weight = total + float((ce * w).sum()), weight + float(w.sum())
    return total / weight


def test_validation_loss_equals_an_independent_computation(judged, chat_data):
    run_dir, _ = judged
    config = rundir.read_config(run_dir)
    held = config["resolved"]["val_docs"]
    data = read_binidx(chat_data / "sample")
    docs = [data[i] for i in held]
    tok = get_tokenizer("world")
    on, off = tok.encode("Assistant:"), tok.encode("User:")
    evals = rundir.read_evaluations(run_dir)
    assert [e["step"] for e in evals] == [0, 1, 2, 3]

    base = load_model(chat_data / "m.pth").eval()
    assert evals[0]["val_loss"] == pytest.approx(masked_loss(base, docs, on, off), rel=1e-5)
    trained = peft.load_adapted_model(chat_data / "m.pth", run_dir / "rwkv-0.pth", rundir.read_options(run_dir))
    expected = masked_loss(trained, docs, on, off)
    assert evals[-1]["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert evals[-1]["val_ppl"] == pytest.approx(np.exp(expected), rel=1e-5)
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]  # the run learned the sample's style


def test_held_out_documents_are_never_trained_on_and_are_recorded(judged, chat_data):
    run_dir, trained = judged
    config = rundir.read_config(run_dir)
    assert config["val_split"] == VAL_SPLIT
    held = config["resolved"]["val_docs"]
    train_docs, val_docs = split_documents(24, VAL_SPLIT, config["resolved"]["seed"])
    assert held == val_docs.tolist() and len(held) == 6
    data = read_binidx(chat_data / "sample")
    heads = {i: tuple(int(t) for t in data[i][:12]) for i in range(24)}
    assert len(set(heads.values())) == 24  # each document is told by its first tokens
    seen = set(trained)
    assert seen == {heads[i] for i in train_docs}, "every training document, and nothing else, is trained on"
    assert not seen & {heads[i] for i in held}
    assert rundir.read_status(run_dir)["total_steps"] == 3  # 18 documents, 6 per step


def test_samples_at_each_evaluation_step_0_is_the_base_model(judged, chat_data):
    run_dir, _ = judged
    samples = rundir.read_samples(run_dir)
    prompts = list(dict.fromkeys(s["prompt"] for s in samples))
    # 3 trained questions and 2 held-out ones, each asked as Chat asks it (its System turn and history before it)
    assert len(prompts) == 5 and all(p.endswith("\n\nAssistant:") for p in prompts)
    assert [s["held_out"] for s in samples[:5]] == [False, False, False, True, True]
    assert [s["step"] for s in samples] == [step for step in (0, 1, 2, 3) for _ in prompts]
    assert set(samples[0]) == {"step", "epoch", "prompt", "held_out", "output"}
    held = rundir.read_config(run_dir)["resolved"]["val_questions"]
    assert [p.rsplit("User: ", 1)[1].removesuffix("\n\nAssistant:") for p in prompts[3:]] == held[:2]

    # the base model's greedy answer, recomputed over the whole sequence at each token (no state carried)
    tok = get_tokenizer("world")
    base = load_model(chat_data / "m.pth").eval()
    limit = decodable_ids(tok)
    for row in samples[:5]:
        ids, out = tok.encode(row["prompt"]), []
        for _ in range(SAMPLE_TOKENS):
            with torch.no_grad():
                logits, _ = base(torch.tensor([ids + out]))
            token = int(logits[0, -1, :limit].argmax())
            if token == 0:
                break
            out.append(token)
        text = tok.decode(out)
        for header in ("\n\nUser:", "\n\nAssistant:", "\n\nSystem:"):  # Chat's stops: any role header
            text = text.split(header)[0]
        assert row["output"] == text.strip()
    assert any(s["output"] != b["output"] for s, b in zip(samples[-5:], samples[:5])), "training changed an answer"


def test_status_names_the_best_step_and_merge_marks_it(judged):
    run_dir, _ = judged
    status = rundir.read_status(run_dir)
    evals = rundir.read_evaluations(run_dir)
    best = min(evals, key=lambda e: e["val_loss"])
    assert status["best"]["step"] == best["step"] and status["best"]["val_loss"] == best["val_loss"]
    entries = rundir.checkpoint_entries(run_dir)
    assert [e["best"] for e in entries] == [e["file"] == status["best"]["checkpoint"] for e in entries]
    choices = merge_tab.checkpoint_choices(str(run_dir))
    assert [path for _, path in choices] == [paths.display(e["path"]) for e in entries]
    marked = [label for label, _ in choices if "★" in label]
    assert len(marked) == (1 if status["best"]["checkpoint"] else 0)


def test_train_tab_shows_validation_best_and_samples(judged):
    run_dir, _ = judged
    shown = train_tab.poll(str(run_dir), follow=False)
    frame, samples = shown[3], shown[7]
    evals = rundir.read_evaluations(run_dir)
    assert list(frame[frame["series"] == "validation"]["loss"]) == [e["val_loss"] for e in evals]
    assert len(frame[frame["series"] == "loss"]) == 3
    best = frame[frame["series"] == "best"]
    assert set(best["step"]) == {rundir.read_status(run_dir)["best"]["step"]}
    rows = rundir.read_samples(run_dir)
    for prompt in dict.fromkeys(r["prompt"] for r in rows):
        assert html.escape(prompt) in samples
    # the newest answer, then the base model's; the ones in between folded
    first = samples.index("<details open")
    block = samples[first:samples.index("</details></details>", first)]
    assert block.index("<td>3</td>") < block.index("<td>base</td>") < block.index("2 earlier answers") \
        < block.index("<td>2</td>") < block.index("<td>1</td>")
    assert samples.count("held out, never trained") == 2 and samples.count("\ntrained\n") == 3
    assert "best val_loss" in shown[2] and "(on 6 held-out documents: noise)" in shown[2]
    assert "held out, never trained: `" in shown[1]


def test_tensorboard_has_the_train_and_validation_curves(judged):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = judged
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    train = [(e.step, e.value) for e in events.Scalars("train/loss")]
    val = [(e.step, e.value) for e in events.Scalars("val/loss")]
    assert train == [(m["step"], pytest.approx(m["loss"], rel=1e-6)) for m in rundir.read_metrics(run_dir)]
    assert val == [(e["step"], pytest.approx(e["val_loss"], rel=1e-6)) for e in rundir.read_evaluations(run_dir)]


def test_keep_last_deletes_only_older_step_checkpoints(chat_data, tmp_path):
    """6 steps, a step checkpoint at each, keep_last 2: the epoch checkpoints stay, of the step ones the last
    two (and the best) stay, and status.json lists what is on disk."""
    cfg = TrainConfig.from_dict(options(chat_data, micro_bsz=4, val_split=0.2, val_every=2, sample_tokens=0,
                                        save_every_steps=1, keep_last=2, epoch_count=2, data_path=str(
                                            tmp_path / "d"), loss_mask="none"), source="test")
    write_binidx(tmp_path / "d", [[(11 * i + j) % 500 + 1 for j in range(10 + i)] + [0] for i in range(10)])
    run_dir = tmp_path / "run"
    assert loop.train(cfg, run_dir) == "finished", (run_dir / "train.log").read_text()
    status = rundir.read_status(run_dir)
    assert status["total_steps"] == 4
    on_disk = sorted(p.name for p in run_dir.glob("rwkv-*.pth"))
    best = status["best"]["checkpoint"]
    # steps 1 and 3 get step checkpoints (2 and 4 end epochs); with keep_last 2 both stay
    assert on_disk == ["rwkv-0.pth", "rwkv-1.pth", "rwkv-step-00000001.pth", "rwkv-step-00000003.pth"]
    assert sorted(c["file"] for c in status["checkpoints"]) == on_disk and best in on_disk

    cfg = cfg.replace(keep_last=1, epoch_count=3, proj_dir="")
    run_dir = tmp_path / "run1"
    assert loop.train(cfg, run_dir) == "finished"
    status = rundir.read_status(run_dir)
    steps = sorted(p.name for p in run_dir.glob("rwkv-step-*.pth"))
    expected = {"rwkv-step-00000005.pth"} | ({best} if (best := status["best"]["checkpoint"]).startswith(
        "rwkv-step-") else set())
    assert set(steps) == expected
    assert {f"rwkv-{e}.pth" for e in range(3)} <= {p.name for p in run_dir.glob("rwkv-*.pth")}
    assert sorted(c["file"] for c in status["checkpoints"]) == sorted(p.name for p in run_dir.glob("rwkv-*.pth"))


# --- one trainer per run folder ---------------------------------------------------------------------------

def cli(*args: str, home: Path, timeout: int = 300, **kw):
    return run_cli(home, *args, timeout=timeout, cwd=REPO_ROOT, **kw)


def cli_args(opts: dict) -> list[str]:
    out = ["train"]
    for k, v in opts.items():
        if v in ("", None) or (isinstance(v, list) and not v) or TrainConfig().to_dict().get(k) == v:
            continue
        out += [f"--{k}", *(map(str, v) if isinstance(v, list) else [str(v)])]
    return out


def wait_running(run_dir: Path, proc=None, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (rundir.read_status(run_dir) or {}).get("state") == "running" and rundir.read_metrics(run_dir):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"never running: {(run_dir / 'train.log').read_text(errors='replace')[-3000:]}")


def test_one_trainer_per_run_folder_cli_cli_and_gui_cli(chat_data, project):
    run_dir = project / "output" / "shared"
    long = options(chat_data, epoch_count=200, proj_dir=str(run_dir), sample_tokens=0)
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project))
    first = subprocess.Popen([sys.executable, "-m", "rwkv_simple_gui", *cli_args(long)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_running(run_dir, first)
        config_before = (run_dir / "config.json").read_text()
        second = cli(*cli_args(long), home=project)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"is in use by another trainer (pid {first.pid})" in second.stderr, second.stderr
        assert "one trainer per run folder" in second.stderr
        with pytest.raises(runner.RunnerError, match=f"in use by another trainer \\(pid {first.pid}\\)"):
            runner.start(long, run_dir)
        with pytest.raises(gr.Error, match="in use by another trainer"):
            train_tab.resume_training("output/shared")
        assert (run_dir / "config.json").read_text() == config_before
        assert runner.trainer_pid(run_dir) == first.pid
        assert train_tab.runs_table().iloc[0]["state"] == "running"  # a CLI run is seen live, not "died"
    finally:
        os.killpg(first.pid, 15)
        first.wait(timeout=60)

    # the GUI's trainer holds it: a CLI trainer is refused
    gui_dir = project / "output" / "gui"
    job = runner.start({**long, "proj_dir": str(gui_dir)}, gui_dir)
    try:
        wait_running(gui_dir)
        refused = cli(*cli_args({**long, "proj_dir": str(gui_dir)}), home=project)
        assert refused.returncode == 2 and f"in use by another trainer (pid {job.pid})" in refused.stderr
    finally:
        runner.stop(grace_s=30)
        deadline = time.time() + 60
        while runner.current_job() and time.time() < deadline:
            time.sleep(0.2)


def test_a_folder_holding_another_run_is_refused_unless_resumed(chat_data, project):
    run_dir = project / "output" / "old"
    opts = options(chat_data, proj_dir=str(run_dir), sample_tokens=0, save_every_steps=1)
    assert loop.train(TrainConfig.from_dict(opts, source="test"), run_dir) == "finished"
    files = lambda: {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.name != rundir.LOCK_FILE}  # noqa: E731
    before = files()
    again = cli(*cli_args({**opts, "finetune_mode": "bone", "disha_r": 4}), home=project)
    assert again.returncode == 2 and "already holds another run" in again.stderr, again.stderr
    assert "train --resume output/old" in again.stderr and "Traceback" not in again.stderr
    with pytest.raises(gr.Error, match="already holds another run"):
        train_tab.start_training({**opts, "proj_dir": "output/old"})
    assert files() == before, "nothing was written"
    # a finished run: its resume is refused with the reason, and names how to go on
    done = cli("train", "--resume", str(run_dir), home=project)
    assert done.returncode == 2 and "the run is complete at step 4" in done.stderr, done.stderr
    assert "raise epoch_count" in done.stderr
    more = cli("train", "--resume", str(run_dir), "--epoch_count", "2", home=project)
    assert more.returncode == 0, more.stderr
    assert [m["step"] for m in rundir.read_metrics(run_dir)] == list(range(1, 9))


def test_a_resume_refuses_option_changes_that_break_it_and_names_them(chat_data, project):
    run_dir = project / "output" / "changed"
    opts = options(chat_data, proj_dir=str(run_dir), sample_tokens=0, epoch_count=2)
    stop = loop.StopFlag()
    stopper = lambda metric: stop.event.set() if metric["step"] == 1 else None  # noqa: E731
    assert loop.train(TrainConfig.from_dict(opts, source="test"), run_dir, progress=stopper, stop=stop) == "stopped"
    status_before = (run_dir / "status.json").read_text()
    out = cli("train", "--resume", str(run_dir), "--lora_r", "8", "--micro_bsz", "3", home=project)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "lora_r: was 4, now 8" in out.stderr and "micro_bsz: was 6, now 3" in out.stderr, out.stderr
    assert "Set them back, or start a new run" in out.stderr
    assert (run_dir / "status.json").read_text() == status_before
    # an option that does not shape the data order or the saved state may change
    ok = cli("train", "--resume", str(run_dir), "--dry-run", "--sample_tokens", "4", home=project)
    assert ok.returncode == 0, ok.stdout + ok.stderr


# --- the train CLI in plain words -------------------------------------------------------------------------

def test_train_cli_unwritable_run_folder_and_bad_model_are_plain_messages(chat_data, tmp_path):
    (tmp_path / "afile").write_text("x")
    out = cli(*cli_args(options(chat_data, proj_dir=str(tmp_path / "afile" / "run"))), home=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    assert "Cannot create or write the run folder" in out.stderr and "Not a directory" in out.stderr
    for bad, words in ((tmp_path / "afile", "not an RWKV model"), (tmp_path, "is a folder"),
                       (tmp_path / "none.pth", "not found")):
        out = cli("train", "--model_path", str(bad), "--data_path", str(chat_data / "sample"), "--dry-run",
                  home=tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
        assert any(words in p for p in json.loads(out.stdout)["problems"]), out.stdout


# --- early stopping, "did it learn?", the recommended checkpoint (issue 20) ---------------------------------

@pytest.fixture(scope="module")
def facts_data(chat_data):
    """bench/facts.py's 40 conversations about one invented island, tokenized: held-out facts cannot be learned
    from the others, so the validation loss rises once the model memorises the training ones."""
    from bench.facts import make, write

    write(chat_data / "facts.jsonl", make(40))
    tokenize_file(chat_data / "facts.jsonl", chat_data / "facts")
    return chat_data / "facts"


def test_early_stopping_keeps_the_best_checkpoint_and_merge_of_the_run_takes_it(chat_data, facts_data, project):
    """A run on facts with early stopping (patience 2) stops before its last epoch; the best checkpoint is kept and
    named in status.json, the log, the Runs table; `merge --checkpoint output/RUN` merges it and says so; the
    recall check at the end asks with those weights and the CLI prints its verdict."""
    run_dir = project / "output" / "early"
    opts = options(chat_data, data_path=str(facts_data), proj_dir=str(run_dir), dataload="pad", micro_bsz=8,
                   epoch_count=12, epoch_save=12, lr_init=3e-2, lr_final=3e-2, train_parts=["emb", "head"],
                   val_split=0.1, sample_tokens=0, early_stop_patience=2)
    done = cli(*cli_args(opts), home=project, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    status = rundir.read_status(run_dir)
    evals = [e["val_loss"] for e in rundir.read_evaluations(run_dir)]
    stop, best = status["early_stop"], status["best"]
    assert status["state"] == "finished" and stop["step"] == status["step"] < status["total_steps"]
    assert stop["epoch"] < 11, "stopped before its last epoch"
    assert best["val_loss"] == min(evals) and all(e > best["val_loss"] for e in evals[-2:])  # 2 without a new best
    assert best["checkpoint"] and (run_dir / best["checkpoint"]).is_file()
    last = rundir.latest_checkpoint(run_dir).name
    assert last != best["checkpoint"]
    assert f"early stopping at step {stop['step']}" in done.stdout and best["checkpoint"] in done.stdout
    row = train_tab.runs_table().set_index("run").loc["output/early"]
    assert row["state"] == "finished (early stop)" and best["checkpoint"] in row["best val_loss"]
    # the recall check used the best weights, and said so
    recall = status["recall"]
    assert recall["checkpoint"] == best["checkpoint"] and recall["recall_asked"] == 36
    assert recall["held_out_asked"] == 4 and recall["verdict"][0] in done.stdout
    assert row["recall"] == f"{recall['recall_hits']}/36"

    (project / "model").mkdir(exist_ok=True)
    merged = cli("merge", "--base", str(chat_data / "m.pth"), "--checkpoint", "output/early", "--format", "pth",
                 "--no-check", home=project)
    assert merged.returncode == 0, merged.stderr
    assert f"merged {best['checkpoint']}, the best by validation loss" in merged.stdout
    assert f"the last is {last}" in merged.stdout
    out = project / "merge" / f"early-{rundir.checkpoint_label(best['checkpoint'])}.pth"
    assert out.is_file()
    expected = peft.load_adapted_model(chat_data / "m.pth", run_dir / best["checkpoint"], rundir.read_options(run_dir))
    assert torch.equal(load_model(out).head.weight, expected.head.weight.detach().to(torch.bfloat16).float())
    assert merge_tab.pick_run("output/early")[0]["value"] == f"output/early/{best['checkpoint']}"
    assert "recommended checkpoint: the best by validation loss" in merge_tab.describe(
        f"output/early/{best['checkpoint']}")


def test_without_early_stopping_merge_of_a_run_takes_its_last_checkpoint(judged, project):
    run_dir, _ = judged
    chosen, why = rundir.recommended_checkpoint(run_dir)
    assert chosen == rundir.latest_checkpoint(run_dir) and why == "the last checkpoint of the run"
    assert rundir.read_status(run_dir)["best"]  # a best exists, but without early stopping it is not taken


def test_recall_check_asks_as_chat_and_says_what_it_learned(judged, chat_data):
    """At the end of the run every question of the data is asked greedy, each earlier turn with the model's own
    reply; the rows match an independent token-by-token generation; the counts go to metrics.jsonl and
    status.json, and a run that learned nothing says so with the fix."""
    run_dir, _ = judged
    rows = rundir.read_recall(run_dir)
    held = set(rundir.read_config(run_dir)["resolved"]["val_docs"])
    assert len(rows) == 24 and {r["doc"] for r in rows if r["held_out"]} == held
    model = peft.load_adapted_model(chat_data / "m.pth", rundir.latest_checkpoint(run_dir),
                                    rundir.read_options(run_dir))
    model.eval()
    tok = get_tokenizer("world")
    from rwkv_simple_gui.data.template import chat_prompt
    from rwkv_simple_gui.demo import sample_questions
    from rwkv_simple_gui.train.judge import greedy_answer, recalled

    by_question = {(q.question, q.answer): q for q in sample_questions(SAMPLE)}
    for row in rows[:6] + [r for r in rows if r["turns"] > 1]:
        q = by_question[(row["question"], row["answer"])]
        history = [m for m in q.history if m["role"] == "system"]
        for asked in [m["content"] for m in q.history if m["role"] == "user"] + [q.question]:
            limit = max(len(tok.encode(m["content"])) for m in q.history + [{"role": "assistant", "content": q.answer}]
                        if m["role"] == "assistant") + 8
            with torch.no_grad():
                reply = greedy_answer(lambda x, s: model(x, s), tok, chat_prompt(history, asked), limit, "cpu")
            history += [{"role": "user", "content": asked}, {"role": "assistant", "content": reply}]
        assert row["reply"] == reply and row["recalled"] == recalled(q.answer, reply)
    status = rundir.read_status(run_dir)["recall"]
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    summary = [m for m in map(json.loads, lines) if "recall_asked" in m]
    assert len(summary) == 1 and summary[0]["recall_asked"] == 18 == status["recall_asked"]
    assert status["recall_hits"] == sum(r["recalled"] for r in rows if not r["held_out"])
    assert status["verdict"][1].startswith("It learned (almost) nothing. Likely fix: more steps (epoch_count 1 -> 2)")
    assert status["verdict"][2].startswith("Held out, never trained:")
