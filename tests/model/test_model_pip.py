"""Our RWKV-7 / RWKV-6 forward against the `rwkv` pip package (the oracle), on tiny random models.

The rwkv package reads RWKV_V7_ON at import, so it runs in a fresh subprocess per version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from rwkv_simple_gui.model import init_model, load_model, save_model

pytest.importorskip("rwkv")

TOKENS = [0, 17, 65535, 261, 33, 5, 5, 12000, 40000, 7, 99, 1024, 3, 65000, 8, 21, 300]

# argv: a torch file holding a list of jobs {model, tokens, states (optional), out}
PIP_SCRIPT = textwrap.dedent("""
    import sys, torch
    from rwkv.model import RWKV
    for job in torch.load(sys.argv[1]):
        model = RWKV(model=job["model"], strategy="cpu fp32")
        state = None
        if job.get("states") is not None:  # v7 has no time_state loader: inject [H, value, key] as RWKV-Runner does
            state = model.generate_zero_state()
            for i, s in enumerate(job["states"]):
                state[i * 3 + 1] = s.float()
        logits, state = model.forward(job["tokens"], state, full_output=True)
        torch.save({"logits": logits.float(), "state": [s.float() for s in state]}, job["out"])
""")


def random_model(version: str, seed: int):
    """A fresh model with every weight perturbed, so that no path hides behind a zero-initialised matrix."""
    model = init_model(version, n_layer=3, n_embd=128, head_size=32, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim == 2 and "emb" not in name:
                p.add_(noise / p.shape[1] ** 0.5)
            else:
                p.add_(0.2 * noise)
    return model


@pytest.fixture(scope="module", params=["x070", "x060"])
def case(request, tmp_path_factory):
    """Two fp32 model files per version (plain, and with time_state) and the rwkv package's outputs on them."""
    version = request.param
    v7 = version == "x070"
    tmp = tmp_path_factory.mktemp(version)
    plain = save_model(random_model(version, seed=3), tmp / "plain.pth", dtype="fp32")

    model = random_model(version, seed=5)
    info = model.info
    gen = torch.Generator().manual_seed(9)
    states = [torch.randn(info.n_head, info.head_size, info.head_size, generator=gen) for _ in range(info.n_layer)]
    sd = model.state_dict()
    sd.update({f"blocks.{i}.att.time_state": s for i, s in enumerate(states)})
    with_state = save_model(sd, tmp / "with_state.pth")

    def pip_path(p):  # the v7 loader appends .pth itself; v6 takes the file name
        return str(p)[: -len(".pth")] if v7 else str(p)

    jobs = [{"model": pip_path(plain), "tokens": TOKENS, "out": str(tmp / "pip_plain.pt")},
            # pip v6 starts from the file's time_state by itself; v7 needs it injected
            {"model": pip_path(with_state), "tokens": TOKENS[:6], "states": states if v7 else None,
             "out": str(tmp / "pip_state.pt")}]
    torch.save(jobs, tmp / "jobs.pt")
    env = {**os.environ, "RWKV_V7_ON": "1" if v7 else "0", "RWKV_CUDA_ON": "0"}
    proc = subprocess.run([sys.executable, "-c", PIP_SCRIPT, str(tmp / "jobs.pt")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"version": version, "plain": plain, "with_state": with_state,
            "pip_plain": torch.load(tmp / "pip_plain.pt"), "pip_state": torch.load(tmp / "pip_state.pt")}


def test_logits_and_state_match_rwkv_package(case):
    pip = case["pip_plain"]
    ours = load_model(case["plain"], op="chunked")
    with torch.no_grad():
        logits, state = ours(torch.tensor([TOKENS]))
    assert logits.shape == (1, len(TOKENS), 65536)
    assert (logits[0] - pip["logits"]).abs().max().item() < 1e-4
    assert logits.abs().max().item() > 1.0  # not a degenerate comparison
    for i, (att_shift, wkv, ffn_shift) in enumerate(state):
        pip_wkv = pip["state"][i * 3 + 1]
        if case["version"] == "x060":
            pip_wkv = pip_wkv.transpose(-1, -2)  # pip v6 keeps [H, key, value]
        assert (att_shift[0] - pip["state"][i * 3]).abs().max().item() < 1e-4
        assert (wkv[0] - pip_wkv).abs().max().item() < 1e-4
        assert (ffn_shift[0] - pip["state"][i * 3 + 2]).abs().max().item() < 1e-4


def test_time_state_matches_rwkv_package(case):
    """A model carrying blocks.*.att.time_state starts from it, as pip does (v6 from the file, v7 injected)."""
    ours = load_model(case["with_state"], op="torch")
    info = ours.info
    assert ours.blocks[1].att.time_state.shape == (info.n_head, info.head_size, info.head_size)
    with torch.no_grad():
        logits, _ = ours(torch.tensor([TOKENS[:6]]))
        zero_state = [(a, torch.zeros_like(s), f) for a, s, f in ours.initial_state(1)]
        base_logits, _ = ours(torch.tensor([TOKENS[:6]]), zero_state)
    assert (logits[0] - case["pip_state"]["logits"]).abs().max().item() < 1e-4
    assert (logits - base_logits).abs().max().item() > 1e-3  # the state really changed the output
