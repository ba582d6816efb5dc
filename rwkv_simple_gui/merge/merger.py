"""Fold a training checkpoint into its base model and export it: a flat ``.pth`` for the ``rwkv`` package
and RWKV-Runner, an Ai00/web-rwkv ``.st``, or (state tuning) a ``time_state`` file.

Both inputs are read through their zip index one tensor at a time (``model.lazy``), and the output's
header (names, shapes and dtypes) is written first, then each tensor as soon as it is computed
(``model.writers``). Peak memory is a few copies of the largest tensor, whatever the model size (0.17x the
file for a 1.5B model, bench/merge.py). The fold maths are the methods' own (``peft.<method>``), the same
functions their layers use.
"""

from __future__ import annotations

import contextlib
import ctypes
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from rwkv_simple_gui import paths
from rwkv_simple_gui.export import ai00
from rwkv_simple_gui.model import ModelFormatError, detect, layer_count, version_hint
from rwkv_simple_gui.model.lazy import LazyStateDict, TensorRef
from rwkv_simple_gui.model.writers import SafetensorsWriter, TorchZipWriter
from rwkv_simple_gui.peft.methods import Method

from .plan import CheckpointPlan, MergeError, default_output, inspect

Progress = Callable[[int, int, str], None]

FORMATS = ("pth", "st", "both")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
QUANTS = ("none", "int8", "nf4", "fp4")


@dataclass
class MergeResult:
    """What a merge wrote; ``peak_rss_mb`` is this process's peak so far (the CLI's is the merge's own)."""

    outputs: list[Path]
    method: str
    version: str
    keys_changed: int
    seconds: float
    peak_rss_mb: float
    output: str = "model"  # or "state": a time_state file to mount
    notes: list[str] = field(default_factory=list)


def _quant_dequant(weight: torch.Tensor, quant: str) -> torch.Tensor:
    """The base weight as the quantized training run saw it: the trainer's own bitsandbytes round trip."""
    from rwkv_simple_gui.peft.quant import QuantizedWeight

    return QuantizedWeight(weight.to("cuda"), quant).dequantize().float().cpu()


def _check_quant(quant: str) -> None:
    if quant not in QUANTS:
        raise MergeError(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}")
    if quant == "none":
        return
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise MergeError(f"quant={quant} needs bitsandbytes (pip install bitsandbytes) and a CUDA GPU, "
                         "because the run trained on a quantized base; merge on the training machine") from None
    if not torch.cuda.is_available():
        raise MergeError(f"quant={quant} needs a CUDA GPU (bitsandbytes quantizes on the GPU); merge on the "
                         "training machine")


class _Merger:
    """Checks base and checkpoint against each other, then gives the merged tensors one by one."""

    def __init__(self, base: LazyStateDict, ckpt: LazyStateDict, plan: CheckpointPlan, *,
                 init: LazyStateDict | None, quant: str, options: dict):
        self.base, self.ckpt, self.plan = base, ckpt, plan
        self.init, self.quant, self.options = init, quant, options
        try:
            self.info = detect(base)
        except ModelFormatError as err:
            raise MergeError(f"{err}; pick a base model .pth") from None
        self.layer = plan.method.layer_module() if plan.method.adapts_linears else None
        self._check()
        self.adapted = {m + ".weight": m for m in plan.modules}

    def _mismatch(self, detail: str) -> MergeError:
        hint = self.options.get("model_path")
        pick = f"the base the run trained on ({hint})" if hint else "the base model the checkpoint was trained on"
        return MergeError(f"{self.ckpt.path} does not fit {self.base.path}: {detail}. Pick {pick}.")

    def _getter(self, module: str, load: bool):
        """``get(part)`` for one module: a checkpoint part, or ``init_*`` from the init file."""
        def get(part: str):
            if part.startswith("init_"):
                key = f"{module}.{part}"
                if key not in self.init:
                    raise MergeError(f"{self.init.path} has no {key}: it is not the init file of this run; pick "
                                     f"the {self.plan.method.init_file} written next to {self.ckpt.path.name}")
                return self.init.load(key) if load else self.init[key].shape
            key = self.plan.modules[module][part]
            return self.ckpt.load(key) if load else self.ckpt[key].shape
        return get

    def _check(self) -> None:
        base, ckpt, plan = self.base, self.ckpt, self.plan
        ckpt_version = version_hint(ckpt)
        if ckpt_version and ckpt_version != self.info.version:
            raise self._mismatch(f"the checkpoint is for an {ckpt_version} model, the base is {self.info.version}")
        if layer_count(ckpt) > self.info.n_layer:
            raise self._mismatch(f"the checkpoint has {layer_count(ckpt)} layers, the base {self.info.n_layer}")
        for key in plan.plain:
            if key not in base:
                raise self._mismatch(f"key {key!r} is not in the base model")
            if ckpt[key].shape != base[key].shape:
                raise self._mismatch(f"{key} is {list(ckpt[key].shape)} in the checkpoint, "
                                     f"{list(base[key].shape)} in the base")
        for module in plan.modules:
            problem = self.layer.check(self._base_weight(module).shape, self._getter(module, load=False))
            if problem:
                raise self._mismatch(f"{plan.method.name} {module} {problem}")
        if plan.states:
            self._check_states()

    def _check_states(self) -> None:
        missing = sorted(set(range(self.info.n_layer)) - set(self.plan.states))
        if missing:
            raise self._mismatch(f"the state file has no time_state for layers {missing}")
        h, n = self.info.n_head, self.info.head_size
        for key in self.plan.states.values():
            if tuple(self.ckpt[key].shape) != (h, n, n):
                raise self._mismatch(f"{key} is {list(self.ckpt[key].shape)}, the base needs [{h}, {n}, {n}]")

    def _base_weight(self, module: str) -> TensorRef:
        key = module + ".weight"
        if key not in self.base:
            raise self._mismatch(f"the adapted weight {key!r} is not in the base model")
        ref = self.base[key]
        if ref.ndim != 2:
            raise self._mismatch(f"{key} is {list(ref.shape)} in the base, not a matrix")
        return ref

    def merged(self, key: str) -> tuple[torch.Tensor, bool]:
        """The output tensor for ``key`` (fp32 when changed) and whether it changed."""
        if key in self.plan.plain or key in self.plan.states.values():
            return self.ckpt.load(key), True
        module = self.adapted.get(key)
        if module is None:
            return self.base.load(key), False
        get = self._getter(module, load=True)
        w = self.base.load(key).float()
        frozen = getattr(self.layer, "frozen_weight", None)
        if frozen is not None:
            w = frozen(w, get)
        if self.quant != "none":
            w = _quant_dequant(w, self.quant)
        return self.layer.merge_weight(w, get, self.options), True


