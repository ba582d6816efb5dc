"""Parameters tab, generated from TrainConfig: every option with help, validation, presets, export.

Handlers receive and return dicts keyed by option name (never long positional lists), so a field
added to TrainConfig appears here without touching this file.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import gradio as gr

from .. import paths
from ..demo import DEMO_MODEL
from ..train import presets, rundir
from ..train.config import GROUPS, RUN_INFO_KEYS, TrainConfig, migrate
from ..train.seed_script import training_sh
from . import common, control
from .control import config_to_form, form_to_config, option_names
from .i18n import t
from .messages import translate

DEMO_PRESET = "demo-cpu"
MAX_SCRIPT = 1 << 20  # bytes of a training.sh read from an upload
BROWSER_KEY = "rwkv_simple_gui_params"
GROUP_OPEN = ("model", "data", "method", "schedule")
FIELDS_PER_ROW = 2


def visibility(mode: str, train_type: str, dataload: str, loss_mask: str) -> dict[str, bool]:
    """Which options matter for this method (the others hide)."""
    cfg = TrainConfig(finetune_mode=mode)
    shown = {name: cfg.applies(name) for name in option_names()}
    shown["chunk_ctx"] = train_type == "infctx"
    shown["run_until_stopped"] = dataload == "get"
    shown["mask0"] = shown["mask1"] = loss_mask == "se"
    return shown


# --- presets, runs, export -------------------------------------------------------------------------

def save_preset(name: str, values: dict) -> str:
    cfg, problems = form_to_config(values)
    if cfg is None:
        raise gr.Error("Can't save: " + "; ".join(problems))
    try:
        dest = presets.user_preset_path(name)
    except ValueError as err:
        raise gr.Error(f"Can't save: {err}.") from None
    with paths.atomic_output(dest) as tmp:
        tmp.write_text(json.dumps(cfg.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    return dest.stem


def read_options(path: Path, data: dict | None = None) -> dict:
    """The options a preset or a run's config.json sets (a built-in preset sets only some of them), in today's
    meaning: one saved before today's options_version is migrated, and a toast says what that changed; ``data``:
    the file already read."""
    try:
        if data is None:
            data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of option: value")
        data, notes = migrate(data, paths.display(path))
        data = {k: v for k, v in data.items() if k not in RUN_INFO_KEYS}
        TrainConfig.from_dict(data, source=paths.display(path))
    except (OSError, ValueError) as err:
        raise gr.Error(f"Can't load {paths.display(path)}: {err}") from err
    if notes:
        gr.Warning("\n".join(translate(note) for note in notes), duration=None)
    return config_to_form(data)


def load_training_sh(uploaded: str | None) -> tuple[dict, str]:
    """The form a seed user's training.sh describes (read as data, never run: see train.seed_script), every
    option it does not set at its default, and the import's report for the page."""
    from ..train.seed_script import read_training_sh

    if not uploaded:
        raise gr.Error("Pick a training.sh file to load.")
    path = Path(uploaded)
    if path.stat().st_size > MAX_SCRIPT:
        raise gr.Error(f"{path.name} is larger than {MAX_SCRIPT // 1024} KB: that is not a training.sh.")
    imported = read_training_sh(text=path.read_bytes().decode("utf-8", errors="replace"), source=path.name)
    try:
        form = config_to_form(imported.config)
    except ValueError as err:
        raise gr.Error(f"Can't load {path.name}: {err}") from None
    lines = [line.replace("`", "\\`") for line in imported.report()]  # shell text shown as written, not as code
    return form, "\n".join([f"### 📥 {lines[0]}", *lines[1:],
                             "", "The form now holds these options; the check above says what still needs fixing."])


def load_preset(name: str, values: dict | None = None) -> dict:
    """The form's fields a preset sets (epochs fitted to the dataset of ``values``, see :func:`fitted_preset`)."""
    return fitted_preset(name, values)[0]


def fitted_preset(name: str, values: dict | None = None) -> tuple[dict, str]:
    """The form's fields a preset sets, its epochs fitted to the form's dataset when the preset says how
    (``fit``); and what was fitted, in words."""
    try:
        path = presets.find_preset(name)
    except ValueError as err:
        raise gr.Error(f"{err}.") from None
    if path is None:
        raise gr.Error(f"No preset named {name!r}; pick one of {', '.join(presets.list_presets())}.")
    try:
        options, fit = presets.read_preset(path)
    except (OSError, ValueError) as err:
        raise gr.Error(f"Can't load {paths.display(path)}: {err}") from err
    form = read_options(path, options)
    if not fit:
        return form, ""
    fitted, note = presets.fit_epochs({**TrainConfig().to_dict(), **(values or {}), **form}, fit)
    if note is None:
        return form, f"Preset {name}: pick the dataset first, then load it again to fit its epochs to the data."
    return {**form, "epoch_count": fitted["epoch_count"], "epoch_save": fitted.get("epoch_save", form.get(
        "epoch_save"))}, f"Preset {name}: {note}."


