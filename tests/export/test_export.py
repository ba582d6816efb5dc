"""Exports checked by the programs that run them: the HF folder by rwkv7-hf, GGUF by llama.cpp, an x060
.st by web-rwkv; our own readers of each format; the self-check a merge ends with.

A runtime that is not installed skips its test with the reason (tests/setup.sh installs them all; the
llama.cpp build is the slow one)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from rwkv_simple_gui.data.tokenizer import get_tokenizer
from rwkv_simple_gui.export import check
from rwkv_simple_gui.merge import MergeError, merge
from rwkv_simple_gui.model import detect, save_model
from rwkv_simple_gui.peft import load_adapted_model, method
from tests.conftest import tiny_state_dict

REPO = Path(__file__).resolve().parents[2]
IDS = [1, 500, 23, 4000, 7, 65, 300, 12]
TEXT = "User: 你好, RWKV!\n\nAssistant: Hello 🙂"


def _needs(module: str, why: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"{module} is not installed: {why}")


def _lora_run(root: Path, sd: dict, r=4, alpha=8, seed=3) -> Path:
    gen = torch.Generator().manual_seed(seed)
    ckpt = {}
    for key, value in sd.items():
        if value.ndim == 2 and key.endswith(".weight") and (".att." in key or ".ffn." in key):
            out_f, in_f = value.shape
            ckpt[key[:-7] + ".lora_A"] = torch.randn(r, in_f, generator=gen) * 0.1
            ckpt[key[:-7] + ".lora_B"] = torch.randn(out_f, r, generator=gen) * 0.1
    run = root / "run"
    run.mkdir(parents=True)
    torch.save(ckpt, run / "rwkv-1.pth")
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_alpha": alpha, "lora_r": r}))
    return run / "rwkv-1.pth"


def _model_and_run(root: Path, version: str, n_layer: int):
    """A tiny model with heads of 64 (the HF runtimes tie ln_x's eps to the head size), a LoRA run on it, and
    base + adapter's logits on IDS."""
    sd = tiny_state_dict(version, n_layer=n_layer, n_embd=128, head_size=64)
    save_model(sd, root / "base.pth", dtype=torch.float32)
    ckpt = _lora_run(root, sd)
    options = {"finetune_mode": "lora", "lora_alpha": 8, "lora_r": 4}
    return root, ckpt, _logits(load_adapted_model(root / "base.pth", ckpt, options))


@pytest.fixture(scope="module")
def v7(tmp_path_factory):
    return _model_and_run(tmp_path_factory.mktemp("v7"), "x070", n_layer=2)


@pytest.fixture(scope="module")
def v6(tmp_path_factory):
    return _model_and_run(tmp_path_factory.mktemp("v6"), "x060", n_layer=4)  # web-rwkv splits a model in quarters


def _logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([IDS]))[0][0].numpy()


def _rel(got, ref) -> float:
    return float(np.abs(np.asarray(got) - ref).max() / np.abs(ref).max())


# ------------------------------------------------------------------------------------------------
# Hugging Face folder
# ------------------------------------------------------------------------------------------------

@_needs("rwkv7_hf", "pip install rwkv7-hf (tests/setup.sh does)")
def test_hf_folder_loads_in_rwkv7_hf_with_our_logits_tokenizer_and_chat_format(v7):
    from rwkv7_hf import RWKV7ForCausalLM, RWKV7Tokenizer

    from rwkv_simple_gui.chat.prompt import build_prompt

    root, ckpt, reference = v7
    folder = merge(root / "base.pth", ckpt, root / "out" / "tuned.pth", fmt="hf", dtype="fp32").outputs[0]
    assert folder.name == "tuned-hf" and folder.is_dir()
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["RWKV7ForCausalLM"] and config["model_type"] == "rwkv7"
    assert (config["hidden_size"], config["num_hidden_layers"], config["head_dim"]) == (128, 2, 64)
    model = RWKV7ForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    with torch.no_grad():
        theirs = model(torch.tensor([IDS])).logits[0].numpy()
    assert np.abs(theirs - reference).max() <= 1e-5
    tokenizer = RWKV7Tokenizer.from_pretrained(str(folder))
    assert tokenizer.encode(TEXT, add_special_tokens=False) == get_tokenizer("world").encode(TEXT)
    history = [{"role": "user", "content": "Hi\n\nthere"}, {"role": "assistant", "content": "Hello"}]
    rendered = tokenizer.apply_chat_template(history + [{"role": "user", "content": "Why?"}], tokenize=False,
                                             add_generation_prompt=True)
    assert rendered == build_prompt(history, "Why?")


