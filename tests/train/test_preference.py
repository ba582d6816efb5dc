"""Preference tuning (DPO, ORPO): pair records in every format, the pair binidx, the losses against formulas
written here, the reference (the adapter switched off) against the base model, learning on a tiny model with
every weight perturbed, the merged model scored by the ``rwkv`` package, the CLI chain and the GUI handlers."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from rwkv_simple_gui import peft
from rwkv_simple_gui.data import formats, preference, schemas
from rwkv_simple_gui.data.binidx import read_binidx
from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.data.report import format_report
from rwkv_simple_gui.model import load_model, save_model
from rwkv_simple_gui.train import rundir
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.preference import Reference, dpo_loss, orpo_loss
from rwkv_simple_gui.train.prepare import check
from rwkv_simple_gui.train.seed_script import training_sh
from tests.conftest import run_cli, tiny_state_dict

REPO = Path(__file__).resolve().parents[2]
SYLLABLES = ["zor", "vi", "quen", "bril", "tarn", "mos", "kel", "dra", "fen", "lu", "pash", "orm", "ix", "wen"]


def fact_pairs(n: int, seed: int = 0) -> list[dict]:
    """A correct (chosen) and a wrong (rejected) capital of n invented places."""
    rng = random.Random(seed)

    def name(k: int) -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(k)).capitalize()

    out = []
    for _ in range(n):
        place, right, wrong = name(3), name(2), name(2)
        while wrong == right:
            wrong = name(2)
        out.append({"prompt": f"What is the capital of {place}?", "chosen": f"The capital of {place} is {right}.",
                    "rejected": f"The capital of {place} is {wrong}."})
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# --- the losses ---------------------------------------------------------------------------------------

def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_dpo_loss_and_gradient_equal_the_formula():
    pc, pr, rc, rr, beta = [-12.0, -30.5, -7.25], [-14.0, -29.0, -9.5], [-13.0, -31.0, -8.0], [-13.5, -28.0, -9.0], 0.3
    policy_c = torch.tensor(pc, dtype=torch.float64, requires_grad=True)
    policy_r = torch.tensor(pr, dtype=torch.float64, requires_grad=True)
    loss, margin = dpo_loss(policy_c, policy_r, torch.tensor(rc, dtype=torch.float64),
                            torch.tensor(rr, dtype=torch.float64), beta)
    loss.sum().backward()
    for i in range(3):
        z = beta * ((pc[i] - rc[i]) - (pr[i] - rr[i]))
        assert margin[i].item() == pytest.approx(z, abs=1e-12)
        assert loss[i].item() == pytest.approx(-math.log(_sigmoid(z)), abs=1e-12)
        # d/dz -log σ(z) = σ(z) - 1; dz/dπ(c) = β, dz/dπ(r) = -β
        assert policy_c.grad[i].item() == pytest.approx(beta * (_sigmoid(z) - 1), abs=1e-12)
        assert policy_r.grad[i].item() == pytest.approx(-beta * (_sigmoid(z) - 1), abs=1e-12)


def test_orpo_loss_and_gradient_equal_the_formula():
    pc, pr, nc, nr, lam = [-6.0, -20.0, -3.0], [-9.0, -18.0, -4.5], [4, 10, 3], [5, 9, 3], 0.25
    policy_c = torch.tensor(pc, dtype=torch.float64, requires_grad=True)
    policy_r = torch.tensor(pr, dtype=torch.float64, requires_grad=True)
    loss, margin = orpo_loss(policy_c, policy_r, torch.tensor(nc, dtype=torch.float64),
                             torch.tensor(nr, dtype=torch.float64), lam)
    loss.sum().backward()
    for i in range(3):
        prob_c, prob_r = math.exp(pc[i] / nc[i]), math.exp(pr[i] / nr[i])
        ratio = math.log(prob_c / (1 - prob_c)) - math.log(prob_r / (1 - prob_r))
        assert margin[i].item() == pytest.approx(ratio, abs=1e-10)
        assert loss[i].item() == pytest.approx(-pc[i] / nc[i] - lam * math.log(_sigmoid(ratio)), abs=1e-10)
        # d log odds / d mean log p = 1 / (1 - p); the mean is the sum over the reply's length
        pull = lam * (1 - _sigmoid(ratio))
        assert policy_c.grad[i].item() == pytest.approx(-1 / nc[i] - pull / (1 - prob_c) / nc[i], abs=1e-10)
        assert policy_r.grad[i].item() == pytest.approx(pull / (1 - prob_r) / nr[i], abs=1e-10)


# --- records ------------------------------------------------------------------------------------------

TRL_ROWS = [
    {"chosen": [{"role": "user", "content": "Capital of Quenland?"}, {"role": "assistant", "content": "Brill."}],
     "rejected": [{"role": "user", "content": "Capital of Quenland?"}, {"role": "assistant", "content": "Tarn."}]},
    {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sky colour?"}],
     "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]},
]
STRING_ROWS = [{"prompt": "Where is Zorvia?", "chosen": "In the north.", "rejected": "In the south."},
               {"prompt": "User: Hi\n\nAssistant:", "chosen": "Hello!", "rejected": "Go away."}]
EXPECTED = [([("User", "Where is Zorvia?")], "In the north.", "In the south."),
            ([("User", "Hi")], "Hello!", "Go away.")]
BAD_ROWS = [{"prompt": "a", "chosen": "same", "rejected": "same"},
            {"prompt": "a", "chosen": "  ", "rejected": "b"},
            {"prompt": "a", "rejected": "b"},
            {"chosen": "x", "rejected": "y"}]
BAD_REASONS = ["the same reply", 'field "chosen" is empty', '"chosen"', 'no prompt']  # (a csv cell is never missing)


def test_string_pairs_in_every_container(tmp_path):
    rows = STRING_ROWS + BAD_ROWS
    files = [write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.parquet"]
    files[1].write_text(json.dumps(rows), encoding="utf-8")
    pd.DataFrame(rows).to_csv(files[2], index=False)
    pd.DataFrame(rows).to_parquet(files[3])
    for path in files:
        fmt = formats.detect_format(path)
        assert fmt.schema == "preference", path
        got = list(formats.read_pairs(path))
        good = [(p.turns, p.chosen, p.rejected) for p in got if isinstance(p, schemas.Pair)]
        assert good == EXPECTED, path
        bad = [b for b in got if isinstance(b, formats.BadRecord)]
        # csv counts physical lines: the header, and the two extra lines of the second prompt
        first_line = {"jsonl": 3, "json": 3, "parquet": 3, "csv": 6}[fmt.container]
        assert [b.line for b in bad] == list(range(first_line, first_line + 4)), path
        for b, reason in zip(bad, BAD_REASONS):
            assert reason in b.reason, (path, b.reason)
    report = formats.inspect(files[0])
    assert report.records == 2 and report.bad_count == 4 and report.role_turns["Assistant"] == 2


def test_trl_message_lists_share_their_leading_turns(tmp_path):
    bad = {"chosen": [{"role": "user", "content": "A?"}, {"role": "assistant", "content": "x"}],
           "rejected": [{"role": "user", "content": "B?"}, {"role": "assistant", "content": "y"}]}
    src = write_jsonl(tmp_path / "trl.jsonl", TRL_ROWS + [bad])
    got = list(formats.read_pairs(src))
    assert (got[0].turns, got[0].chosen, got[0].rejected) == ([("User", "Capital of Quenland?")], "Brill.", "Tarn.")
    assert got[1].turns == [("System", "Be brief."), ("User", "Sky colour?")]
    assert got[1].context == "System: Be brief.\n\nUser: Sky colour?\n\nAssistant:"
    assert isinstance(got[2], formats.BadRecord) and got[2].line == 3 and "share every turn" in got[2].reason
    pq = tmp_path / "trl.parquet"
    pd.DataFrame(TRL_ROWS).to_parquet(pq)
    assert [(p.turns, p.chosen) for p in formats.read_pairs(pq)] == [(p.turns, p.chosen) for p in got[:2]]


def test_preview_shows_pairs_side_by_side(tmp_path):
    src = write_jsonl(tmp_path / "p.jsonl", STRING_ROWS + BAD_ROWS[:1])
    frame, pages = formats.preview(src, 1, 20)
    assert pages == 1 and list(frame.columns) == ["line", "prompt", "chosen", "rejected"]
    assert frame.iloc[0].tolist() == [1, "User: Where is Zorvia?", "In the north.", "In the south."]
    assert frame.iloc[2]["chosen"] == "(bad)" and "same reply" in frame.iloc[2]["prompt"]


# --- tokenizing ---------------------------------------------------------------------------------------

def test_tokenize_writes_one_item_per_pair_with_its_split(tmp_path):
    from rwkv.rwkv_tokenizer import TRIE_TOKENIZER  # the oracle tokenizer

    oracle = TRIE_TOKENIZER(str(Path(__import__("rwkv").__file__).parent / "rwkv_vocab_v20230424.txt"))
    rows = fact_pairs(6) + [{"prompt": "long " * 60, "chosen": "a", "rejected": "b"}] + BAD_ROWS[:1]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(formats.DatasetError, match=r"line 8: chosen and rejected are the same"):
        tokenize_file(src, tmp_path / "out")
    assert not list(tmp_path.glob("out*"))
    result = tokenize_file(src, tmp_path / "out", max_tokens=40, copies=2, skip_bad=True)
    assert (result.pairs, result.documents, result.dropped, result.skipped_bad) == (12, 7, 1, 1)
    data = read_binidx(tmp_path / "out")
    prompt_len, chosen_len = preference.pair_layout(data)
    assert len(data) == 12 and data.meta["pairs"] == 12
    seen = set()
    for i in range(len(data)):
        item, p, c = data[i].tolist(), int(prompt_len[i]), int(chosen_len[i])
        row = next(r for r in rows if oracle.encode(f"User: {r['prompt']}\n\nAssistant:") == item[:p])
        assert item[p:p + c] == oracle.encode(" " + row["chosen"]) + [0]
        assert item[p + c:] == oracle.encode(" " + row["rejected"]) + [0]
        seen.add(row["prompt"])
    assert len(seen) == 6
    text = format_report(result)
    assert "preference pairs = 12" in text and "### prompt tokens: p50" in text and "[chosen]  The capital" in text
    assert set(result.to_json()["length_percentiles"]) == {"prompt", "chosen", "rejected"}


# --- options ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny x070 with every weight perturbed, 16 fact pairs tokenized, and a plain-text dataset."""
    root = tmp_path_factory.mktemp("pref")
    save_model(tiny_state_dict("x070", seed=3), root / "tiny.pth", torch.float32)
    rows = fact_pairs(16, seed=1)
    write_jsonl(root / "pairs.jsonl", rows)
    tokenize_file(root / "pairs.jsonl", root / "pairs")
    tokenize_file(REPO / "data" / "sample.jsonl", root / "sft")
    return {"root": root, "model": root / "tiny.pth", "pairs": str(root / "pairs"), "sft": str(root / "sft"),
            "rows": rows}


