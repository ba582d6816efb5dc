"""Data tab: pick or upload a dataset, see its format, preview it by page, validate it, export it."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from .. import paths
from ..data import formats, token_view
from ..data.masks import KINDS
from . import common
from .i18n import t, t_filled

PAGE_SIZE = 10
PROBLEM_COLUMNS = ["line", "reason"]
PREVIEW_COLUMNS = ["line", "turn", "role", "text"]  # what formats.preview gives, shown before any file is read


def inspect_dataset(path_text: str | None, require_assistant: bool) -> tuple[str, pd.DataFrame]:
    """Summary markdown and the table of every bad record."""
    path = common.input_file(path_text, "data", "dataset file")
    report = formats.inspect(path, require_assistant=require_assistant)
    bad_rows = [{"line": b.line, "reason": b.reason} for b in report.bad]
    lines = [
        f"**File:** `{paths.display(path)}`  ",
        f"**Format detected:** {report.format}  ",
        f"**Records:** {report.records:,} · **characters:** {report.chars:,} · **turns:** {report.turns:,}",
    ]
    lines += [f"- {part} in the conversations: {report.parts[part]:,}" for part in formats.PARTS
              if part in report.parts]
    if report.unused:
        lines.append("\n**Not in the training text:** these fields hold data that the chat template does not use "
                     "(counted here, never trained on):")
        lines += [f"- `{name}` in {count:,} records" for name, count in report.unused.items()]
    if report.format.schema == "preference":
        lines.append("\n**Preference pairs** (prompt, chosen, rejected side by side below): tokenize them, then train "
                     "with stage dpo or orpo.")
    if report.bad_count:
        shown = "" if report.bad_count == len(bad_rows) else f" (first {len(bad_rows)} listed)"
        lines.append(f"\n### ⚠️ {report.bad_count:,} bad record(s){shown}\n"
                     "Fix them in the file, or tick *Skip bad records* when tokenizing to drop and count them.")
    elif report.records == 0:
        lines.append("\n### ⚠️ No records: the file holds no usable data.")
    else:
        lines.append("\n### ✅ Every record is valid.")
    return "\n".join(lines), pd.DataFrame(bad_rows, columns=PROBLEM_COLUMNS)


def preview_page(path_text: str | None, page: float | None) -> tuple[pd.DataFrame, int, str]:
    """One page of records, each turn in its own column; the page is clamped to what exists."""
    path = common.input_file(path_text, "data", "dataset file")
    page = max(1, int(page or 1))
    df, total_pages = formats.preview(path, page, PAGE_SIZE)
    if total_pages and page > total_pages:
        page = total_pages
        df, total_pages = formats.preview(path, page, PAGE_SIZE)
    return df, page, f"{page} / {max(total_pages, 1)}"


def show_tokens(path_text: str | None, line: float | None, loss_mask: str, mask0: str = "User:",
                mask1: str = "Assistant:") -> tuple[str, str]:
    """One record's tokens (boxes: their boundaries) coloured by what ``loss_mask`` learns; and the counts."""
    path = common.input_file(path_text, "data", "dataset file")
    if formats.detect_format(path).schema == "preference":
        raise gr.Error("The token view shows chat records; a preference pair is split into prompt, chosen and "
                       "rejected when tokenized (the Tokenize tab's report shows them).")
    try:
        v = token_view.record_view(path, int(line or 1), loss_mask or "qa", mask0=mask0 or "User:",
                                   mask1=mask1 or "Assistant:")
    except (ValueError, OSError) as err:
        raise gr.Error(str(err)) from err
    counts = (f"**Line {v.line}:** {v.learned:,} of {len(v.tokens):,} tokens learned under loss_mask "
              f"{v.loss_mask}, {len(v.tokens) - v.learned:,} not learned (green: learned, grey: not learned; "
              "each box is one token)")
    return counts, token_view.to_html(v)


def export_dataset(path_text: str | None, dest_text: str | None, overwrite: bool = False) -> tuple[str, str | None]:
    """Write the normalised ``{"text": ...}`` jsonl (a bare name goes into data/); returns a message and
    the written file. An existing file is replaced only with ``overwrite``."""
    src = common.input_file(path_text, "data", "dataset file")
    dest = common.writable(dest_text.strip() if dest_text and dest_text.strip() else f"{src.stem}.text.jsonl", "data")
    if dest == src:
        raise gr.Error(f"The export would overwrite the source {src}; choose another name.")
    if dest.is_dir():
        raise gr.Error(f"{paths.display(dest)} is a folder; give the export a file name, e.g. data/NAME.text.jsonl.")
    common.writable(dest, overwrite=bool(overwrite))
    try:
        count = formats.export_text_jsonl(src, dest)
    except formats.DatasetError as err:
        raise gr.Error(str(err)) from err
    return f"✅ Wrote {count:,} records to `{paths.display(dest)}`.", str(dest)


def upload_dataset(uploaded: str | None):
    """The uploaded file copied into data/ and picked; the upload box emptied, ready for the next file."""
    stored = common.store_upload(uploaded, "data")
    return common.file_dropdown_update("data", common.DATASET_EXTS, stored), None


def start_over() -> tuple:
    """Summary, problems, preview, page, page info, export message and exported file as before any file was
    read: what they showed was about another file."""
    return ("", pd.DataFrame(columns=PROBLEM_COLUMNS), pd.DataFrame(columns=PREVIEW_COLUMNS), 1, "", "", None)


