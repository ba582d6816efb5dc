"""Pure helpers the tabs share (no tab imports another tab): the training form as a TrainConfig, its check,
and the file choices of its path options. Tests call these directly."""

from __future__ import annotations

from .. import paths
from ..train.config import GROUPS, TrainConfig, coerce
from ..train.estimate import estimate_memory
from ..train.prepare import Prepared, budget_report, path_options, prepare, resolve_option
from . import common


def option_names() -> list[str]:
    """Every option, in the order the form shows them (and its API endpoints take them)."""
    return [f.name for group in GROUPS for f in TrainConfig.options() if f.metadata["group"] == group]


def list_binidx() -> list[str]:
    """Tokenized datasets in data/ as prefixes (the path without .bin/.idx), newest first."""
    root = paths.folder("data")
    prefixes = [p.with_suffix("") for p in root.rglob("*.idx") if p.with_suffix(".bin").is_file()]
    prefixes.sort(key=lambda p: p.with_suffix(".idx").stat().st_mtime, reverse=True)
    return [paths.display(p) for p in prefixes]


def list_checkpoints() -> list[str]:
    return common.list_files("output", (".pth",))


def list_models() -> list[str]:
    return common.list_files("model", common.MODEL_EXTS)


_LISTERS = {("file", "model"): list_models, ("prefix", "data"): list_binidx, ("file", "output"): list_checkpoints}


def file_options() -> dict:
    """``{option: lister}`` for the path options picked from a project folder (dropdowns in the form)."""
    return {name: _LISTERS[spec] for name, spec in path_options().items() if spec in _LISTERS}


# --- form <-> config -------------------------------------------------------------------------------

def form_to_config(values: dict) -> tuple[TrainConfig | None, list[str]]:
    """The TrainConfig a form describes, or the list of fields that can't be read."""
    problems, clean = [], {}
    for name in option_names():
        if name not in values:
            continue
        value = values[name]
        if value is None or value == "":
            default = getattr(TrainConfig(), name)
            auto = TrainConfig.option(name).metadata.get("auto")
            value = default if not isinstance(default, str) or auto else ""
        try:
            clean[name] = coerce(name, value, source="form")
        except ValueError as err:
            problems.append(str(err).removeprefix("form: "))
    if problems:
        return None, problems
    return TrainConfig.from_dict(clean, source="form"), []


def config_to_form(cfg: TrainConfig | dict) -> dict:
    data = cfg.to_dict() if isinstance(cfg, TrainConfig) else dict(cfg)
    return {name: data[name] for name in option_names() if name in data}


def prepare_form(values: dict) -> tuple[Prepared | None, list[str]]:
    """What Start and the live check both run: the form read, then :func:`train.prepare.prepare`."""
    cfg, problems = form_to_config(values)
    if cfg is None:
        return None, problems
    prepared = prepare(cfg)
    return prepared, prepared.problems


# --- what the check shows ----------------------------------------------------------------------------

def describe_model(info) -> str:
    return (f"**{info.version}** · {info.n_layer} layers · width {info.n_embd} · {info.n_head} heads of "
            f"{info.head_size} · vocab {info.vocab_size:,} · {info.n_params / 1e6:,.1f} M parameters · "
            f"file {info.dtype}")


def describe_data(info) -> str:
    return (f"{paths.display(info.prefix)}: {info.n_docs:,} documents, {info.num_tokens:,} tokens, "
            f"longest {info.max_doc_len:,} tokens")


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def describe_budget(prepared: Prepared) -> list[str]:
    """The run's step budget and its predicted time on this machine (measured now for a small model)."""
    from ..train.budget import SPEED_MAX_PARAMS

    report = budget_report(prepared, max_params=SPEED_MAX_PARAMS)
    lines = [f"📏 {line}" for line in report.get("budget_notes", [])]
    found = report.get("time")
    if found and "total_s" in found:
        lines.append(f"⏱️ about {duration(found['total_s'])} on this machine (training {duration(found['train_s'])}, "
                     f"evaluations {duration(found['evaluate_s'])}, recall check {duration(found['recall_s'])}; step "
                     f"time {found['how']})")
    elif found:
        lines.append(f"⏱️ time: {found['how']}")
    return lines


def dataset_info(data_path: str | None):
    """The facts of a tokenized dataset picked in the form, or (None, the reason)."""
    from ..train.data import data_info

    if not data_path:
        return None, "Pick a tokenized dataset (run the Tokenize tab first)."
    try:
        return data_info(resolve_option("prefix", "data", data_path)), None
    except (FileNotFoundError, ValueError) as err:
        return None, str(err)


