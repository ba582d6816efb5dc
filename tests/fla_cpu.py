"""fla's real Triton kernels on the CPU, through Triton's interpreter (tests only).

Importing this module sets ``TRITON_INTERPRET=1``, patches Triton's interpreter at run time (no
installed file is edited) and imports ``fla.ops``. That changes Triton for the whole process, so it is
imported only in a worker process of its own (tests/model/test_fla_kernels.py). The patches reach into
Triton internals: they hold for the versions pinned in requirements-test.txt, checked first.

1. The autotuner times every config, which needs a GPU driver: keep the first config.
2. ``fla.ops.utils.op`` binds ``gather = tl.gather`` at import; the interpreter patches ``tl.gather``
   only where it is reached as ``tl.gather``: rebind such aliases to a ``@triton.jit`` wrapper.
3. The interpreter runs ``range``/``tl.range`` loops with Python ints as induction variables where
   compiled Triton has tensors (``i_t.to(tl.int64)`` fails): make those loops yield tensors.
4. bf16 is held as raw uint16 bits and ``tl.dot`` multiplies the bits: widen bf16 operands to fp32.
5. So do elementwise float ops: compute bf16 in fp32 and round back to bf16, as the GPU does.
6. (speed only) a device function re-patches triton.language at every call: half the run time.

The functions at the end run the checks in the worker and return plain numbers to the test.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _check_versions() -> None:
    text = (Path(__file__).resolve().parent.parent / "requirements-test.txt").read_text()
    pinned = {name: re.search(rf"^{name}==(\S+)", text, re.M).group(1) for name in ("triton", "fla-core")}
    found = {}
    for name in pinned:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    if found != pinned:
        raise RuntimeError(f"the fla CPU tests need {pinned} (requirements-test.txt), found {found}: "
                           "run bash tests/setup.sh")


_check_versions()
if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
    raise RuntimeError("tests/fla_cpu.py must be imported before triton: @triton.jit reads TRITON_INTERPRET")
os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402
from triton.runtime import autotuner, interpreter  # noqa: E402

# 1. the first config, never a benchmark
_prune_configs = autotuner.Autotuner.prune_configs
autotuner.Autotuner.prune_configs = lambda self, kwargs: _prune_configs(self, kwargs)[:1]


# 2. a gather the interpreter patches like any device function (rebound after fla's import, below)
@triton.jit
def _gather(src, index, axis):
    return tl.gather(src, index, axis)


# 3. range / tl.range loops yield tensors; static_range keeps Python ints (compile-time constants)
def _tensor_range(iterable):
    for i in iterable:
        yield interpreter.interpreter_semantic.to_tensor(i)


class _LoopTransformer(interpreter.ASTTransformer):
    def visit_For(self, node):
        node = self.generic_visit(node)
        func = node.iter.func if isinstance(node.iter, ast.Call) else None
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name == "range":
            node.iter = ast.Call(func=ast.Name(id="_fla_cpu_tensor_range", ctx=ast.Load()), args=[node.iter],
                                 keywords=[])
        return node


interpreter.FunctionRewriter.ast_transformer = _LoopTransformer()
# a rewritten kernel runs in its module's globals, where the interpreter copies its own globals
interpreter._fla_cpu_tensor_range = _tensor_range


# 4. and 5. bf16 computed in fp32
def _bf16_to_fp32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _fp32_to_bf16(x: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    return np.where(np.isnan(x), 0x7FC0, rounded).astype(np.uint16)


def _widen(h):
    if h.dtype.scalar == tl.bfloat16:
        return interpreter.TensorHandle(_bf16_to_fp32(h.data), tl.float32)
    return h


_create_dot = interpreter.InterpreterBuilder.create_dot
_binary_op = interpreter.InterpreterBuilder.binary_op
_FLOAT_OPS = {np.add, np.subtract, np.multiply, np.divide, np.fmod, np.minimum, np.maximum, np.fmin, np.fmax}


def _create_dot_bf16(self, a, b, d, input_precision, max_num_imprecise_acc):
    return _create_dot(self, _widen(a), _widen(b), d, input_precision, max_num_imprecise_acc)


def _binary_op_bf16(self, lhs, rhs, op):
    if lhs.dtype.scalar != tl.bfloat16 or op not in _FLOAT_OPS:
        return _binary_op(self, lhs, rhs, op)
    out = _binary_op(self, _widen(lhs), _widen(rhs), op)
    return interpreter.TensorHandle(_fp32_to_bf16(out.data), tl.bfloat16)


interpreter.InterpreterBuilder.create_dot = _create_dot_bf16
interpreter.InterpreterBuilder.binary_op = _binary_op_bf16

# 6. patch triton.language only where the modules a function sees are not patched yet
_patch_lang = interpreter._patch_lang


def _patch_lang_once(fn):
    langs = [v for v in fn.__globals__.values() if v is tl or v is tl.core]
    if langs and not any(tl.core.is_builtin(lang.load) for lang in langs):
        return interpreter._LangPatchScope()  # nothing to restore
    return _patch_lang(fn)


interpreter._patch_lang = _patch_lang_once

import fla.ops  # noqa: E402  (imports fla.ops.rwkv6 and fla.ops.rwkv7)

for _module in [m for n, m in list(sys.modules.items()) if n.startswith("fla.") and m is not None]:
    for _attr, _value in list(vars(_module).items()):
        if _value is tl.gather:
            setattr(_module, _attr, _gather)

from rwkv_simple_gui.model import ops  # noqa: E402
from tests.model.test_model_ops import DECAYS7, forward_backward, inputs6, inputs7  # noqa: E402

# ---------------------------------------------------------------------------------------------
# checks run in the worker


def interpreter_env() -> str | None:
    return os.environ.get("TRITON_INTERPRET")


def _relative_errors(names, got, want) -> dict[str, float]:
    return {n: float((a.double() - b.double()).abs().max() / b.double().abs().max())
            for n, a, b in zip(names, got, want)}


def _swap_ab(fn):
    return lambda *args, **kw: fn(*args, **{**kw, "a": kw["b"], "b": kw["a"]})


def _untransposed_state(fn):
    def call(*args, **kw):
        y, h = fn(*args, **{**kw, "initial_state": kw["initial_state"].transpose(-1, -2).contiguous()})
        return y, h.transpose(-1, -2)
    return call


def _w_as_minus_exp(fn):
    return lambda *args, **kw: fn(*args, **{**kw, "w": -kw["w"].exp()})


def _default_scale(fn):
    return lambda *args, **kw: fn(*args, **{**kw, "scale": None})


# a wrong mapping between our wrapper and fla, planted by wrapping fla's function
PLANTS = {
    "state_untransposed": ("x070", _untransposed_state),
    "a_b_swapped": ("x070", _swap_ab),
    "w_as_minus_exp_log_w": ("x070", _w_as_minus_exp),
    "v6_default_scale": ("x060", _default_scale),
}


@contextlib.contextmanager
def _planted(plant: str | None):
    if plant is None:
        yield
        return
    version, wrap = PLANTS[plant]
    module, name = (fla.ops.rwkv7, "chunk_rwkv7") if version == "x070" else (fla.ops.rwkv6, "chunk_rwkv6")
    real = getattr(module, name)
    setattr(module, name, wrap(real))
    try:
        yield
    finally:
        setattr(module, name, real)


def op_errors(version: str, B: int, T: int, H: int, N: int, *, decay, batched_state=True, grads=True,
              dtype=torch.float32, plant: str | None = None, seed=0) -> dict[str, float]:
    """Our fla wrapper (inputs in ``dtype``) against the fp64 sequential op on the same rounded inputs:
    the error of the output, the final state and (with ``grads``) the gradient of every input and of
    the initial state, each relative to that tensor's largest value."""
    if version == "x070":
        xs, state = inputs7(B, T, H, N, DECAYS7[decay], seed=seed)
        fla_fn, ref_fn, names = ops.wkv7_fla, ops.wkv7_sequential, ["r", "log_w", "k", "v", "a", "b"]
    else:
        xs, state = inputs6(B, T, H, N, decay, seed=seed)
        fla_fn, ref_fn, names = ops.wkv6_fla, ops.wkv6_sequential, ["r", "log_w", "k", "v", "u"]
    state = state if batched_state else state[0]  # an unbatched time_state, broadcast over the batch
    xs = [x.to(dtype).double() for x in xs]
    names = ["y", "state"] + [f"d{n}" for n in names] + ["d_initial_state"]
    with _planted(plant):
        if not grads:
            return _relative_errors(names, fla_fn(*[x.to(dtype) for x in xs], state=state.float()),
                                    ref_fn(*xs, state=state))
        got = forward_backward(fla_fn, [x.to(dtype) for x in xs], state.float())
    want = forward_backward(ref_fn, xs, state)
    return _relative_errors(names, [got[0], got[1], *got[2]], [want[0], want[1], *want[2]])


