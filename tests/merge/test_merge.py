"""Merge: the maths on generated RWKV-PEFT-format checkpoints, written out independently here; the file
formats (.pth as torch.save writes it, Ai00 .st); mismatch messages; no partial output; the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.merge import MergeError, merge
from rwkv_simple_gui.model import ModelFormatError, load_model, save_model
from rwkv_simple_gui.model.lazy import LazyStateDict
from rwkv_simple_gui.model.writers import TorchZipWriter
from rwkv_simple_gui.train.rundir import list_checkpoints
from tests.conftest import tiny_state_dict

REPO = Path(__file__).resolve().parents[2]
LINEARS = ("att.receptance", "att.key", "att.value", "att.output", "ffn.key", "ffn.value")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    sd = tiny_state_dict("x070")
    path = tmp_path_factory.mktemp("base") / "tiny.pth"
    save_model(sd, path, dtype=torch.float32)
    return path, sd


def _modules(sd, layers=(0, 1)):
    return [f"blocks.{i}.{name}" for i in layers for name in LINEARS if f"blocks.{i}.{name}.weight" in sd]


def _train_parts(sd, gen) -> dict[str, torch.Tensor]:
    """Trained ln and time-mix keys as a checkpoint with train_parts ["ln", "time"] holds them."""
    keys = ["blocks.0.ln1.weight", "blocks.1.ln2.bias", "blocks.1.att.x_r", "blocks.0.att.w0", "ln_out.weight"]
    return {k: sd[k] + torch.randn(sd[k].shape, generator=gen) * 0.1 for k in keys}


def _run(tmp_path: Path, ckpt: dict, config: dict | None = None, init: dict | None = None, name="run") -> Path:
    run = tmp_path / name
    run.mkdir()
    torch.save(ckpt, run / "rwkv-3.pth")
    if config is not None:
        (run / "config.json").write_text(json.dumps(config))
    if init is not None:
        torch.save(init, run / "init_pissa.pth")
    return run / "rwkv-3.pth"


def _assert_merged(out: Path, expected: dict[str, torch.Tensor]) -> None:
    got = torch.load(out, map_location="cpu", weights_only=True, mmap=True)
    assert list(got) == list(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-6, atol=1e-6, msg=key)


# ------------------------------------------------------------------------------------------------
# file formats
# ------------------------------------------------------------------------------------------------

def test_streaming_writer_matches_torch_save(tmp_path):
    sd = {"emb.weight": torch.randn(7, 4).to(torch.bfloat16), "blocks.0.att.r_k": torch.randn(2, 3),
          "blocks.0.att.x_r": torch.randn(1, 1, 4).half(), "step": torch.tensor([5], dtype=torch.int64)}
    torch.save(sd, tmp_path / "ref.pth")
    with open(tmp_path / "ours.pth", "wb") as f:
        writer = TorchZipWriter(f, [(k, tuple(v.shape), v.dtype) for k, v in sd.items()])
        for k, v in sd.items():
            writer.write(k, v)
        writer.finish()
    ref, ours = zipfile.ZipFile(tmp_path / "ref.pth"), zipfile.ZipFile(tmp_path / "ours.pth")
    records = lambda z: [n.split("/", 1)[1] for n in z.namelist()]  # noqa: E731 - without the archive folder
    assert records(ours) == records(ref)
    # read through torch's own reader: ours carries no CRCs (torch.load never checks them)
    ours_reader, ref_reader = (torch._C.PyTorchFileReader(str(tmp_path / n)) for n in ("ours.pth", "ref.pth"))
    assert ours_reader.get_record("data.pkl") == ref_reader.get_record("data.pkl")
    assert all(ours_reader.get_record_offset(f"data/{i}") % 64 == 0 for i in range(len(sd)))  # mmap-able
    loaded = torch.load(tmp_path / "ours.pth", weights_only=True, mmap=True)
    for key in sd:
        assert torch.equal(loaded[key], sd[key])
    lazy = LazyStateDict(tmp_path / "ref.pth")
    assert {k: lazy[k].shape for k in lazy} == {k: tuple(v.shape) for k, v in sd.items()}
    for key in sd:
        assert torch.equal(lazy.load(key), sd[key])


def test_lazy_reader_unwraps_prefixes_and_rejects_objects(tmp_path):
    view_source = torch.arange(12.0)
    torch.save({"model.blocks.0.att.key.init_lora_A": view_source[2:8].view(2, 3)}, tmp_path / "init.pth")
    lazy = LazyStateDict(tmp_path / "init.pth")
    assert list(lazy) == ["blocks.0.att.key.init_lora_A"]
    assert torch.equal(lazy.load("blocks.0.att.key.init_lora_A"), view_source[2:8].view(2, 3))
    torch.save({"a": torch.arange(3.0)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    legacy = LazyStateDict(tmp_path / "legacy.pth")  # pre-zip format: read whole, same interface
    assert legacy["a"].shape == (3,) and torch.equal(legacy.load("a"), torch.arange(3.0))
    torch.save({"w": torch.zeros(2), "args": {"lr": 1.0}}, tmp_path / "bad.pth")
    with pytest.raises(ModelFormatError, match="'args' holds a dict"):
        LazyStateDict(tmp_path / "bad.pth")


# ------------------------------------------------------------------------------------------------
# maths, against the formulas written here
# ------------------------------------------------------------------------------------------------

def test_lora_merge_applies_alpha_over_r_and_train_parts(base, tmp_path):
    base_path, sd = base
    gen = torch.Generator().manual_seed(3)
    r, alpha = 4, 8
    ckpt = {}
    for m in _modules(sd):
        out_f, in_f = sd[m + ".weight"].shape
        ckpt[m + ".lora_A"] = torch.randn(r, in_f, generator=gen)
        ckpt[m + ".lora_B"] = torch.randn(out_f, r, generator=gen) * 0.1
    parts = _train_parts(sd, gen)
    ckpt.update(parts)
    path = _run(tmp_path, {k: v.to(torch.bfloat16) for k, v in ckpt.items()},
                {"finetune_mode": "lora", "lora_alpha": alpha, "lora_r": r})
    result = merge(base_path, path, tmp_path / "out.pth", dtype="fp32")

    expected = dict(sd)
    for m in _modules(sd):
        a, b = ckpt[m + ".lora_A"].bfloat16().float(), ckpt[m + ".lora_B"].bfloat16().float()
        expected[m + ".weight"] = sd[m + ".weight"] + (alpha / r) * (b @ a)
    expected.update({k: v.bfloat16().float() for k, v in parts.items()})
    _assert_merged(result.outputs[0], expected)
    assert result.method == "lora" and result.version == "x070"
    assert result.keys_changed == len(_modules(sd)) + len(parts)


def test_lora_alpha_argument_wins_and_is_required_without_config(base, tmp_path):
    base_path, sd = base
    m = "blocks.1.att.value"
    ckpt = {m + ".lora_A": torch.randn(2, 64), m + ".lora_B": torch.randn(64, 2)}
    path = _run(tmp_path, ckpt)
    with pytest.raises(MergeError, match="--lora-alpha"):
        merge(base_path, path, tmp_path / "x.pth")
    result = merge(base_path, path, tmp_path / "x.pth", lora_alpha=6, dtype="fp32")
    got = torch.load(result.outputs[0], weights_only=True)
    torch.testing.assert_close(got[m + ".weight"], sd[m + ".weight"] + 3 * ckpt[m + ".lora_B"] @ ckpt[m + ".lora_A"])


@pytest.mark.parametrize("prefix", ["model.", ""])
def test_pissa_merge_subtracts_the_init(base, tmp_path, prefix):
    base_path, sd = base
    gen = torch.Generator().manual_seed(4)
    ckpt, init = {}, {}
    for m in _modules(sd):
        out_f, in_f = sd[m + ".weight"].shape
        for half, shape in (("A", (3, in_f)), ("B", (out_f, 3))):
            init[f"{prefix}{m}.init_lora_{half}"] = torch.randn(shape, generator=gen) * 0.2
            ckpt[f"{m}.lora_{half}"] = init[f"{prefix}{m}.init_lora_{half}"] + torch.randn(shape, generator=gen) * 0.05
    parts = _train_parts(sd, gen)
    ckpt.update(parts)
    if prefix:  # the run's own layout: init next to the checkpoint, found by itself
        path = _run(tmp_path, ckpt, {"finetune_mode": "pissa", "pissa_r": 3}, init)
        result = merge(base_path, path, tmp_path / "out.pth", dtype="fp32")
    else:       # an old RWKV-PEFT run: no config, the init passed by hand
        path = _run(tmp_path, ckpt)
        torch.save(init, tmp_path / "old_init.pth")
        result = merge(base_path, path, tmp_path / "out.pth", dtype="fp32", pissa_init=tmp_path / "old_init.pth")
    expected = dict(sd)
    for m in _modules(sd):
        b0, a0 = init[f"{prefix}{m}.init_lora_B"], init[f"{prefix}{m}.init_lora_A"]
        expected[m + ".weight"] = sd[m + ".weight"] - b0 @ a0 + ckpt[m + ".lora_B"] @ ckpt[m + ".lora_A"]
    expected.update(parts)
    assert result.method == "pissa"
    _assert_merged(result.outputs[0], expected)


@pytest.mark.parametrize("key_suffix", [".disha", ".bone"])
def test_bone_merge_tiles_disha_over_input_groups(base, tmp_path, key_suffix):
    base_path, sd = base
    gen = torch.Generator().manual_seed(5)
    r = 24  # 64 = 2 * 24 + 16: the last group is cut short
    ckpt = {m + key_suffix: torch.randn(r, sd[m + ".weight"].shape[0], generator=gen) for m in _modules(sd)}
    parts = _train_parts(sd, gen)
    ckpt.update(parts)
    result = merge(base_path, _run(tmp_path, ckpt), tmp_path / "out.pth", dtype="fp32")
    expected = dict(sd)
    for m in _modules(sd):
        w, d = sd[m + ".weight"].clone(), ckpt[m + key_suffix]
        for col in range(w.shape[1]):
            w[:, col] += d[col % r]
        expected[m + ".weight"] = w
    expected.update(parts)
    assert result.method == "bone"
    _assert_merged(result.outputs[0], expected)


def test_bat_merge_uses_the_weight_blocks(base, tmp_path):
    base_path, sd = base
    gen = torch.Generator().manual_seed(6)
    r = 16
    ckpt = {m + ".disha": torch.randn(sd[m + ".weight"].shape[1] // r, r, r, generator=gen) * 0.1
            for m in _modules(sd)}
    result = merge(base_path, _run(tmp_path, ckpt), tmp_path / "out.pth", dtype="fp32")
    expected = dict(sd)
    for m in _modules(sd):
        w, d = sd[m + ".weight"], ckpt[m + ".disha"]
        new = w.clone()
        for a in range(w.shape[0] // r):
            for b in range(w.shape[1] // r):
                block = w[a * r:(a + 1) * r, b * r:(b + 1) * r]
                new[a * r:(a + 1) * r, b * r:(b + 1) * r] += block @ d[b] + d[b]
        expected[m + ".weight"] = new
    assert result.method == "bat"
    _assert_merged(result.outputs[0], expected)


def test_full_checkpoint_replaces_weights_and_casts(base, tmp_path):
    base_path, sd = base
    trained = {k: v + 0.01 for k, v in sd.items()}
    result = merge(base_path, _run(tmp_path, trained), tmp_path / "full.pth", dtype="bf16")
    got = torch.load(result.outputs[0], weights_only=True)
    assert result.method == "full" and all(v.dtype == torch.bfloat16 for v in got.values())
    for key in sd:
        assert torch.equal(got[key], trained[key].bfloat16())


def test_state_checkpoint_gives_a_state_file(base, tmp_path):
    base_path, sd = base
    states = {f"blocks.{i}.att.time_state": torch.randn(2, 32, 32) for i in range(2)}
    ckpt = _run(tmp_path, states)
    result = merge(base_path, ckpt, tmp_path / "state.pth")
    got = torch.load(result.outputs[0], weights_only=True)
    assert result.method == "state_tuning" and result.output == "state" and list(got) == list(states)
    for key in states:
        assert torch.equal(got[key], states[key])  # as trained: [H, value, key], dtype kept
    from safetensors.torch import load_file

    st = load_file(merge(base_path, ckpt, tmp_path / "state", fmt="st").outputs[0])
    for key in states:  # Ai00's [[state]]: fp16, [H, key, value]
        assert torch.equal(st[key], states[key].half().transpose(1, 2))
    with pytest.raises(MergeError, match="RWKV-6 state tuning only"):
        merge(base_path, _run(tmp_path, states, name="run2"), tmp_path / "m.pth", merge_state=True)


def test_v6_state_can_also_be_merged_into_the_model(tmp_path):
    sd = tiny_state_dict("x060")
    save_model(sd, tmp_path / "v6.pth", dtype=torch.float32)
    states = {f"blocks.{i}.att.time_state": torch.randn(2, 32, 32) for i in range(2)}
    result = merge(tmp_path / "v6.pth", _run(tmp_path, states), tmp_path / "m.pth", dtype="fp32", merge_state=True)
    got = torch.load(result.outputs[0], weights_only=True)
    assert result.version == "x060" and list(got) == list(sd) + list(states)
    assert all(torch.equal(got[k], v) for k, v in {**sd, **states}.items())


# ------------------------------------------------------------------------------------------------
# Ai00 .st
# ------------------------------------------------------------------------------------------------

def _invert_ai00(st: dict[str, torch.Tensor], template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo the converter's renames and transposes, by comparing with the original key list."""
    out = {}
    for key, ref in template.items():
        name = key.replace("time_faaaa", "time_first").replace("time_maa", "time_mix").lower()
        value = st[name]
        if value.shape != ref.shape:
            value = value.transpose(-2, -1)
        out[key] = value.contiguous()
    return out


