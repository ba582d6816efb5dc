"""Train tab: start, stop and resume the trainer process, and watch a run by reading its folder.

A timer re-reads the run directory every few seconds, so a refresh, a second browser or a restarted
app shows the same job: nothing lives in the page.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import gradio as gr
import pandas as pd

from .. import paths, runner
from ..train import rundir
from . import common, control
from .i18n import t

POLL_S = 2.0
RUN_COLUMNS = ["run", "state", "steps", "final loss", "checkpoints", "started"]


def _fmt_s(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def start_training(values: dict) -> str:
    """Check the Parameters form as the trainer will, and launch it; returns the run folder to watch."""
    prepared, problems = control.prepare_form(values)
    if problems:
        raise gr.Error("Fix these on the Parameters tab first:\n" + "\n".join(f"• {p}" for p in problems),
                       duration=None)
    cfg = prepared.config
    run_dir = Path(cfg.proj_dir) if cfg.proj_dir else rundir.default_run_dir(cfg.finetune_mode)
    try:
        runner.start(cfg.to_dict(), run_dir)
    except runner.RunnerError as err:
        raise gr.Error(str(err)) from err
    return paths.display(run_dir)


def resume_training(run: str | None) -> str:
    if not run:
        raise gr.Error("Pick the run to resume in the list of runs.")
    run_dir = common.writable(run, "output")
    try:
        config = runner.resume_config(run_dir)
        runner.start(config, run_dir)
    except runner.RunnerError as err:
        raise gr.Error(str(err)) from err
    return run


def stop_training() -> str:
    job = runner.stop()
    if job is None:
        return "No training job is running."
    return (f"Stopping {paths.display(job.run_dir)}: it finishes the current step, saves a checkpoint and exits "
            "(forced after 30 s).")


def run_choices() -> list[str]:
    return [paths.display(r["path"]) for r in rundir.list_runs(paths.folder("output"))]


def runs_table() -> pd.DataFrame:
    rows = []
    for run in rundir.list_runs(paths.folder("output")):
        status = run["status"] or {}
        metrics = rundir.read_metrics(run["path"])
        rows.append({
            "run": paths.display(run["path"]),
            "state": _live_state(run["path"], status),
            "steps": f"{status.get('step', len(metrics))}/{status.get('total_steps', '?')}",
            "final loss": f"{metrics[-1]['loss']:.4f}" if metrics else "",
            "checkpoints": ", ".join(run["checkpoints"]),
            "started": datetime.fromtimestamp(run["mtime"]).strftime("%Y-%m-%d %H:%M"),
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _live_state(run, status: dict) -> str:
    """The state the trainer wrote, corrected when its process died without saying so."""
    state = status.get("state", "unknown")
    if state in runner.LIVE_STATES:
        job = runner.current_job()
        if job is None or Path(job.run_dir).resolve() != Path(run).resolve():
            return "died"
    return state


def loss_frame(metrics: list[dict]) -> pd.DataFrame:
    """Raw and smoothed (EMA) loss per step, in the long format LinePlot colours by series."""
    if not metrics:
        return pd.DataFrame({"step": [], "loss": [], "series": []})
    df = pd.DataFrame({"step": [m["step"] for m in metrics], "loss": [m["loss"] for m in metrics]})
    smooth = df.assign(loss=df["loss"].ewm(alpha=0.1).mean())
    return pd.concat([df.assign(series="loss"), smooth.assign(series="smoothed")], ignore_index=True)


def progress_html(status: dict, last: dict | None) -> str:
    step, total = status.get("step", 0) or 0, status.get("total_steps") or 0
    pct = 100.0 * step / total if total else 0.0
    bits = [f"step {step}/{total or '?'}", f"epoch {status.get('epoch', '–')}"]
    if last:
        bits += [f"loss {last['loss']:.4f}", f"lr {last['lr']:.2e}", f"{last.get('tokens_per_s', 0):,.0f} tok/s",
                 f"elapsed {_fmt_s(last.get('elapsed_s'))}", f"ETA {_fmt_s(last.get('eta_s'))}"]
        if last.get("gpu_mem"):
            bits.append(f"GPU mem {last['gpu_mem']:.2f} GB")
    return (f"<div style='font-family:monospace'><progress value='{pct:.1f}' max='100' style='width:100%'></progress>"
            f"<div>{pct:.1f}% · " + " · ".join(bits) + "</div></div>")


def status_markdown(run: str, status: dict) -> str:
    state = _live_state(paths.resolve(run), status)
    icon = {"running": "🟢", "starting": "🟡", "stopping": "🟠", "finished": "✅", "stopped": "⏹️",
            "failed": "❌", "died": "💀"}.get(state, "⚪")
    text = f"### {icon} `{run}` — {state}"
    if state in ("failed", "died"):
        advice = runner.explain_failure(runner.tail(paths.resolve(run) / "train.log", 8000), status.get("exit_code"))
        reason = status.get("error") or advice
        text += f"\n\n**Why:** {reason or 'see the log below.'}"
        if advice and advice != reason:
            text += f"\n\n**Try:** {advice}"
    return text


def monitor_markdown() -> str:
    s = runner.system_stats()
    text = f"CPU {s['cpu_percent']:.0f}% · RAM {s['ram_used_gb']:.1f}/{s['ram_total_gb']:.1f} GB"
    for i, g in enumerate(s["gpus"]):
        text += (f" · GPU{i} {g['name']}: {g['mem_used_gb']:.1f}/{g['mem_total_gb']:.1f} GB, "
                 f"{g['util_percent']:.0f}%")
    if not s["gpus"]:
        text += " · no NVIDIA GPU"
    return text


def poll(run: str | None, follow: bool = True):
    """Everything the tab shows about ``run`` (or the running job, when following), read from disk."""
    job = runner.current_job()
    if job and (follow or not run):
        run = paths.display(job.run_dir)
    if not run:
        runs = run_choices()
        run = runs[0] if runs else None
    if not run:
        return (None, "No run yet: set the parameters, then press Start.", "", loss_frame([]), "",
                monitor_markdown(), None)
    run_dir = paths.resolve(run)
    status = rundir.read_status(run_dir) or {}
    metrics = rundir.read_metrics(run_dir)
    log_path = run_dir / "train.log"
    return (run, status_markdown(run, status), progress_html(status, metrics[-1] if metrics else None),
            loss_frame(metrics), runner.tail(log_path), monitor_markdown(),
            str(log_path) if log_path.is_file() else None)


def build(params: dict) -> dict:
    c: dict = {}
    with gr.Row():
        c["start"] = gr.Button(t("train.start"), variant="primary", elem_id="train-start")
        c["stop"] = gr.Button(t("train.stop"), variant="stop")
        c["resume"] = gr.Button(t("train.resume"))
        c["to_merge"] = gr.Button(t("train.to_merge"), elem_id="train-to-merge")
    c["message"] = gr.Markdown()
    with gr.Row():
        c["run"] = gr.Dropdown(label=t("train.run"), allow_custom_value=True, scale=4,
                               choices=run_choices())
        c["follow"] = gr.Checkbox(value=True, label=t("train.follow"), scale=1)
    c["status"] = gr.Markdown(elem_id="train-status")
    c["progress"] = gr.HTML(elem_id="train-progress")
    c["loss"] = gr.LinePlot(x="step", y="loss", color="series", title=t("train.loss"), height=300,
                            buttons=["fullscreen", "export"])
    c["monitor"] = gr.Markdown()
    with gr.Accordion(t("train.log"), open=True):
        c["log"] = gr.Textbox(lines=14, max_lines=14, autoscroll=True, show_label=False, interactive=False)
        c["log_file"] = gr.File(label=t("train.full_log"), interactive=False, height=70)
    with gr.Accordion(t("train.runs"), open=False):
        c["runs"] = gr.Dataframe(headers=RUN_COLUMNS, interactive=False, wrap=True)
        c["runs_refresh"] = gr.Button(t("common.refresh"), size="sm")
    c["timer"] = gr.Timer(POLL_S)

    outputs = [c["run"], c["status"], c["progress"], c["loss"], c["log"], c["monitor"], c["log_file"]]
    opts = params["options"]
    names = params["names"]
    watch = [c["run"], c["follow"]]
    c["start"].click(lambda *vals: start_training(dict(zip(names, vals))), [opts[n] for n in names], c["run"],
                     api_name="start_training").then(poll, watch, outputs, api_visibility="private")
    c["resume"].click(resume_training, c["run"], c["run"], api_name="resume_training") \
        .then(poll, watch, outputs, api_visibility="private")
    c["stop"].click(stop_training, None, c["message"], api_name="stop_training")
    c["timer"].tick(poll, watch, outputs, api_name="poll_training", concurrency_limit=None,
                    show_progress="hidden")
    c["run"].focus(lambda cur: gr.update(choices=run_choices(), value=cur), c["run"], c["run"],
                   api_visibility="private")
    c["runs_refresh"].click(runs_table, None, c["runs"], api_visibility="private")
    c["runs"].select(pick_run, None, [c["run"], c["follow"]], api_visibility="private")
    return c


def pick_run(evt: gr.SelectData):
    """Clicking a row of the runs table shows that run (and stops following the live job)."""
    return (evt.row_value[0], False) if evt.row_value else (gr.update(), gr.update())
