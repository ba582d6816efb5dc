"""Checkpoint files: save/load round trips, detect, errors for non-RWKV files, the init-model CLI."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from rwkv_simple_gui import paths
from rwkv_simple_gui.__main__ import main as cli_main
from rwkv_simple_gui.model import (
    RWKV,
    ModelFormatError,
    ModelInfo,
    detect,
    init_model,
    load_model,
    read_state_dict,
    save_model,
)


@pytest.fixture(scope="module")
def models():
    return {v: init_model(v, n_layer=2, n_embd=64, vocab_size=1000, head_size=32, seed=1) for v in ("x070", "x060")}


@pytest.mark.parametrize("version", ["x070", "x060"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_save_load_round_trip_is_bit_exact(models, version, dtype, suffix, tmp_path):
    saved = {k: v.to(dtype) for k, v in models[version].state_dict().items()}
    path = save_model(saved, tmp_path / f"m{suffix}")
    if suffix == ".pth":
        assert zipfile.is_zipfile(path)  # the rwkv package memory-maps, which needs the zip format
    loaded = load_model(path, dtype=dtype)
    got = loaded.state_dict()
    assert list(got) == list(saved)
    for k, v in saved.items():
        assert got[k].dtype == dtype and torch.equal(got[k], v), k
    assert detect(path).dtype == {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def test_saved_file_is_flat_and_loads_with_plain_torch(models, tmp_path):
    path = save_model(models["x070"], tmp_path / "m.pth", dtype="bf16")
    sd = torch.load(path, weights_only=True, mmap=True)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.bfloat16 for v in sd.values())
    assert set(sd) == set(models["x070"].state_dict())
    assert sd["blocks.0.att.r_k"].shape == (2, 32)


def test_save_is_atomic(models, tmp_path, monkeypatch):
    dest = tmp_path / "m.pth"
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        save_model(models["x070"], dest)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", ["x070", "x060"])
def test_detect_reads_geometry_from_keys(models, version, tmp_path):
    path = save_model(models[version], tmp_path / "m.pth")
    info = detect(path)
    assert (info.version, info.n_layer, info.n_embd, info.n_head, info.head_size, info.vocab_size) == \
        (version, 2, 64, 2, 32, 1000)
    if version == "x070":
        assert info.dim_ffn == 256 and info.lora == {"w": 32, "a": 32, "v": 32, "g": 32}
    else:
        assert info.dim_ffn == 224 and info.lora == {"maa": 32, "decay": 64}
    assert info.n_params == sum(p.numel() for p in models[version].parameters())
    assert detect(models[version].state_dict()) == info


def test_detect_0_1b_shapes_without_loading_weights():
    """The released 0.1B x070 geometry (L12 D768): LoRA widths 64/64/32/128 (reference §1.5), read from
    shape-only (meta) tensors."""
    with torch.device("meta"):
        model = RWKV(ModelInfo.for_shape("x070", 12, 768))
    info = detect(model.state_dict())
    assert info.lora == {"w": 64, "a": 64, "v": 32, "g": 128}
    assert (info.n_layer, info.n_head, info.dim_ffn, info.vocab_size) == (12, 12, 3072, 65536)


def test_layer0_value_residual_keys_from_rwkv_lm_are_accepted(models, tmp_path):
    sd = dict(models["x070"].state_dict())
    sd["blocks.0.att.v0"] = torch.zeros(1, 1, 64)
    sd["blocks.0.att.v1"] = torch.zeros(64, 32)
    sd["blocks.0.att.v2"] = torch.zeros(32, 64)
    path = save_model(sd, tmp_path / "rwkv_lm.pth")
    assert "blocks.0.att.v0" not in load_model(path).state_dict()


def test_non_rwkv_files_say_what_was_found(tmp_path):
    hf = tmp_path / "hf.safetensors"
    save_file({"model.layers.0.self_attn.q_proj.weight": torch.zeros(4, 4),
               "model.embed_tokens.weight": torch.zeros(8, 4)}, hf)
    with pytest.raises(ModelFormatError,
                       match=r"no emb.weight.*Hugging Face transformers checkpoint: model\.(layers|embed_tokens)"):
        detect(hf)
    adapter = tmp_path / "rwkv-0.pth"
    torch.save({"blocks.0.att.receptance.lora_A": torch.zeros(4, 64)}, adapter)
    with pytest.raises(ModelFormatError, match="training checkpoint .* merge it into its base model first"):
        load_model(adapter)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(ModelFormatError, match="notes.pth: not an RWKV model: not a PyTorch checkpoint"):
        detect(text)
    v5 = tmp_path / "v5.pth"
    torch.save({"emb.weight": torch.zeros(8, 4), "blocks.0.att.time_decay": torch.zeros(4)}, v5)
    with pytest.raises(ModelFormatError, match="RWKV-4/5"):
        detect(v5)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        detect(tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match="is a folder, not a file"):
        detect(tmp_path)


def test_damaged_and_refused_files_say_so_in_plain_words(models, tmp_path):
    """A truncated .pth is called damaged, and a checkpoint holding code is refused without torch's advice to
    load it unsafely (for a resume checkpoint as for a model)."""
    from rwkv_simple_gui import peft

    whole = save_model(models["x070"], tmp_path / "whole.pth")
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ModelFormatError, match="damaged or truncated.*copy it again"):
        load_model(cut)
    evil = tmp_path / "rwkv-0.pth"
    torch.save({"blocks.0.att.receptance.lora_A": torch.zeros(4, 64), "note": Exception("code")}, evil)
    model = load_model(whole)
    peft.apply_peft(model, {"finetune_mode": "lora", "lora_r": 4, "lora_alpha": 8})
    with pytest.raises(ModelFormatError, match="not loaded for safety") as err:
        peft.load_checkpoint(model, evil)
    assert "exceptions.Exception" in str(err.value) and "weights_only" not in str(err.value)


def test_incomplete_or_mismatched_files_name_the_key(models, tmp_path):
    sd = dict(models["x070"].state_dict())
    del sd["blocks.1.att.k_k"]
    with pytest.raises(ModelFormatError, match=r"missing 1 keys \(blocks.1.att.k_k\)"):
        load_model(save_model(sd, tmp_path / "a.pth"))
    sd = dict(models["x070"].state_dict())
    sd["blocks.1.att.surprise"] = torch.zeros(3)
    with pytest.raises(ModelFormatError, match="unexpected 1 keys \\(blocks.1.att.surprise\\)"):
        load_model(save_model(sd, tmp_path / "b.pth"))
    sd = dict(models["x070"].state_dict())
    sd["blocks.1.att.w1"] = torch.zeros(64, 48)
    with pytest.raises(ModelFormatError, match=r"blocks.1.att.w1 has shape \[64, 48\], expected \[64, 32\]"):
        load_model(save_model(sd, tmp_path / "c.pth"))


def test_nested_training_checkpoint_is_unwrapped(models, tmp_path):
    path = tmp_path / "nested.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in models["x060"].state_dict().items()}}, path)
    assert set(read_state_dict(path)) == set(models["x060"].state_dict())
    assert detect(path).version == "x060"


def test_init_model_cli_writes_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "tiny.pth"
    cmd = [sys.executable, "-m", "rwkv_simple_gui", "init-model", "--version", "x060", "--n-layer", "2",
           "--n-embd", "64", "--head-size", "32", "--vocab", "1000", "--dtype", "bf16", "--seed", "3",
           "--out", str(out)]
    env = paths.child_env()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "x060" in proc.stdout and "2 layers" in proc.stdout and "bf16" in proc.stdout
    info = detect(out)
    assert (info.version, info.n_layer, info.n_embd, info.dtype) == ("x060", 2, 64, "bf16")
    expected = init_model("x060", 2, 64, vocab_size=1000, head_size=32, seed=3).state_dict()
    got = load_model(out, dtype="bf16").state_dict()
    assert all(torch.equal(got[k], v.bfloat16()) for k, v in expected.items())
    assert cli_main(cmd[3:]) == 2  # refuses to overwrite without --force
    assert "exists; pass --force" in capsys.readouterr().err
