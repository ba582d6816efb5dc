"""Fold a training checkpoint into its base model and export it in every format asked for (``export``:
``.pth``, Ai00 ``.st``, a Hugging Face folder, GGUF), or (state tuning) a ``time_state`` file that carries
its base's fingerprint; then check each export with the program that runs it (``export.check``).

Both inputs are read one tensor at a time (``model.lazy``, or an HF peft adapter folder), and each
output's header is written first, then each tensor as soon as it is computed (``export.layout``). Peak
memory is a few copies of the largest tensor, whatever the model size (bench/merge.py, bench/export.py).
The fold maths are the methods' own (``peft.<method>``), the same functions their layers use.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from rwkv_simple_gui import export, paths
from rwkv_simple_gui.export import fingerprint
from rwkv_simple_gui.model import ModelFormatError, detect, layer_count, version_hint
from rwkv_simple_gui.model.lazy import LazyStateDict, TensorRef, open_state_dict
from rwkv_simple_gui.peft.methods import Method

from . import run_note
from .errors import MergeError
from .plan import CheckpointPlan, default_output, inspect, method_note, open_checkpoint, run_checkpoint

Progress = Callable[[int, int, str], None]

FORMATS = export.CHOICES
GGUF_TYPES = ("fp32", "fp16", "bf16", "q8_0")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
QUANTS = ("none", "int8", "nf4", "fp4", "4bit", "fp8")  # peft.quant.KINDS + none


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
    checks: list = field(default_factory=list)  # export.check.CheckResult per output
    checkpoint: Path | None = None  # the checkpoint merged (a run folder's recommended one)


def _quant_dequant(weight: torch.Tensor, quant: str) -> torch.Tensor:
    """The base weight as the quantized training run saw it: the trainer's own quantization round trip."""
    from rwkv_simple_gui.peft.quant import quantize_dequantize

    return quantize_dequantize(weight, quant).float().cpu()


def _check_quant(quant: str) -> None:
    if quant not in QUANTS:
        raise MergeError(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}")
    if quant in ("none", "fp8"):  # fp8 is a plain cast: no GPU needed
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
        options = {**self.options, **self.plan.module_options.get(module, {})}
        return self.layer.merge_weight(w, get, options), True


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
    for name in row.fold_options:
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MergeError(f"{name} is {value!r} in the run's config.json, not a number: correct it there, or pass "
                             f"--{name.replace('_', '-')} with the value used in training")
    return merged


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



def _write_error(exc: BaseException, targets: list[Path], needed: int) -> MergeError | None:
    """A failed write in plain words: which file, what happened, what to do (None: not a write problem)."""
    folder = targets[0].parent
    code = getattr(exc, "errno", None)
    text = str(exc)
    # torch's zip writer reports a short write as "unexpected pos", hiding the "No space left"
    full = code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    if full or (isinstance(exc, RuntimeError) and "unexpected pos" in text):
        free = shutil.disk_usage(folder).free if folder.exists() else 0
        return MergeError(f"could not write all of {', '.join(t.name for t in targets)} in {folder}: the disk is full "
                          f"or a file-size limit was hit (the export needs about {needed / 2**20:,.0f} MB, "
                          f"{free / 2**20:,.0f} MB are free). Free some space or pick an output folder on another "
                          "disk; nothing was written")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) or isinstance(exc, PermissionError):
        why = "is on a read-only file system" if code == errno.EROFS else "is not writable for this user"
        return MergeError(f"cannot write {targets[0].name}: the folder {folder} {why}. Pick an output folder you can "
                          "write to (e.g. merge/ in the project)")
    if code in (errno.EEXIST, errno.ENOTDIR):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        return MergeError(f"cannot write {targets[0].name}: {blocker} is a file, not a folder. Pick another output "
                          "path")
    if isinstance(exc, OSError):
        return MergeError(f"writing {targets[0].name} in {folder} failed: {exc.strerror or exc}; nothing was written")
    return None


def _write(targets: list[tuple[export.Format, Path]], specs: list, produce, ctx: export.ExportContext,
           progress: Progress | None) -> int:
    """Write every spec'd tensor to each target; returns how many changed. Nothing is left of a failed write."""
    changed, trim = 0, _malloc_trim()
    paths_ = [path for _, path in targets]
    needed = sum(_numel(shape) * dtype.itemsize for _, shape, dtype in specs) * len(targets)
    try:
        with contextlib.ExitStack() as stack:
            writers = []
            for fmt, path in targets:
                tmp = stack.enter_context(export.atomic(path, fmt))
                writers.append(fmt.open(tmp, specs, ctx))
                stack.callback(writers[-1].close)  # before its file is renamed or removed
            for index, (key, _, _) in enumerate(specs):
                tensor, was_changed = produce(key)
                changed += was_changed
                for writer in writers:
                    writer.write(key, tensor)
                del tensor
                if trim:
                    trim(0)
                if progress:
                    progress(index + 1, len(specs), key)
            for writer in writers:
                writer.finish()
    except (OSError, RuntimeError) as exc:
        plain = _write_error(exc, paths_, needed)
        if plain is None:
            raise
        raise plain from None
    return changed


