"""Tokenize tab: dataset -> binidx, with the length histogram, stats and the factor table."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import paths
from ..data import formats, pipeline, stats
from ..data.binidx import split_prefix
from ..data.report import format_report
from ..data.tokenizer import WORLD_SPECS
from . import common, messages
from .i18n import t

FACTOR_COLUMNS = ["data_line_count", "MICRO_BSZ", "EPOCH_STEPS"]
CTX_LINE_REACH = 1.5  # the ctx_len line is drawn up to this multiple of the longest document
CTX_MAX = 8192  # the slider's end, unless the form's ctx_len is longer


def _out_prefix(input_path, out_text: str | None, overwrite: bool):
    """The binidx prefix to write (a bare name goes into data/); its files must not exist unless ``overwrite``."""
    prefix = split_prefix(common.writable(out_text.strip() if out_text and out_text.strip() else input_path.stem,
                                          "data"))
    for suffix in (".bin", ".idx", ".meta.json"):
        common.writable(f"{prefix}{suffix}", overwrite=overwrite)
    return prefix


def length_figure(lengths: np.ndarray, ctx_len: int) -> go.Figure:
    """The histogram of document lengths on an x-axis that fits them: the ctx_len line is drawn when it is near
    the data; far beyond the longest document it is only named at the right edge (it would squeeze every
    bar into a corner)."""
    tr = messages.translate  # a figure is no Markdown: its words are translated here
    longest = int(lengths.max()) if len(lengths) else 0
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=min(60, max(10, len(lengths) // 4)), name=tr("documents")))
    right = longest * 1.05 + 1
    if ctx_len and ctx_len <= longest * CTX_LINE_REACH:
        fig.add_vline(x=ctx_len, line_dash="dash", line_color="red", annotation_text=f"ctx_len {ctx_len}")
        right = max(right, ctx_len * 1.05)
    elif ctx_len:
        fig.add_annotation(x=1, y=1, xref="paper", yref="paper", xanchor="right", showarrow=False,
                           font=dict(color="red"), text=tr(f"ctx_len {ctx_len} → (every document is shorter)"))
    fig.update_xaxes(range=[0, right])
    fig.update_layout(xaxis_title=tr("tokens per document"), yaxis_title=tr("documents"), bargap=0.05,
                      height=320, margin=dict(l=40, r=20, t=30, b=40))
    return fig


def length_summary(lengths: np.ndarray, ctx_len: int) -> str:
    """Percentiles and how many documents a given ctx_len would cut, in plain words."""
    p = stats.percentiles(lengths)
    over = stats.count_over(lengths, ctx_len) if ctx_len else 0
    text = (f"| p50 | p90 | p99 | max |\n|---|---|---|---|\n"
            f"| {p['p50']:,} | {p['p90']:,} | {p['p99']:,} | {p['max']:,} |\n\n")
    if ctx_len:
        share = over / max(len(lengths), 1)
        text += (f"**{over:,}** of {len(lengths):,} documents ({share:.1%}) are longer than ctx_len {ctx_len} "
                 "and would be cut in training.")
    return text


def factors_frame(factors) -> pd.DataFrame:
    rows = [{"data_line_count": f["count"], "MICRO_BSZ": ", ".join(map(str, f["micro_bsz"])),
             "EPOCH_STEPS": ", ".join(map(str, f["epoch_steps"]))} for f in factors]
    return pd.DataFrame(rows, columns=FACTOR_COLUMNS)


def run_tokenize(input_text, copies, max_tokens, eof, seed, tokenizer, skip_bad, out_text, ctx_len,
                 overwrite=False, progress=gr.Progress()):
    """Tokenize with a progress bar; returns stats, length summary, histogram, factor table, report, prefix
    and the per-document lengths (kept in the session to re-check other ctx_len values). Existing output
    files are replaced only with ``overwrite``."""
    src = common.input_file(input_text, "data", "dataset file")
    prefix = _out_prefix(src, out_text, bool(overwrite))
    tokenizer = (tokenizer or "world").strip() or "world"
    if tokenizer.lower() not in WORLD_SPECS:
        tokenizer = str(common.input_file(tokenizer, "model", "tokenizer.json"))

    lang = messages.current()  # the pipeline may report from a thread of its own

    def report_progress(done, total, message=""):
        progress((done, total) if total else None, desc=messages.label(message or "tokenizing", lang),
                 unit=messages.label("bytes" if message != "writing" else "items", lang))

    try:
        result = pipeline.tokenize_file(
            src, prefix, copies=int(copies or 1), max_tokens=int(max_tokens or 0), eof=bool(eof),
            seed=int(seed or 0), tokenizer=tokenizer, skip_bad=bool(skip_bad),
            progress=report_progress,
        )
    except (formats.DatasetError, pipeline.TokenizeError) as err:
        raise gr.Error(str(err), duration=None) from err
    ctx_len = int(ctx_len or 0)
    summary = (
        f"### ✅ `{paths.display(prefix)}.bin` / `.idx`\n"
        f"**{result.tokens:,}** tokens · **{result.items:,}** items · dropped (too long) {result.dropped:,} · "
        f"skipped (bad) {result.skipped_bad:,}  \n"
        f"max_length **{result.max_length}** · max_length_power_of_two **{result.max_length_power_of_two}** · "
        f"data_line_count **{result.data_line_count}**  \n"
        f"max_length is the longest document kept (end token included) rounded up to a multiple of "
        f"{stats.TOKEN_ALIGN}: the smallest ctx_len that holds every document whole.\n\n"
        + stats.micro_bsz_hint(result.data_line_count, messages.current())
    )
    return (summary, length_summary(result.lengths, ctx_len), length_figure(result.lengths, ctx_len),
            factors_frame(result.factors), format_report(result, prefix, lang=messages.current()),
            paths.display(prefix),
            result.lengths)


def recheck_ctx_len(lengths, ctx_len):
    """Check the last tokenized documents' lengths against another ctx_len (no re-tokenizing); nothing to do
    before a dataset was tokenized."""
    if lengths is None or not len(lengths):
        return gr.update(), gr.update()
    lengths = np.asarray(lengths)
    return length_summary(lengths, int(ctx_len or 0)), length_figure(lengths, int(ctx_len or 0))


def follow_ctx_len(ctx_len):
    """The slider set to the ctx_len the Parameters form trains with."""
    if not ctx_len:
        return gr.update()
    return gr.update(value=int(ctx_len), maximum=max(CTX_MAX, int(ctx_len)))


def build(settings: dict) -> dict:
    c: dict = {}
    with gr.Row():
        c["file"] = gr.Dropdown(
            choices=common.list_files("data", common.DATASET_EXTS),
            value=settings.get("dataset", "data/sample.jsonl"), allow_custom_value=True,
            label=t("common.file"), info=t("common.file_info"), scale=4, elem_id="tok-file",
        )
        c["refresh"] = gr.Button(t("common.refresh"), scale=0, min_width=100)
    with gr.Row():
        c["copies"] = gr.Number(value=1, precision=0, minimum=1, label=t("tok.copies"), info=t("tok.copies_info"))
        c["max_tokens"] = gr.Number(value=0, precision=0, minimum=0, label=t("tok.max_tokens"))
        c["seed"] = gr.Number(value=42, precision=0, label=t("tok.seed"))
    with gr.Row():
        c["eof"] = gr.Checkbox(value=True, label=t("tok.eof"))
        c["skip_bad"] = gr.Checkbox(value=False, label=t("tok.skip_bad"))
        c["tokenizer"] = gr.Textbox(value="world", label=t("tok.tokenizer"))
        c["out"] = gr.Textbox(value="", label=t("tok.out"), placeholder="data/NAME")
        c["overwrite"] = gr.Checkbox(value=False, label=t("common.overwrite"), elem_id="tok-overwrite")
    c["run"] = gr.Button(t("tok.run"), variant="primary", elem_id="tok-run")
    c["stats"] = gr.Markdown(label=t("tok.stats"), elem_id="tok-stats")
    c["prefix"] = gr.Textbox(visible=False)
    c["doc_lengths"] = gr.State()
    c["ctx_len"] = gr.Slider(16, CTX_MAX, value=settings.get("ctx_len", 1024), step=16, label=t("tok.ctx_len"),
                             info=t("tok.ctx_len_info"), elem_id="tok-ctx-len")
    c["lengths"] = gr.Markdown(elem_id="tok-lengths")
    c["hist"] = gr.Plot(label=t("tok.hist"), elem_id="tok-hist")
    c["factors"] = gr.Dataframe(headers=FACTOR_COLUMNS, label=t("tok.factors"), wrap=True)
    # no line numbers: Gradio's editor sizes them before it measures its lines, and they drift from the text
    c["report"] = gr.Code(label=t("tok.report"), language=None, lines=12, max_lines=30, show_line_numbers=False,
                          elem_id="tok-report")

    c["refresh"].click(lambda cur: common.file_dropdown_update("data", common.DATASET_EXTS, cur),
                       c["file"], c["file"], api_visibility="private")
    inputs = [c[k] for k in ("file", "copies", "max_tokens", "eof", "seed", "tokenizer", "skip_bad", "out", "ctx_len",
                             "overwrite")]
    common.job(c["run"], run_tokenize, inputs, [c["stats"], c["lengths"], c["hist"], c["factors"], c["report"],
                                                c["prefix"], c["doc_lengths"]], result=c["stats"], api_name="tokenize")
    c["ctx_len"].change(recheck_ctx_len, [c["doc_lengths"], c["ctx_len"]], [c["lengths"], c["hist"]],
                        api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    return c
