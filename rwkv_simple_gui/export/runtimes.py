"""Run an export with the program made to run it, in a process of its own (a runtime that crashes on a bad
file must not take the app with it; the ``rwkv`` package picks RWKV-6 or -7 once per process):

    python -m rwkv_simple_gui.export.runtimes FORMAT PATH --version x070 --tokens 1,2,3 --out logits.npy
        [--base BASE.pth]   (PATH is a state file mounted on BASE)

It writes the logits of every token position ([T, V] float32, or [1, V] where the runtime gives the last
only) and prints the runtime's name; exit code 3 and a reason when the runtime is not installed or cannot
run this file here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

UNAVAILABLE = 3


class Unavailable(Exception):
    """The runtime is not installed or cannot load this kind of file on this machine."""


def _rwkv_package(path: str, version: str, tokens: list[int], base: str | None):
    os.environ["RWKV_V7_ON"] = "1" if version == "x070" else "0"
    os.environ.setdefault("RWKV_JIT_ON", "1")
    os.environ["RWKV_CUDA_ON"] = "0"
    from rwkv.model import RWKV

    model_file = base or path
    model = RWKV(model=model_file[: -len(".pth")] if version == "x070" else model_file, strategy="cpu fp32")
    state = None
    if base:
        state = mounted_state(model, version, path)
    logits, _ = model.forward(tokens, state, full_output=True)
    version_name = _version("rwkv")
    return f"the rwkv package {version_name}", logits.float().reshape(len(tokens), -1).numpy()


def mounted_state(model, version: str, state_path: str):
    """The rwkv package's initial state list with a state file's tuned wkv states mounted (§1.8: RWKV-7 as-is,
    RWKV-6 transposed): what Chat and the export check run a state file with."""
    import torch

    sd = torch.load(state_path, map_location="cpu", weights_only=True)
    n_layer, n_embd = model.args.n_layer, model.args.n_embd
    state = []
    for i in range(n_layer):
        tuned = next(v for k, v in sd.items() if k.endswith(f"blocks.{i}.att.time_state"))
        if version == "x060":
            tuned = tuned.transpose(1, 2)
        device, dtype = _layer_placement(model, version, i)
        state += [torch.zeros(n_embd, dtype=dtype, device=device),
                  tuned.to(device=device, dtype=torch.float).contiguous(),
                  torch.zeros(n_embd, dtype=dtype, device=device)]
    return state


def _layer_placement(model, version: str, layer: int):
    if version == "x070":
        zero = model.generate_zero_state()[layer * 3]
        return zero.device, zero.dtype
    return model.strategy[layer].device, model.strategy[layer].atype


def _web_rwkv(path: str, version: str, tokens: list[int], base: str | None):
    try:
        import web_rwkv_py
    except ImportError:  # a test-only package: a user's install is not told to get it
        raise Unavailable("no program that runs .st files is installed here (Ai00 and RWKV-Runner load it)") from None
    if version != "x060":
        raise Unavailable("web-rwkv-py 0.2.3 runs RWKV-4 to 6 only (it misreads an RWKV-7 file as RWKV-6)")
    if base:
        raise Unavailable("web-rwkv-py mounts no state file here")
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        layers = 1 + max(int(k.split(".")[1]) for k in f.keys() if k.startswith("blocks."))
    if layers < 4:
        raise Unavailable(f"web-rwkv needs at least 4 layers (it splits the model in quarters); this one has {layers}")
    model = web_rwkv_py.Model(path)
    out = None
    for _ in range(2):  # a cold shader cache gave wrong numbers once in four runs; the second run is the check
        model.clear_state()
        out = np.asarray(model.run(tokens), dtype=np.float32).reshape(1, -1)  # the last token's logits
    return f"web-rwkv (web-rwkv-py {_version('web-rwkv-py')})", out


def _rwkv7_hf(path: str, version: str, tokens: list[int], base: str | None):
    try:
        import torch
        from rwkv7_hf import RWKV7ForCausalLM
    except ImportError:
        raise Unavailable("rwkv7-hf is not installed (pip install rwkv7-hf)") from None
    model = RWKV7ForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0]
    return f"transformers + rwkv7-hf {_version('rwkv7-hf')}", logits.float().numpy()


def _llama_cpp(path: str, version: str, tokens: list[int], base: str | None):
    try:
        from llama_cpp import Llama
    except ImportError:
        raise Unavailable("llama-cpp-python is not installed (pip install llama-cpp-python builds it, a few "
                          "minutes)") from None
    model = Llama(model_path=path, logits_all=True, n_ctx=max(64, len(tokens)), n_batch=len(tokens), verbose=False,
                  n_threads=2)
    model.eval(tokens)
    return f"llama.cpp (llama-cpp-python {_version('llama-cpp-python')})", np.asarray(
        model.scores[: len(tokens)], dtype=np.float32)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


RUNTIMES = {"pth": _rwkv_package, "st": _web_rwkv, "hf": _rwkv7_hf, "gguf": _llama_cpp}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fmt", choices=tuple(RUNTIMES))
    parser.add_argument("path")
    parser.add_argument("--version", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--base")
    args = parser.parse_args(argv)
    if args.fmt == "st":  # Mesa's software Vulkan: one thread gave steady numbers, and it needs a runtime dir
        os.environ.setdefault("LP_NUM_THREADS", "1")
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-"))
    tokens = [int(t) for t in args.tokens.split(",")]
    try:
        name, logits = RUNTIMES[args.fmt](args.path, args.version, tokens, args.base)
    except Unavailable as why:
        print(json.dumps({"unavailable": str(why)}))
        return UNAVAILABLE
    np.save(args.out, logits)
    print(json.dumps({"runtime": name}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
