"""What a training checkpoint holds, sorted by how it is merged, and what the merge needs from its run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from rwkv_simple_gui import paths
from rwkv_simple_gui.model.lazy import TensorRef
from rwkv_simple_gui.peft.methods import METHODS, Method, detect_method
from rwkv_simple_gui.train.rundir import checkpoint_label, read_options

from .errors import MergeError

_LAYER = re.compile(r"^blocks\.(\d+)\.")


@dataclass
class CheckpointPlan:
    """The checkpoint's keys by role: adapted modules, per-layer states, and plain weights."""

    method: Method
    modules: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> {part ("lora_A"): key}
    states: dict[int, str] = field(default_factory=dict)              # layer -> time_state key
    plain: list[str] = field(default_factory=list)                    # copied over the base (train_parts, full)
    module_options: dict[str, dict] = field(default_factory=dict)     # module -> its own fold options


def _linear_adapter_suffixes() -> dict[str, list[Method]]:
    """Every key suffix of an adapter of linears (legacy ones too) -> the methods that use it."""
    out: dict[str, list[Method]] = {}
    for row in METHODS.values():
        if row.adapts_linears:
            for suffix in (*row.key_suffixes, *row.legacy_suffixes):
                out.setdefault(suffix, []).append(row)
    return out


def _check_adapter_keys(ckpt: Mapping[str, TensorRef], row: Method) -> None:
    own = (*row.key_suffixes, *row.legacy_suffixes)
    for key in ckpt:
        if ".init_lora_" in key:
            raise MergeError(f"{key!r} belongs in the PiSSA init file (init_pissa.pth), not in a checkpoint: "
                             "pick a rwkv-<epoch>.pth as the checkpoint")
        suffix, users = next(((s, rows) for s, rows in _linear_adapter_suffixes().items()
                              if key.endswith(s) and s not in own), (None, []))
        if suffix and row.adapts_linears:
            raise MergeError(f"checkpoint holds both {row.name} adapters and {suffix} tensors ({key}); merge "
                             f"them one at a time")
        if suffix:
            shapes = ", ".join(f"{r.name} {r.key_ndim}-D" for r in users if r.key_ndim)
            raise MergeError(f"checkpoint holds {suffix} tensors of mixed shapes (e.g. {key})"
                             + (f": they must be all alike ({shapes})" if shapes else ""))


def plan_checkpoint(ckpt: Mapping[str, TensorRef], row: Method) -> CheckpointPlan:
    """Sort the keys of a ``row`` checkpoint; raises MergeError when they don't make one whole checkpoint."""
    _check_adapter_keys(ckpt, row)
    plan = CheckpointPlan(row)
    parts = {s: s[1:] for s in row.key_suffixes} | {old: new[1:] for old, new in row.legacy_suffixes.items()}
    for key in ckpt:
        suffix = next((s for s in parts if key.endswith(s)), None)
        if suffix and row.adapts_linears:
            plan.modules.setdefault(key[: -len(suffix)], {})[parts[suffix]] = key
        elif suffix and row.output == "state" and (m := _LAYER.match(key)):
            plan.states[int(m.group(1))] = key
        else:
            plan.plain.append(key)
    wanted = {s[1:] for s in row.key_suffixes}
    for module, found in plan.modules.items():
        if set(found) != wanted:
            missing = ", ".join(sorted(wanted - set(found)))
            raise MergeError(f"checkpoint has only part of the {row.name} adapter of {module} ({missing} is "
                             f"missing): the file is incomplete; pick another epoch")
    if not ckpt:
        raise MergeError("checkpoint holds no tensors")
    return plan


