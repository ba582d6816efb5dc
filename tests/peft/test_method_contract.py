"""The contract every row of the method table keeps, and a toy method defined only here keeps it too: a
new method is its layer, its row and its options, and nothing else changes.

On a tiny generated RWKV-7 with every weight moved off its fresh init (att.output and ffn.value start at
zero, where the blocks do nothing), each method: learns a memorisable sequence while the weights it does
not train stay bit-identical; saves exactly what it trains, and its checkpoint reads back as this method;
the streaming merge (merge.merge, one tensor at a time from the files) gives the layers' own merged weights
(a state file: the trained states); and base + checkpoint reloads to the trained model."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch
from torch import nn

from rwkv_simple_gui import peft
from rwkv_simple_gui.merge import merge
from rwkv_simple_gui.model import load_model, save_model
from rwkv_simple_gui.peft.base import AdaptedLinear, cast_for, option, train_parts, wrap_targets
from rwkv_simple_gui.peft.methods import METHOD_NAMES, METHODS, Method
from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.train.rundir import read_options
from tests.conftest import learning_rate, tiny_state_dict

VOCAB, STEPS = 256, 8
SEQUENCE = torch.tensor([[17, 99, 5] * 6])
# small sizes of the options that size what a method trains (any other option keeps its default)
SMALL = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "pissa_r": 8, "svd_niter": 2, "disha_r": 16,
         "lisa_r": 1, "lisa_k": 2, "train_parts": ["ln"], "quant": "none"}


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    sd = tiny_state_dict("x070", vocab_size=VOCAB, seed=5)
    sd["ln_out.weight"].fill_(4.0)  # sharp outputs, as a trained model's: a small change shows in the loss
    path = tmp_path_factory.mktemp("base") / "tiny.pth"
    save_model(sd, path, dtype=torch.float32)
    return path


def sequence_loss(model) -> torch.Tensor:
    logits, _ = model(SEQUENCE[:, :-1])
    return nn.functional.cross_entropy(logits[0], SEQUENCE[0, 1:])


def keeps_the_contract(row: Method, options: dict, base_path, run) -> None:
    model = load_model(base_path, op="chunked")
    peft.apply_peft(model, options)
    run.mkdir()
    if row.init_file:  # written when a run starts, as the trainer does
        torch.save(row.layer_module().init_state_dict(model), run / row.init_file)
    selector = peft.LisaSelector(model, options["lisa_r"], options["lisa_k"], seed=0) if row.redraws else None

    # learns, and touches nothing it does not train
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad or selector], lr=learning_rate(row))
    trained, losses = set(), []
    for step in range(STEPS):
        if selector:
            selector.update(step)
        trained |= set(peft.trainable_parameters(model))
        loss = sequence_loss(model)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        losses.append(sequence_loss(model).item())
    assert losses[-1] < 0.9 * losses[0], f"{row.name} did not learn: {losses}"
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and changed <= trained, f"{row.name} changed untrained {sorted(changed - trained)[:5]}"

    # saves exactly what it trains, under keys that read back as this method
    saved = peft.adapter_state_dict(model, options)
    assert set(saved) == (set(before) if row.trains_base else trained)
    if not row.trains_base:
        assert {s for s in row.key_suffixes if any(k.endswith(s) for k in saved)} == set(row.key_suffixes)
        assert peft.detect_method({k: v.ndim for k, v in saved.items()}, has_init=bool(row.init_file)) is row
    torch.save(saved, run / "rwkv-0.pth")
    (run / "config.json").write_text(json.dumps(options))

    # the streaming merge gives what the trained layers give
    base = torch.load(base_path, weights_only=True)
    result = merge(base_path, run / "rwkv-0.pth", run / "merged.pth", dtype="fp32")
    got = torch.load(result.outputs[0], weights_only=True)
    assert result.method == row.name
    if row.output == "state":
        expected = {k: v for k, v in after.items() if k.endswith(row.key_suffixes)}
    else:
        expected = {k: after[k] for k in base}
        expected.update({f"{name}.weight": m.merged_weight() for name, m in model.named_modules()
                         if hasattr(m, "merged_weight")})
    assert set(got) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value.float(), rtol=1e-6, atol=1e-6, msg=key)

    # base + checkpoint is the trained model
    reloaded = peft.load_adapted_model(base_path, run / "rwkv-0.pth", read_options(run)).state_dict()
    assert set(reloaded) == set(after)
    for key, value in after.items():
        torch.testing.assert_close(reloaded[key], value, rtol=0, atol=0, msg=key)


def options_of(name: str, **own) -> dict:
    return {**TrainConfig().to_dict(), **SMALL, "finetune_mode": name, **own}


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_every_method_of_the_table_keeps_the_contract(name, base_path, tmp_path):
    keeps_the_contract(METHODS[name], options_of(name), base_path, tmp_path / "run")


# --- a toy method: y = (W x) * (1 + toy_alpha * s), one trainable s per output feature ------------------

def toy_fold(weight: torch.Tensor, scale: torch.Tensor, alpha: float) -> torch.Tensor:
    return weight.float() * (1 + alpha * scale.float())[:, None]


class ToyLinear(AdaptedLinear):
    def __init__(self, base: nn.Linear, alpha: float):
        super().__init__(base)
        self.alpha = alpha
        self.toy_scale = nn.Parameter(torch.zeros(self.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_forward(x) * (1 + self.alpha * cast_for(self.toy_scale, x))

    def merged_weight(self) -> torch.Tensor:
        return toy_fold(self.base_weight(), self.toy_scale, self.alpha)


def toy_layer() -> types.ModuleType:
    """The toy's layer module, as peft/toy.py would hold it."""
    layer = types.ModuleType("rwkv_simple_gui.peft.toy")

    def inject(model, cfg):
        wrap_targets(model, lambda name, lin: ToyLinear(lin, option(cfg, "toy_alpha")))
        train_parts(model, cfg)

    def merge_weight(weight, get, cfg):
        return toy_fold(weight, get("toy_scale"), option(cfg, "toy_alpha"))

    def check(weight_shape, get_shape):
        shape = list(get_shape("toy_scale"))
        return None if shape == [weight_shape[0]] else f"is {shape} but toy needs [{weight_shape[0]}]"

    layer.inject, layer.merge_weight, layer.check = inject, merge_weight, check
    return layer


TOY = Method("toy", ("toy_alpha", "toy_load", "train_parts", "quant"), "toy", load_option="toy_load",
             key_suffixes=(".toy_scale",), fold_options=("toy_alpha",), tag="TOY")


def test_a_new_method_is_its_layer_its_row_and_its_options(base_path, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rwkv_simple_gui.peft.toy", toy_layer())
    monkeypatch.setitem(METHODS, TOY.name, TOY)
    keeps_the_contract(TOY, options_of("toy", toy_alpha=2.0, toy_load=""), base_path, tmp_path / "run")
