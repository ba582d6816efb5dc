"""A seed user's training.sh / merge.sh / make_tokenize.sh call, read with the seed's meaning and never run.

The fixtures in tests/fixtures/seed/ are ours: they mirror RWKV-PEFT-Simple's training.sh,
training_disha_example.sh, training_state_tuning_example.sh and merge.sh (their variables and values, comments,
quoting, the case/if blocks and the command at the end), with MODEL_PATH a small model in model/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.model import save_model
from rwkv_simple_gui.shell import read_assignments
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.prepare import resolve_paths
from rwkv_simple_gui.train.seed_script import read_training_sh, training_sh
from tests.browser.test_browser import CHROMIUM, LOCALES, browser, open_tab, wait_text  # noqa: F401 (browser: a fixture)
from tests.conftest import REPO_ROOT, run_cli, start_app, stop_app, tiny_state_dict

FIXTURES = Path(__file__).parents[1] / "fixtures" / "seed"
SEED_FILES = ("training.sh", "training_disha_example.sh", "training_state_tuning_example.sh")


@pytest.fixture
def seed_project(project):
    """The project with model/tiny.pth (2 layers, 64 wide, blocks that do something) and data/sample."""
    (project / "model").mkdir()
    save_model(tiny_state_dict("x070"), project / "model" / "tiny.pth", dtype=torch.float32)
    tokenize_file(project / "data" / "sample.jsonl", project / "data" / "sample")
    for name in (*SEED_FILES, "merge.sh"):
        shutil.copyfile(FIXTURES / name, project / name)
    return project


def seed_variables(path: Path) -> dict[str, str]:
    """The fixture's values as bash itself sets them (bash runs only its variable part: no blocks, no
    commands), the oracle for our reader."""
    text = path.read_text(encoding="utf-8")
    head = text.split("# ---------------- 源代码")[0]
    names = sorted({line.split("=")[0] for line in head.splitlines() if "=" in line and not line.startswith("#")})
    script = head + "\n" + "".join(f'printf "%s\\0%s\\0" {n} "${n}"\n' for n in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout.decode().split("\0")[:-1]
    return dict(zip(out[::2], out[1::2]))


def rwkv_peft_plan(v: dict[str, str]) -> dict:
    """What RWKV-PEFT (train.py + Lightning, 2025) trains for a training.sh's values: the dataset holds
    EPOCH_STEPS x MICRO_BSZ samples shared by GPU_COUNT devices, each MINI_BSZ micro-batches make an optimizer
    step (its fixed LR schedule counts epoch_steps // devices // accumulate_grad_batches per epoch), epochs
    EPOCH_BEGIN .. EPOCH_BEGIN + EPOCH_COUNT - 1, checkpoints rwkv-{epoch_begin + epoch}."""
    micro = int(v["EPOCH_STEPS"]) // int(v["GPU_COUNT"])
    first, count = int(v["EPOCH_BEGIN"]), int(v["EPOCH_COUNT"])
    method = v["FINETUNE_MODE"]
    ranks = {"bone": {"disha_r": int(v["disha_r"])}, "bat": {"disha_r": int(v["disha_r"])},
             "lora": {"lora_r": int(v["lora_r"]), "lora_alpha": int(v["lora_alpha"]),
                      "lora_dropout": float(v["lora_dropout"])},
             "pissa": {"pissa_r": int(v["pissa_r"]), "svd_niter": int(v["svd_niter"])}, "state_tuning": {}}[method]
    return {"method": method, "ranks": ranks, "micro_steps_per_epoch": micro,
            "steps_per_epoch": micro // int(v["MINI_BSZ"]), "epochs": count, "first_epoch": first,
            "last_epoch": first + count - 1, "total_steps": (first + count) * micro // int(v["MINI_BSZ"]),
            "checkpoints": [f"rwkv-{e}.pth" for e in range(first, first + count)],
            "lr": {"init": float(v["LR_INIT"]), "final": float(v["LR_FINAL"]), "schedule": v["LR_SCHEDULE"],
                   "warmup_steps": int(v["WARMUP_STEPS"])},
            "loss_mask": v["LOSS_MASK"], "dataload": v["DATALOAD"], "ctx_len": int(v["CTX_LEN"]),
            "adam_eps": 1e-8 if method == "lora" else float(v["ADAM_EPS"])}


# --- the shell reader ---------------------------------------------------------------------------------

def test_the_reader_sets_what_bash_sets_for_every_seed_file():
    for name in (*SEED_FILES, "merge.sh"):
        ours = {k: v.text for k, v in read_assignments((FIXTURES / name).read_text(encoding="utf-8")).values.items()}
        expected = seed_variables(FIXTURES / name)
        assert {k: ours[k] for k in expected if k in ours} == {k: v for k, v in expected.items() if k in ours}
        assert set(expected) - {"PISSA_EPOCH"} <= set(ours), name  # merge.sh's $1 is given separately


def test_quoting_references_and_blocks():
    text = r"""# a comment with `backticks` and $(a command) is only a comment
export BASE=model
A='single $BASE'   # trailing comment
B="double $BASE/${BASE}s \"q\" \$x"
C=$BASE/x.pth
D="${UNSET:-fallback}"
E=one\ two
LONG="a \
b"
if [ "$A" = x ]; then
    A=changed-in-block
    F="multi
line"
fi
case "$A" in
"v7") G=inside ;;
esac
H=$1
"""
    script = read_assignments(text, ["7"])
    got = {k: v.text for k, v in script.values.items()}
    assert got == {"BASE": "model", "A": "single $BASE", "B": 'double model/models "q" $x', "C": "model/x.pth",
                   "D": "fallback", "E": "one two", "LONG": "a b", "H": "7"}
    assert script.values["C"].line == 5 and [(a, b) for a, b, _ in script.blocks] == [(10, 14), (15, 17)]
    assert script.notes == []


def test_the_reader_takes_any_text():
    """Unfinished quotes, substitutions and here-documents end the file; nothing hangs or raises."""
    import random
    import string

    for text in ("<<", "cat <<", "cat <<-", "A=$(", "A='open", 'A="open', "A=`open", "f() {", "case x in", "A=(1",
                 "${", "A=${B", "\\", "if"):
        read_assignments(text)
    rng = random.Random(0)
    alphabet = string.ascii_letters[:6] + " \t\n'\"$`(){}[];&|<>#=\\-_.*~!1"
    for _ in range(2000):
        read_assignments("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))), ["1"])


def test_what_only_the_shell_could_compute_is_named_and_nothing_runs(tmp_path):
    evil = tmp_path / "evil.sh"
    evil.write_text("""FINETUNE_MODE=lora