def checkpoint_method(ckpt: Mapping[str, TensorRef], options: dict, has_init: bool) -> Method:
    """The method of a checkpoint: the one its run's options name (checked against its keys), else the one
    its keys show (``has_init``: an init file lies next to it, so LoRA keys are PiSSA's)."""
    ndims = {k: ref.ndim for k, ref in ckpt.items()}
    named = METHODS.get(options.get("finetune_mode")) if isinstance(options.get("finetune_mode"), str) else None
    if named is None:
        return detect_method(ndims, has_init=has_init)
    detected = detect_method(ndims, has_init=bool(named.init_file))
    if detected.key_suffixes != named.key_suffixes:
        raise MergeError(f"the run's config.json says finetune_mode {named.name}, but the checkpoint holds "
                         f"{detected.name} tensors: pick a checkpoint of this run")
    return named


def method_note(options: dict, row: Method) -> str | None:
    """What to tell when the run's config.json names a method this tool does not know (its keys decided)."""
    named = options.get("finetune_mode")
    if named is None or (isinstance(named, str) and named in METHODS):
        return None
    return (f"the run's config.json names finetune_mode {named!r}, which this tool does not know: merged as "
            f"{row.name}, the method the checkpoint's tensors show; check that this is what the run trained")


def open_checkpoint(path: Path):
    """A checkpoint read tensor by tensor: a ``.pth`` (``LazyStateDict``) or an HF peft adapter folder."""
    from rwkv_simple_gui.model.lazy import LazyStateDict

    from .hf_adapter import AdapterFolder, folder_of

    folder = folder_of(path)
    if folder is not None:
        return AdapterFolder(folder)
    if Path(path).is_dir():
        raise MergeError(f"{path} is a folder without adapter_config.json: pick a checkpoint file (rwkv-<epoch>.pth) "
                         "or an HF peft adapter folder")
    return LazyStateDict(path)


def inspect(ckpt_path: Path, ckpt: Mapping[str, TensorRef], *, init_given: bool = False
            ) -> tuple[Method, CheckpointPlan, dict]:
    """The method, the plan and the run's options of the checkpoint at ``ckpt_path`` (read as ``ckpt``)."""
    from .hf_adapter import AdapterFolder

    if isinstance(ckpt, AdapterFolder):
        plan = plan_checkpoint(ckpt, ckpt.method)
        plan.module_options = ckpt.module_options(plan.modules)
        return ckpt.method, plan, ckpt.options()
    try:
        options = read_options(ckpt_path.parent)
    except ValueError as err:
        raise MergeError(str(err)) from None
    has_init = init_given or any((ckpt_path.parent / r.init_file).is_file() for r in METHODS.values() if r.init_file)
    row = checkpoint_method(ckpt, options, has_init)
    return row, plan_checkpoint(ckpt, row), options


def default_output(base: str | Path, checkpoint: str | Path, row: Method) -> Path:
    """``merge/<run>-<epoch>.pth`` for a checkpoint of a run folder (``...-step40.pth`` for a step checkpoint):
    never the same name for two runs. Another checkpoint: ``merge/<base-stem>-<TAG>-<epoch>.pth``, as the seed's
    merge.sh names it."""
    checkpoint = Path(checkpoint)
    if any((checkpoint.parent / name).is_file() for name in ("config.json", "status.json")):
        return paths.folder("merge") / f"{checkpoint.parent.name}-{checkpoint_label(checkpoint)}.pth"
    return paths.folder("merge") / f"{Path(base).stem}-{row.tag}-{checkpoint_label(checkpoint)}.pth"


def run_checkpoint(path: Path) -> tuple[Path, str | None]:
    """What a checkpoint path names: a run folder gives its recommended checkpoint (the best one when early
    stopping kept it, else the last), with a sentence saying which; anything else is itself."""
    from rwkv_simple_gui.train.rundir import recommended_checkpoint

    from .hf_adapter import folder_of

    if not path.is_dir() or folder_of(path) is not None:
        return path, None
    chosen, why = recommended_checkpoint(path)
    if chosen is None:
        raise MergeError(f"{paths.display(path)} holds no checkpoint (rwkv-<epoch>.pth): pick a run folder that "
                         f"trained, or a checkpoint file")
    return chosen, f"{paths.display(path)}: merged {chosen.name}, {why}"