def build(settings: dict) -> dict:
    """Lay out the tab inside the current Blocks; returns its components by name."""
    c: dict = {}
    with gr.Row():
        c["file"] = gr.Dropdown(
            choices=common.list_files("data", common.DATASET_EXTS),
            value=settings.get("dataset", "data/sample.jsonl"),
            allow_custom_value=True, label=t("common.file"), info=t("common.file_info"), scale=4,
            elem_id="data-file",
        )
        c["refresh"] = gr.Button(t("common.refresh"), scale=0, min_width=100)
    c["upload"] = gr.File(label=t_filled("common.upload", limit=common.upload_limit_text()),
                          file_types=list(common.DATASET_EXTS), height=140, elem_id="data-upload")
    c["require_assistant"] = gr.Checkbox(value=True, label=t("data.require_assistant"))
    c["inspect"] = gr.Button(t("data.inspect"), variant="primary", elem_id="data-inspect")
    c["summary"] = gr.Markdown(elem_id="data-summary")
    c["problems"] = gr.Dataframe(headers=PROBLEM_COLUMNS, label=t("data.problems"), max_height=260, wrap=True,
                                 elem_id="data-problems")
    with gr.Group():
        c["preview"] = gr.Dataframe(headers=PREVIEW_COLUMNS, label=t("data.preview"), wrap=True, max_height=480,
                                    elem_id="data-preview")
        with gr.Row():
            c["prev"] = gr.Button(t("data.prev"), size="sm")
            c["page"] = gr.Number(value=1, precision=0, minimum=1, label=t("data.page"), scale=0, min_width=120)
            c["page_info"] = gr.Markdown(elem_id="data-page-info")
            c["next"] = gr.Button(t("data.next"), size="sm")
    with gr.Accordion(t("data.tokens"), open=False, elem_id="data-token-accordion"):
        with gr.Row():
            c["token_line"] = gr.Number(value=1, precision=0, minimum=1, label=t("data.token_line"), scale=1,
                                        elem_id="data-token-line")
            c["token_mask"] = gr.Dropdown(choices=list(KINDS), value="qa", label=t("data.token_mask"), scale=1)
            c["token_mask0"] = gr.Textbox(value="User:", label=t("data.token_mask0"), scale=1)
            c["token_mask1"] = gr.Textbox(value="Assistant:", label=t("data.token_mask1"), scale=1)
            c["token_show"] = gr.Button(t("data.token_show"), variant="primary", scale=1, elem_id="data-token-show")
        c["token_counts"] = gr.Markdown(elem_id="data-token-counts")
        c["token_html"] = gr.HTML(elem_id="data-tokens")
    with gr.Row():
        c["export_path"] = gr.Textbox(label=t("data.export_path"), placeholder="data/NAME.text.jsonl", scale=3)
        c["overwrite"] = gr.Checkbox(value=False, label=t("common.overwrite"), scale=1)
        c["export"] = gr.Button(t("data.export"), scale=1)
    c["export_msg"] = gr.Markdown(elem_id="data-export-msg")
    c["exported"] = gr.File(label=t("data.exported"), interactive=False, height=90)

    c["refresh"].click(lambda cur: common.file_dropdown_update("data", common.DATASET_EXTS, cur),
                       c["file"], c["file"], api_visibility="private")
    inspect_outputs = [c["summary"], c["problems"]]
    preview_outputs = [c["preview"], c["page"], c["page_info"]]
    results = [*inspect_outputs, *preview_outputs, c["export_msg"], c["exported"]]
    first_page = {"fn": lambda f: preview_page(f, 1), "inputs": c["file"], "outputs": preview_outputs,
                  "api_visibility": "private"}
    inspected = common.job(c["inspect"], inspect_dataset, [c["file"], c["require_assistant"]], inspect_outputs,
                           result=c["summary"], clear=[c["preview"], c["page_info"]], api_name="inspect_dataset")
    inspected.success(**first_page)
    # an upload starts the tab over and is read at once (a file picked from the list waits for Inspect; the
    # summary names the file it is about)
    uploaded = c["upload"].upload(upload_dataset, c["upload"], [c["file"], c["upload"]], api_visibility="private")
    common.show_failure(uploaded, c["summary"], keep=[c["file"]])
    read = uploaded.success(start_over, None, results, api_visibility="private", show_progress="hidden") \
        .then(inspect_dataset, [c["file"], c["require_assistant"]], inspect_outputs, api_visibility="private")
    common.show_failure(read, c["summary"], clear=[c["preview"], c["page_info"]])
    read.success(**first_page)
    c["file"].change(lambda f: common.remember("dataset", f), c["file"], None, api_visibility="private")
    paged = [c["page"].submit(preview_page, [c["file"], c["page"]], preview_outputs, api_name="preview_page"),
             c["prev"].click(lambda f, p: preview_page(f, (p or 1) - 1), [c["file"], c["page"]], preview_outputs,
                             api_visibility="private"),
             c["next"].click(lambda f, p: preview_page(f, (p or 1) + 1), [c["file"], c["page"]], preview_outputs,
                             api_visibility="private")]
    for event in paged:
        common.show_failure(event, c["page_info"], keep=[c["page"]])
    shown = c["token_show"].click(show_tokens, [c["file"], c["token_line"], c["token_mask"], c["token_mask0"],
                                                c["token_mask1"]], [c["token_counts"], c["token_html"]],
                                  api_name="show_tokens")
    common.show_failure(shown, c["token_counts"])
    common.job(c["export"], export_dataset, [c["file"], c["export_path"], c["overwrite"]],
               [c["export_msg"], c["exported"]], result=c["export_msg"], api_name="export_dataset")
    return c
