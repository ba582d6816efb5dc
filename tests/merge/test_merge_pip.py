"""Merged models against the trained adapter models: checkpoints written by our peft module (as the trainer
saves them), merged, then run by the ``rwkv`` package (the oracle, in a subprocess: RWKV_V7_ON=1, cpu
fp32); their logits must equal ``peft.load_adapted_model``'s. For state tuning, the state file mounted in
the package must reproduce the adapted model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rwkv_simple_gui import peft
from rwkv_simple_gui.merge import merge
from rwkv_simple_gui.model import init_model, load_model, save_model
from rwkv_simple_gui.train import rundir

TOKENS = [33, 1000, 5, 65000, 17, 300, 300, 2]
ATOL = 2e-4  # fp32 throughout: merged W x vs W x + B(A x) and pip's kernels differ only by rounding

PIP_SCRIPT = r"""
import json, sys, torch
from rwkv.model import RWKV
jobs, tokens = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for name, (model_path, state_path) in jobs.items():
    model = RWKV(model=model_path[:-len(".pth")], strategy="cpu fp32")
    state = None
    if state_path:
        states = torch.load(state_path, weights_only=True)
        state = model.generate_zero_state()
        for i in range(model.args.n_layer):
            state[i * 3 + 1] = states[f"blocks.{i}.att.time_state"].float()
    logits, _ = model.forward(tokens, state)
    out[name] = logits.float().tolist()
print("RESULT" + json.dumps(out))
"""

CONFIGS = {
    "lora": {"finetune_mode": "lora", "lora_r": 4, "lora_alpha": 16, "train_parts": ["ln", "time"]},
    "pissa": {"finetune_mode": "pissa", "pissa_r": 4, "svd_niter": 2, "train_parts": ["ln"]},
    "bone": {"finetune_mode": "bone", "disha_r": 24, "train_parts": ["ln", "time"]},
    "bat": {"finetune_mode": "bat", "disha_r": 16, "train_parts": []},
    "state": {"finetune_mode": "state_tuning"},
}


def _trained_run(base_path: Path, run: Path, cfg: dict, seed: int) -> Path:
    """A run dir as the trainer leaves it, with every trainable tensor moved away from its start."""
    run.mkdir()
    model = load_model(base_path)
    peft.apply_peft(model, cfg)
    if cfg["finetune_mode"] == "pissa":
        torch.save(peft.init_state_dict(model), run / peft.METHODS["pissa"].init_file)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in peft.trainable_parameters(model).values():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    torch.save(peft.adapter_state_dict(model, cfg), run / "rwkv-1.pth")
    (run / "config.json").write_text(json.dumps({**cfg, "model_path": str(base_path), "quant": "none"}))
    return run / "rwkv-1.pth"


@pytest.fixture(scope="module")
def merged_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pip")
    model = init_model("x070", 2, 64, head_size=32, seed=11)
    gen = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    base_path = root / "base.pth"
    save_model(model, base_path, dtype=torch.float32)
    runs = {}
    for seed, (name, cfg) in enumerate(CONFIGS.items()):
        ckpt = _trained_run(base_path, root / name, cfg, seed)
        result = merge(base_path, ckpt, root / f"{name}-merged.pth", dtype="fp32")
        assert result.method == cfg["finetune_mode"]
        runs[name] = (ckpt, result.outputs[0])
    jobs = {name: (str(base_path), str(out)) if name == "state" else (str(out), None)
            for name, (_, out) in runs.items()}
    env = {**os.environ, "RWKV_V7_ON": "1", "RWKV_CUDA_ON": "0"}
    done = subprocess.run([sys.executable, "-c", PIP_SCRIPT, json.dumps(jobs), json.dumps(TOKENS)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    pip_logits = json.loads(done.stdout.split("RESULT", 1)[1])
    return base_path, runs, pip_logits


@pytest.mark.parametrize("name", list(CONFIGS))
def test_rwkv_package_on_merged_model_equals_adapter_model(merged_runs, name):
    base_path, runs, pip_logits = merged_runs
    ckpt, _ = runs[name]
    tokens = torch.tensor([TOKENS])
    with torch.no_grad():
        ours = peft.load_adapted_model(base_path, ckpt, rundir.read_options(ckpt.parent))(tokens)[0][0, -1].numpy()
        base_logits = load_model(base_path)(tokens)[0][0, -1].numpy()
    assert np.abs(base_logits - ours).max() > 100 * ATOL, "the adapter changed nothing; the test would be void"
    theirs = np.asarray(pip_logits[name], dtype=np.float32)
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=ATOL)