def pref_config(assets, **changes) -> TrainConfig:
    base = dict(model_path=str(assets["model"]), data_path=assets["pairs"], stage="dpo", pref_beta=0.1,
                finetune_mode="lora", lora_r=8, lora_alpha=16, lora_dropout=0.0, ctx_len=32, micro_bsz=16,
                mini_bsz=1, epoch_count=8, lr_init=1e-2, lr_final=2e-3, warmup_steps=0, precision="fp32",
                grad_cp=0, seed=1, sample_tokens=0)
    return TrainConfig(**{**base, **changes})


def test_validation_names_what_a_stage_needs(assets):
    problems = check(pref_config(assets, finetune_mode="full"))
    assert any("stage dpo compares the model with its base" in p and "stage orpo" in p for p in problems)
    assert not [p for p in check(pref_config(assets, finetune_mode="full", stage="orpo")) if "stage" in p]
    assert any("is not a preference dataset" in p for p in check(pref_config(assets, data_path=assets["sft"])))
    assert any("holds preference pairs" in p for p in check(pref_config(assets, stage="sft")))
    assert any("set train_type none" in p for p in check(pref_config(assets, train_type="infctx")))
    assert check(pref_config(assets)) == []
    assert "--stage" in training_sh(TrainConfig()) and "PREF_BETA=0.1" in training_sh(TrainConfig())


