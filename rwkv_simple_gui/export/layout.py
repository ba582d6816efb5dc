"""How an export format lays out a merged model's tensors, and a writer that streams them in that order.

A format is a list of :class:`Out` entries: a tensor of the exported file made from one or more of our
tensors (``sources``). The merge hands over its tensors one at a time in the base model's key order; an
entry is written as soon as its last source has arrived, and sources an entry still waits for are held
(only small ones are: the token-shift vectors GGUF stacks into one tensor). So every format keeps the
merge's streaming property: a few tensors in memory, whatever the model size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

Spec = tuple[str, tuple[int, ...], torch.dtype]  # a tensor of the merged model: name, shape, dtype


@dataclass(frozen=True)
class Out:
    """One tensor of the exported file: ``build(*sources)`` gives it from our tensors (fp32 or the merge's
    dtype); an entry without sources (a placeholder the runtime insists on) is written after ``after``."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    sources: tuple[str, ...]
    build: Callable[..., torch.Tensor]
    after: str | None = None


def same(dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda t: t.to(dtype)


def ordered(layout: list[Out], specs: Sequence[Spec]) -> list[Out]:
    """The entries in the order they can be written when our tensors arrive in ``specs`` order."""
    position = {name: i for i, (name, _, _) in enumerate(specs)}
    for out in layout:
        missing = [s for s in (*out.sources, *([out.after] if out.after else [])) if s not in position]
        if missing:
            raise ValueError(f"{out.name} needs {missing[0]}, which the model does not have")
    trigger = lambda out: max(position[s] for s in (out.sources or (out.after,)))  # noqa: E731
    return sorted(layout, key=trigger)  # stable: entries of one trigger keep the format's order


class LayoutWriter:
    """Takes our tensors in ``specs`` order and writes ``layout``'s tensors to ``sink`` (a writer with
    ``write(name, tensor)``, ``finish()``, ``close()`` whose specs are :func:`sink_specs` of the layout)."""

    def __init__(self, layout: list[Out], specs: Sequence[Spec], sink):
        self.sink = sink
        position = {name: i for i, (name, _, _) in enumerate(specs)}
        self._due: dict[str, list[Out]] = {}
        self._uses: dict[str, int] = {}
        for out in layout:
            last = max((*out.sources, *([out.after] if out.after else [])), key=position.__getitem__)
            self._due.setdefault(last, []).append(out)
            for s in out.sources:
                self._uses[s] = self._uses.get(s, 0) + 1
        self._held: dict[str, torch.Tensor] = {}

    def write(self, name: str, tensor: torch.Tensor) -> None:
        if self._uses.get(name):
            self._held[name] = tensor
        for out in self._due.get(name, ()):
            made = out.build(*(self._held[s] for s in out.sources))
            if tuple(made.shape) != out.shape:
                made = made.reshape(out.shape)
            self.sink.write(out.name, made.to(out.dtype).contiguous())
            for s in out.sources:
                self._uses[s] -= 1
                if not self._uses[s]:
                    del self._held[s]

    def finish(self) -> None:
        self.sink.finish()

    def close(self) -> None:
        self.sink.close()


def sink_specs(layout: list[Out]) -> list[Spec]:
    return [(o.name, o.shape, o.dtype) for o in layout]
