"""Learning-rate schedules over the whole run (all epochs), with linear warmup.

RWKV-PEFT once decayed the cosine within the first epoch (T = epoch_steps); here the decay always spans
every optimizer step of the run, and a resumed run continues at its step number.
"""

from __future__ import annotations

import math

WSD_DECAY_FRACTION = 0.2  # wsd: the last 20% of steps decay, the rest stays at lr_init


def learning_rate(step: int, total_steps: int, lr_init: float, lr_final: float, schedule: str,
                  warmup_steps: int) -> float:
    """LR for optimizer step ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return lr_init * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr_init
    span = max(total_steps - warmup_steps - 1, 1)
    progress = min(max((step - warmup_steps) / span, 0.0), 1.0)
    if schedule == "cos":
        return lr_final + 0.5 * (lr_init - lr_final) * (1 + math.cos(math.pi * progress))
    if schedule == "linear":
        return lr_init + (lr_final - lr_init) * progress
    if schedule == "wsd":
        decay = (progress - (1 - WSD_DECAY_FRACTION)) / WSD_DECAY_FRACTION
        if decay <= 0:
            return lr_init
        return lr_final + 0.5 * (lr_init - lr_final) * (1 + math.cos(math.pi * decay))
    raise ValueError(f"unknown lr_schedule {schedule!r}; use cos, wsd, linear or constant")