@pytest.mark.parametrize("mode", ["lora", "pissa", "bone", "bat", "state_tuning"])
def test_the_reference_is_the_base_model(assets, mode):
    """Every trained parameter moved off its start: inside ``reference()`` the logits are the base model's."""
    cfg = pref_config(assets, finetune_mode=mode, lora_r=4, pissa_r=4, svd_niter=2, disha_r=16,
                      train_parts=["time", "ln"])
    tokens = torch.tensor([[33, 1000, 5, 6500, 17, 300, 300, 2]])
    base_logits, _ = load_model(assets["model"])(tokens)
    model = load_model(assets["model"])
    peft.apply_peft(model, cfg)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in peft.trainable_parameters(model).values():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    trained, _ = model(tokens)
    assert not torch.allclose(trained, base_logits, atol=1e-3)
    reference = Reference(model, cfg.model_path)
    with torch.no_grad(), reference():
        ref_logits, _ = model(tokens)
    torch.testing.assert_close(ref_logits, base_logits, atol=2e-4, rtol=0)
    again, _ = model(tokens)
    torch.testing.assert_close(again, trained, atol=0, rtol=0)


# --- learning -----------------------------------------------------------------------------------------

PIP_SCORE = r"""
import json, os, sys
os.environ["RWKV_V7_ON"] = "1"
from pathlib import Path
import torch
import rwkv
from rwkv.model import RWKV
from rwkv.rwkv_tokenizer import TRIE_TOKENIZER
tok = TRIE_TOKENIZER(str(Path(rwkv.__file__).parent / "rwkv_vocab_v20230424.txt"))
out = {}
for name, path in json.loads(sys.argv[1]).items():
    model = RWKV(model=path[:-len(".pth")], strategy="cpu fp32")
    scores = []
    for row in json.loads(sys.argv[2]):
        prompt = tok.encode(f"User: {row['prompt']}\n\nAssistant:")
        logps = []
        for key in ("chosen", "rejected"):
            reply = tok.encode(" " + row[key])
            logits, _ = model.forward(prompt + reply, None, full_output=True)
            logp = torch.log_softmax(logits.float(), -1)
            logps.append(sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(reply)))
        scores.append(logps)
    out[name] = scores
print("RESULT" + json.dumps(out))
"""


