"""The device a run trains on, found as the trainer finds it (``train.step.choose_device``: CUDA when torch sees
a GPU, else the CPU), with what the checks need to know: each GPU's name, memory and bf16 support. nvidia-smi
answers the questions about the GPUs, so the GUI's live check creates no CUDA context (costs no GPU memory)."""

from __future__ import annotations

import functools
import os
import subprocess
import time
from dataclasses import dataclass

GB = 1024**3


@dataclass(frozen=True)
class Gpu:
    name: str
    total_gb: float | None = None
    free_gb: float | None = None
    bf16: bool | None = None  # compute capability 8.0 or newer

    def describe(self) -> str:
        memory = f", {self.free_gb:.1f} of {self.total_gb:.1f} GB free" if self.total_gb is not None else ""
        return f"{self.name}{memory}"


@dataclass(frozen=True)
class DeviceFacts:
    kind: str                  # "cuda" or "cpu": what a trainer started now would use
    gpus: tuple[Gpu, ...] = ()

    def describe(self) -> str:
        if self.kind != "cuda":
            return f"CPU ({os.cpu_count()} cores; torch sees no CUDA GPU)"
        return "; ".join(f"GPU {i}: {g.describe()}" for i, g in enumerate(self.gpus))


def _visible(indices: list[str]) -> list[str]:
    spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return indices
    wanted = [x.strip() for x in spec.split(",") if x.strip()]
    return [i for i in wanted if i in indices]


def _nvidia_smi() -> tuple[Gpu, ...]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,memory.total,memory.free,compute_cap",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    rows = {}
    for line in out.strip().splitlines():
        fields = [x.strip() for x in line.split(",")]
        if len(fields) != 5:
            continue
        index, name, total, free, cap = fields
        try:
            rows[index] = Gpu(name, float(total) / 1024, float(free) / 1024, float(cap) >= 8.0)
        except ValueError:
            rows[index] = Gpu(name)
    return tuple(rows[i] for i in _visible(list(rows)))


@functools.lru_cache(maxsize=4)
def _detect(_bucket: int) -> DeviceFacts:
    import torch

    if not torch.cuda.is_available():
        return DeviceFacts("cpu")
    gpus = _nvidia_smi()
    count = torch.cuda.device_count()
    if len(gpus) != count:  # no nvidia-smi (or another mapping): names unknown, nothing else assumed
        gpus = tuple(Gpu(f"CUDA device {i}") for i in range(count))
    return DeviceFacts("cuda", gpus)


def detect() -> DeviceFacts:
    """The device facts now (read again every 10 s: free memory changes)."""
    return _detect(int(time.monotonic() // 10))


def facts_for(kind: str) -> DeviceFacts:
    """Facts for a device kind given by a caller (the trainer knows its device): the GPUs when it is CUDA."""
    return detect() if kind == "cuda" else DeviceFacts(kind)
