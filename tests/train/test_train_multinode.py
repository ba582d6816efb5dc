"""Several machines: two "nodes" on localhost (two launchers, num_nodes 2, gloo on CPU) match the single-node
2-process run; the commands the launcher builds (torchrun per node, DeepSpeed with a hostfile); the hostfile
parser. A real ssh launch is not tested."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from rwkv_simple_gui import paths
from rwkv_simple_gui.train.distributed import deepspeed_command, read_hostfile, torchrun_command
from tests.conftest import free_port
from tests.train.test_train_e2e import REPO, assert_same_training, small, train_args  # noqa: F401 - small is a fixture


@pytest.mark.parametrize("strategy", ["deepspeed_stage_2", "none"])
def test_two_nodes_match_two_processes_on_one_node(small, tmp_path, strategy):
    """Same options and tolerances as test_two_processes_match_one; node 1 writes nothing and prints progress."""
    # gloo picks its interface from the hostname, which need not be loopback: pin it for the localhost "machines"
    env = paths.child_env(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    opts = dict(epoch_count=2, mini_bsz=2, adam_eps=1e-4, micro_bsz=1, deepspeed_strategy=strategy)
    one, two, node1_dir = tmp_path / "one", tmp_path / "two", tmp_path / "node1"
    out = subprocess.run([sys.executable, "-m", "rwkv_simple_gui", *train_args(small, one, devices=2, **opts)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    port = free_port()
    log_files = [(tmp_path / f"node{rank}.out").open("w") for rank in (0, 1)]
    # torchrun's own log too: a machine whose ranks fail leaves the other waiting in torchrun's 300 s exit barrier
    env["LOGLEVEL"] = "INFO"
    nodes = [subprocess.Popen([sys.executable, "-m", "rwkv_simple_gui",
                               *train_args(small, run, devices=1, num_nodes=2, node_rank=rank,
                                           master_addr="127.0.0.1", master_port=port, **opts)],
                              env=env, stdout=log_file, stderr=subprocess.STDOUT)
             for rank, run, log_file in ((0, two, log_files[0]), (1, node1_dir, log_files[1]))]
    deadline = time.monotonic() + 400  # past that barrier: a failing machine shows as its own exit code and log
    try:
        for p in nodes:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in nodes:
            if p.poll() is None:  # the launcher, its torchrun and the ranks: none left running into other tests
                for child in psutil.Process(p.pid).children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
                p.kill()
                p.wait()
        for log_file in log_files:
            log_file.close()
    logs = [Path(log_file.name).read_text() for log_file in log_files]
    assert [p.returncode for p in nodes] == [0, 0], "\n---\n".join(log[-6000:] for log in logs)

    assert not node1_dir.exists()
    assert "machine 1 of 2" in logs[1] and "exited with code 0" in logs[1]
    assert_same_training(one, two)
    config = json.loads((two / "config.json").read_text())
    assert config["resolved"]["world_size"] == 2 and config["num_nodes"] == 2


def test_torchrun_command_per_node():
    assert torchrun_command(2, ["--config", "c.json"]) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "rwkv_simple_gui", "train", "--config", "c.json"]
    assert torchrun_command(4, ["--seed", "1"], 3, 2, "10.0.0.5", 29600) == [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=3", "--node_rank=2", "--master_addr=10.0.0.5",
        "--master_port=29600", "--nproc_per_node=4", "-m", "rwkv_simple_gui", "train", "--seed", "1"]


def test_deepspeed_command_with_a_hostfile():
    assert deepspeed_command("/h/hosts", "10.0.0.5", 29600, ["--proj_dir", "/o/run"]) == [
        sys.executable, "-m", "deepspeed.launcher.runner", "--hostfile=/h/hosts", "--master_addr=10.0.0.5",
        "--master_port=29600", "--no_local_rank", "--module", "rwkv_simple_gui", "train", "--proj_dir", "/o/run"]


def test_hostfile_parser_names_the_bad_line(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# two machines\nworker-0 slots=4\n\n  10.0.0.6   slots=2  # the small one\n")
    assert read_hostfile(hosts) == [("worker-0", 4), ("10.0.0.6", 2)]
    for text, match in (("worker-0 slots=4\nworker-1 4\n", r"line 2: 'worker-1 4' should be 'hostname slots=N'"),
                        ("worker-0 slots=0\n", r"line 1: .* with N >= 1"),
                        ("a slots=1\n# b\na slots=2\n", "line 3: a is already listed"),
                        ("# nothing\n\n", "lists no machine")):
        hosts.write_text(text)
        with pytest.raises(ValueError, match=match):
            read_hostfile(hosts)
    with pytest.raises(ValueError, match="cannot be read"):
        read_hostfile(tmp_path / "missing")