def _numel(shape) -> int:
    n = 1
    for size in shape:
        n *= size
    return n


def _open_inputs(base, checkpoint):
    base_path = paths.resolve(base, base="model")
    ckpt_path = paths.resolve(checkpoint, base="output")
    for role, path in (("base model", base_path), ("checkpoint", ckpt_path)):
        paths.readable(path)
    if problem := paths.file_problem(base_path):
        raise MergeError(f"base model {base_path} {problem}: pick the base model's .pth or .safetensors file")
    if not ckpt_path.is_dir() and (problem := paths.file_problem(ckpt_path)):  # a folder may be an HF peft adapter
        raise MergeError(f"checkpoint {ckpt_path} {problem}")
    try:
        return base_path, ckpt_path, open_state_dict(base_path), open_checkpoint(ckpt_path)
    except ModelFormatError as err:
        raise MergeError(str(err)) from None


def _other_base(options: dict, base_path: Path, base_sd: LazyStateDict) -> str | None:
    """A warning when the run's config.json names another base than the one merged into."""
    named = options.get("model_path")
    if not named:
        return None
    named_path = paths.resolve(named, base="model")
    if named_path.exists() and named_path.resolve() == base_path.resolve():
        return None
    if named_path.is_file():
        try:
            if fingerprint.of_file(named_path).same_model(fingerprint.of_model(base_sd)):
                return None  # a copy of the same model
        except (ModelFormatError, OSError):
            pass
    return (f"the run's config.json names {named} as its base, but this merge used {paths.display(base_path)}: "
            "they have the same shape, so nothing failed, but a checkpoint only fits the weights it was trained "
            "on; merge into the run's base unless you know they are the same model")


def _check_state_base(ckpt_path: Path, options: dict, base_path: Path, base_sd: LazyStateDict,
                      force: bool) -> fingerprint.Fingerprint:
    """The state's base must be this base (its fingerprint, else its run's model_path); ``force`` overrides."""
    base_fp = fingerprint.of_model(base_sd, base_path.name)
    own = fingerprint.read(ckpt_path)
    if own is None and options.get("model_path"):
        named = paths.resolve(options["model_path"], base="model")
        if named.is_file() and named.resolve() != base_path.resolve():
            own = fingerprint.of_file(named)
    problem = own and fingerprint.mismatch(own, base_fp, ckpt_path, base_path)
    if problem and not force:
        raise MergeError(f"{problem}: pick that base model, or pass --force to use the state anyway")
    return base_fp


def _check_types(dtype: str, gguf_type: str | None) -> str:
    """The GGUF tensor type (``dtype`` unless given), after checking both names."""
    if dtype not in DTYPES:
        raise MergeError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    gguf_type = gguf_type or dtype
    if gguf_type not in GGUF_TYPES:
        raise MergeError(f"GGUF type must be one of {', '.join(GGUF_TYPES)}, not {gguf_type!r}")
    return gguf_type


def _specs(base_sd, ckpt_sd, states: list[str], dtype: str, state_out: bool) -> list[tuple]:
    """(key, shape, dtype) of every tensor written: a state file's trained tensors as they are, or the
    base's tensors (floats cast to ``dtype``) plus merged states."""
    if state_out:
        return [(k, ckpt_sd[k].shape, ckpt_sd[k].dtype) for k in states]
    specs = [(k, ref.shape, DTYPES[dtype] if ref.dtype.is_floating_point else ref.dtype)
             for k, ref in base_sd.items()]
    return specs + [(k, ckpt_sd[k].shape, DTYPES[dtype]) for k in states]


def _targets(out_path: Path, formats: list, overwrite: bool) -> list[tuple]:
    """(format, path) of each export, refused where a file exists and ``overwrite`` is off."""
    targets = [(f, export.output_path(out_path, f)) for f in formats]
    for _, target in targets:
        try:
            paths.writable(target, overwrite=overwrite)
        except paths.PathExists:
            raise OutputExists(target) from None
    return targets


