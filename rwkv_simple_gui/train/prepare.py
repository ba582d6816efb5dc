"""The one prepare-and-check path: resolve every path option, read the model's and the dataset's facts,
validate once. The GUI's live check, its Start button, the CLI's ``--dry-run`` and the trainer all call
:func:`prepare`, so they can never disagree about a config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from rwkv_simple_gui import paths

from .config import TrainConfig


def resolve_option(kind: str, base: str | None, value: str) -> str:
    """An absolute path for what was typed into a path option (see TrainConfig's ``path`` metadata).

    file: a bare name found in the option's folder means that file; prefix: the same for a .bin/.idx pair;
    dir: a bare name is a folder of the option's folder (a new run folder goes to output/). In the app
    (``paths.confine``) a path that leads out of the project folders raises ``paths.PathRefused``.
    """
    if not value:
        return ""
    if kind == "prefix":
        direct = paths.resolve(value)
        in_base = paths.PROJECT_ROOT / base / value if base and len(Path(value).parts) == 1 else None
        found = in_base if in_base is not None and not Path(f"{direct}.idx").exists() and \
            Path(f"{in_base}.idx").exists() else direct
        for ext in ("", ".bin", ".idx"):
            paths.readable(f"{found}{ext}")
        return str(found)
    if kind == "dir":
        bare = base and len(Path(value).parts) == 1 and not Path(value).is_absolute()
        found = paths.PROJECT_ROOT / base / value if bare else paths.resolve(value)
        paths.writable(found)
        return str(found)
    found = paths.resolve(value, base)
    paths.readable(found)
    return str(found)


def path_options() -> dict[str, tuple[str, str | None]]:
    """``{option: (kind, folder)}`` for every path option."""
    return {f.name: f.metadata["path"] for f in TrainConfig.options() if "path" in f.metadata}


def resolve_paths(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with every path option absolute (relative to the project root / its folders)."""
    changes = {}
    for name, (kind, base) in path_options().items():
        try:
            changes[name] = resolve_option(kind, base, getattr(cfg, name))
        except paths.PathRefused as err:
            raise paths.PathRefused(f"{name}: {err}") from None
    return cfg.replace(**changes)


@dataclass
class Prepared:
    """A config with its paths resolved, the facts read from its files, and what is wrong with it."""

    config: TrainConfig
    model_info: object = None    # model.ModelInfo, when the model file could be read
    data_info: object = None     # train.data.DataInfo, when the dataset could be read
    problems: list[str] = field(default_factory=list)   # must be fixed before training
    warnings: list[str] = field(default_factory=list)   # worth knowing, not blocking
    steps: dict | None = None    # train.loop.estimate's step counts, when the data could be read

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_model(cfg: TrainConfig):
    from rwkv_simple_gui.model import ModelFormatError, detect

    if not Path(cfg.model_path).is_file():
        return None, None
    try:
        return detect(cfg.model_path), None
    except (ModelFormatError, OSError, RuntimeError, ValueError) as err:
        return None, f"model_path: {err}"


def _read_data(cfg: TrainConfig):
    from .data import data_info

    if not all(Path(cfg.data_path + ext).is_file() for ext in (".bin", ".idx")):
        return None, None
    try:
        return data_info(cfg.data_path), None
    except (OSError, ValueError) as err:
        return None, f"data_path: {err}"


def _warnings(cfg: TrainConfig, data_info, steps: dict | None) -> list[str]:
    from .budget import budget, notes

    run_budget = budget(cfg, data_info, steps)
    out = notes(run_budget, cfg, data_info)[1] if run_budget else []
    if steps and cfg.warmup_steps >= steps["total_steps"]:
        out.append(f"warmup_steps={cfg.warmup_steps} is not below the run's {steps['total_steps']} steps: the "
                   f"learning rate never reaches lr_init; lower warmup_steps (e.g. to "
                   f"{max(0, steps['total_steps'] // 10)})")
    return out


def prepare(cfg: TrainConfig, device: str | None = None) -> Prepared:
    """Resolve, read and validate ``cfg``; ``device`` ("cpu"/"cuda") adds the hardware checks."""
    from .validate import field_problems, problems, processes

    try:
        cfg = resolve_paths(cfg)
    except paths.PathRefused as err:
        return Prepared(cfg, problems=[str(err)])
    point_err = None
    if cfg.resume_from:
        from .resume import resolve_point

        try:
            cfg = cfg.replace(resume_from=str(resolve_point(cfg.resume_from)))
        except ValueError as err:
            point_err = f"resume_from: {err}"
    model_info, model_err = _read_model(cfg) if cfg.model_path else (None, None)
    data_info, data_err = _read_data(cfg) if cfg.data_path else (None, None)
    found = [e for e in (point_err, model_err, data_err) if e]
    found += problems(cfg.replace(resume_from="") if point_err else cfg, model_info, data_info, device)
    steps = None
    if data_info is not None and not field_problems(cfg):
        from .loop import estimate

        steps = estimate(cfg, data_info, processes(cfg))
    return Prepared(cfg, model_info, data_info, found, _warnings(cfg, data_info, steps), steps)


def describe(prepared: Prepared) -> dict:
    """What ``--dry-run`` prints: the resolved options, the facts, the step counts and the problems."""
    out = {"config": prepared.config.to_dict()}
    if prepared.model_info is not None:
        out["model_info"] = prepared.model_info.to_dict()
    if prepared.data_info is not None:
        out["data_info"] = dataclasses.asdict(prepared.data_info)
    if prepared.steps is not None:
        out["estimate"] = prepared.steps
        out.update(budget_report(prepared))
    out["problems"] = prepared.problems
    out["warnings"] = prepared.warnings
    return out


def budget_report(prepared: Prepared, max_params: float | None = None) -> dict:
    """The step budget (``train.budget``) and the predicted time, measured now when not cached (for models of at
    most ``max_params`` parameters when given: the GUI's live check)."""
    from .budget import budget, notes, time_estimate

    run_budget = budget(prepared.config, prepared.data_info, prepared.steps)
    if run_budget is None:
        return {}
    out = {"budget": run_budget.to_dict(), "budget_notes": notes(run_budget, prepared.config, prepared.data_info)[0]}
    if prepared.model_info is not None and prepared.ok:
        seconds, how = time_estimate(prepared, run_budget, max_params)
        out["time"] = {**(seconds or {}), "how": how}
    return out
