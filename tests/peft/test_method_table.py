"""The method table drives what it claims: resume's fixed options, the CLI's method lists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rwkv_simple_gui.peft.methods import METHOD_NAMES, METHODS
from rwkv_simple_gui.train.config import RESUME_FIXED, TrainConfig
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_resume_keeps_what_shapes_each_methods_tensors(name):
    row = METHODS[name]
    assert set(row.resume_fixed) <= set(RESUME_FIXED)
    if row.rank_option:
        assert row.rank_option in row.resume_fixed
    assert all(hasattr(TrainConfig(), option) for option in row.resume_fixed)


def test_the_cli_offers_every_method_of_the_table():
    run = lambda *args: subprocess.run([sys.executable, "-m", "rwkv_simple_gui", *args], cwd=REPO_ROOT,
                                       capture_output=True, text=True, timeout=120).stdout
    demo_help = " ".join(run("demo", "--help").split())
    assert "{" + ",".join(METHOD_NAMES) + "}" in demo_help
    assert "fine-tune (" + ", ".join(METHOD_NAMES) + ")" in run("--help")
