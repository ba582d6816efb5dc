"""Several processes: ranks started by ``torchrun``, NCCL on CUDA, gloo on CPU (what CI runs).

Two ways to step: DeepSpeed ZeRO stage 1/2/3 (+ optimizer offload), the default, or ``deepspeed_strategy
none``: every rank keeps the full optimizer state and the gradients are all-reduced once per optimizer step.
Either way the loss is a share of the global token-weighted sum, so a step on N ranks equals a step of one
process with N times the micro batch. On one device (:func:`strategy`) the *_offload strategies run DeepSpeed in
that one process (the optimizer state in CPU memory, as Lightning does on one GPU); plain stage 1/2/3 partition
nothing there and run without DeepSpeed.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist


class Dist:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1
        self.own_group = False  # a process group of this process alone (DeepSpeed on one device)

    def setup(self, device_type: str) -> None:
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo")

    def one_process_group(self, device_type: str) -> None:
        """A process group of this process alone, which DeepSpeed needs to run on one device."""
        if dist.is_initialized():
            return
        os.environ.setdefault("LOCAL_RANK", "0")  # DeepSpeed's engine asks for it
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                                rank=0, world_size=1)
        self.own_group = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, value: float) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        return self.sum(1.0 if flag else 0.0) > 0

    def broadcast_int(self, value: int) -> int:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.int64)
        dist.broadcast(t, 0)
        return int(t.item())

    def sync_params(self, params) -> None:
        """Start every rank from rank 0's values (adapter inits, PiSSA residuals)."""
        if self.enabled:
            for p in params:
                dist.broadcast(p.data, 0)

    def reduce_grads(self, params) -> None:
        """Sum gradients over ranks (each rank's loss is already divided by the global token weight)."""
        if not self.enabled:
            return
        for p in params:
            if p.grad is not None:
                if p.grad.is_sparse:  # each rank looked up other rows: summed as a whole table
                    p.grad = p.grad.to_dense()
                dist.all_reduce(p.grad)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if (self.enabled or self.own_group) and dist.is_initialized():
            dist.destroy_process_group()


def launched_rank() -> bool:
    """Whether this process is a rank started by torchrun or DeepSpeed (they set WORLD_SIZE)."""
    return "WORLD_SIZE" in os.environ


HOSTFILE_LINE = re.compile(r"(\S+)\s+slots=(\d+)")


def read_hostfile(path) -> list[tuple[str, int]]:
    """``(host, slots)`` for each line ``hostname slots=N`` of a DeepSpeed hostfile (``#`` comments and blank
    lines skipped). Raises ValueError naming the file and the line to fix."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"hostfile {path} cannot be read ({getattr(e, 'strerror', None) or e}): give the path "
                         f"of a text file with one 'hostname slots=N' line per machine") from None
    hosts: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = HOSTFILE_LINE.fullmatch(text)
        if not m or int(m[2]) < 1:
            raise ValueError(f"hostfile {path} line {n}: {text!r} should be 'hostname slots=N' with N >= 1, the "
                             f"number of GPUs on that machine (e.g. 'worker-1 slots=4')")
        if m[1] in hosts:  # DeepSpeed refuses a host listed twice
            raise ValueError(f"hostfile {path} line {n}: {m[1]} is already listed; give each machine one line")
        hosts[m[1]] = int(m[2])
    if not hosts:
        raise ValueError(f"hostfile {path} lists no machine: write one 'hostname slots=N' line per machine")
    return list(hosts.items())


def torchrun_command(nproc: int, train_argv: list[str], nnodes: int = 1, node_rank: int = 0,
                     master_addr: str = "127.0.0.1", master_port: int = 29500) -> list[str]:
    """The command that starts ``nproc`` ranks of ``python -m rwkv_simple_gui train <train_argv>`` on this
    machine: alone (a free port is picked by ``--standalone``), or as node ``node_rank`` of ``nnodes``
    meeting at node 0's ``master_addr:master_port``."""
    if nnodes == 1:
        rendezvous = ["--standalone"]
    else:
        rendezvous = [f"--nnodes={nnodes}", f"--node_rank={node_rank}", f"--master_addr={master_addr}",
                      f"--master_port={master_port}"]
    return [sys.executable, "-m", "torch.distributed.run", *rendezvous, f"--nproc_per_node={nproc}",
            "-m", "rwkv_simple_gui", "train", *train_argv]


def deepspeed_command(hostfile: str, master_addr: str, master_port: int, train_argv: list[str]) -> list[str]:
    """DeepSpeed's launcher, which starts the ranks on every machine of ``hostfile`` over ssh. Ranks read
    LOCAL_RANK from the environment, so no ``--local_rank`` flag is appended to our command line."""
    return [sys.executable, "-m", "deepspeed.launcher.runner", f"--hostfile={hostfile}",
            f"--master_addr={master_addr}", f"--master_port={master_port}", "--no_local_rank", "--module",
            "rwkv_simple_gui", "train", *train_argv]


ZERO_STAGES = {"deepspeed_stage_1": (1, False), "deepspeed_stage_2": (2, False), "deepspeed_stage_2_offload": (2, True),
               "deepspeed_stage_3": (3, False), "deepspeed_stage_3_offload": (3, True)}


