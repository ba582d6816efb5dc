"""Train tab: start, stop and resume the trainer process, and watch a run by reading its folder: progress,
the train and validation loss curves, the sample answers of each evaluation, the log.

A timer re-reads the run directory every few seconds, so a refresh, a second browser or a restarted
app shows the same job: nothing lives in the page.
"""

from __future__ import annotations

import html
from datetime import datetime

import gradio as gr
import numpy as np
import pandas as pd

from .. import paths, runner
from ..train import rundir
from . import common, control, messages
from .i18n import t

POLL_S = 2.0
RUNS_POLL_S = 10.0
RUN_COLUMNS = ["run", "state", "steps", "last loss", "best val_loss", "recall", "checkpoints", "started"]
# points a curve keeps: the plot is a few hundred pixels wide, and every open page is sent (and Gradio keeps, per page)
# the whole plot at each poll, so a curve of every step would grow with the run in the app's memory and the network
PLOT_POINTS = 600
SERIES_COLORS = {"loss": "#9ecae1", "smoothed": "#1f77b4", "validation": "#ff7f0e", "best": "#2ca02c"}


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
    run_dir = common.writable(cfg.proj_dir) if cfg.proj_dir else rundir.default_run_dir(cfg.finetune_mode)
    try:
        runner.start(cfg.to_dict(), run_dir)
    except runner.RunnerError as err:
        raise gr.Error(str(err), duration=None) from err
    return paths.display(run_dir)


def resume_training(run: str | None) -> tuple[str, str]:
    """Continue the selected run from its newest resumable point; the run and which point, in words."""
    if not run:
        raise gr.Error("Pick the run to resume in the list of runs.")
    run_dir = common.writable(run, "output")
    try:
        config, note = runner.resume_config(run_dir)
        runner.start(config, run_dir)
    except runner.RunnerError as err:
        raise gr.Error(str(err), duration=None) from err
    return run, f"Resuming `{run}`: {note}."


def stop_training() -> str:
    job = runner.stop()
    if job is None:
        return "No training job is running."
    return (f"Stopping {paths.display(job.run_dir)}: it finishes the current step, saves a checkpoint and exits "
            "(forced after 30 s).")


def controls():
    """Start and Resume while no training job runs; Stop while one runs and has not been asked to stop yet."""
    job = runner.current_job()
    try:
        stopping = job is not None and (rundir.read_status(job.run_dir) or {}).get("state") == "stopping"
    except ValueError:  # a status.json being replaced
        stopping = False
    return (gr.update(interactive=job is None), gr.update(interactive=job is not None and not stopping),
            gr.update(interactive=job is None))


def run_choices() -> list[str]:
    return [paths.display(r["path"]) for r in rundir.list_runs(paths.folder("output"))]