def list_runs() -> list[str]:
    """Runs whose options can be copied (they wrote config.json), newest first."""
    return [paths.display(r["path"]) for r in rundir.list_runs(paths.folder("output")) if r["config"]]


def load_run(run: str) -> dict:
    if not run:
        raise gr.Error("Pick a run.")
    form = read_options(common.readable(run, "output") / "config.json")
    form["proj_dir"] = ""  # a copy starts a new run folder
    return form


def export(values: dict) -> tuple[str, str, str]:
    """The CLI command, a training.sh-style script, and the script written to a file for download."""
    cfg, problems = form_to_config(values)
    if cfg is None:
        raise gr.Error("; ".join(problems))
    command = "python -m rwkv_simple_gui train " + " ".join(shlex.quote(a) for a in cfg.to_cli_args())
    script = training_sh(cfg)
    dest = paths.folder(presets.USER_FOLDER) / "training.sh"
    with paths.atomic_output(dest) as tmp:
        tmp.write_text(script, encoding="utf-8")
    return command, script, str(dest)


# --- layout ----------------------------------------------------------------------------------------

def _component(f: dataclasses.Field, value, visible: bool):
    meta = f.metadata
    kw = dict(label=t(f"opt.{f.name}.label"), info=t(f"opt.{f.name}.help"), visible=visible)
    lister = control.file_options().get(f.name)
    if lister is not None:
        return gr.Dropdown(choices=lister(), value=value or None, allow_custom_value=True, **kw)
    if "choices" in meta and isinstance(value, list):
        return gr.CheckboxGroup(choices=list(meta["choices"]), value=value, **kw)
    if "choices" in meta:
        return gr.Dropdown(choices=list(meta["choices"]), value=value, **kw)
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    if kind in ("int", "float"):
        return gr.Number(value=value, precision=0 if kind == "int" else None, minimum=meta.get("min"),
                         maximum=meta.get("max"), **kw)
    return gr.Textbox(value=value, **kw)


def form_defaults(stored: dict | None = None) -> dict:
    """The form a page opens with: the options remembered on this machine, then those kept in this
    browser; an empty model or dataset is the newest there is now (not when the app started). A first
    visit on the demo model gets the demo preset, which trains in minutes on a CPU."""
    settings = common.load_settings()
    values = TrainConfig().to_dict()
    values.update({k: v for k, v in settings.get("params", {}).items() if k in values})
    values.update({k: v for k, v in (stored or {}).items() if k in values and v is not None})
    first_visit = "params" not in settings and not stored
    for name, lister in (("model_path", control.list_models), ("data_path", control.list_binidx)):
        if not values[name]:
            found = lister()
            values[name] = found[0] if found else ""
    if first_visit and values["model_path"] == DEMO_MODEL:
        values.update(load_preset(DEMO_PRESET, values))
    return values


def page_load(stored: dict | None, names: list[str]) -> list:
    """Every field as a page (re)opens: :func:`form_defaults`, the file pickers with fresh choices."""
    values, listers = form_defaults(stored), control.file_options()
    return [gr.update(value=values[n], choices=listers[n]()) if n in listers else gr.update(value=values[n])
            for n in names]


