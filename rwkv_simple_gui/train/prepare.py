"""The one prepare-and-check path: resolve every path option, read the model's and the dataset's facts,
validate once. The GUI's live check, its Start button, the CLI's ``--dry-run`` and the trainer all call
:func:`prepare`, so they can never disagree about a config."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from rwkv_simple_gui import paths

from .config import TrainConfig


def resolve_option(kind: str, base: str | None, value: str) -> str:
    """An absolute path for what was typed into a path option (see TrainConfig's ``path`` metadata).

    file: a relative name not found from the project root but found in the option's folder means that file (as
    the seed's scripts prefix model/ and data/); prefix: the same for a .bin/.idx pair;
    dir: a bare name is a folder of the option's folder (a new run folder goes to output/). In the app
    (``paths.confine``) a path that leads out of the project folders raises ``paths.PathRefused``.
    """
    if not value:
        return ""
    return str({"prefix": _resolve_prefix, "dir": _resolve_dir}.get(kind, _resolve_file)(base, value))


def _resolve_prefix(base: str | None, value: str) -> Path:
    direct = paths.resolve(value)
    in_base = paths.PROJECT_ROOT / base / value if base and not Path(value).is_absolute() else None
    found = in_base if in_base is not None and not Path(f"{direct}.idx").exists() and \
        Path(f"{in_base}.idx").exists() else direct
    for ext in ("", ".bin", ".idx"):
        paths.readable(f"{found}{ext}")
    return found


def _resolve_dir(base: str | None, value: str) -> Path:
    bare = base and len(Path(value).parts) == 1 and not Path(value).is_absolute()
    found = paths.PROJECT_ROOT / base / value if bare else paths.resolve(value)
    paths.writable(found)
    return found


def _resolve_file(base: str | None, value: str) -> Path:
    found = paths.resolve(value, base)
    if base and not found.exists() and not Path(value).is_absolute() and (paths.PROJECT_ROOT / base / value).exists():
        found = paths.PROJECT_ROOT / base / value  # the seed's meaning: MODEL_PATH=sub/x.pth is model/sub/x.pth
    paths.readable(found)
    return found


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
    steps: dict | None = None    # train.step.estimate's step counts, when the data could be read
    plan: object = None          # train.data.Plan they come from
    device: object = None        # train.device.DeviceFacts the checks ran for (None: no hardware checks)
    strategy: object = None      # train.distributed.Strategy that will run

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


def _warnings(cfg: TrainConfig, data_info, steps: dict | None, plan_notes: list[str], strategy) -> list[str]:
    from .budget import budget, notes

    out = list(plan_notes)
    run_budget = budget(cfg, data_info, steps)
    out += notes(run_budget, cfg, data_info)[1] if run_budget else []
    if steps and cfg.warmup_steps >= steps["total_steps"]:
        out.append(f"warmup_steps={cfg.warmup_steps} is not below the run's {steps['total_steps']} steps: the "
                   f"learning rate never reaches lr_init; lower warmup_steps (e.g. to "
                   f"{max(0, steps['total_steps'] // 10)})")
    if strategy is not None and strategy.note:
        out.append(strategy.note)
    if steps and steps["until_stopped"]:
        out.append(f"dataload get runs until you stop it, as in RWKV-PEFT (run_until_stopped 1): the learning rate "
                   f"reaches lr_final after {steps['total_steps']} steps and stays there")
    if cfg.loss_mask == "none" and cfg.dataload == "pad" and (cfg.val_split or cfg.val_data):
        out.append("loss_mask none with dataload pad learns the tokens that follow each document in the file, which "
                   "may be held-out documents: use loss_mask pad to keep validation clean")
    return out


def check(cfg: TrainConfig, model_info=None, data_info=None, device: str | None = None) -> list[str]:
    """The validation alone, of the options as given, with what is already known of the model and the data
    (``model.detect``'s ModelInfo, a ``train.data.DataInfo``; ``device`` "cpu"/"cuda" adds the hardware's checks):
    every problem in words that say what to change. :func:`prepare` reads the files and checks with them."""
    from .validate import problems

    return problems(resolve_paths(cfg), model_info, data_info, device)


def prepare(cfg: TrainConfig, device="auto") -> Prepared:
    """Resolve, read and validate ``cfg`` for ``device``: "auto" (the device a trainer started now would use,
    as ``train.device.detect`` finds it), "cpu"/"cuda" (the trainer knows its own), or None (no hardware checks)."""
    from .data import make_plan, plan_warnings
    from .device import detect, facts_for
    from .distributed import strategy
    from .validate import field_problems, problems, processes

    device = detect() if device == "auto" else facts_for(device) if isinstance(device, str) else device
    try:
        cfg = resolve_paths(cfg)
    except paths.PathRefused as err:
        return Prepared(cfg, problems=[str(err)], device=device)
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
    steps, plan, plan_notes, runs = None, None, [], None
    if not field_problems(cfg):
        world = processes(cfg)
        runs = strategy(cfg, world)
        if data_info is not None:
            from .step import training_documents

            n_docs = training_documents(cfg, data_info)
            plan = make_plan(cfg, n_docs, world)
            steps = {"documents": n_docs, **plan.to_dict()}
            plan_notes = plan_warnings(cfg, plan, n_docs)
    return Prepared(cfg, model_info, data_info, found, _warnings(cfg, data_info, steps, plan_notes, runs), steps, plan,
                    device, runs)


def saved_epochs(cfg: TrainConfig, plan, limit: int = 12) -> list[str]:
    """The epoch checkpoints the run writes (the first ``limit``), as the loop saves them."""
    from .rundir import checkpoint_name

    looked_at = itertools.islice(plan.epochs(), plan.epoch_count + cfg.epoch_save * limit)  # get may never end
    return [checkpoint_name(e) for e in looked_at if plan.saves(e, cfg.epoch_save)][:limit]


def training_plan(prepared: Prepared) -> dict | None:
    """What the run trains, in RWKV-PEFT's terms: method and ranks, learning rate, mask, strategy, epochs and
    steps (the step counts are :class:`train.data.Plan`'s); None until the options are readable."""
    from rwkv_simple_gui.peft.methods import METHODS

    cfg = prepared.config
    row = METHODS.get(cfg.finetune_mode)
    if prepared.strategy is None or row is None:
        return None
    numbers = {name: getattr(cfg, name) for name in row.options
               if isinstance(getattr(cfg, name), (int, float)) and "path" not in TrainConfig.option(name).metadata}
    plan = {"method": cfg.finetune_mode, "stage": cfg.stage, "ranks": numbers,
            "train_parts": cfg.train_parts if cfg.applies("train_parts") else [],
            "lr": {"init": cfg.lr_init, "final": cfg.lr_final, "schedule": cfg.lr_schedule,
                   "warmup_steps": cfg.warmup_steps},
            "adam": {"beta1": cfg.beta1, "beta2": cfg.beta2, "eps": cfg.adam_eps},
            "dataload": cfg.dataload, "loss_mask": cfg.loss_mask, "ctx_len": cfg.ctx_len, "quant": cfg.quant,
            "op": cfg.op, "precision": cfg.precision,
            "strategy": prepared.strategy.description + (f" ({prepared.strategy.note})" if prepared.strategy.note
                                                         else "")}
    steps = prepared.steps
    if steps is not None:
        plan.update({key: steps[key] for key in ("micro_steps_per_epoch", "steps_per_epoch", "epochs", "first_epoch",
                                                 "last_epoch", "first_step", "total_steps", "steps_this_run",
                                                 "until_stopped", "samples_per_step")})
        plan["checkpoints"] = saved_epochs(cfg, prepared.plan)
    return plan


def describe(prepared: Prepared) -> dict:
    """What ``--dry-run`` prints: the resolved options, the facts, the plan, the step counts and the problems."""
    out = {"config": prepared.config.to_dict()}
    if prepared.device is not None:
        out["device"] = prepared.device.describe()
    if prepared.model_info is not None:
        out["model_info"] = prepared.model_info.to_dict()
    if prepared.data_info is not None:
        out["data_info"] = dataclasses.asdict(prepared.data_info)
    plan = training_plan(prepared)
    if plan is not None:
        out["plan"] = plan
    if prepared.steps is not None:
        out["estimate"] = prepared.steps
        out.update(budget_report(prepared))
    if prepared.model_info is not None and not prepared.problems:
        from .estimate import GB, estimate_memory, trainable_params

        memory = estimate_memory(prepared.model_info, prepared.config)
        out["memory"] = {"trainable_params": trainable_params(prepared.model_info, prepared.config),
                         "gb": round(memory.total / GB, 2)}
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