def suggestions(info, values: dict | None = None) -> dict:
    """ctx_len, micro_bsz and epoch_steps that fit a dataset (the seed's make_tokenize advice), and the
    epoch_count that keeps the form's optimizer steps with them (never fewer) and, for a dataset of facts, makes
    the passes the method needs (train.budget's rule)."""
    from ..data.stats import align_tokens, factor_table
    from ..train.budget import budget, facts_rule, fitted_epochs
    from ..train.step import estimate

    ctx_len = align_tokens(max(1, info.max_doc_len))
    row = next((f for f in factor_table(info.n_docs) if f["count"] == info.n_docs), None)
    small = [m for m in (row["micro_bsz"] if row else []) if m <= 8 and m < info.n_docs]
    micro_bsz = max(small) if small else 1
    found = {"ctx_len": ctx_len, "micro_bsz": micro_bsz, "epoch_steps": "auto"}
    cfg, _ = form_to_config(values or {})
    if cfg is None:
        return found
    before = estimate(cfg, info)["steps_this_run"]
    after = cfg.replace(**found)
    per_epoch = estimate(after.replace(epoch_count=1), info)["steps_this_run"]
    epochs = max(cfg.epoch_count, -(-before // max(per_epoch, 1)))
    run = budget(after, info, estimate(after, info))
    rule = facts_rule(run, cfg.finetune_mode)
    if rule:
        epochs = max(epochs, fitted_epochs(after, info, rule.passes))
    return {**found, "epoch_count": epochs, "steps_before": before,
            "steps": estimate(after.replace(epoch_count=epochs), info)["steps_this_run"]}


def suggestion_text(s: dict) -> str:
    if "epoch_count" not in s:
        return (f"Suggested for this dataset: ctx_len **{s['ctx_len']}**, micro_bsz **{s['micro_bsz']}**, "
                f"epoch_steps **{s['epoch_steps']}**.")
    return (f"Suggested for this dataset: ctx_len **{s['ctx_len']}**, micro_bsz **{s['micro_bsz']}**, epoch_steps "
            f"**{s['epoch_steps']}**, epoch_count **{s['epoch_count']}**.\n\n"
            f"That is {s['steps']} optimizer steps (now {s['steps_before']}): applying them never lowers the steps.")


def check(values: dict) -> str:
    """Everything the form says, validated as the trainer validates it, plus a memory estimate."""
    prepared, problems = prepare_form(values)
    text = "\n\n".join(_facts(prepared)) + "\n\n" + _verdict(problems)
    if prepared is not None:
        text += "".join("\n\n" + part for part in _details(prepared))
    return text


def _facts(prepared) -> list[str]:
    """What the check read: the device, the model, the dataset and its step budget."""
    if prepared is None:
        return []
    notes = []
    if prepared.device is not None:
        notes.append(f"🖥️ Trains on {prepared.device.describe()}")
    if prepared.model_info is not None:
        notes.append("🧠 " + describe_model(prepared.model_info))
    if prepared.data_info is not None:
        notes.append("📚 " + describe_data(prepared.data_info))
        notes += describe_budget(prepared)
    return notes


def _verdict(problems: list[str]) -> str:
    if problems:
        return "### ⚠️ Fix before training\n" + "\n".join(f"- {p}" for p in dict.fromkeys(problems))
    return "### ✅ Ready to train"


def _details(prepared) -> list[str]:
    """The warnings, the plan and the memory estimate."""
    details = []
    if prepared.warnings:
        details.append("\n".join(f"- {'⚠️' if w.startswith('too short') else 'ℹ️'} {w}" for w in prepared.warnings))
    if prepared.steps is not None:
        details.append(describe_plan(prepared.steps))
    return details + _memory(prepared)


def _memory(prepared) -> list[str]:
    """The memory estimate, and whether it fits the GPU's free memory."""
    if prepared.model_info is None:
        return []
    try:
        estimate = estimate_memory(prepared.model_info, prepared.config)
    except ValueError:  # a model the trainer could not build (named above) has no estimate
        return []
    lines = [estimate.as_markdown()]
    gpu = prepared.device.gpus[0] if prepared.device is not None and prepared.device.gpus else None
    if gpu is not None and gpu.free_gb is not None and estimate.total / 2**30 > gpu.free_gb:
        lines.append(f"- ⚠️ The estimate ({estimate.total / 2**30:.1f} GB) is more than the {gpu.free_gb:.1f} GB free "
                     f"on {gpu.name}: lower micro_bsz or ctx_len, set grad_cp 1, or quant int8")
    return lines


def describe_plan(steps: dict) -> str:
    """The plan's counts in one line (train.data.Plan, as RWKV-PEFT counts them)."""
    if steps["until_stopped"]:
        return (f"📅 Epochs from {steps['first_epoch']} on, until you stop it: {steps['micro_steps_per_epoch']} "
                f"micro-batches = {steps['steps_per_epoch']} optimizer steps per epoch; the learning rate reaches "
                f"lr_final at step {steps['total_steps']}")
    return (f"📅 Epochs {steps['first_epoch']} to {steps['last_epoch']}: {steps['micro_steps_per_epoch']} "
            f"micro-batches = {steps['steps_per_epoch']} optimizer steps per epoch, {steps['steps_this_run']} steps in "
            f"this run")
