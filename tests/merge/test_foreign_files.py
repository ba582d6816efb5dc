"""Files made elsewhere, as an attacker or an unlucky user hands them over (issue 22, F3 F4 F5 and the partial
rows): an HF peft adapter folder with every field wrong, a catastrophic regular expression as a pattern key, a
run whose config.json is edited, a .safetensors base model, a damaged pref.meta.json. Each gives a plain
message naming the file and the field (never a traceback, never a hang), or merges as it should; and the merge
command line asks before it replaces a file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.merge import MergeError, merge
from rwkv_simple_gui.merge.patterns import ModulePattern, PatternError
from rwkv_simple_gui.model import save_model
from tests.conftest import tiny_state_dict

TARGETS = ["receptance", "key", "value", "output"]
EVIL = "(.*.*)*x(.*.*)*y"  # re.match takes exponential time on any module name without an x


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("foreign") / "base.pth"
    save_model(tiny_state_dict("x070"), path, dtype=torch.float32)
    return path


@pytest.fixture(scope="module")
def adapter(base, tmp_path_factory) -> Path:
    """A LoRA adapter folder that HF peft itself wrote for our model (RWKV-PEFT --merge 0)."""
    peft = pytest.importorskip("peft")
    from rwkv_simple_gui.model import load_model

    model = peft.get_peft_model(load_model(base), peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.1)
    folder = tmp_path_factory.mktemp("peft") / "run-adapter"
    model.save_pretrained(folder)
    return folder


def edited(adapter: Path, tmp_path: Path, config=None, weights: bytes | None = None, **changes) -> Path:
    """A copy of the adapter folder with its config replaced or changed, and its weights file replaced."""
    folder = tmp_path / "edited-adapter"
    folder.mkdir()
    saved = json.loads((adapter / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps(config if config is not None else {**saved, **changes}))
    if weights is None:
        (folder / "adapter_model.safetensors").write_bytes((adapter / "adapter_model.safetensors").read_bytes())
    else:
        (folder / "adapter_model.bin").write_bytes(weights)
    return folder


# ---------------------------------------------------------------------------------------------------------
# F3: pattern keys are matched as peft matches them, without backtracking
# ---------------------------------------------------------------------------------------------------------

MODULES = [f"blocks.{i}.{part}.{name}" for i in (0, 1, 10) for part in ("att", "ffn") for name in TARGETS]
KEYS = ["key", "att.key", r"blocks\.1\.att\.key", "blocks.1.att.key", r"blocks\.[0-5]\.att\.(key|value)",
        "^blocks.1.att.key", "k.y", r"blocks\.\d+\.ffn\..*", r"\w+", r"[^.]+", "att.k?ey", "ke{1,2}y", r"1\b.*",
        r"\Bey", "(a*)*b", "", "a|", ".*", "blocks.1[0-1].att.*", r"key\Z", "(?:att|ffn).value", "[a-f]+y$"]


def test_pattern_keys_match_exactly_the_modules_peft_matches():
    """Python's re (what peft runs) is the oracle."""
    for key in KEYS:
        pattern = ModulePattern(key)
        for module in MODULES + ["emb", "head", "x", "blocks.1.att.keyy"]:
            assert pattern.applies(module) == bool(re.match(rf"(.*\.)?({key})$", module)), (key, module)


def test_a_catastrophic_pattern_is_matched_at_once_and_the_unmatchable_ones_are_named():
    pattern = ModulePattern(EVIL)
    assert not any(pattern.applies(m * 3) for m in MODULES)  # re would not finish these in a lifetime
    for key, why in ((r"(a)\1", "back-references"), ("(?=a)", "look-around"), ("(?>a)", "atomic"),
                     ("a*+", "possessive"), ("[", "not a valid regular expression"), ("a{1,99999}", "too large")):
        with pytest.raises(PatternError, match=why):
            ModulePattern(key)