@contextlib.contextmanager
def _fla_on_cpu():
    """Let a model resolve op "fla" on the CPU, where the interpreter runs it."""
    resolve = ops.resolve_op
    ops.resolve_op = lambda op, device: "fla" if op == "fla" else resolve(op, device)
    try:
        yield
    finally:
        ops.resolve_op = resolve


def training_step_errors(version: str, finetune_mode: str, *, n_embd=64, B=1, T=20, seed=0,
                         autocast: torch.dtype | None = None) -> dict[str, float]:
    """A training step (forward, loss, backward) of a tiny perturbed model with op fla against op torch:
    the loss and every trainable parameter's gradient, relative to its largest value. ``autocast``: the
    forward under torch.autocast in that dtype, as a bf16 run trains (its matmuls come out in bf16, its
    products with fp32 parameters in fp32, so the wkv op gets mixed dtypes)."""
    from rwkv_simple_gui.model import RWKV, detect
    from rwkv_simple_gui.peft import apply_peft
    from rwkv_simple_gui.train.config import TrainConfig
    from tests.conftest import tiny_state_dict

    sd = tiny_state_dict(version, n_embd=n_embd, seed=seed)
    tokens = torch.randint(0, 65536, (B, T + 1), generator=torch.Generator().manual_seed(seed))
    results = {}
    for op in ("torch", "fla"):
        model = RWKV(detect(sd), op)
        model.load_state_dict(sd)
        apply_peft(model, TrainConfig(finetune_mode=finetune_mode))
        with _fla_on_cpu(), torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            logits, _ = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten())
        loss.backward()
        results[op] = {"loss": loss.detach()} | {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    no_grad = [n for n, g in results["fla"].items() if g is None]
    if no_grad:
        raise AssertionError(f"no gradient reached {no_grad} through op fla")
    names = list(results["torch"])
    return _relative_errors(names, [results["fla"][n] for n in names], [results["torch"][n] for n in names])
