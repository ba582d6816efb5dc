"""The self-check every export ends with: the exported file, loaded back by the program that runs it
(``runtimes``, in a process of its own) where that is installed, else by our own reader of the format,
gives the same logits on a few tokens as base + adapter computed unmerged (the method's layers, or HF
``peft`` for an adapter folder), within a tolerance stated per dtype.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.model import RWKV, ModelInfo

PROMPT = "User: What is the capital of France?\n\nAssistant:"
# max |logit difference| allowed, as a share of the largest reference logit: what rounding the weights to
# the file's dtype costs on the tiny test models, with headroom (fp32: the runtimes' own arithmetic)
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 8e-2, "q8_0": 8e-2}
# what the allowed difference stands for, in the words of the self-check line
ALLOWANCE = {"fp32": "two programs' own fp32 arithmetic", "fp16": "storing the weights in fp16",
             "bf16": "storing the weights in bf16", "q8_0": "q8_0 quantization"}


@dataclass
class CheckResult:
    path: Path
    fmt: str
    runtime: str           # who loaded it ("llama.cpp (llama-cpp-python 0.3.36)", "our reader")
    max_diff: float        # max |logit - reference logit| over the checked positions
    tolerance: float
    reference: str         # what was compared with
    note: str = ""         # why the runtime itself was not used
    dtype: str = "fp32"    # the file's weights: what the tolerance allows for
    scale: float = 1.0     # the largest |reference logit| (at least 1): the tolerance is a share of it

    @property
    def ok(self) -> bool:
        return self.max_diff <= self.tolerance

    def lines(self) -> list[str]:
        """Lines a user can act on: who read the file back and how far its logits are from the reference;
        what the allowed difference stands for; why our reader stood in; what to do when it is over."""
        verdict = "✅" if self.ok else "❌"
        share = f"{TOLERANCE[self.dtype]:.2%}".replace(".00%", "%")
        lines = [f"{verdict} {self.path.name}: {self.runtime} gives logits within {self.max_diff:.2g} of "
                 f"{self.reference}; allowed: {self.tolerance:.2g}, {share} of the largest logit "
                 f"({self.scale:.3g}), what {ALLOWANCE[self.dtype]} may cost"]
        if self.note:
            lines.append(f"↳ {self.note}")
        if not self.ok:
            lines.append("↳ This file does not compute what the trained model computes: do not use it; report this "
                         "line with the merge command.")
        return lines

    def describe(self) -> str:
        return "\n  ".join(self.lines())


def tokens(vocab_size: int) -> list[int]:
    from rwkv_simple_gui.data.tokenizer import get_tokenizer

    return [t % vocab_size for t in get_tokenizer("world").encode(PROMPT)]


def _model(info: ModelInfo, sd: dict[str, torch.Tensor]) -> RWKV:
    with torch.device("meta"):
        model = RWKV(info)
    own = model.state_dict()
    full = {k: sd[k].float() if k in sd else torch.zeros(own[k].shape) for k in own}  # layer 0's unused v0/v1/v2
    model.load_state_dict(full, assign=True)
    return model.eval()


def _logits(model: torch.nn.Module, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids]))[0][0].float().numpy()


def _with_state(model: RWKV, states: dict[int, torch.Tensor]) -> RWKV:
    for i, block in enumerate(model.blocks):
        block.att.time_state = torch.nn.Parameter(states[i].float(), requires_grad=False)
    return model


def _states(sd: dict[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    return {int(k.split(".")[1]): v for k, v in sd.items() if k.endswith("att.time_state")}


# --- our readers of each format: the file back into our key names -----------------------------------

def _read_pth(path: Path, info: ModelInfo, names) -> dict[str, torch.Tensor]:
    return dict(torch.load(path, map_location="cpu", weights_only=True))


def _read_st(path: Path, info: ModelInfo, names) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    from . import ai00

    st = load_file(str(path))
    out = {}
    for name, shape in names.items():
        new = ai00.st_name(name)
        t = st[new]
        if ai00.transposed(new) and t.ndim >= 2:
            t = t.transpose(-2, -1)
        out[name] = t.reshape(shape)
    return out


def _read_hf(path: Path, info: ModelInfo, names) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    from . import hf

    st = load_file(str(path / hf.WEIGHTS))
    out = {}
    for name, shape in names.items():
        new, transposed = hf.hf_name(name)
        if new is not None:
            out[name] = (st[new].t() if transposed else st[new]).reshape(shape)
    return out


def _read_gguf(path: Path, info: ModelInfo, names) -> dict[str, torch.Tensor]:
    import gguf as gguf_package

    from . import gguf

    reader = gguf_package.GGUFReader(str(path))
    found = {t.name: torch.from_numpy(np.array(gguf_package.quants.dequantize(t.data, t.tensor_type)))
             for t in reader.tensors}
    specs = [(n, s, torch.float32) for n, s in names.items()]
    out = {}
    for entry in gguf.layout(specs, info):
        t = found[entry.name].reshape(entry.shape)
        if len(entry.sources) > 1:  # the stacked token-shift mixes
            for i, source in enumerate(entry.sources):
                out[source] = t[i].reshape(names[source])
        elif entry.sources:
            source = entry.sources[0]
            if entry.build is gguf._swap:
                t = t.transpose(-2, -1)
            out[source] = t.reshape(names[source])
    return out


READERS = {"pth": _read_pth, "st": _read_st, "hf": _read_hf, "gguf": _read_gguf}


def _runtime(fmt: str, path: Path, version: str, ids: list[int], base: Path | None):
    """(runtime name, logits) from the format's own program, or (None, why not)."""
    with tempfile.TemporaryDirectory(prefix="rwkv-check-") as tmp:
        out = Path(tmp) / "logits.npy"
        cmd = [sys.executable, "-m", "rwkv_simple_gui.export.runtimes", fmt, str(path), "--version", version,
               "--tokens", ",".join(map(str, ids)), "--out", str(out)] + (["--base", str(base)] if base else [])
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=paths.child_env())
        last = (done.stdout.strip().splitlines() or ["{}"])[-1]
        try:
            said = json.loads(last)
        except ValueError:
            said = {}
        if done.returncode == 0 and out.is_file():
            return said.get("runtime", fmt), np.load(out)
        if "unavailable" in said:
            return None, said["unavailable"]
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"its runtime failed on this file (exit {done.returncode}: {tail})"


