"""Presets: partial option sets by name. Built-in ones ship in ``rwkv_simple_gui/presets/``; the user's
are saved in the project's ``presets/`` folder and win over a built-in one of the same name."""

from __future__ import annotations

import math
import re
from pathlib import Path

from rwkv_simple_gui import paths

BUILTIN = Path(__file__).resolve().parent.parent / "presets"
USER_FOLDER = "presets"


def user_preset_path(name: str) -> Path:
    """Where the user's preset ``name`` is saved (a safe file name in presets/)."""
    clean = re.sub(r"[^\w.-]+", "_", (name or "").strip()).strip(".")
    if not clean:
        raise ValueError("give the preset a name")
    return paths.folder(USER_FOLDER) / f"{clean}.json"


def list_presets() -> list[str]:
    names = {p.stem for p in BUILTIN.glob("*.json")} | {p.stem for p in paths.folder(USER_FOLDER).glob("*.json")}
    return sorted(names)


def find_preset(name: str) -> Path | None:
    """The file of preset ``name`` (the user's first, then the built-in one), or None."""
    user = user_preset_path(name)
    if user.is_file():
        return user
    builtin = BUILTIN / user.name
    return builtin if builtin.is_file() else None


def config_file(value: str) -> Path:
    """What ``--config`` names: a JSON file (absolute or from the project root), or a preset's name."""
    path = paths.resolve(value)
    if path.is_file() or len(Path(value).parts) != 1:
        return path
    return find_preset(Path(value).stem) or path


FIT = "fit"  # a preset's {"passes": P, "min_steps": S, "rule_margin": M}: epoch_count follows from its dataset
FIT_KEYS = {"passes", "min_steps", "rule_margin"}


def read_preset(path) -> tuple[dict, dict | None]:
    """(the options a preset file sets, its ``fit`` or None); ValueError names the file and what is wrong."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{paths.display(path)}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{paths.display(path)}: expected a JSON object of option: value")
    fit = data.pop(FIT, None)
    if fit is not None and not (isinstance(fit, dict) and set(fit) <= FIT_KEYS
                                and all(isinstance(v, (int, float)) and v > 0 for v in fit.values())):
        raise ValueError(f'{paths.display(path)}: "fit" must be like {{"passes": 12, "min_steps": 100}}')
    return data, fit


def fit_epochs(options: dict, fit: dict, world: int = 1) -> tuple[dict, str | None]:
    """``options`` with epoch_count (and an epoch_save that saved only the last epoch) fitted to the dataset
    ``options["data_path"]`` names: enough epochs for ``fit["passes"]`` passes over each training document (on a
    dataset of facts, at least ``fit["rule_margin"]`` times the passes the method's measured rule asks for that
    many facts) and at least ``fit["min_steps"]`` optimizer steps. Returns the options and a sentence saying what
    was fitted (None when the dataset cannot be read: the options are returned as they are)."""
    from .budget import budget, facts_rule, fitted_epochs
    from .config import TrainConfig
    from .data import data_info
    from .prepare import resolve_option
    from .step import estimate

    try:
        cfg = TrainConfig.from_dict(options, source="preset")
        info = data_info(resolve_option("prefix", "data", cfg.data_path)) if cfg.data_path else None
    except (OSError, ValueError, paths.PathRefused):
        return options, None
    if info is None or info.n_docs == 0:
        return options, None
    passes, why = fit.get("passes", 1), f"the preset asks for {fit.get('passes', 1):g} passes"
    one = budget(cfg.replace(epoch_count=1), info, estimate(cfg.replace(epoch_count=1), info, world))
    rule = facts_rule(one, cfg.finetune_mode)
    if rule and fit.get("rule_margin") and fit["rule_margin"] * rule.passes > passes:
        passes = fit["rule_margin"] * rule.passes
        why = (f"{one.documents:,} facts need about {rule.passes:.0f} passes on the demo base, and the preset asks "
               f"{fit['rule_margin']:g} times that")
    epochs = fitted_epochs(cfg, info, passes, world)
    epochs = max(epochs, math.ceil(fit.get("min_steps", 0) / max(one.steps, 1)))
    fitted = {**options, "epoch_count": epochs}
    if options.get("epoch_save", 1) >= options.get("epoch_count", TrainConfig().epoch_count):
        fitted["epoch_save"] = epochs  # the preset saves its last epoch only
    fitted_cfg = cfg.replace(epoch_count=epochs)
    run = budget(fitted_cfg, info, estimate(fitted_cfg, info, world))
    return fitted, (f"epoch_count {epochs} fitted to {paths.display(info.prefix)}: {run.steps} optimizer steps, each "
                    f"training document about {run.passes:.3g} times ({why}, and at least "
                    f"{fit.get('min_steps', 0):g} steps)")