def build(settings: dict) -> dict:
    defaults = form_defaults()
    c: dict = {"options": {}}
    opts = c["options"]
    shown = visibility(defaults["finetune_mode"], defaults["train_type"], defaults["dataload"], defaults["loss_mask"])
    with gr.Row():
        with gr.Column(scale=3):
            for group in GROUPS:
                fields = [f for f in TrainConfig.options() if f.metadata["group"] == group]
                with gr.Accordion(t(f"group.{group}"), open=group in GROUP_OPEN):
                    for i in range(0, len(fields), FIELDS_PER_ROW):
                        with gr.Row(equal_height=False):
                            for f in fields[i:i + FIELDS_PER_ROW]:
                                opts[f.name] = _component(f, defaults[f.name], shown[f.name])
        with gr.Column(scale=2):
            c["check"] = gr.Markdown(elem_id="params-check")  # filled when the page loads
            with gr.Row():
                c["data_hint"] = gr.Markdown()
                c["apply"] = gr.Button(t("params.apply"), size="sm")
            with gr.Accordion(t("params.seed_import"), open=True):
                c["load_sh"] = gr.UploadButton(t("params.load_sh"), file_types=[".sh", ".txt"], size="sm",
                                               elem_id="params-load-sh")
                c["import_report"] = gr.Markdown(elem_id="params-import")
            with gr.Accordion(t("params.presets"), open=True):
                c["preset_name"] = gr.Dropdown(choices=presets.list_presets(), allow_custom_value=True,
                                               label=t("params.preset"), elem_id="params-preset")
                with gr.Row():
                    c["save_preset"] = gr.Button(t("params.save"), size="sm")
                    c["load_preset"] = gr.Button(t("params.load"), size="sm", elem_id="params-load-preset")
                c["run_pick"] = gr.Dropdown(choices=list_runs(), label=t("params.copy_from"))
                c["copy_run"] = gr.Button(t("params.copy"), size="sm")
                c["preset_msg"] = gr.Markdown(elem_id="params-preset-msg")  # why a save or load failed
            with gr.Accordion(t("params.export"), open=False):
                c["export"] = gr.Button(t("params.show"), size="sm")
                c["export_msg"] = gr.Markdown()
                c["cli"] = gr.Code(language="shell", label=t("params.cli"))
                c["script"] = gr.Code(language="shell", label="training.sh")
                c["script_file"] = gr.File(label=t("params.download"), interactive=False, height=80)
    c["browser"] = gr.BrowserState({}, storage_key=BROWSER_KEY)

    names = list(opts)
    comps = [opts[n] for n in names]

    def as_values(data: dict) -> dict:
        return {n: data[opts[n]] for n in names}

    def as_updates(form: dict) -> list:
        return [gr.update(value=form[n]) if n in form else gr.update() for n in names]

    def on_change(data: dict):
        values = as_values(data)
        common.remember("params", values)
        shown = visibility(values["finetune_mode"], values["train_type"], values["dataload"], values["loss_mask"])
        return [control.check(values), values] + [gr.update(visible=shown[n]) for n in names]

    change_outputs = [c["check"], c["browser"]] + comps
    gr.on([comp.change for comp in comps], on_change, set(comps), change_outputs, api_visibility="private",
          trigger_mode="always_last", show_progress="hidden")
    c["refresh"] = dict(fn=on_change, inputs=set(comps), outputs=change_outputs)

    def on_data(data: dict):
        values = as_values(data)
        info, err = control.dataset_info(values["data_path"])
        if info is None:
            return err
        return control.suggestion_text(control.suggestions(info, values))

    opts["data_path"].change(on_data, set(comps), c["data_hint"], api_visibility="private")

    def apply_suggestions(data: dict):
        values = as_values(data)
        info, err = control.dataset_info(values["data_path"])
        if info is None:
            raise gr.Error(err)
        s = control.suggestions(info, values)
        return [gr.update(value=s[n]) if n in s else gr.update() for n in names]

    applied = c["apply"].click(apply_suggestions, set(comps), comps, api_visibility="private")
    common.show_failure(applied, c["data_hint"], keep=comps)
    saved = c["save_preset"].click(lambda name, *vals: gr.update(choices=presets.list_presets(),
                                                                 value=save_preset(name, dict(zip(names, vals)))),
                                   [c["preset_name"]] + comps, c["preset_name"], api_visibility="private")

    def on_load_preset(data: dict):
        form, note = fitted_preset(data[c["preset_name"]], as_values(data))
        return [*as_updates(form), note]

    loaded = c["load_preset"].click(on_load_preset, {c["preset_name"], *comps}, [*comps, c["data_hint"]],
                                    api_visibility="private")

    def on_load_sh(uploaded):
        form, report = load_training_sh(uploaded)
        return [*as_updates(form), report]

    sh_loaded = c["load_sh"].upload(on_load_sh, c["load_sh"], comps + [c["import_report"]], api_visibility="private")
    common.show_failure(sh_loaded, c["import_report"], keep=comps)
    common.relist_on_focus(c["run_pick"], list_runs)
    copied = c["copy_run"].click(lambda run: as_updates(load_run(run)), c["run_pick"], comps, api_visibility="private")
    for event in (saved, loaded, copied):
        common.show_failure(event, c["preset_msg"], keep=[c["preset_name"], *comps], clear_on_success=True)
    exported = c["export"].click(lambda *vals: export(dict(zip(names, vals))), comps,
                                 [c["cli"], c["script"], c["script_file"]], api_visibility="private")
    common.show_failure(exported, c["export_msg"], clear_on_success=True)
    for name, lister in control.file_options().items():
        common.relist_on_focus(opts[name], lister)
    c["names"] = names
    return c
