"""Export formats of a merged model, one row each: the ``rwkv`` package's ``.pth``, Ai00 / web-rwkv ``.st``,
a Hugging Face folder, GGUF. Each is written streaming (``layout``: a few tensors in memory) to a temporary
name and renamed into place when complete; :mod:`.check` loads each back with the program that runs it.

``--out merge/NAME.pth`` names every export after NAME: ``NAME.pth``, ``NAME.st``, ``NAME-hf/``,
``NAME.gguf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.model import ModelInfo

from . import ai00, fingerprint, gguf, hf
from .layout import LayoutWriter, Out, ordered, same, sink_specs


@dataclass
class ExportContext:
    """What a format needs besides the tensors."""

    info: ModelInfo
    name: str                                  # the export's NAME
    gguf_type: str = "fp16"
    dtype: torch.dtype = torch.bfloat16        # of .pth and the HF folder
    base: fingerprint.Fingerprint | None = None  # written into state files
    state: bool = False                        # the export is a state file (time_state tensors only)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str       # appended to NAME
    folder: bool      # a directory rather than a file
    runtime: str      # who loads it (shown to the user)
    states: bool      # can hold a state file
    open: Callable    # (temporary path, specs, ExportContext) -> writer with write / finish / close
    versions: tuple[str, ...] = ("x070", "x060")  # the model versions it is written for


class _FileTarget:
    """A layout streamed into a sink that writes an open file."""

    def __init__(self, path: Path, layout: list[Out], specs, make_sink):
        self._file = open(path, "wb")
        try:
            self._writer = LayoutWriter(layout, specs, make_sink(self._file, sink_specs(layout)))
        except BaseException:
            self._file.close()
            raise

    def write(self, name: str, tensor: torch.Tensor) -> None:
        self._writer.write(name, tensor)

    def finish(self) -> None:
        self._writer.finish()
        self._file.close()

    def close(self) -> None:
        self._writer.close()  # the zip writer ends its archive while the file is still open
        self._file.close()


def _open_pth(tmp: Path, specs, ctx: ExportContext):
    from rwkv_simple_gui.model.writers import TorchZipWriter

    records = {fingerprint.RECORD: ctx.base.to_json().encode()} if ctx.state and ctx.base else None
    layout = [Out(name, tuple(shape), dtype, (name,), same(dtype)) for name, shape, dtype in specs]
    return _FileTarget(tmp, layout, specs, lambda f, s: TorchZipWriter(f, s, records=records))


def _open_st(tmp: Path, specs, ctx: ExportContext):
    from rwkv_simple_gui.model.writers import SafetensorsWriter

    metadata = {"format": "pt"}
    if ctx.state and ctx.base:
        metadata[fingerprint.METADATA_KEY] = ctx.base.to_json()
    layout = []
    for name, shape, _ in specs:
        new, new_shape, dtype = ai00.spec(name, tuple(shape))
        layout.append(Out(new, new_shape, dtype, (name,), lambda t, n=new: ai00.convert(n, t)))
    return _FileTarget(tmp, layout, specs, lambda f, s: SafetensorsWriter(f, s, metadata=metadata))


class _HFTarget(_FileTarget):
    """The weights of the folder streamed into model.safetensors; the side files once they are complete."""

    def __init__(self, folder: Path, specs, ctx: ExportContext):
        from rwkv_simple_gui.model.writers import SafetensorsWriter

        hf.check_version(ctx.info)
        self._folder, self._ctx = folder, ctx
        layout = ordered(hf.layout(specs, ctx.dtype), specs)
        super().__init__(folder / hf.WEIGHTS, layout, specs,
                         lambda f, s: SafetensorsWriter(f, s, metadata={"format": "pt"}))

    def finish(self) -> None:
        super().finish()
        hf.write_side_files(self._folder, self._ctx.info, self._ctx.dtype)


class _GGUFTarget:
    def __init__(self, tmp: Path, specs, ctx: ExportContext):
        layout = ordered(gguf.layout(specs, ctx.info), specs)
        self._writer = LayoutWriter(layout, specs, gguf.open_sink(tmp, sink_specs(layout), ctx.info, ctx.gguf_type,
                                                                  ctx.name))

    def write(self, name: str, tensor: torch.Tensor) -> None:
        self._writer.write(name, tensor)

    def finish(self) -> None:
        self._writer.finish()

    def close(self) -> None:
        self._writer.close()


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("pth", ".pth", False, "the rwkv package, RWKV-Runner", True, _open_pth),
    Format("st", ".st", False, "Ai00, web-rwkv, RWKV-Runner WebGPU", True, _open_st),
    Format("hf", "-hf", True, "Hugging Face transformers (rwkv7-hf, flash-linear-attention)", False,
           lambda tmp, specs, ctx: _HFTarget(tmp, specs, ctx), versions=("x070",)),
    Format("gguf", ".gguf", False, "llama.cpp, Ollama", False, lambda tmp, specs, ctx: _GGUFTarget(tmp, specs, ctx)),
)}
ALL = "all"
ALIASES = {"both": ("pth", "st")}  # the name of the pair before there were more formats
CHOICES = (*FORMATS, *ALIASES, ALL)


def _every_format(state: bool, version: str | None) -> tuple[list[Format], list[str]]:
    """"all": every format that can hold what is exported, and a note on each one the version left out."""
    chosen = [f for f in FORMATS.values() if (f.states or not state) and (version in f.versions or not version)]
    skipped = [f for f in FORMATS.values() if f not in chosen and not state]
    return chosen, [f"{f.name} is written for {', '.join(f.versions)} only, so it was left out" for f in skipped]


def formats(fmt: str | list | tuple, state: bool = False, version: str | None = None) -> tuple[list[Format], list[str]]:
    """The formats a ``--format`` value names, and notes on what "all" left out ("all": every format that
    can hold what is exported, for this model version)."""
    names = _names(fmt)
    if ALL in names:
        return _every_format(state, version)
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"format must be one of {', '.join(CHOICES)}, not {unknown[0] if unknown else fmt!r}")
    chosen = [FORMATS[n] for n in names]
    whole_only = next((f for f in chosen if not f.states), None)
    if state and whole_only is not None:
        raise ValueError(f"a state file is written as pth or st; {whole_only.name} holds whole models only")
    return chosen, []


def _names(fmt: str | list | tuple) -> list[str]:
    """The format names a ``--format`` value lists, aliases expanded, each once and in order."""
    names = list(fmt) if isinstance(fmt, (list, tuple)) else [fmt]
    return list(dict.fromkeys(n for name in names for n in ALIASES.get(name, (name,))))


def output_path(out: Path, fmt: Format) -> Path:
    """NAME + the format's suffix; a name like ``rwkv7-1.5b`` keeps its dot (only known suffixes go)."""
    stem = out
    for known in FORMATS.values():
        if not known.folder and stem.suffix == known.suffix:
            stem = stem.with_suffix("")
    return stem.with_name(stem.name + fmt.suffix)


def atomic(dest: Path, fmt: Format):
    return paths.atomic_folder(dest) if fmt.folder else paths.atomic_output(dest)
