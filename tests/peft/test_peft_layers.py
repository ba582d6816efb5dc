"""PEFT layers on plain nn.Linear: each method's output equals its weight-space formula written out here
independently (RWKV-PEFT's merge maths, reference §2.4/§2.11), and starts at the base layer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rwkv_simple_gui.peft.bat import BatLinear
from rwkv_simple_gui.peft.bone import BoneLinear
from rwkv_simple_gui.peft.lora import LoraLinear
from rwkv_simple_gui.peft.pissa import PissaLinear, read_init


def make_linear(out_f=24, in_f=40, seed=0) -> nn.Linear:
    torch.manual_seed(seed)
    lin = nn.Linear(in_f, out_f, bias=False)
    nn.init.normal_(lin.weight)
    return lin


def randomize(*params):
    with torch.no_grad():
        for p in params:
            p.normal_()


def test_lora_starts_at_base_and_matches_formula():
    lin = make_linear()
    x = torch.randn(3, 5, 40)
    lora = LoraLinear(lin, r=4, alpha=8, dropout=0.0)
    assert torch.equal(lora.lora_B, torch.zeros(24, 4))
    bound = 1 / math.sqrt(40)  # kaiming_uniform(a=sqrt 5) on [r, in]
    assert lora.lora_A.abs().max() <= bound and lora.lora_A.std() > bound / 4
    torch.testing.assert_close(lora(x), lin(x))
    randomize(lora.lora_B)
    expected = x @ (lin.weight + (8 / 4) * lora.lora_B @ lora.lora_A).T
    torch.testing.assert_close(lora(x), expected, rtol=1e-5, atol=1e-5)
    assert not lora.weight.requires_grad and lora.lora_A.requires_grad and lora.lora_B.requires_grad


def test_pissa_residual_plus_principal_part_is_the_base_weight(tmp_path):
    lin = make_linear(32, 48)
    with torch.no_grad():  # a decaying spectrum, as trained weights have
        u, _, v = torch.linalg.svd(lin.weight, full_matrices=False)
        lin.weight.copy_(u @ torch.diag(0.7 ** torch.arange(32.0)) @ v)
    x = torch.randn(2, 48)
    p = PissaLinear(lin, r=8, niter=4)
    torch.testing.assert_close(p(x), lin(x), rtol=1e-4, atol=1e-4)
    # B A is the best rank-8 approximation: its singular values are W's top 8
    s_ref = torch.linalg.svdvals(lin.weight.detach())
    s_ba = torch.linalg.svdvals(p.lora_B @ p.lora_A)[:8]
    torch.testing.assert_close(s_ba, s_ref[:8], rtol=2e-2, atol=2e-2)
    # the init file restores the exact residual, with the RWKV-PEFT "model." prefix
    torch.save({"model.blocks.0.att.key.init_lora_A": p.init_A, "model.blocks.0.att.key.init_lora_B": p.init_B},
               tmp_path / "init.pth")
    a0, b0 = read_init(tmp_path / "init.pth")["blocks.0.att.key"]
    again = PissaLinear(lin, r=8, niter=4, init=(a0, b0))
    assert torch.equal(again.weight, p.weight)


def test_bone_matches_rwkv_peft_merge_formula_with_padding():
    lin = make_linear(24, 40)  # 40 % 16 = 8: the last group is zero-padded
    bone = BoneLinear(lin, r=16)
    x = torch.randn(4, 40)
    torch.testing.assert_close(bone(x), lin(x))
    randomize(bone.disha)
    w = lin.weight.detach().clone()
    d = bone.disha.detach()
    for col in range(40):  # W[o, g*r + j] += disha[j, o]
        w[:, col] += d[col % 16, :]
    torch.testing.assert_close(bone(x), x @ w.T, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bone.merged_weight(), w)


def test_bat_matches_block_formula():
    lin = make_linear(32, 48)
    bat = BatLinear(lin, r=16)
    x = torch.randn(4, 48)
    torch.testing.assert_close(bat(x), lin(x))
    randomize(bat.disha)
    w0, d = lin.weight.detach(), bat.disha.detach()
    w = w0.clone()
    for a in range(2):
        for b in range(3):
            blk = w0[a * 16:(a + 1) * 16, b * 16:(b + 1) * 16]
            w[a * 16:(a + 1) * 16, b * 16:(b + 1) * 16] += blk @ d[b] + d[b]
    torch.testing.assert_close(bat(x), x @ w.T, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="must divide"):
        BatLinear(make_linear(30, 48), r=16)


def test_adapters_only_get_gradients():
    lin = make_linear()
    for layer in (LoraLinear(lin, 4, 8), BoneLinear(lin, 8), BatLinear(make_linear(24, 48), 8)):
        x = torch.randn(2, layer.in_features)
        layer(x).pow(2).sum().backward()
        assert layer.weight.grad is None
        trained = [p for n, p in layer.named_parameters() if p.requires_grad]
        assert trained and all(p.grad is not None for p in trained)