class OutputExists(MergeError):
    """An output that exists and ``overwrite`` is off (the Merge tab's Overwrite box, ``merge --overwrite``)."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(f"{paths.display(path)} already exists: tick Overwrite to replace it, or choose another "
                         "output name")


def _formats(fmt, row: Method, version: str, merge_state: bool) -> tuple[list, list[str]]:
    """The export formats asked for (a state file's when the checkpoint gives one) and what to tell about them."""
    try:
        formats, notes = export.formats(fmt, state=row.output == "state" and not merge_state, version=version)
    except ValueError as err:
        raise MergeError(str(err)) from None
    if merge_state and (row.output != "state" or version != "x060"):
        raise MergeError("merging a state into the model works for RWKV-6 state tuning only: the rwkv package "
                         "ignores time_state keys in an RWKV-7 model; mount the state file instead")
    return formats, notes


def _input_notes(row: Method, plan: CheckpointPlan, options: dict, ckpt_path: Path, base_path: Path, base_sd,
                 force: bool) -> tuple[fingerprint.Fingerprint | None, list[str]]:
    """The base's fingerprint a state file carries (None for a model; a state tuned on another base is refused
    unless ``force``), and what to tell about the inputs."""
    notes = []
    if row.output == "state":
        if plan.plain:
            notes.append(f"{len(plan.plain)} other trained keys are not part of a state file and were left out")
        base_fp = _check_state_base(ckpt_path, options, base_path, base_sd, force)
    else:
        base_fp = None
        if warning := _other_base(options, base_path, base_sd):
            notes.append(warning)
    if note := method_note(options, row):
        notes.append(note)
    return base_fp, notes


def merge(base: str | Path, checkpoint: str | Path, out: str | Path | None = None, *, fmt="pth",
          dtype: str = "bf16", gguf_type: str | None = None, lora_alpha: float | None = None,
          pissa_init: str | Path | None = None, quant: str | None = None, merge_state: bool = False,
          overwrite: bool = True, force: bool = False, check: bool = False,
          progress: Progress | None = None) -> MergeResult:
    """Fold ``checkpoint`` into ``base`` and write ``out`` in each format of ``fmt`` (a name of
    ``FORMATS``, "all", or a list of names).

    The method and its options come from the run's config.json next to the checkpoint, or an HF peft
    adapter folder's adapter_config.json (else from the checkpoint's keys); ``lora_alpha``, ``quant`` and
    ``pissa_init`` override them. A state-tuning checkpoint gives a state file (``time_state`` only, with the
    base's fingerprint) instead of a model, refused for a base it was not tuned on unless ``force``; with
    ``merge_state`` (RWKV-6 only, whose ``rwkv`` loader reads them) the states are also merged into a model.
    ``gguf_type`` is the GGUF tensor type (default: ``dtype``). ``check`` loads each export back with its
    runtime and compares its logits with base + adapter. ``out=None`` names it
    ``merge/<base-stem>-<TAG>-<epoch>.pth``; ``overwrite=False`` refuses to replace an existing output. In the
    app (``paths.confine``) every path must stay in the project folders.
    """
    started = time.perf_counter()
    gguf_type = _check_types(dtype, gguf_type)
    checkpoint, picked = run_checkpoint(paths.resolve(checkpoint, base="output"))
    base_path, ckpt_path, base_sd, ckpt_sd = _open_inputs(base, checkpoint)
    row, plan, options = inspect(ckpt_path, ckpt_sd, init_given=bool(pissa_init))
    state_out = row.output == "state" and not merge_state
    if hasattr(ckpt_sd, "fit_to"):
        ckpt_sd.fit_to(base_sd)
    quant = quant if quant is not None else options.get("quant") or "none"
    _check_quant(quant)
    options = _fold_options(row, options, {"lora_alpha": lora_alpha})
    merger = _Merger(base_sd, ckpt_sd, plan, init=_open_init(row, pissa_init, ckpt_path, options), quant=quant,
                     options=options)
    formats, notes = _formats(fmt, row, merger.info.version, merge_state)
    base_fp, input_notes = _input_notes(row, plan, options, ckpt_path, base_path, base_sd, force)
    notes += input_notes
    specs = _specs(base_sd, ckpt_sd, [plan.states[i] for i in sorted(plan.states)], dtype, state_out)
    # a bare name goes into merge/ (the check that it stays in the project comes with the targets)
    out_path = paths.writable(out, "merge") if out else default_output(base_path, ckpt_path, row)
    targets = _targets(out_path, formats, overwrite)
    ctx = export.ExportContext(info=merger.info, name=export.output_path(out_path, export.FORMATS["pth"]).stem,
                               gguf_type=gguf_type, dtype=DTYPES[dtype], base=base_fp, state=state_out)
    try:
        changed = _write(targets, specs, merger.merged, ctx, progress)
    except (export.gguf.GGUFExportError, export.hf.HFExportError, ModelFormatError) as err:
        raise MergeError(str(err)) from None
    if not state_out:  # what Chat fits itself to (merge/run_note.py)
        run_note.write(export.output_path(out_path, export.FORMATS["pth"]), ckpt_path, options)
    result = MergeResult(outputs=[p for _, p in targets], method=row.name, version=merger.info.version,
                         keys_changed=changed, seconds=time.perf_counter() - started, peak_rss_mb=_peak_rss_mb(),
                         output="state" if state_out else "model",
                         notes=([picked] if picked else []) + notes + ctx.notes,
                         checkpoint=ckpt_path)
    if check:
        from rwkv_simple_gui.export import check as self_check

        from .hf_adapter import folder_of

        result.checks = self_check.check_merge(base_path, ckpt_path, options, row, targets, ctx,
                                               pissa_init=pissa_init, hf_folder=folder_of(ckpt_path))
    return result
