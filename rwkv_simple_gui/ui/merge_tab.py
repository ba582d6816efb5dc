"""Merge tab: pick a run and an epoch; the method, alpha and PiSSA init come from the run itself."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from .. import merge as merger
from .. import paths
from ..model import ModelFormatError
from ..train import rundir
from . import common, messages
from .i18n import t


def run_choices() -> list[str]:
    return [paths.display(r["path"]) for r in rundir.list_runs(paths.folder("output")) if r["checkpoints"]]


def checkpoint_label(entry: dict, star: str = "★") -> str:
    """``rwkv-step-00000040.pth · epoch 1 · step 40 · val_loss 2.3100 ★`` (★: the best of the run; ``star`` says
    when few held-out documents make it noise)."""
    bits = [entry["file"]]
    if entry.get("epoch") is not None:  # an epoch checkpoint saved by a stop holds part of its epoch
        part = entry.get("partial") and rundir.checkpoint_step(entry["file"]) is None
        bits.append(f"epoch {entry['epoch']}" + (" (part)" if part else ""))
    if entry.get("step") is not None:
        bits.append(f"step {entry['step']}")
    if entry.get("val_loss") is not None:
        bits.append(f"val_loss {entry['val_loss']:.4f}" + (f" {star}" if entry["best"] else ""))
    return " · ".join(bits)


def checkpoint_choices(run: str | None) -> list[tuple[str, str]]:
    """(label, path) of the run's epoch and step checkpoints, oldest first, the best one marked."""
    if not run:
        return []
    try:
        run_dir = paths.readable(run, "output")
    except paths.PathRefused:
        return []
    star = rundir.best_mark(run_dir)
    return [(checkpoint_label(e, star), paths.display(e["path"])) for e in rundir.checkpoint_entries(run_dir)]


def pick_run(run: str | None):
    """Checkpoints of the run (its recommended one selected: the best when early stopping kept it, else the
    last) and its base model, from its config.json."""
    checkpoints = checkpoint_choices(run)
    try:
        config = rundir.read_config(paths.readable(run, "output")) if run else None
    except paths.PathRefused:
        config = None
    base = (config or {}).get("model_path") or None
    chosen = rundir.recommended_checkpoint(paths.resolve(run, base="output"))[0] if checkpoints else None
    return (gr.update(choices=checkpoints, value=paths.display(chosen) if chosen else None),
            gr.update(value=paths.display(paths.resolve(base, base="model")) if base else None))


def describe(checkpoint: str | None) -> str:
    """What the checkpoint holds and what merging it will do, before any work starts."""
    if not checkpoint:
        return ""
    try:
        path = paths.readable(checkpoint, "output")
        ckpt = merger.open_checkpoint(path)
        row, _, options = merger.inspect(path, ckpt)
    except (merger.MergeError, ModelFormatError, OSError, ValueError) as err:
        return f"❌ {err}"
    text = f"Method detected: **{row.name}**"
    if hasattr(ckpt, "config"):
        text += f" (an HF peft {ckpt.config.get('peft_type')} adapter folder)"
    elif row.trains_base and len(ckpt) > 10:
        text += " · a whole model (e.g. RWKV-PEFT's --merge 1 output): it is exported as it is"
    for name in row.fold_options:
        if options.get(name) is not None:
            text += f" · {name} {options[name]} (from the run's config.json)"
    if row.output == "state":
        text += " · a state file is written (mount it in Chat); RWKV-7 ignores states merged into a model"
    if note := merger.method_note(options, row):
        text += f"\n\n⚠️ {note}"
    chosen, why = rundir.recommended_checkpoint(path.parent)
    if chosen is not None and chosen.name == path.name:
        text += f"\n\nThe run's recommended checkpoint: {why}."
    return text


def load_merge_sh(uploaded: str | None, epoch) -> tuple:
    """A seed user's merge.sh (read as data, never run) with the epoch typed beside it, as merge.sh takes it:
    the checkpoint, base model and LoRA alpha it names, and the import's report."""
    from ..train.seed_script import read_merge_sh

    if not uploaded:
        raise gr.Error("Pick a merge.sh file to load.")
    text = Path(uploaded).read_bytes()[:1 << 20].decode("utf-8", errors="replace")
    given = [str(int(epoch))] if epoch not in (None, "") else []
    imported = read_merge_sh(text=text, positional=given, source=Path(uploaded).name)
    checkpoint = paths.display(imported.checkpoint) if imported.checkpoint else None
    return (gr.update(value=checkpoint), gr.update(value=imported.base or None),
            gr.update(value=imported.lora_alpha), "\n".join(line.replace("`", "\\`") for line in imported.report()))