def test_hf_refuses_rwkv6_and_leaves_nothing(v6):
    root, ckpt, _ = v6
    with pytest.raises(MergeError, match="RWKV-7 only.*no Hugging Face loader of RWKV-6"):
        merge(root / "base.pth", ckpt, root / "hfout" / "x.pth", fmt=["pth", "hf"])
    assert not (root / "hfout").exists() or list((root / "hfout").iterdir()) == []


# ------------------------------------------------------------------------------------------------
# GGUF
# ------------------------------------------------------------------------------------------------

GGUF_TOLERANCE = {"fp32": 1e-5, "fp16": 2e-3, "bf16": 2e-2, "q8_0": 5e-2}  # max |Δ| / max |logit|; q8_0 measured 2.1e-2


@_needs("llama_cpp", "tests/setup.sh builds llama-cpp-python from source (about 6 minutes on 2 cores)")
@pytest.mark.parametrize("version,gguf_type", [("x070", "fp32"), ("x070", "fp16"), ("x070", "bf16"),
                                               ("x070", "q8_0"), ("x060", "fp32")])
def test_gguf_runs_in_llama_cpp_with_our_logits_and_vocabulary(v7, v6, version, gguf_type):
    root, ckpt, reference = v7 if version == "x070" else v6
    path = merge(root / "base.pth", ckpt, root / "gguf" / f"m-{gguf_type}.pth", fmt="gguf", dtype="fp32",
                 gguf_type=gguf_type).outputs[0]
    assert path.name == f"m-{gguf_type}.gguf"
    out = path.with_suffix(".npy")
    code = ("import sys, json, numpy as np\nfrom llama_cpp import Llama\n"
            "m = Llama(model_path=sys.argv[1], logits_all=True, n_ctx=64, verbose=False)\n"
            "ids = json.loads(sys.argv[2]); m.eval(ids); np.save(sys.argv[3], np.array(m.scores[:len(ids)]))\n"
            "print(json.dumps(m.tokenize(sys.argv[4].encode(), add_bos=False, special=False)))\n")
    done = subprocess.run([sys.executable, "-c", code, str(path), json.dumps(IDS), str(out), TEXT],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _rel(np.load(out), reference) <= GGUF_TOLERANCE[gguf_type]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == get_tokenizer("world").encode(TEXT)


@_needs("gguf", "pip install gguf (the GGUF writer)")
@pytest.mark.parametrize("version", ["x070", "x060"])
def test_gguf_reads_back_exactly_through_the_gguf_package(v7, v6, version):
    """Without llama.cpp: the file, read by the gguf package and undone by our layout, is the merged model."""
    import gguf as gguf_package

    root, ckpt, _ = v7 if version == "x070" else v6
    pth, path = merge(root / "base.pth", ckpt, root / "gguf-back" / "m.pth", fmt=["pth", "gguf"],
                      dtype="fp32").outputs
    merged = torch.load(pth, weights_only=True)
    reader = gguf_package.GGUFReader(str(path))
    fields = {f.name: f for f in reader.fields.values()}
    assert bytes(fields["general.architecture"].parts[-1]).decode() == ("rwkv7" if version == "x070" else "rwkv6")
    assert bytes(fields["tokenizer.ggml.model"].parts[-1]).decode() == "rwkv"
    back = check._read_gguf(path, detect(merged), {k: tuple(v.shape) for k, v in merged.items()})
    for key, value in merged.items():
        if key in back:
            assert torch.equal(back[key], value), key
    unused = set(merged) - set(back)
    assert unused <= {"blocks.0.att.v0", "blocks.0.att.v1", "blocks.0.att.v2"}


# ------------------------------------------------------------------------------------------------
# Ai00 .st through web-rwkv
# ------------------------------------------------------------------------------------------------

@_needs("web_rwkv_py", "pip install web-rwkv-py and Debian's mesa-vulkan-drivers")
def test_v6_st_runs_in_web_rwkv_like_the_rwkv_package(v6):
    root, ckpt, _ = v6
    st = merge(root / "base.pth", ckpt, root / "st" / "m.pth", fmt="st", dtype="fp32").outputs[0]
    name, logits = check._runtime("st", st, "x060", IDS, None)
    if name is None:
        pytest.skip(f"web-rwkv cannot run here: {logits}")
    pth = merge(root / "base.pth", ckpt, root / "st" / "m.pth", fmt="pth", dtype="fp16").outputs[0]
    package, ref = check._runtime("pth", pth, "x060", IDS, None)
    assert package is not None, ref
    assert logits.shape == (1, ref.shape[1])  # web-rwkv gives the last token's logits
    assert _rel(logits, ref[-1:]) <= 8e-4 * 10  # fp16 on Vulkan vs fp32 on the CPU: 8e-4 measured, x10 headroom


# ------------------------------------------------------------------------------------------------
# the self-check a merge ends with
# ------------------------------------------------------------------------------------------------

def test_a_wrong_export_fails_its_self_check(v7, tmp_path):
    """The check compares with base + adapter, so a file that lost the adapter is caught."""
    root, ckpt, reference = v7
    base_only = tmp_path / "base-only.pth"
    base_only.write_bytes((root / "base.pth").read_bytes())
    sd = torch.load(base_only, weights_only=True)
    names = {k: tuple(v.shape) for k, v in sd.items()}

    ids = check.tokens(65536)
    ref, _ = check.reference_logits(root / "base.pth", ckpt, {"lora_alpha": 8}, method("lora"), ids)
    result = check.check_file("pth", base_only, detect(sd), names, ref, ids, "fp32", "base + adapter")
    assert not result.ok and result.describe().startswith("❌")


# ------------------------------------------------------------------------------------------------
# today's RWKV-PEFT: HF peft adapter folders, written here by HF peft itself
# ------------------------------------------------------------------------------------------------

def _peft_folder(root: Path, base: Path, name: str, config):
    """An adapter folder that HF peft writes for our model (RWKV-PEFT --merge 0), and peft's own merge."""
    from peft import get_peft_model

    from rwkv_simple_gui.model import load_model

    model = get_peft_model(load_model(base), config)
    gen = torch.Generator().manual_seed(len(name))
    with torch.no_grad():
        for key, p in model.named_parameters():
            if "lora_" in key or "miss_" in key:  # MiSS starts at zero, LoRA's B too: a trained adapter is not
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(root / f"{name}-adapter")
    return root / f"{name}-adapter", model.merge_and_unload().state_dict()


@_needs("peft", "pip install peft (requirements-test.txt)")
def test_hf_peft_adapter_folders_fold_like_peft_merge_and_unload(v7):
    from peft import LoraConfig, MissConfig

    root, _, _ = v7
    base = root / "base.pth"
    sd = torch.load(base, weights_only=True)
    targets = ["receptance", "key", "value", "output"]  # RWKV-PEFT's target modules
    configs = {"lora": LoraConfig(r=4, lora_alpha=8, target_modules=targets),
               "rslora": LoraConfig(r=4, lora_alpha=8, use_rslora=True, rank_pattern={"att.key": 2},
                                    alpha_pattern={"ffn.value": 3}, target_modules=targets),
               "miss": MissConfig(r=8, target_modules=targets),
               "miss-mini": MissConfig(r=8, mini_r=4, init_weights="mini", target_modules=targets)}
    for name, config in configs.items():
        folder, theirs = _peft_folder(root / "peft", base, name, config)
        result = merge(base, folder, root / "peft" / f"{name}.pth", dtype="fp32")
        ours = torch.load(result.outputs[0], weights_only=True)
        assert result.method == ("lora" if "lora" in name else "bone") and list(ours) == list(sd), name
        changed = [k for k in sd if not torch.equal(theirs[k], sd[k])]
        assert len(changed) == 6 * 2, name  # every target of both blocks: att r, k, v, o and ffn k, v
        for key, value in theirs.items():
            torch.testing.assert_close(ours[key], value, rtol=0, atol=1e-6, msg=f"{name} {key}")
    folder, _ = _peft_folder(root / "peft", base, "dora", LoraConfig(r=4, use_dora=True, target_modules=targets))
    with pytest.raises(MergeError, match="dora-adapter is a LORA adapter with DoRA .*not folded here"):
        merge(base, folder, root / "peft" / "dora.pth")


# ------------------------------------------------------------------------------------------------
# the Merge tab
# ------------------------------------------------------------------------------------------------

def test_merge_tab_writes_all_formats_in_one_click_with_progress_and_the_self_check(v7, project, monkeypatch):
    """"all" in the Merge tab: every format, a progress step per tensor, and each export's self-check (by its
    runtime where it runs, else our reader of the format, with the reason) in the result the user sees."""
    from rwkv_simple_gui import merge as merger
    from rwkv_simple_gui.ui import merge_tab

    root, ckpt, _ = v7
    (project / "model").mkdir()
    (project / "model" / "tiny.pth").write_bytes((root / "base.pth").read_bytes())
    (project / "output" / "run").mkdir(parents=True)
    for name in ("rwkv-1.pth", "config.json"):
        (project / "output" / "run" / name).write_bytes((ckpt.parent / name).read_bytes())
    results, seen = [], []
    real_merge = merger.merge
    monkeypatch.setattr(merger, "merge", lambda *a, **k: results.append(real_merge(*a, **k)) or results[-1])

    def progress(fraction, desc=None, unit=None):
        seen.append(fraction)

    text, merged = merge_tab.run_merge("model/tiny.pth", "output/run/rwkv-1.pth", "tuned", "all", "bf16", None,
                                       False, "q8_0", True, False, progress=progress)
    assert merged == "merge/tuned.pth"
    assert sorted(p.name for p in (project / "merge").iterdir()) == ["tuned-hf", "tuned.gguf", "tuned.pth",
                                                                   "tuned.run.json", "tuned.st"]
    n = len(torch.load(root / "base.pth", weights_only=True))
    assert seen == [(i, n) for i in range(1, n + 1)]  # one step per tensor, to the end
    [result] = results
    assert [c.fmt for c in result.checks] == ["pth", "st", "hf", "gguf"]
    by_fmt = {c.fmt: c for c in result.checks}
    assert by_fmt["pth"].runtime.startswith("the rwkv package")
    assert "RWKV-4 to 6 only" in by_fmt["st"].note  # web-rwkv-py cannot run RWKV-7: our reader stands in
    for c in result.checks:
        assert 0 < c.max_diff <= c.tolerance and c.reference == "base + adapter (unmerged, fp32)", c.describe()
    assert text.startswith("### ✅ lora merged (x070)")
    items = text.split("**Self-check** (logits on a few tokens):\n")[1].split("\n- ")
    assert items[0].startswith("- ") and [i.removeprefix("- ") for i in items] == [
        "  \n  ".join(c.lines()) for c in result.checks]  # one list item per export, its note on a line of its own
    assert all(i.startswith("- ✅ tuned" if n == 0 else "✅ tuned") and "gives logits within" in i
               for n, i in enumerate(items))
    # the tolerance says what it stands for: a share of the largest logit, and the rounding it allows for
    st = by_fmt["st"]
    assert st.lines()[0].endswith(f"allowed: {st.tolerance:.2g}, 2% of the largest logit ({st.scale:.3g}), what "
                                  "storing the weights in fp16 may cost")
    assert st.tolerance == pytest.approx(0.02 * st.scale)
    with pytest.raises(gr.Error, match="already exists: tick Overwrite"):
        merge_tab.run_merge("model/tiny.pth", "output/run/rwkv-1.pth", "tuned", "all", "bf16", None, False,
                            progress=progress)


def test_a_runtime_that_is_not_installed_is_named_only_where_a_user_can_get_it(monkeypatch):
    """web-rwkv-py is a test-only package: an install without it is told which programs load a .st, not to
    install it; llama.cpp's line says the pip command, not a test script."""
    from rwkv_simple_gui.export import runtimes

    monkeypatch.setitem(sys.modules, "web_rwkv_py", None)  # ``import web_rwkv_py`` raises ImportError
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    for version in ("x060", "x070"):
        with pytest.raises(runtimes.Unavailable) as why:
            runtimes._web_rwkv("model.st", version, [1, 2], None)
        assert "web-rwkv" not in str(why.value) and "Ai00" in str(why.value)
    with pytest.raises(runtimes.Unavailable) as why:
        runtimes._llama_cpp("model.gguf", "x070", [1, 2], None)
    assert "tests/" not in str(why.value) and "pip install llama-cpp-python" in str(why.value)


def test_a_failed_self_check_says_what_to_do(tmp_path):
    failed = check.CheckResult(tmp_path / "m.pth", "pth", "the rwkv package 0.8.32", 3.0, 1.1,
                               "base + adapter (unmerged, fp32)", dtype="bf16", scale=14.3)
    lines = failed.lines()
    assert lines[0].startswith("❌ m.pth") and "8% of the largest logit (14.3)" in lines[0]
    assert lines[-1].startswith("↳ This file does not compute what the trained model computes: do not use it")
