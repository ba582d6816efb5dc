"""Shared fixtures: an isolated project folder, so tests never write into the repository's folders."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rwkv_simple_gui import paths

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "data" / "sample.jsonl"


def tiny_state_dict(version: str, n_layer: int = 2, n_embd: int = 64, seed: int = 0,
                    head_size: int = 32, vocab_size: int = 65536) -> dict[str, torch.Tensor]:
    """A tiny generated model whose projections are moved off their (partly zero) fresh init, so every
    weight matters when outputs are compared."""
    from rwkv_simple_gui.model import init_model

    model = init_model(version, n_layer, n_embd, vocab_size=vocab_size, head_size=head_size, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def learning_rate(row) -> float:
    """A learning rate at which a method (a peft.methods row) learns a memorisable sequence in a few steps on a
    tiny model: base weights move a little, adapters more, a state (far from the output) most."""
    if row.trains_base:
        return 3e-3
    return 1.0 if row.tunes_state else 3e-2


@pytest.fixture(scope="session", autouse=True)
def shared_world_trie(tmp_path_factory):
    """One C World encoder for the session's project folders and their subprocesses (each would build its own in
    its .state/ otherwise); tests of the build itself unset this."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RWKV_SIMPLE_GUI_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A fresh project folder holding the bundled sample data; paths resolve against it."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    shutil.copyfile(SAMPLE, root / "data" / "sample.jsonl")
    monkeypatch.setattr(paths, "PROJECT_ROOT", root)
    monkeypatch.setenv("RWKV_SIMPLE_GUI_HOME", str(root))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def run_cli(project: Path, *args: str, timeout: int = 300, cwd: Path | None = None,
            **kw) -> subprocess.CompletedProcess:
    """``python -m rwkv_simple_gui ARGS`` in a real subprocess, with ``project`` as its project folder (and
    its cwd unless ``cwd`` is given)."""
    env = paths.child_env(RWKV_SIMPLE_GUI_HOME=str(project))
    return subprocess.run([sys.executable, "-m", "rwkv_simple_gui", *args], cwd=cwd or project, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)

def start_app(project: Path, *args: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    log = project / "app.log"
    env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": str(project), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), "--no-browser", "--port", str(port), *args],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env, cwd="/",
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"app.py exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError(f"app.py did not open port {port}:\n{log.read_text()}")
    return proc, port, log


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- tiers: every test file in one (pyproject.toml registers the markers) -----------------------------------
# unit: fast, in-process checks of one part, `python -m pytest -m unit` (under a minute); a test of a unit file
# that starts a real subprocess or trains is named in NOT_UNIT and goes to e2e. CI runs every tier.
UNIT_FILES = {
    "test_layers.py", "test_method_table.py", "test_paths.py", "test_data_stats.py", "test_data_binidx.py",
    "test_data_formats.py", "test_tokenizer.py", "test_train_config.py", "test_peft_layers.py", "test_model.py",
    "test_template.py", "test_confine_open.py", "test_login.py", "test_estimate.py", "test_train_data.py",
    "test_rundir.py", "test_jsonl_reads.py",
}
NOT_UNIT = {
    "test_a_bad_node_setting_stops_the_launcher_before_torchrun", "test_cli_dry_run_prints_config_and_steps",
    "test_token_view_on_the_command_line", "test_unused_fields_are_counted_and_named",
    "test_dry_run_prints_the_count_its_estimate_uses", "test_the_readme_tables_are_the_estimate",
    "test_x_forwarded_for_counts_only_from_a_proxy_the_admin_names", "test_the_cli_offers_every_method_of_the_table",
    # one trains (8 optimizer steps per version), one encodes 300k characters with the pure-Python oracle
    "test_fresh_model_is_non_degenerate_and_trainable", "test_fast_backends_identical_to_trie",
}
BROWSER_FILES = {"test_browser.py", "test_browser_gui.py", "test_browser_samples.py", "test_browser_tokens.py"}
SLOW_FILES = {
    "test_fla_kernels.py", "test_train_methods.py", "test_think_chat.py", "test_merge_pip.py", "test_model_pip.py",
    "test_huge_record.py", "test_train_multinode.py", "test_preference.py", "test_gpu_check.py",
}


def tier(item) -> str:
    name = item.path.name
    if name in BROWSER_FILES:
        return "browser"
    if name in SLOW_FILES:
        return "slow"
    if name in UNIT_FILES and item.originalname not in NOT_UNIT:
        return "unit"
    return "e2e"


def pytest_ignore_collect(collection_path, config):
    """``-m unit`` does not import the files that hold no unit test: their imports (gradio, playwright, ...) took
    longer than the unit tests."""
    if config.getoption("markexpr") == "unit" and collection_path.name.startswith("test_") \
            and collection_path.suffix == ".py":
        return collection_path.name not in UNIT_FILES
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(tier(item))