def pip_scores(models: dict[str, Path], rows: list[dict]) -> dict[str, list]:
    proc = subprocess.run([sys.executable, "-c", PIP_SCORE, json.dumps({k: str(v) for k, v in models.items()}),
                           json.dumps(rows)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.split("RESULT", 1)[1])


@pytest.fixture(scope="module")
def dpo_run(assets):
    from rwkv_simple_gui.train.loop import train

    run = assets["root"] / "dpo-run"
    cfg = pref_config(assets, val_data=assets["pairs"], val_every=8, proj_dir=str(run))
    assert train(cfg, run) == "finished", (run / "train.log").read_text()
    return run


def test_dpo_raises_reward_accuracy_and_the_merged_model_prefers_chosen(assets, dpo_run):
    from rwkv_simple_gui.merge import merge

    metrics = rundir.read_metrics(dpo_run)
    assert len(metrics) == 8 and {"reward_margin", "reward_acc", "logp_chosen", "logp_rejected"} <= set(metrics[0])
    assert metrics[0]["reward_margin"] == pytest.approx(0, abs=1e-6)
    assert metrics[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert metrics[-1]["reward_acc"] >= 0.9 and metrics[-1]["reward_margin"] > metrics[1]["reward_margin"] + 0.5
    evals = rundir.read_evaluations(dpo_run)  # the training pairs again, in eval mode: step 0 and the last
    assert [e["step"] for e in evals] == [0, 8]
    assert evals[0]["val_reward_margin"] == pytest.approx(0, abs=1e-6)
    assert evals[-1]["val_reward_acc"] >= 0.9 and evals[-1]["val_loss"] < 0.5 * evals[0]["val_loss"]

    merged = merge(assets["model"], dpo_run / "rwkv-7.pth", assets["root"] / "merged-dpo.pth", dtype="fp32").outputs[0]
    scores = pip_scores({"base": assets["model"], "merged": merged}, assets["rows"])
    base = [c > r for c, r in scores["base"]]
    tuned = [c > r for c, r in scores["merged"]]
    assert sum(base) / len(base) < 0.8, "the base model should not already know the invented facts"
    fixed = [t for b, t in zip(base, tuned) if not b]
    assert sum(fixed) / len(fixed) >= 0.9 and sum(tuned) / len(tuned) >= 0.9


def test_orpo_learns_the_chosen_replies(assets, tmp_path):
    from rwkv_simple_gui.train.loop import train

    cfg = pref_config(assets, stage="orpo", pref_beta=0.5, epoch_count=6, proj_dir=str(tmp_path / "run"))
    assert train(cfg, tmp_path / "run") == "finished", (tmp_path / "run" / "train.log").read_text()
    metrics = rundir.read_metrics(tmp_path / "run")
    assert metrics[-1]["reward_acc"] >= 0.9 and metrics[-1]["reward_margin"] > metrics[0]["reward_margin"]
    assert metrics[-1]["logp_chosen"] > metrics[0]["logp_chosen"] + 5  # ORPO's SFT term learns the chosen reply


# --- the CLI chain and the GUI ------------------------------------------------------------------------

def cli(project: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return run_cli(project, *args, timeout=timeout)


def test_cli_tokenize_train_dpo_merge_chat(project, assets):
    (project / "model").mkdir()
    (project / "model" / "tiny.pth").write_bytes(assets["model"].read_bytes())
    write_jsonl(project / "data" / "facts.jsonl", assets["rows"][:8])
    out = cli(project, "tokenize", "facts.jsonl", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["pairs"] == 8
    out = cli(project, "train", "--model_path", "tiny.pth", "--data_path", "facts", "--stage", "dpo",
              "--finetune_mode", "lora", "--lora_r", "4", "--lora_alpha", "8", "--ctx_len", "32", "--micro_bsz", "8",
              "--mini_bsz", "1", "--epoch_count", "1", "--precision", "fp32", "--grad_cp", "0", "--sample_tokens", "0",
              "--proj_dir", "output/dpo")
    assert out.returncode == 0, out.stdout + out.stderr
    run = project / "output" / "dpo"
    assert rundir.read_status(run)["state"] == "finished"
    assert json.loads((run / "config.json").read_text())["stage"] == "dpo"
    assert "reward_acc" in rundir.read_metrics(run)[0]
    out = cli(project, "merge", "--base", "tiny.pth", "--checkpoint", "output/dpo/rwkv-0.pth", "--out",
              "merge/dpo.pth", "--dtype", "fp32")
    assert out.returncode == 0, out.stderr
    out = cli(project, "chat", "--model", "merge/dpo.pth", "--prompt", assets["rows"][0]["prompt"], "--temperature",
              "0", "--max-tokens", "8")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_gui_handlers_show_pairs_and_the_margin(project, assets, dpo_run):
    from rwkv_simple_gui.ui import data_tab, train_tab

    write_jsonl(project / "data" / "pairs.jsonl", STRING_ROWS + BAD_ROWS[:1])
    summary, problems = data_tab.inspect_dataset("pairs.jsonl", True)
    assert "preference (jsonl)" in summary and "Preference pairs" in summary
    assert problems.iloc[0]["line"] == 3 and "same reply" in problems.iloc[0]["reason"]
    frame, page, info = data_tab.preview_page("pairs.jsonl", 1)
    assert list(frame.columns) == ["line", "prompt", "chosen", "rejected"] and info == "1 / 1"
    update = train_tab.poll_preference(str(dpo_run), follow=False)
    plot = update["value"]
    assert update["visible"] and set(plot["series"]) == {"reward_margin", "reward_acc", "val_reward_margin",
                                                         "val_reward_acc"}
    acc = plot[plot["series"] == "reward_acc"]
    assert acc["step"].tolist() == list(range(1, 9)) and acc["value"].iloc[-1] >= 0.9