def test_st_export_follows_ai00_rules_and_round_trips(base, tmp_path):
    from safetensors import safe_open

    base_path, sd = base
    m = "blocks.0.ffn.key"
    ckpt = {m + ".lora_A": torch.randn(4, 64) * 0.1, m + ".lora_B": torch.randn(256, 4) * 0.1}
    result = merge(base_path, _run(tmp_path, ckpt, {"lora_alpha": 4}), tmp_path / "m-1.5b", fmt=["pth", "st"],
                   dtype="fp16")
    pth, st = result.outputs
    assert (pth.name, st.name) == ("m-1.5b.pth", "m-1.5b.st")
    with safe_open(st, "pt") as f:
        assert f.metadata() == {"format": "pt"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert all(v.dtype == torch.float16 for v in tensors.values())
    assert set(tensors) == {k.lower() for k in sd}
    c = sd["emb.weight"].shape[1]
    d_w = sd["blocks.1.att.w1"].shape[1]
    assert tensors["blocks.1.att.w1"].shape == (d_w, c)            # w1 [C, D] -> [D, C]
    assert tensors["blocks.1.att.w2"].shape == (c, d_w)            # w2 [D, C] -> [C, D]
    assert tensors["blocks.1.att.key.weight"].shape == (c, c)      # projections untouched
    assert tensors["blocks.0.att.r_k"].shape == sd["blocks.0.att.r_k"].shape
    merged = torch.load(pth, weights_only=True)
    back = _invert_ai00(tensors, sd)
    for key in sd:
        assert torch.equal(back[key], merged[key]), key
    save_model(back, tmp_path / "back.pth")
    tokens = torch.tensor([[1, 500, 23, 4000, 7]])
    with torch.no_grad():
        logits_back = load_model(tmp_path / "back.pth")(tokens)[0]
        logits_pth = load_model(pth)(tokens)[0]
    torch.testing.assert_close(logits_back, logits_pth, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------
# mismatches, failures, CLI
# ------------------------------------------------------------------------------------------------

def test_mismatches_name_the_problem_and_leave_no_file(base, tmp_path):
    base_path, sd = base
    out_dir = tmp_path / "merge"
    deeper = {"blocks.2.att.key.lora_A": torch.zeros(2, 64), "blocks.2.att.key.lora_B": torch.zeros(64, 2)}
    with pytest.raises(MergeError, match="3 layers, the base 2.*base the run trained on \\(model/big.pth\\)"):
        merge(base_path, _run(tmp_path, deeper, {"lora_alpha": 4, "model_path": "model/big.pth"}, name="a"),
              out_dir / "x.pth")
    wider = {"blocks.0.att.key.lora_A": torch.zeros(2, 128), "blocks.0.att.key.lora_B": torch.zeros(128, 2)}
    with pytest.raises(MergeError, match=r"A \[2, 128\].*\[64, 64\]"):
        merge(base_path, _run(tmp_path, wider, {"lora_alpha": 4}, name="b"), out_dir / "x.pth")
    v6 = {"blocks.0.att.time_maa_x": torch.zeros(1, 1, 64), "blocks.0.att.gate.lora_A": torch.zeros(2, 64),
          "blocks.0.att.gate.lora_B": torch.zeros(64, 2)}
    with pytest.raises(MergeError, match="x060 model, the base is x070"):
        merge(base_path, _run(tmp_path, v6, {"lora_alpha": 4}, name="c"), out_dir / "x.pth")
    pissa = {"blocks.0.att.key.lora_A": torch.zeros(2, 64), "blocks.0.att.key.lora_B": torch.zeros(64, 2)}
    with pytest.raises(MergeError, match="no init_pissa.pth: pass the run's init file with --pissa-init"):
        merge(base_path, _run(tmp_path, pissa, {"finetune_mode": "pissa"}, name="d"), out_dir / "x.pth")
    torch.save({"blocks.0.att.value.init_lora_A": torch.zeros(2, 64)}, tmp_path / "other_init.pth")
    with pytest.raises(MergeError, match="has no blocks.0.att.key.init_lora_A"):
        merge(base_path, tmp_path / "d" / "rwkv-3.pth", out_dir / "x.pth", pissa_init=tmp_path / "other_init.pth")
    states = {f"blocks.{i}.att.time_state": torch.zeros(4, 16, 16) for i in range(2)}
    with pytest.raises(MergeError, match=r"time_state is \[4, 16, 16\], the base needs \[2, 32, 32\]"):
        merge(base_path, _run(tmp_path, states, name="e"), out_dir / "x.pth")
    if not torch.cuda.is_available():  # the run's quantization is redone on the GPU, as in training
        with pytest.raises(MergeError, match="quant=int8 needs .*CUDA GPU"):
            merge(base_path, _run(tmp_path, deeper, {"lora_alpha": 4, "quant": "int8"}, name="f"), out_dir / "x.pth")
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_failure_while_writing_leaves_no_file(base, tmp_path):
    base_path, sd = base
    ckpt = {"blocks.0.att.key.disha": torch.zeros(8, 64)}

    def stop_halfway(done, total, key):
        if done == total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        merge(base_path, _run(tmp_path, ckpt), tmp_path / "out" / "m.pth", fmt=["pth", "st"], progress=stop_halfway)
    assert list((tmp_path / "out").iterdir()) == []


def test_list_checkpoints_orders_epochs(tmp_path):
    for name in ("rwkv-10.pth", "rwkv-2.pth", "init_pissa.pth", "rwkv-final.pth"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["rwkv-2.pth", "rwkv-10.pth"]


def test_cli_merges_into_the_default_name(project, base):
    base_path, sd = base
    (project / "model").mkdir()
    (project / "model" / "tiny.pth").write_bytes(base_path.read_bytes())
    run = project / "output" / "lora-run"
    run.mkdir(parents=True)
    torch.save({"blocks.0.att.key.lora_A": torch.randn(2, 64), "blocks.0.att.key.lora_B": torch.randn(64, 2)},
               run / "rwkv-7.pth")
    (run / "config.json").write_text(json.dumps({"finetune_mode": "lora", "lora_alpha": 4}))
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project))
    cmd = [sys.executable, "-m", "rwkv_simple_gui", "merge", "--base", "model/tiny.pth",
           "--checkpoint", "output/lora-run/rwkv-7.pth"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "merge/lora-run-7.pth" in done.stdout  # named after the run and its checkpoint
    merged = torch.load(project / "merge" / "lora-run-7.pth", weights_only=True)
    assert merged["emb.weight"].dtype == torch.bfloat16
    bad = subprocess.run(cmd[:-1] + ["output/lora-run/rwkv-9.pth"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "rwkv-9.pth does not exist" in bad.stderr


# ------------------------------------------------------------------------------------------------
# write and read failures in plain words (a real full disk, read-only folder, damaged and refused files)
# ------------------------------------------------------------------------------------------------

def _limited(file_size: int | None = None):
    """For a child process: a file-size limit (writes past it fail, as on a full disk), and for root the loss
    of its power to write into any folder (so a read-only folder is read-only as for any user)."""
    def apply():
        import ctypes
        import resource
        import signal

        if file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        if os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH out of the bounding set: gone after exec
                if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                    raise OSError(ctypes.get_errno(), "prctl")
    return apply


def _lora_ckpt(tmp_path: Path, name="run", config=None) -> Path:
    gen = torch.Generator().manual_seed(5)
    ckpt = {"blocks.0.att.key.lora_A": torch.randn(2, 64, generator=gen),
            "blocks.0.att.key.lora_B": torch.randn(64, 2, generator=gen)}
    return _run(tmp_path, ckpt, config or {"finetune_mode": "lora", "lora_alpha": 4}, name=name)


def test_a_full_disk_says_so_for_every_format_and_leaves_nothing(base, tmp_path):
    base_path, _ = base
    ckpt, out = _lora_ckpt(tmp_path), tmp_path / "full"
    # the CLI once per format in one child (torch's zip writer hides ENOSPC as "unexpected pos", ours not)
    code = ("import sys\nfrom rwkv_simple_gui.__main__ import main\n"
            "for fmt in ('pth', 'st', 'hf', 'gguf'):\n"
            "    print('exit', main(sys.argv[1:] + ['--format', fmt]), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, "merge", "--base", str(base_path), "--checkpoint", str(ckpt),
                           "--out", str(out / "m.pth"), "--no-check"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, preexec_fn=_limited(file_size=2**20))
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.stderr.count("exit 2") == 4 and len(errors) == 4, done.stderr
    for name, error in zip(("m.pth", "m.st", "m-hf", "m.gguf"), errors):
        assert f"could not write all of {name} in {out}: the disk is full or a file-size limit was hit" in error
        assert "needs about 16 MB" in error and error.endswith("nothing was written")
    assert list(out.iterdir()) == []


def test_a_read_only_folder_says_so_and_leaves_nothing(base, tmp_path):
    base_path, _ = base
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        cmd = [sys.executable, "-m", "rwkv_simple_gui", "merge", "--base", str(base_path), "--checkpoint",
               str(_lora_ckpt(tmp_path)), "--out", str(folder / "m.pth"), "--format", "all", "--no-check"]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=_limited())
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot write m.pth: the folder {folder} is not writable for this user" in done.stderr
    assert list(folder.iterdir()) == []


def test_damaged_and_refused_inputs_say_so(base, tmp_path):
    base_path, _ = base
    ckpt, out = _lora_ckpt(tmp_path), tmp_path / "out"
    whole = base_path.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(MergeError, match=r"cut.pth: the file is damaged or truncated .*copy it again"):
        merge(cut, ckpt, out / "m.pth")
    broken = bytearray(whole)  # one tensor's zip record header overwritten: the archive opens, the record not
    at = -1
    for _ in range(6):
        at = broken.find(b"PK\x03\x04", at + 1)
    broken[at:at + 4] = b"XXXX"
    (tmp_path / "record.pth").write_bytes(bytes(broken))
    with pytest.raises(MergeError, match=r"record.pth: the file is damaged: tensor \S+ \(record data/\d+\) cannot be "
                                         r"read .*Copy or download it again"):
        merge(tmp_path / "record.pth", ckpt, out / "m.pth")
    run = tmp_path / "evil"
    run.mkdir()
    torch.save({"blocks.0.att.key.lora_A": torch.zeros(2, 64), "note": Exception("code")}, run / "rwkv-1.pth")
    with pytest.raises(MergeError, match="rwkv-1.pth: refused: it holds Python objects besides tensors.*not loaded "
                                         "for safety") as err:
        merge(base_path, run / "rwkv-1.pth", out / "m.pth")
    assert "weights_only" not in str(err.value)
    assert not out.exists() or list(out.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# the base a run belongs to
# ------------------------------------------------------------------------------------------------

def test_a_merge_into_another_base_of_the_same_shape_warns_naming_both(base, tmp_path):
    base_path, _ = base
    other = save_model(tiny_state_dict("x070", seed=9), tmp_path / "other.pth", dtype=torch.float32)
    copy = tmp_path / "copy-of-tiny.pth"
    copy.write_bytes(base_path.read_bytes())
    config = {"finetune_mode": "lora", "lora_alpha": 4, "model_path": str(other)}
    result = merge(base_path, _lora_ckpt(tmp_path, "a", config), tmp_path / "m.pth")
    [warning] = [n for n in result.notes if "config.json names" in n]
    assert str(other) in warning and base_path.name in warning and "same shape" in warning
    config["model_path"] = str(copy)  # the same weights under another name: nothing to warn about
    assert not any("config.json names" in n for n in merge(base_path, _lora_ckpt(tmp_path, "b", config),
                                                            tmp_path / "m.pth").notes)


def test_state_files_carry_their_base_and_are_refused_on_another(base, tmp_path):
    from rwkv_simple_gui.export import fingerprint

    base_path, _ = base
    other = save_model(tiny_state_dict("x070", seed=9), tmp_path / "other.pth", dtype=torch.float32)
    states = {f"blocks.{i}.att.time_state": torch.randn(2, 32, 32) for i in range(2)}
    pth, st = merge(base_path, _run(tmp_path, states), tmp_path / "s.pth", fmt="both").outputs
    for path in (pth, st):
        assert fingerprint.read(path).same_model(fingerprint.of_file(base_path)), path
        assert fingerprint.read(path).name == base_path.name
    assert list(torch.load(pth, weights_only=True)) == list(states)  # one tensor per layer, as RWKV-Runner wants
    with pytest.raises(MergeError, match=f"state file s.pth was tuned on {base_path.name} .*not on other.pth "
                                         r"\(same shape, other weights\).*--force"):
        merge(other, pth, tmp_path / "again.pth")
    forced = merge(other, pth, tmp_path / "again.pth", force=True).outputs[0]
    assert fingerprint.read(forced).name == "other.pth"
    config = {"finetune_mode": "state_tuning", "model_path": str(other)}  # a run's state, by its config.json
    with pytest.raises(MergeError, match="tuned on other.pth"):
        merge(base_path, _run(tmp_path, states, config, name="run2"), tmp_path / "x.pth")


def test_a_whole_model_from_rwkv_peft_merge_1_is_exported_as_it_is(base, tmp_path):
    """RWKV-PEFT's default (--merge 1) writes the merged model itself as rwkv-N.pth, keys as a base model."""
    base_path, _ = base
    tuned = tiny_state_dict("x070", seed=4)
    ckpt = _run(tmp_path, tuned)  # no config.json: known by its keys
    result = merge(base_path, ckpt, tmp_path / "m.pth", dtype="fp32", check=True)
    assert result.method == "full" and result.keys_changed == len(tuned)
    _assert_merged(result.outputs[0], tuned)
    assert [c.ok for c in result.checks] == [True]
