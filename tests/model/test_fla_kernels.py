"""Our fla wrappers (ops.wkv7_fla / ops.wkv6_fla) on fla's real Triton kernels, run on the CPU by
Triton's interpreter (tests/fla_cpu.py), against the fp64 sequential op.

The interpreter needs TRITON_INTERPRET=1 before triton is imported, and runtime patches to Triton: both
hold for a whole process. So the kernels run in one spawned worker process for this module, and this
process (the rest of the suite, and every subprocess it starts) keeps stock Triton and its environment.
The worker returns errors; the assertions are made here.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch

TOL = 1e-4  # relative to each tensor's largest value; fp32 kernels reach ~5e-7 (v7) and ~2e-5 (v6)
BF16_TOL = 5e-2  # bf16 inputs and outputs: a few bf16 roundings (2^-8 each) through the recurrence


def _call(name, *args, **kwargs):
    """Runs in the worker: the first call imports tests/fla_cpu.py (TRITON_INTERPRET and the patches)."""
    from tests import fla_cpu

    return getattr(fla_cpu, name)(*args, **kwargs)


@pytest.fixture(scope="module")
def worker():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            assert pool.submit(_call, "interpreter_env").result() == "1"
        except RuntimeError as e:  # triton / fla-core missing or not the pinned versions
            if os.environ.get("CI"):
                pytest.fail(str(e))
            pytest.skip(str(e))
        yield lambda name, *args, **kwargs: pool.submit(_call, name, *args, **kwargs).result()


def _worst(errors: dict[str, float]) -> tuple[str, float]:
    return max(errors.items(), key=lambda item: item[1])


def test_fla_interpreter_is_confined_to_the_worker(worker):
    assert worker("interpreter_env") == "1"
    assert "TRITON_INTERPRET" not in os.environ
    assert not {"tests.fla_cpu", "fla_cpu"} & set(sys.modules)  # the patches were never loaded here


def test_fla_wkv7_matches_sequential(worker):
    """Two heads, 40 tokens (fla's chunks are 16), a start state; outputs, final state, all gradients."""
    errors = worker("op_errors", "x070", 1, 40, 2, 32, decay="full_range")
    assert len(errors) == 9 and _worst(errors)[1] < TOL, errors


def test_fla_wkv6_matches_sequential(worker):
    """Decays down to exp(-250) per token, a batch of 2 from one unbatched time_state."""
    errors = worker("op_errors", "x060", 2, 40, 1, 32, decay=1.5, batched_state=False)
    assert len(errors) == 8 and _worst(errors)[1] < TOL, errors


@pytest.mark.parametrize("version", ["x070", "x060"])
def test_fla_bf16_matches_sequential(worker, version):
    decay = "full_range" if version == "x070" else 1.0
    errors = worker("op_errors", version, 1, 24, 1, 32, decay=decay, dtype=torch.bfloat16)
    assert _worst(errors)[1] < BF16_TOL, errors


@pytest.mark.parametrize("plant", ["state_untransposed", "a_b_swapped", "w_as_minus_exp_log_w", "v6_default_scale"])
def test_fla_check_catches_a_wrong_mapping(worker, plant):
    """The same check with a wrong mapping between our wrapper and fla planted: it must fail at TOL."""
    version = "x060" if plant.startswith("v6") else "x070"
    decay = "full_range" if version == "x070" else 1.5
    errors = worker("op_errors", version, 1, 40, 2, 32, decay=decay, grads=False, plant=plant)
    assert _worst(errors)[1] > 100 * TOL, errors


@pytest.mark.parametrize("version, finetune_mode, n_embd", [("x070", "full", 64), ("x060", "state_tuning", 32)])
def test_fla_training_step_equals_op_torch(worker, version, finetune_mode, n_embd):
    errors = worker("training_step_errors", version, finetune_mode, n_embd=n_embd)
    assert len(errors) > 1 and _worst(errors)[1] < 1e-5, errors


@pytest.mark.parametrize("version", ["x070", "x060"])
def test_fla_training_step_under_bf16_autocast_equals_op_torch(worker, version):
    """A bf16 run hands the wkv op bf16 projections beside fp32 products with fp32 parameters: fla's kernels
    take one dtype (on an H200 the mixed call failed to compile: "Both operands must be same dtype")."""
    errors = worker("training_step_errors", version, "full", n_embd=64 if version == "x070" else 32,
                    autocast=torch.bfloat16)
    assert len(errors) > 1 and _worst(errors)[1] < BF16_TOL, errors