def _open_init(row: Method, given, checkpoint: Path, options: dict) -> LazyStateDict | None:
    if not row.init_file:
        return None
    beside = checkpoint.parent / row.init_file
    path = paths.resolve(given, base="output") if given else beside if beside.is_file() else None
    if path is None and options.get(row.init_option):
        path = Path(options[row.init_option])
    if path is None:
        raise MergeError(f"{checkpoint.parent} is a {row.name} run but has no {row.init_file}: pass the run's init "
                         f"file with --{row.init_option.replace('_', '-')} (it is written when the run starts)")
    paths.readable(path)
    if not path.is_file():
        raise MergeError(f"{row.name} init file {path} does not exist: pick the {row.init_file} of the run")
    return LazyStateDict(path)


def _fold_options(row: Method, options: dict, overrides: dict) -> dict:
    """The run's options with the caller's overrides; every option the method's merge needs must be known."""
    merged = {**options, **{k: v for k, v in overrides.items() if v is not None}}
    missing = [o for o in row.fold_options if merged.get(o) is None]
    if missing:
        flags = ", ".join(f"--{o.replace('_', '-')}" for o in missing)
        raise MergeError(f"{', '.join(missing)} of this {row.name} checkpoint is unknown (no config.json next to "
                         f"it): pass {flags} with the value used in training")
    return merged


def _output_paths(out: Path, fmt: str) -> list[Path]:
    """The files for ``fmt``; a name like ``rwkv7-1.5b`` keeps its dot (only .pth/.st are replaced)."""
    stem = out.with_suffix("") if out.suffix in (".pth", ".st") else out
    suffixes = (".pth", ".st") if fmt == "both" else ("." + fmt,)
    return [stem.with_name(stem.name + suffix) for suffix in suffixes]


def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere.

    Tensors of 8-64 MB come and go for every weight; glibc serves them from its heap once a freed one
    raised its mmap threshold, and the heap's free holes then count as used memory (it grew to 1.8 GB
    on a 3 GB model). Trimming after each tensor keeps the peak at what is really alive.
    """
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write(targets: list[Path], specs: list, produce, progress: Progress | None) -> int:
    """Write every spec'd tensor to each target (``.pth`` or ``.st``); returns how many changed."""
    changed, trim = 0, _malloc_trim()
    with paths.atomic_outputs(*targets) as tmps, contextlib.ExitStack() as stack:
        writers = []
        for target, tmp in zip(targets, tmps):
            f = stack.enter_context(open(tmp, "wb"))
            if target.suffix == ".pth":
                writers.append((None, TorchZipWriter(f, specs)))
            else:
                st_specs = [ai00.spec(name, shape) for name, shape, _ in specs]
                writers.append((st_specs, SafetensorsWriter(f, st_specs, metadata={"format": "pt"})))
            stack.callback(writers[-1][1].close)  # before its file closes
        for index, (key, _, out_dtype) in enumerate(specs):
            tensor, was_changed = produce(key)
            changed += was_changed
            for st_specs, writer in writers:
                if st_specs is None:
                    writer.write(key, tensor.to(out_dtype))
                else:
                    writer.write(st_specs[index][0], ai00.convert(st_specs[index][0], tensor))
            del tensor
            if trim:
                trim(0)
            if progress:
                progress(index + 1, len(specs), key)
        for _, writer in writers:
            writer.finish()
    return changed