@dataclass(frozen=True)
class Strategy:
    """What runs for ``deepspeed_strategy`` on ``world`` processes."""

    deepspeed: bool
    stage: int | None
    offload: bool
    description: str          # what the log and the check say
    note: str | None = None   # when what runs is not what the name asks for on this many devices


def strategy(cfg, world: int) -> Strategy:
    """The strategy that runs: DeepSpeed with several processes, or on one with optimizer offload (RWKV-PEFT's
    Lightning runs DeepSpeed on one GPU too); plain stage 1/2/3 on one device partition nothing, so they run
    without DeepSpeed, and ``note`` says so."""
    name = cfg.deepspeed_strategy
    if name == "none":
        return Strategy(False, None, False, "plain AdamW" + (f", gradients all-reduced over {world} processes"
                                                             if world > 1 else " in one process"))
    stage, offload = ZERO_STAGES[name]
    label = f"DeepSpeed ZeRO-{stage}" + (" offload" if offload else "")
    if world > 1:
        return Strategy(True, stage, offload, f"{label} on {world} processes"
                        + (" (the optimizer state in CPU memory)" if offload else ""))
    if offload:
        return Strategy(True, stage, True, f"{label} in one process (the optimizer state in CPU memory)")
    return Strategy(False, stage, False, "plain AdamW in one process",
                    f"{name} on one device partitions nothing, so it runs without DeepSpeed (the same maths); "
                    f"deepspeed_stage_{stage if stage > 1 else 2}_offload moves the optimizer state to CPU memory")


def clip_factor(params, max_norm: float) -> torch.Tensor | None:
    """The factor ``torch.nn.utils.clip_grad_norm_`` scales the gradients by, over sparse gradients too (a trained
    embedding's looked-up rows: the rest are zero and add nothing to the norm); None where it would be exactly 1,
    known without waiting only on the CPU (elsewhere the factor is always returned)."""
    grads = []
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # repeated rows summed: the norm is over the table's rows
        if p.grad is not None:
            grads.append(p.grad.values() if p.grad.is_sparse else p.grad)
    if not grads:
        return None
    factor = (max_norm / (torch.nn.utils.get_total_norm(grads) + 1e-6)).clamp(max=1.0)  # clip_grad_norm_'s formula
    return None if factor.device.type == "cpu" and float(factor) == 1.0 else factor


def clip_grad_norm(params, max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` (see :func:`clip_factor`): no pass over the gradients within the limit."""
    factor = clip_factor(params, max_norm)
    if factor is not None:
        for p in params:
            if p.grad is not None:
                p.grad.mul_(factor.to(p.grad.device))


class AllReduceStepper:
    """Optimizer steps with a plain gradient all-reduce (one process, or ``deepspeed_strategy none``)."""

    def __init__(self, params: list, optimizer, dist: Dist, scaler=None):
        self.params, self.optimizer, self.dist, self.scaler = params, optimizer, dist, scaler

    def backward(self, loss, last: bool) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(self) -> None:
        trained = [p for p in self.params if p.requires_grad]
        self.dist.reduce_grads(trained)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
            clip_grad_norm(trained, 1.0)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:  # optim.AdamWRows: the clipping factor applied inside the update
            self.optimizer.step(grad_factor=clip_factor(trained, 1.0))
        self.optimizer.zero_grad(set_to_none=True)


class DeepSpeedStepper:
    """Optimizer steps through a DeepSpeed ZeRO engine (stage 1/2/3, optional optimizer offload to CPU).

    DeepSpeed keeps our precision handling (fp32 trained weights, autocast compute) and does the reduction,
    partitioning and gradient clipping. We own the accumulation boundary, because the last step of an epoch
    may hold fewer micro batches than mini_bsz, and several backward passes (infctx chunks) may make up one.
    """

    def __init__(self, model, optimizer, cfg, world: int):
        import deepspeed

        stage, offload = ZERO_STAGES[cfg.deepspeed_strategy]
        zero = {"stage": stage, "reduce_bucket_size": 2e8, "allgather_bucket_size": 2e8}
        if offload:
            zero["offload_optimizer"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
        config = {"train_micro_batch_size_per_gpu": cfg.micro_bsz, "gradient_accumulation_steps": cfg.mini_bsz,
                  "gradient_clipping": 1.0, "zero_optimization": zero, "zero_allow_untested_optimizer": True,
                  "zero_force_ds_cpu_optimizer": False, "steps_per_print": 2**31 - 1, "wall_clock_breakdown": False}
        self.world = world
        self.engine, self.optimizer, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)

    def backward(self, loss, last: bool) -> None:
        # the engine averages gradients over ranks; our loss is already a share of the global sum
        self.engine.set_gradient_accumulation_boundary(last)
        self.engine.backward(loss * self.world, scale_wrt_gas=False)

    def step(self) -> None:
        self.engine.step()

    def gathered(self):
        """The trained parameters whole on every rank (ZeRO-3 partitions them; a no-op below stage 3). A
        collective: every rank must enter it."""
        import deepspeed

        return deepspeed.zero.GatheredParameters([p for p in self.engine.module.parameters() if p.requires_grad])