def run_merge(base, checkpoint, out, fmt, dtype, lora_alpha, overwrite=False, gguf_type=None, check=True,
              force=False, progress=gr.Progress()) -> tuple[str, str | None]:
    if not base or not checkpoint:
        raise gr.Error("Pick the base model and the checkpoint to merge.")

    unit = messages.label("tensors")

    def report(done: int, total: int, key: str) -> None:
        progress((done, total), desc=key, unit=unit)

    try:
        result = merger.merge(
            paths.resolve(base, base="model"), paths.resolve(checkpoint, base="output"),
            out.strip() if out and out.strip() else None,
            fmt=fmt or "pth", dtype=dtype,
            gguf_type=gguf_type or None, lora_alpha=float(lora_alpha) if lora_alpha else None,
            overwrite=bool(overwrite), force=bool(force), check=bool(check), progress=report)
    except (merger.MergeError, ModelFormatError, paths.PathRefused) as err:
        raise gr.Error(str(err), duration=None) from err
    return result_text(result), paths.display(result.outputs[0])


def result_text(result) -> str:
    """What the Merge tab shows after a merge: the files, the figures and each export's self-check."""
    files = ", ".join(f"`{paths.display(p)}`" for p in result.outputs)
    notes = "".join(f"\n- ⚠️ {n}" for n in result.notes)
    checks = "".join("\n- " + "  \n  ".join(c.lines()) for c in result.checks)  # one list item per export
    failed = any(not c.ok for c in result.checks)
    title = "**Self-check failed** (logits on a few tokens):" if failed else "**Self-check** (logits on a few tokens):"
    return (f"### {'❌' if failed else '✅'} {result.method} merged ({result.version}) in {result.seconds:.1f} s\n"
            f"{files}\n{result.keys_changed} tensors changed · peak memory {result.peak_rss_mb:,.0f} MB{notes}"
            + (f"\n\n{title}{checks}" if checks else ""))


def build() -> dict:
    c: dict = {}
    with gr.Row():
        c["run"] = gr.Dropdown(choices=run_choices(), label=t("merge.run"), scale=2)
        c["checkpoint"] = gr.Dropdown(label=t("merge.checkpoint"), info=t("merge.checkpoint_info"),
                                      allow_custom_value=True, scale=2)
    with gr.Row():
        c["sh_epoch"] = gr.Number(value=None, precision=0, label=t("merge.sh_epoch"), scale=1)
        c["load_sh"] = gr.UploadButton(t("merge.load_sh"), file_types=[".sh", ".txt"], size="sm", scale=2)
    c["plan"] = gr.Markdown(elem_id="merge-plan")
    c["base"] = gr.Dropdown(choices=common.list_files("model", common.MODEL_EXTS), label=t("merge.base"),
                            allow_custom_value=True)
    with gr.Row():
        c["fmt"] = gr.Radio(list(merger.FORMATS), value="pth", label=t("merge.format"), info=t("merge.format_info"),
                            elem_id="merge-formats")
        c["dtype"] = gr.Radio(list(merger.DTYPES), value="bf16", label=t("merge.dtype"))
        c["gguf_type"] = gr.Dropdown([""] + list(merger.GGUF_TYPES), value="", label=t("merge.gguf_type"))
        c["lora_alpha"] = gr.Number(value=None, label=t("merge.alpha"), info=t("merge.alpha_info"))
    with gr.Row():
        c["out"] = gr.Textbox(label=t("merge.out"), placeholder="merge/<run>-<epoch>.pth", scale=4)
        c["overwrite"] = gr.Checkbox(value=False, label=t("common.overwrite"), scale=1)
    with gr.Row():
        c["check"] = gr.Checkbox(value=True, label=t("merge.check"))
        c["force"] = gr.Checkbox(value=False, label=t("merge.force"))
    c["merge"] = gr.Button(t("merge.run_button"), variant="primary", elem_id="merge-button")
    c["result"] = gr.Markdown(elem_id="merge-result")
    c["merged"] = gr.Textbox(visible=False)

    common.relist_on_focus(c["run"], run_choices)
    c["run"].change(pick_run, c["run"], [c["checkpoint"], c["base"]], api_visibility="private")
    c["checkpoint"].change(describe, c["checkpoint"], c["plan"], api_visibility="private")
    c["load_sh"].upload(load_merge_sh, [c["load_sh"], c["sh_epoch"]],
                        [c["checkpoint"], c["base"], c["lora_alpha"], c["result"]], api_visibility="private")
    common.relist_on_focus(c["base"], lambda: common.list_files("model", common.MODEL_EXTS))
    common.job(c["merge"], run_merge, [c["base"], c["checkpoint"], c["out"], c["fmt"], c["dtype"], c["lora_alpha"],
                                       c["overwrite"], c["gguf_type"], c["check"], c["force"]],
               [c["result"], c["merged"]], result=c["result"], api_name="merge", concurrency_id="gpu")
    return c
