"""LISA: embeddings, head, norms and time-mix parameters always train; of the blocks' other weights, only
``lisa_r`` randomly drawn layers train at a time, re-drawn every ``lisa_k`` optimizer steps. The optimizer
holds every parameter; the frozen ones get no gradient and so are skipped by AdamW."""

from __future__ import annotations

import random
import re

from torch import nn

ALWAYS = ("emb", "head", "ln", "time")
LAYER = re.compile(r"^blocks\.(\d+)\.")


def inject(model: nn.Module, cfg) -> None:
    """Every weight is in the optimizer; :class:`LisaSelector` switches the layers on and off."""
    for p in model.parameters():
        p.requires_grad_(True)


class LisaSelector:
    def __init__(self, model: nn.Module, n_active: int, interval: int, seed: int):
        self.model, self.n_active, self.interval = model, n_active, interval
        self.rng = random.Random(seed)
        self.layers = sorted({int(m.group(1)) for n, _ in model.named_parameters() if (m := LAYER.match(n))})
        self.active: list[int] = []

    def always(self, name: str) -> bool:
        return any(part in name for part in ALWAYS) or not LAYER.match(name)

    def state_dict(self) -> dict:
        """The draw and the random state that makes the next ones (what an exact resume restores)."""
        return {"active": list(self.active), "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self._activate(list(state["active"]))

    def update(self, step: int) -> bool:
        """Re-draw the active layers when ``step`` starts a new interval; True when they changed."""
        if self.active and step % self.interval:
            return False
        self._activate(sorted(self.rng.sample(self.layers, min(self.n_active, len(self.layers)))))
        return True

    def _activate(self, layers: list[int]) -> None:
        self.active = layers
        for name, p in self.model.named_parameters():
            m = LAYER.match(name)
            p.requires_grad_(self.always(name) or int(m.group(1)) in self.active)