def runs_table() -> pd.DataFrame:
    """Every run, newest first, from its status.json (no metrics file is read)."""
    rows = []
    for run in rundir.list_runs(paths.folder("output")):
        status = run["status"] or {}
        best, recall = status.get("best") or {}, status.get("recall") or {}
        state = _live_state(run["path"], status)
        rows.append({
            "run": paths.display(run["path"]),
            "state": f"{state} (early stop)" if status.get("early_stop") and state == "finished" else state,
            "steps": f"{status.get('step', 0)}/{status.get('total_steps', '?')}",
            "last loss": f"{status['loss']:.4f}" if status.get("loss") is not None else "",
            "best val_loss": f"{best['val_loss']:.4f} (step {best['step']}"
                             + (f", {best['checkpoint']})" if best.get("checkpoint") else ")") if best else "",
            "recall": f"{recall['recall_hits']}/{recall['recall_asked']}" if recall.get("recall_asked") else "",
            "checkpoints": ", ".join(run["checkpoints"]),
            "started": datetime.fromtimestamp(run["mtime"]).strftime("%Y-%m-%d %H:%M"),
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _live_state(run, status: dict) -> str:
    """The state the trainer wrote, corrected when its process died without saying so."""
    state = status.get("state", "unknown")
    if state in runner.LIVE_STATES and runner.trainer_pid(run) is None:
        return "died"
    return state


def thin(curve: pd.DataFrame, y: str, points: int = PLOT_POINTS) -> pd.DataFrame:
    """At most ``points`` rows of a curve in step order: in each of ``points // 2`` equal stretches its lowest and
    highest ``y`` (a spike stays visible), and always the first and last row."""
    if len(curve) <= points:
        return curve
    values = curve[y].to_numpy(dtype="float64")
    keep = {0, len(curve) - 1}
    for stretch in np.array_split(np.arange(len(curve)), (points - 2) // 2):
        keep.update((stretch[np.nanargmin(values[stretch])], stretch[np.nanargmax(values[stretch])])
                    if not np.isnan(values[stretch]).all() else (stretch[0],))
    return curve.iloc[sorted(keep)]


def loss_frame(metrics: list[dict], evaluations: list[dict] = (), best: dict | None = None) -> pd.DataFrame:
    """Train loss (raw and smoothed), validation loss and a vertical mark at the best step, in the long format
    LinePlot colours by series; each curve thinned to PLOT_POINTS."""
    if not metrics:
        # one empty point per series: the plot makes its colour scale from the first value it shows and
        # keeps it, so a curve that starts later is drawn only if its series was there from the start
        return pd.DataFrame({"step": [float("nan")] * len(SERIES_COLORS), "loss": [float("nan")] * len(SERIES_COLORS),
                             "series": list(SERIES_COLORS)})
    train = pd.DataFrame({"step": [m["step"] for m in metrics], "loss": [m["loss"] for m in metrics]})
    parts = [thin(train, "loss").assign(series="loss"),
             thin(train.assign(loss=train["loss"].ewm(alpha=0.1).mean()), "loss").assign(series="smoothed")]
    val = pd.DataFrame({"step": [e["step"] for e in evaluations], "loss": [e["val_loss"] for e in evaluations]})
    parts.append(thin(val, "loss").assign(series="validation"))
    if best and len(val):
        values = pd.concat([train["loss"], val["loss"]])
        parts.append(pd.DataFrame({"step": [best["step"]] * 2, "loss": [values.min(), values.max()],
                                   "series": "best"}))
    absent = [series for series in SERIES_COLORS if not any((part["series"] == series).any() for part in parts)]
    parts.append(pd.DataFrame({"step": [float("nan")] * len(absent), "loss": [float("nan")] * len(absent),
                               "series": absent}))  # as above: every series from the first value on
    frame = pd.concat(parts, ignore_index=True)
    return frame.astype({"step": "float64", "loss": "float64", "series": "string"})


PREFERENCE_SERIES = ("reward_margin", "reward_acc")


def preference_frame(metrics: list[dict], evaluations: list[dict] = ()) -> pd.DataFrame:
    """A dpo / orpo run's reward margin and accuracy per step (training, and validation when evaluated); each
    curve thinned to PLOT_POINTS."""
    rows = [(m["step"], m[key], key) for m in metrics for key in PREFERENCE_SERIES if key in m]
    rows += [(e["step"], e[f"val_{key}"], f"val_{key}") for e in evaluations for key in PREFERENCE_SERIES
             if f"val_{key}" in e]
    if not rows:  # every series from the start, as in loss_frame
        series = [*PREFERENCE_SERIES, *(f"val_{key}" for key in PREFERENCE_SERIES)]
        rows = [(float("nan"), float("nan"), name) for name in series]
    frame = pd.DataFrame(rows, columns=["step", "value", "series"])
    frame = pd.concat([thin(curve, "value") for _, curve in frame.groupby("series", sort=False)], ignore_index=True)
    return frame.astype({"step": "float64", "value": "float64", "series": "string"})


def poll_preference(run: str | None, follow: bool = True):
    """The margin/accuracy plot of the shown run; hidden for an sft run."""
    job = runner.current_job()
    if job and (follow or not run):
        run = paths.display(job.run_dir)
    if not run:
        return gr.update(visible=False)
    try:
        run_dir = paths.readable(run, "output")
    except paths.PathRefused:  # poll() says why
        return gr.update(visible=False)
    frame = preference_frame(rundir.read_metrics(run_dir), rundir.read_evaluations(run_dir))
    return gr.update(value=frame, visible=bool(frame["value"].notna().any()))


def _answer_rows(rows: list[dict]) -> str:
    return "".join(f"<tr><td>{'base' if r['step'] == 0 else r['step']}</td>"
                   f"<td class='sample-text'>{html.escape(r['output'])}</td></tr>" for r in rows)


def samples_html(samples: list[dict], recall: list[dict] = ()) -> str:
    """The recall check of the run's end (when done), then for each sample prompt (the whole text the model was
    asked, as Chat asks it) the newest answer and the base model's (step 0), the answers in between folded."""
    if not samples and not recall:
        # the sentence on a line of its own, so the message catalogue translates it
        return ("<p class='samples-empty'>\nNo sample answers yet: they appear at each evaluation when the data has "
                "User: turns or sample_prompts names a file.\n</p>")
    by_prompt: dict[str, list[dict]] = {}
    for row in samples:
        by_prompt.setdefault(row["prompt"], []).append(row)
    blocks = [recall_html(recall)] if recall else []
    for prompt, rows in by_prompt.items():
        rows = sorted(rows, key=lambda r: r["step"], reverse=True)
        base = next((r for r in rows if r["step"] == 0), None)
        shown = rows[:1] + ([base] if base is not None and base is not rows[0] else [])
        earlier = [r for r in rows[1:] if r is not base]
        mark = ("<span class='sample-held'>\nheld out, never trained\n</span>" if any(r.get("held_out") for r in rows)
                else "<span class='sample-trained'>\ntrained\n</span>")
        folded = (f"<details><summary>\n{len(earlier)} earlier answers\n</summary><table>{_answer_rows(earlier)}"
                  f"</table></details>" if earlier else "")
        blocks.append(f"<details open><summary>{mark} <b class='sample-text'>{html.escape(prompt)}</b></summary>"
                      f"<table><tr><th>step</th><th>answer</th></tr>{_answer_rows(shown)}</table>{folded}</details>")
    return "<div style='white-space:pre-wrap'>" + "".join(blocks) + "</div>"


HELD_CELL = "\nheld out\n"  # on a line of its own, so the message catalogue translates it


def recall_html(rows: list[dict]) -> str:
    """The questions the run was asked at its end: its reply beside the trained answer, held-out ones marked."""
    lines = "".join(
        f"<tr><td>{'✓' if r['recalled'] else '✗'}</td>"
        f"<td>{HELD_CELL if r['held_out'] else ''}</td>"
        f"<td class='sample-text'>{html.escape(r['question'])}</td><td class='sample-text'>{html.escape(r['answer'])}"
        f"</td><td class='sample-text'>{html.escape(r['reply'])}</td></tr>" for r in rows)
    # the words on lines of their own, so the message catalogue translates them
    return ("<details class='recall'><summary>\nDid it learn? the questions of the data, asked at the end\n</summary>"
            "<table><tr><th></th><th></th><th>\nquestion\n</th><th>\ntrained answer\n</th><th>\nreply\n</th></tr>"
            f"{lines}</table></details>")


def judge_markdown(run_dir, status: dict) -> str:
    """What the status says about judging the run: the held-out questions, early stopping, the recall check."""
    config = rundir.read_config(run_dir) or {}
    held = (config.get("resolved") or {}).get("val_questions") or []
    out = []
    if held:
        names = " · ".join(f"`{q}`" for q in held[:5]) + (f" (+{len(held) - 5})" if len(held) > 5 else "")
        out.append(f"held out, never trained: {names}")
    stop, best = status.get("early_stop"), status.get("best") or {}
    if stop:
        kept = best.get("checkpoint") or "the base model"
        out.append(f"early stopping at step {stop['step']}: no val_loss improvement for {stop['patience']} "
                   f"evaluations; kept {kept} (the best val_loss, at step {best.get('step')})")
    out += (status.get("recall") or {}).get("verdict") or []
    return "\n".join(f"- {line}" for line in out)


def progress_html(status: dict, last: dict | None, live: bool = True, star: str = "") -> str:
    step, total = status.get("step", 0) or 0, status.get("total_steps") or 0
    pct = 100.0 * step / total if total else 0.0
    word = messages.label  # one line of HTML is no message: its words are translated here
    bits = [f"{word('step')} {step}/{total or '?'}", f"{word('epoch')} {status.get('epoch', '–')}"]
    if last:
        bits += [f"{word('loss')} {last['loss']:.4f}", f"{word('lr')} {last['lr']:.2e}",
                 f"{last.get('tokens_per_s', 0):,.0f} tok/s", f"{word('elapsed')} {_fmt_s(last.get('elapsed_s'))}"]
        if live:  # a stopped or finished run has nothing left to wait for
            bits.append(f"{word('ETA')} {_fmt_s(last.get('eta_s'))}")
        if last.get("gpu_mem"):
            bits.append(messages.translate(f"GPU mem {last['gpu_mem']:.2f} GB"))
    best = status.get("best")
    if best:
        bits.append(messages.translate(f"best val_loss {best['val_loss']:.4f} at step {best['step']}")
                    + (f" ({best['checkpoint']})" if best.get("checkpoint") else "")
                    + (f" {messages.translate(star)}" if star else ""))
    return (f"<div style='font-family:monospace'><progress value='{pct:.1f}' max='100' style='width:100%'></progress>"
            f"<div>{pct:.1f}% · " + " · ".join(bits) + "</div></div>")


def status_markdown(run: str, status: dict, damaged: str | None = None) -> str:
    """The run's state in a heading, and for a failed or dead run why and what to try; ``damaged``: why its
    status.json could not be read."""
    run_dir = paths.readable(run, "output")
    state = _live_state(run_dir, status)
    icon = {"running": "🟢", "starting": "🟡", "stopping": "🟠", "finished": "✅", "stopped": "⏹️",
            "failed": "❌", "died": "💀"}.get(state, "⚪")
    text = f"### {icon} `{run}` — {state}"
    if damaged:
        text += f"\n\n⚠️ {damaged}"
    if state in ("failed", "died"):
        advice = runner.explain_failure(runner.tail(run_dir / "train.log", 8000), status.get("exit_code"))
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
        return (None, "No run yet: set the parameters, then press Start.", "", _legend(loss_frame([])), "",
                monitor_markdown(), None, samples_html([]))
    try:
        run_dir = paths.readable(run, "output")
    except paths.PathRefused as err:  # nothing of a folder outside the project is read, nor served
        return (run, f"### ❌ {err}", "", _legend(loss_frame([])), "", monitor_markdown(), None, samples_html([]))
    try:
        status, damaged = rundir.read_status(run_dir) or {}, None
    except ValueError as err:
        status, damaged = {}, str(err)
    metrics = rundir.read_metrics(run_dir)
    log_path = run_dir / "train.log"
    live = _live_state(run_dir, status) in runner.LIVE_STATES
    judged = judge_markdown(run_dir, status)
    return (run, status_markdown(run, status, damaged) + (f"\n\n{judged}" if judged else ""),
            progress_html(status, metrics[-1] if metrics else None, live, rundir.best_mark(run_dir)),
            _legend(loss_frame(metrics, rundir.read_evaluations(run_dir), status.get("best"))), runner.tail(log_path),
            monitor_markdown(), None if live else _served_log(log_path),
            samples_html(rundir.read_samples(run_dir), rundir.read_recall(run_dir)))


def _legend(frame: pd.DataFrame):
    """The loss plot's series named in the reader's language (a plot is no message: the wrapper leaves it). The
    plot keeps the series of the first value it drew (the page's, in English) until its colour map changes: a
    Chinese legend comes with a colour map of its own."""
    if messages.current() != "zh":
        return frame
    return gr.update(value=frame.assign(series=frame["series"].map(messages.label).astype("string")),
                     color_map={messages.label(series): color for series, color in SERIES_COLORS.items()})


def _served_log(path) -> str | None:
    """train.log for the full-log download, when it is a file this app may read (not a link out of it). Only
    once the run is over: it is served from disk (ui.app), and a file that grows while it is sent breaks the
    download (a live run shows its tail above)."""
    try:
        with paths.open_read(path):
            return str(path)
    except (OSError, paths.PathRefused):
        return None


def on_load(run: str | None, follow: bool = True):
    """A page (re)load: what :func:`poll` shows, the run list's choices, the runs table and the buttons."""
    shown = poll(run, follow)
    return (gr.update(choices=run_choices(), value=shown[0]), *shown[1:], runs_table(), *controls())


def build(params: dict) -> dict:
    c: dict = {}
    with gr.Row():
        c["start"] = gr.Button(t("train.start"), variant="primary", elem_id="train-start")
        c["stop"] = gr.Button(t("train.stop"), variant="stop", interactive=False, elem_id="train-stop")
        c["resume"] = gr.Button(t("train.resume"), elem_id="train-resume")
        c["to_merge"] = gr.Button(t("train.to_merge"), elem_id="train-to-merge")
    c["message"] = gr.Markdown(elem_id="train-message")
    with gr.Row():
        c["run"] = gr.Dropdown(label=t("train.run"), allow_custom_value=True, scale=4,
                               choices=run_choices(), elem_id="train-run")
        c["follow"] = gr.Checkbox(value=True, label=t("train.follow"), scale=1)
    c["status"] = gr.Markdown(elem_id="train-status")
    c["progress"] = gr.HTML(elem_id="train-progress")
    # nothing drawn before the page's first poll: the plot fixes its legend on the first value it draws, which is
    # then named in the reader's language
    c["loss"] = gr.LinePlot(None, x="step", y="loss", color="series", title=t("train.loss"), height=300,
                            x_title=t("train.axis_step"), y_title=t("train.axis_loss"),
                            color_title=t("train.axis_series"),
                            color_map=SERIES_COLORS, buttons=["fullscreen", "export"], elem_id="train-loss")
    c["preference"] = gr.LinePlot(preference_frame([]), x="step", y="value", color="series", height=240,
                                  title=t("train.preference"), visible=False, elem_id="train-preference")
    c["monitor"] = gr.Markdown()
    with gr.Accordion(t("train.samples"), open=True):
        c["samples"] = gr.HTML(samples_html([]), elem_id="train-samples")
    with gr.Accordion(t("train.log"), open=True):
        c["log"] = gr.Textbox(lines=14, max_lines=14, autoscroll=True, show_label=False, interactive=False,
                              elem_id="train-log", elem_classes="follow-tail")  # ui.app.FOLLOW_TAIL_JS
        c["log_file"] = gr.File(label=t("train.full_log"), interactive=False, height=70)
    with gr.Accordion(t("train.runs"), open=False):
        c["runs"] = gr.Dataframe(runs_table, headers=RUN_COLUMNS, interactive=False, wrap=True, elem_id="train-runs")
        c["runs_refresh"] = gr.Button(t("common.refresh"), size="sm")
    c["timer"] = gr.Timer(POLL_S)
    c["runs_timer"] = gr.Timer(RUNS_POLL_S)

    outputs = [c["run"], c["status"], c["progress"], c["loss"], c["log"], c["monitor"], c["log_file"], c["samples"]]
    opts = params["options"]
    names = params["names"]
    watch = [c["run"], c["follow"]]
    refresh = {"fn": runs_table, "inputs": None, "outputs": c["runs"], "api_visibility": "private",
               "show_progress": "hidden"}
    buttons = [c["start"], c["stop"], c["resume"]]
    states = {"fn": controls, "inputs": None, "outputs": buttons, "api_visibility": "private",
              "show_progress": "hidden"}

    def pressed(button):  # every button off until the job's state is read again
        return button.click(lambda: [gr.update(interactive=False)] * len(buttons), None, buttons, queue=False,
                            api_visibility="private", show_progress="hidden")

    started = pressed(c["start"]).then(lambda *vals: start_training(dict(zip(names, vals))),
                                       [opts[n] for n in names], c["run"], api_name="start_training")
    resumed = pressed(c["resume"]).then(resume_training, c["run"], [c["run"], c["message"]],
                                        api_name="resume_training")
    stopped = pressed(c["stop"]).then(stop_training, None, c["message"], api_name="stop_training")
    for event in (started, resumed):
        event.success(poll, watch, outputs, api_visibility="private").then(**refresh).then(**states)
    stopped.success(**states)
    common.show_failure(started, c["message"], keep=[c["run"]], clear_on_success=True).then(**states)
    common.show_failure(resumed, c["message"], keep=[c["run"]]).then(**states)
    common.show_failure(stopped, c["message"]).then(**states)
    c["timer"].tick(poll, watch, outputs, api_name="poll_training", concurrency_limit=None,
                    show_progress="hidden")
    c["runs_timer"].tick(**refresh, concurrency_limit=None)
    c["timer"].tick(**states, concurrency_limit=None)
    c["timer"].tick(poll_preference, watch, c["preference"], api_visibility="private", concurrency_limit=None,
                    show_progress="hidden")
    common.relist_on_focus(c["run"], run_choices)
    c["runs_refresh"].click(**refresh)
    c["runs"].select(pick_run, None, [c["run"], c["follow"]], api_visibility="private")
    # what a page (re)load shows: ui.app registers it with demo.load
    c["on_load"] = {"fn": on_load, "inputs": watch, "outputs": [*outputs, c["runs"], *buttons]}
    return c


def pick_run(evt: gr.SelectData):
    """Clicking a row of the runs table shows that run (and stops following the live job)."""
    return (evt.row_value[0], False) if evt.row_value else (gr.update(), gr.update())