def test_an_adapter_with_a_catastrophic_pattern_merges_and_the_merge_tab_describes_it(adapter, base, tmp_path):
    """In a child process: the old regex held the GIL for ever, so a hang is the failure (a timeout here)."""
    folder = edited(adapter, tmp_path, rank_pattern={EVIL: 2}, alpha_pattern={EVIL: 3})
    code = ("import sys\nfrom rwkv_simple_gui.ui import merge_tab\nfrom rwkv_simple_gui.merge import merge\n"
            "print(merge_tab.describe(sys.argv[1]))\n"
            "print(merge(sys.argv[2], sys.argv[1], sys.argv[3]).method)\n")
    done = subprocess.run([sys.executable, "-c", code, str(folder), str(base), str(tmp_path / "m.pth")],
                          capture_output=True, text=True, timeout=240,
                          env=paths.child_env())
    assert done.returncode == 0, done.stderr
    assert "Method detected: **lora**" in done.stdout and done.stdout.strip().endswith("lora")


# ---------------------------------------------------------------------------------------------------------
# F5: every field of a foreign adapter folder, and of a run's config.json
# ---------------------------------------------------------------------------------------------------------

def _state_dict_bytes(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Gadget:  # what a malicious pickle carries
    def __reduce__(self):
        return (os.system, ("echo pwned",))


BAD_FOLDERS = [
    ({"config": [1, 2]}, "holds a JSON list, not an object"),
    ({"r": None}, "r is missing, but must be a whole number of at least 1"),
    ({"r": 0}, "r is 0, but must be a whole number of at least 1"),
    ({"r": -4, "use_rslora": True}, "r is -4, but must be a whole number"),
    ({"r": 2}, "rank 2, but its lora_A in adapter_model.safetensors has rank 4"),
    ({"lora_alpha": "8"}, "lora_alpha is '8', but must be a number"),
    ({"use_rslora": "yes"}, "use_rslora is 'yes', but must be true or false"),
    ({"rank_pattern": ["key"]}, "rank_pattern is \\['key'\\], but must be an object"),
    ({"rank_pattern": {"key": 0}}, "rank_pattern 'key' is 0"),
    ({"alpha_pattern": {"key": "x"}}, "alpha_pattern 'key' is 'x', but must be a number"),
    ({"rank_pattern": {"(key": 4}}, "the rank_pattern key '\\(key' is not a valid regular expression"),
    ({"peft_type": ["LORA"]}, "peft_type is \\['LORA'\\]"),
    ({"weights": [1, 2, 3]}, "adapter_model.bin: holds a list, not a {name: tensor} dict"),
    ({"weights": {"a": "not a tensor"}}, "entry 'a' is a str, not a named tensor"),
    ({"weights": b"\x80\x02garbage"}, "adapter_model.bin: the file is damaged or truncated"),
    ({"weights": Gadget()}, "refused: it holds Python objects besides tensors .*posix.system"),
]


@pytest.mark.parametrize("change,message", BAD_FOLDERS, ids=[m[:30] for _, m in BAD_FOLDERS])
def test_every_wrong_field_of_an_adapter_folder_is_named(adapter, base, tmp_path, change, message):
    from rwkv_simple_gui.ui import merge_tab

    change = dict(change)
    weights = change.pop("weights", None)
    if weights is not None and not isinstance(weights, bytes):
        weights = _state_dict_bytes(weights)
    config = change.pop("config", None)
    folder = edited(adapter, tmp_path, config=config, weights=weights,
                    **{k: v for k, v in change.items() if v is not None})
    if change.get("r", 1) is None:  # a missing field
        saved = json.loads((folder / "adapter_config.json").read_text())
        (folder / "adapter_config.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "r"}))
    with pytest.raises(MergeError, match=message) as err:
        merge(base, folder, tmp_path / "m.pth")
    assert "Re-running torch.load" not in str(err.value) and "weights_only" not in str(err.value)
    assert not (tmp_path / "m.pth").exists()
    shown = merge_tab.describe(str(folder))
    assert shown.startswith("❌") and re.search(message, shown), shown


def test_a_runs_config_json_with_a_wrong_alpha_or_an_unknown_method_says_so(base, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    gen = torch.Generator().manual_seed(2)
    torch.save({"blocks.0.att.key.lora_A": torch.randn(2, 64, generator=gen),
                "blocks.0.att.key.lora_B": torch.randn(64, 2, generator=gen)}, run / "rwkv-0.pth")
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_alpha": "8"}))
    with pytest.raises(MergeError, match="lora_alpha is '8' in the run's config.json, not a number.*--lora-alpha"):
        merge(base, run / "rwkv-0.pth", tmp_path / "m.pth")
    assert merge(base, run / "rwkv-0.pth", tmp_path / "m.pth", lora_alpha=8).method == "lora"  # the way out
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora-next", "lora_alpha": 8}))
    result = merge(base, run / "rwkv-0.pth", tmp_path / "n.pth")
    assert result.method == "lora"
    assert any("finetune_mode 'lora-next', which this tool does not know: merged as lora" in n for n in result.notes)


# ---------------------------------------------------------------------------------------------------------
# F4: a .safetensors base, which training accepts and the README lists
# ---------------------------------------------------------------------------------------------------------

def test_a_safetensors_base_merges_like_the_same_pth(base, tmp_path):
    from safetensors.torch import save_file

    sd = torch.load(base, weights_only=True)
    save_file(sd, tmp_path / "base.safetensors")
    run = tmp_path / "run"
    run.mkdir()
    gen = torch.Generator().manual_seed(3)
    torch.save({"blocks.1.att.value.lora_A": torch.randn(2, 64, generator=gen),
                "blocks.1.att.value.lora_B": torch.randn(64, 2, generator=gen)}, run / "rwkv-0.pth")
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_alpha": 4}))
    from_pth = merge(base, run / "rwkv-0.pth", tmp_path / "a.pth", dtype="fp32", check=True)
    from_st = merge(tmp_path / "base.safetensors", run / "rwkv-0.pth", tmp_path / "b.pth", dtype="fp32", check=True)
    a, b = torch.load(from_pth.outputs[0], weights_only=True), torch.load(from_st.outputs[0], weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert from_st.checks and all(c.ok for c in from_st.checks), [c.describe() for c in from_st.checks]
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "base.safetensors").read_bytes()[:5000])
    with pytest.raises(MergeError, match="cut.safetensors: not a readable safetensors file"):
        merge(tmp_path / "cut.safetensors", run / "rwkv-0.pth", tmp_path / "c.pth")


# ---------------------------------------------------------------------------------------------------------
# partial rows: a damaged pref.meta.json names itself; merge on the command line asks before replacing
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("meta", ['{"preference": {"prompt_tokens": [1, 2], "chosen_tokens": [1]}}',
                                  '{"preference": {"prompt_tokens": "x", "chosen_tokens": [1, 1]}}',
                                  '{"preference": 5}', "{cut", "[1]"])
def test_a_damaged_pref_meta_json_is_named(tmp_path, meta):
    from rwkv_simple_gui.data.binidx import write_binidx
    from rwkv_simple_gui.train.data import data_info

    write_binidx(tmp_path / "pref", [[1, 2, 3, 0], [4, 5, 6, 0]])
    (tmp_path / "pref.meta.json").write_text(meta)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "pref.meta.json"))):
        data_info(tmp_path / "pref")


def test_merge_on_the_command_line_refuses_to_replace_a_file_without_overwrite(project, base):
    run = project / "output" / "run"
    run.mkdir(parents=True)
    torch.save({"blocks.0.att.key.lora_A": torch.randn(2, 64), "blocks.0.att.key.lora_B": torch.randn(64, 2)},
               run / "rwkv-1.pth")
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_alpha": 4}))
    (project / "merge").mkdir()
    mine = project / "merge" / "mine.pth"
    mine.write_bytes(b"my own model")
    cmd = [sys.executable, "-m", "rwkv_simple_gui", "merge", "--base", str(base), "--checkpoint",
           "output/run/rwkv-1.pth", "--out", "mine", "--no-check"]
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project))
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and mine.read_bytes() == b"my own model"
    assert "merge/mine.pth already exists: pass --overwrite to replace it" in refused.stderr
    replaced = subprocess.run(cmd + ["--overwrite"], env=env, capture_output=True, text=True, timeout=120)
    assert replaced.returncode == 0, replaced.stderr
    assert torch.load(mine, weights_only=True)["blocks.0.att.key.weight"].shape == (64, 64)