def _open_inputs(base, checkpoint) -> tuple[Path, Path, LazyStateDict, LazyStateDict]:
    base_path = paths.resolve(base, base="model")
    ckpt_path = paths.resolve(checkpoint, base="output")
    for role, path in (("base model", base_path), ("checkpoint", ckpt_path)):
        paths.readable(path)
        problem = paths.file_problem(path)
        if problem:
            raise MergeError(f"{role} {path} {problem}")
    try:
        return base_path, ckpt_path, LazyStateDict(base_path), LazyStateDict(ckpt_path)
    except ModelFormatError as err:
        raise MergeError(str(err)) from None


def merge(base: str | Path, checkpoint: str | Path, out: str | Path | None = None, *, fmt: str = "pth",
          dtype: str = "bf16", lora_alpha: float | None = None, pissa_init: str | Path | None = None,
          quant: str | None = None, merge_state: bool = False, overwrite: bool = True,
          progress: Progress | None = None) -> MergeResult:
    """Fold ``checkpoint`` into ``base`` and write ``out`` (``.pth``, ``.st`` or both).

    The method and its options come from the run's config.json next to the checkpoint (else from the
    checkpoint's keys); ``lora_alpha``, ``quant`` and ``pissa_init`` override them. A state-tuning
    checkpoint gives a state file (``time_state`` only) instead of a model; with ``merge_state``
    (RWKV-6 only, whose ``rwkv`` loader reads them) the states are also merged into a model.
    ``out=None`` names it ``merge/<base-stem>-<TAG>-<epoch>.pth``; ``overwrite=False`` refuses to replace an
    existing output. In the app (``paths.confine``) every path must stay in the project folders.
    """
    started = time.perf_counter()
    if fmt not in FORMATS:
        raise MergeError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if dtype not in DTYPES:
        raise MergeError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    base_path, ckpt_path, base_sd, ckpt_sd = _open_inputs(base, checkpoint)
    row, plan, options = inspect(ckpt_path, ckpt_sd, init_given=bool(pissa_init))
    quant = quant if quant is not None else options.get("quant") or "none"
    _check_quant(quant)
    options = _fold_options(row, options, {"lora_alpha": lora_alpha})
    merger = _Merger(base_sd, ckpt_sd, plan, init=_open_init(row, pissa_init, ckpt_path, options), quant=quant,
                     options=options)
    notes = []
    if row.output == "state" and plan.plain:
        notes.append(f"{len(plan.plain)} other trained keys are not part of a state file and were left out")
    if merge_state and (row.output != "state" or merger.info.version != "x060"):
        raise MergeError("merging a state into the model works for RWKV-6 state tuning only: the rwkv package "
                         "ignores time_state keys in an RWKV-7 model; mount the state file instead")
    states = [plan.states[i] for i in sorted(plan.states)]
    if row.output == "state" and not merge_state:
        specs = [(k, ckpt_sd[k].shape, ckpt_sd[k].dtype) for k in states]  # the trained tensors as they are
    else:
        cast = lambda ref: DTYPES[dtype] if ref.dtype.is_floating_point else ref.dtype  # noqa: E731
        specs = [(k, ref.shape, cast(ref)) for k, ref in base_sd.items()]
        specs += [(k, ckpt_sd[k].shape, DTYPES[dtype]) for k in states]
    # a bare name goes into merge/ (the check that it stays in the project comes with the targets below)
    out_path = paths.writable(out, "merge") if out else default_output(base_path, ckpt_path, row)
    targets = _output_paths(out_path, fmt)
    for target in targets:
        try:
            paths.writable(target, overwrite=overwrite)
        except paths.PathExists:
            raise MergeError(f"{paths.display(target)} already exists: tick Overwrite to replace it, or choose "
                             f"another output name") from None
    changed = _write(targets, specs, merger.merged, progress)
    return MergeResult(outputs=targets, method=row.name, version=merger.info.version, keys_changed=changed,
                       seconds=time.perf_counter() - started, peak_rss_mb=_peak_rss_mb(),
                       output="state" if row.output == "state" and not merge_state else "model", notes=notes)