MODEL_PATH=$(touch made-by-subst)
DATA_PATH=`touch made-by-backticks`
LORA_R=$((8 * 8))
source ./other.sh
. ./other.sh
setup() { touch made-by-function; }
echo hi > made-by-redirection
cat <<EOF > made-by-heredoc
LORA_ALPHA=999
EOF
eval "touch made-by-eval"
( touch made-by-subshell )
ARR=(1 2 3)
lora_alpha=32
""", encoding="utf-8")
    before = set(tmp_path.iterdir())
    imported = read_training_sh(evil)
    assert set(tmp_path.iterdir()) == before  # nothing was created, next to the file or anywhere we look
    assert imported.options == {"finetune_mode": "lora", "lora_alpha": 32}
    text = "\n".join(imported.not_understood)
    for line, words in ((2, "$(...) runs a command"), (3, "backticks run a command"), (4, "shell arithmetic"),
                        (5, "source would read and run another file"), (6, ". would read and run another file"),
                        (7, "a function definition"), (8, "a redirection"), (9, "a redirection"),
                        (13, "a subshell"), (14, "an array")):
        assert f"line {line}: " in text and words in text, (line, words)
    assert "eval (line 12)" in text and "LORA_ALPHA=999" not in text  # the here-document's body is not read


def test_a_training_sh_with_command_substitution_imports_with_a_plain_message(seed_project):
    script = seed_project / "evil.sh"
    script.write_text("MODEL_PATH=$(touch X)\nDATA_PATH=`touch Y`\nFINETUNE_MODE=lora\n", encoding="utf-8")
    out = run_cli(seed_project, "train", "--config", "evil.sh", "--dry-run")
    assert "Traceback" not in out.stderr + out.stdout
    report = json.loads(out.stdout)
    assert report["config"]["finetune_mode"] == "lora"
    said = "\n".join(report["import"]["not_understood"])
    assert "line 1: MODEL_PATH=$(touch X): $(...) runs a command, which is never run here" in said
    assert "line 2: DATA_PATH=`touch Y`: backticks run a command" in said
    assert not list(seed_project.rglob("X")) and not list(seed_project.rglob("Y"))
    # the same file through the Parameters tab's upload
    from rwkv_simple_gui.ui import params_tab

    form, shown = params_tab.load_training_sh(str(script))
    assert form["finetune_mode"] == "lora" and "MODEL_PATH=$(touch X)" in shown
    assert not list(seed_project.rglob("X")) and not list(seed_project.rglob("Y"))


# --- training.sh -> the plan RWKV-PEFT would train ------------------------------------------------------

@pytest.mark.parametrize("name", SEED_FILES)
def test_each_seed_training_sh_dry_runs_to_the_plan_rwkv_peft_trains(seed_project, name):
    out = run_cli(seed_project, "train", "--config", name, "--dry-run")
    assert out.returncode == 2, out.stderr  # problems named, plan printed
    report = json.loads(out.stdout)
    v = seed_variables(FIXTURES / name)
    want, plan = rwkv_peft_plan(v), report["plan"]
    for key in ("method", "ranks", "micro_steps_per_epoch", "steps_per_epoch", "epochs", "first_epoch", "last_epoch",
                "total_steps", "checkpoints", "lr", "loss_mask", "dataload", "ctx_len"):
        assert plan[key] == want[key], key
    assert report["config"]["adam_eps"] == want["adam_eps"]
    assert plan["strategy"].startswith("plain AdamW in one process (deepspeed_stage_1 on one device partitions "
                                       "nothing")
    problems, imported = "\n".join(report["problems"]), report["import"]
    if v["FINETUNE_MODE"] == "bone":  # disha_r 128 on a 64-wide model
        assert "disha_r=128 is larger than n_embd=64" in problems
    assert f"op {v['OP']}" in problems and "needs a CUDA GPU" in problems  # this machine has no GPU
    n_docs = report["data_info"]["n_docs"]
    assert any(f"documents 16-{n_docs - 1} of the {n_docs} are never trained on" in w for w in report["warnings"])
    assert "EMBD_SIZE=2048 but the model file has 64" in "\n".join(imported["not_honoured"])
    assert any("MODEL_PATH=tiny.pth -> model_path model/tiny.pth" in c for c in imported["changed"])
    if name == "training.sh":  # its command part: blocks and commands were not run
        said = "\n".join(imported["not_understood"])
        assert "if/case blocks were not run" in said and "eval (line" in said and "a redirection" in said
    assert not (seed_project / "history_run_command.sh.log").exists() and not (seed_project / "output").exists()


def test_the_lora_branch_fixes_adam_eps_and_our_export_keeps_its_own(seed_project):
    text = (seed_project / "training.sh").read_text(encoding="utf-8").replace('FINETUNE_MODE="bone"',
                                                                               'FINETUNE_MODE="lora"')
    imported = read_training_sh(text=text)
    assert imported.options["adam_eps"] == 1e-8
    assert any("the seed's lora command passes --adam_eps 1e-8" in c for c in imported.changed)
    exported = training_sh(imported.config.replace(adam_eps=1e-18))
    assert read_training_sh(text=exported).options["adam_eps"] == 1e-18


def test_export_then_import_gives_the_same_config(seed_project):
    (seed_project / "model" / "sub").mkdir()
    shutil.copyfile(seed_project / "model" / "tiny.pth", seed_project / "model" / "sub" / "t.pth")
    cfg = TrainConfig(model_path="model/sub/t.pth", data_path="data/sample", finetune_mode="lora", lora_r=8,
                      lora_alpha=16, train_parts=["ln", "emb"], epoch_steps="12", epoch_begin=2, epoch_count=4,
                      devices=2, lr_init=3e-4, loss_mask="none", quant="fp8", op="triton", mask0="Q: x",
                      sample_prompts="my prompts.jsonl", lora_load="output/run a/rwkv-1.pth", wandb="it's")
    path = seed_project / "exported.sh"
    path.write_text(training_sh(cfg), encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    assert "GPU_COUNT=2" in path.read_text() and "MODEL_PATH=sub/t.pth" in path.read_text()
    back = read_training_sh(path)
    assert not back.not_honoured and back.changed == ["MODEL_PATH=sub/t.pth -> model_path model/sub/t.pth (the seed "
                                                      "reads it from model/)", "DATA_PATH=sample -> data_path "
                                                      "data/sample (the seed reads it from data/)"]
    assert resolve_paths(back.config) == resolve_paths(cfg)
    out = run_cli(seed_project, "train", "--config", "exported.sh", "--dry-run")
    assert json.loads(out.stdout)["config"] == {**resolve_paths(cfg).to_dict(), "proj_dir": ""}


def test_an_older_export_is_migrated(seed_project):
    old = training_sh(TrainConfig(epoch_begin=2, epoch_count=5, loss_mask="none"))
    old = old.replace("options_version 2", "").replace("EPOCH_STEPS=auto", "EPOCH_STEPS=1000")
    imported = read_training_sh(text=old)
    assert (imported.config.epoch_begin, imported.config.epoch_count, imported.config.loss_mask,
            imported.config.epoch_steps) == (2, 3, "pad", "auto")
    assert any("saved before options_version 2" in c for c in imported.changed)


# --- merge.sh and make_tokenize.sh ---------------------------------------------------------------------

def test_merge_config_reads_merge_sh_with_its_positional_epoch(seed_project):
    from rwkv_simple_gui import peft
    from rwkv_simple_gui.model import load_model

    run = seed_project / "output" / "lora-run"
    run.mkdir(parents=True)
    model = load_model(seed_project / "model" / "tiny.pth", dtype=torch.float32)
    options = {"finetune_mode": "lora", "lora_r": 4, "lora_alpha": 16, "train_parts": []}
    peft.apply_peft(model, options)
    torch.save(peft.adapter_state_dict(model, options), run / "rwkv-2.pth")
    out = run_cli(seed_project, "merge", "--config", "merge.sh", "2", "--no-check")
    assert out.returncode == 0, out.stderr
    assert "epoch 2 -> checkpoint output/lora-run/rwkv-2.pth, the newest run with epoch 2" in out.stdout
    assert (seed_project / "merge" / "tiny-LORA-2.pth").is_file() and not (seed_project / "merge_model").exists()
    wrong = (seed_project / "merge.sh").read_text().replace('TRAIN_TYPE="lora"', 'TRAIN_TYPE="disha"')
    (seed_project / "disha.sh").write_text(wrong)
    out = run_cli(seed_project, "merge", "--config", "disha.sh", "2", "--no-check", "--out", "merge/x.pth")
    assert out.returncode == 2 and "TRAIN_TYPE in disha.sh says bone or bat, but" in out.stderr
    out = run_cli(seed_project, "merge", "--config", "merge.sh", "9", "--no-check")
    assert out.returncode == 2 and "no rwkv-9.pth in output/" in out.stdout
    # the Merge tab's Load merge.sh fills the same fields
    from rwkv_simple_gui.ui import merge_tab

    checkpoint, base, alpha, report = merge_tab.load_merge_sh(str(seed_project / "merge.sh"), 2)
    assert (checkpoint["value"], base["value"], alpha["value"]) == ("output/lora-run/rwkv-2.pth", "model/tiny.pth", 16)
    assert "the newest run with epoch 2" in report and "basename" in report  # $(basename ...) named, not run


def test_tokenize_takes_make_tokenize_sh_positional_arguments(project):
    (project / "data" / "sub").mkdir()
    shutil.copyfile(project / "data" / "sample.jsonl", project / "data" / "sub" / "chat.jsonl")
    out = run_cli(project, "tokenize", "sample.jsonl", "2", "0", "--no-eof", "--json", "--out", "data/two")
    assert out.returncode == 0, out.stderr
    two = json.loads(out.stdout)
    one = json.loads(run_cli(project, "tokenize", "sample.jsonl", "--json", "--out", "data/one").stdout)
    assert two["items"] == 2 * one["items"] and two["tokens"] == 2 * (one["tokens"] - one["items"])
    out = run_cli(project, "tokenize", "sub/chat.jsonl", "1", "60", "--json", "--out", "data/short")
    assert out.returncode == 0, out.stderr  # found in data/, as make_tokenize.sh reads data/$1
    assert json.loads(out.stdout)["items"] < one["items"]  # documents over 60 tokens dropped
    clash = run_cli(project, "tokenize", "sample.jsonl", "2", "--copies", "3")
    assert clash.returncode == 2 and "COPIES (--copies) is given twice" in clash.stderr


# --- the Parameters tab's Load training.sh, in a real browser -----------------------------------------


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (tests/setup.sh installs it)")
def test_load_training_sh_in_the_parameters_tab(seed_project, browser):  # noqa: F811
    (seed_project / "evil.sh").write_text("FINETUNE_MODE=lora\nMODEL_PATH=$(touch X)\nDATA_PATH=`touch Y`\n")
    proc, port, _ = start_app(seed_project)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale=LOCALES["zh"])
        page.goto(f"http://127.0.0.1:{port}/")
        open_tab(page, "zh", "tab.params")
        wait_text(page, "#params-check", "🧠", 60)
        for name in ("training.sh", "evil.sh"):
            with page.expect_file_chooser() as chooser:
                page.click("#params-load-sh")
            chooser.value.set_files(str(seed_project / name))
            report = wait_text(page, "#params-import", f"已从 {name} 导入", 60)
            if name == "training.sh":
                check = wait_text(page, "#params-check", "op cuda 需要 CUDA GPU", 60)  # the form's check, redone
                assert "op cuda 需要 CUDA GPU；本机在 cpu 上训练" in check and "训练前请修正" in check
                assert "第 0 到 2 轮：每轮 16 个 micro-batch = 8 个优化步" in check
                assert "已转换：MODEL_PATH=tiny.pth -> model_path model/tiny.pth" in report
        assert "第 2 行：MODEL_PATH=$(touch X)：$(...) 会执行命令，这里绝不执行" in report
        assert "第 3 行：DATA_PATH=`touch Y`：反引号会执行命令" in report
        (REPO_ROOT / "test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO_ROOT / "test-artifacts" / "load-training-sh.png"), full_page=True)
    finally:
        stop_app(proc)
    assert not list(seed_project.rglob("X")) and not list(seed_project.rglob("Y"))


def test_an_epoch_save_that_differs_from_rwkv_peft_is_listed():
    from rwkv_simple_gui.train.data import make_plan

    imported = read_training_sh(text="EPOCH_SAVE=5\nEPOCH_BEGIN=2\nEPOCH_COUNT=10\nFINETUNE_MODE=lora\n")
    assert imported.not_honoured == ["EPOCH_SAVE=5: here the checkpoints are rwkv-4, rwkv-9, ... and the last "
                                     "epoch's; RWKV-PEFT writes the run's first epoch, then every 5: rwkv-2, "
                                     "rwkv-7, ..."]
    plan = make_plan(imported.config, 10, 1)
    assert [e for e in plan.epochs() if plan.saves(e, 5)] == [4, 9, 11]  # what the note says the run writes