def check_file(fmt: str, path: Path, info: ModelInfo, names: dict[str, tuple[int, ...]], reference: np.ndarray,
               ids: list[int], dtype: str, reference_name: str, *, state_base: Path | None = None,
               base_sd=None) -> CheckResult:
    """Load ``path`` (format ``fmt``) with its runtime, else our reader, and compare with ``reference``."""
    name, got = _runtime(fmt, path, info.version, ids, state_base)
    note = ""
    if name is None:
        note, name = f"{got}, so our own reader of the format read it back", "our reader"
        sd = READERS[fmt](path, info, names)
        if state_base is not None:
            got = _logits(_with_state(_model(info, dict(base_sd)), _states(sd)), ids)
        else:
            got = _logits(_model(info, sd), ids)
    got = got.reshape(-1, reference.shape[-1])
    ref = reference[-got.shape[0]:]
    scale = max(1.0, float(np.abs(ref).max()))
    return CheckResult(path, fmt, name, float(np.abs(got - ref).max()), TOLERANCE[dtype] * scale, reference_name, note,
                       dtype, scale)


def reference_logits(base_path: Path, ckpt_path: Path, options: dict, row, ids: list[int], *, pissa_init=None,
                     hf_folder: Path | None = None) -> tuple[np.ndarray, str]:
    """Base + adapter, unmerged, in fp32: the method's own layers (``hf_folder``, an HF peft adapter folder the
    merge read: ``peft`` itself)."""
    from rwkv_simple_gui.model import load_model
    from rwkv_simple_gui.model.lazy import LazyStateDict
    from rwkv_simple_gui.peft import load_adapted_model

    if hf_folder is not None:
        try:
            from peft import PeftModel
        except ImportError:
            return None, "peft is not installed"
        model = PeftModel.from_pretrained(load_model(base_path), str(hf_folder)).eval()
        return _logits(model, ids), "base + adapter run by HF peft"
    cfg = {**options, "finetune_mode": row.name}
    if row.rank_option and cfg.get(row.rank_option) is None:  # a checkpoint without its run's config.json
        sd = LazyStateDict(ckpt_path)
        first = next(k for k in sd if k.endswith(row.key_suffixes[0]))
        cfg[row.rank_option] = sd[first].shape[-2]  # every adapter here keeps its rank second to last
    if pissa_init:
        cfg[row.init_option] = str(pissa_init)
    return _logits(load_adapted_model(base_path, ckpt_path, cfg), ids), "base + adapter (unmerged, fp32)"


def check_merge(base_path: Path, ckpt_path: Path, options: dict, row, targets, ctx, *, pissa_init=None,
                hf_folder: Path | None = None) -> list[CheckResult]:
    """Every export of one merge checked against base + adapter."""
    from rwkv_simple_gui.model.lazy import open_state_dict

    base_sd = open_state_dict(base_path)
    info = ctx.info
    ids = tokens(info.vocab_size)
    reference, reference_name = reference_logits(base_path, ckpt_path, options, row, ids, pissa_init=pissa_init,
                                                  hf_folder=hf_folder)
    dtype = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[ctx.dtype]
    results = []
    for fmt, path in targets:
        names = ({k: tuple(base_sd[k].shape) for k in base_sd} if not ctx.state else
                 {f"blocks.{i}.att.time_state": (info.n_head, info.head_size, info.head_size)
                  for i in range(info.n_layer)})
        file_dtype = {"st": "fp16", "gguf": ctx.gguf_type}.get(fmt.name, "fp32" if ctx.state else dtype)
        if reference is None:  # no independent reference: our reader of the first export stands in
            reference = _logits(_model(info, READERS[targets[0][0].name](targets[0][1], info, names)), ids)
            reference_name = f"our reader of {targets[0][1].name} ({reference_name})"
        results.append(check_file(fmt.name, path, info, names, reference, ids, file_dtype, reference_name,
                                  state_base=base_path if ctx.state else None,
                                  base_sd={k: base_sd.load(k) for k in base_sd} if ctx.state else None))
    return results
