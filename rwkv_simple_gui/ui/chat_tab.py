"""Chat tab: load a model (and a state) through the rwkv package and talk to it, streaming.

One model at a time for the whole app (it is the machine's memory); "compare" loads a second one
(normally the base model) and answers the same message side by side.
"""

from __future__ import annotations

import threading
from typing import Iterator

import gradio as gr

from ..chat.prompt import SamplingParams
from ..chat.worker import ChatError, ChatWorker, available_strategies, preflight
from ..demo import UNTRAINED_NOTE, is_demo_base
from . import common
from .i18n import t

_workers: dict[str, ChatWorker] = {}
_lock = threading.Lock()


def model_choices() -> list[str]:
    return common.list_files("merge", (".pth",)) + common.list_files("model", (".pth",))


def state_choices() -> list[str]:
    return [""] + common.list_files("output", (".pth",)) + common.list_files("merge", (".pth",))


def load(slot: str, model: str | None, strategy: str, state: str | None = None, force_state: bool = False) -> str:
    """Load a model into a slot (replacing what was there); returns a status line. The files are checked
    first, so a refused model or state leaves the one in use loaded."""
    if not model:
        raise gr.Error("Pick a model to chat with (a merged .pth in merge/ or a base model in model/).")
    model_path = common.input_file(model, "merge", "model")
    state_path = common.input_file(state, "output", "state file") if state else None
    try:  # checked while the loaded model is still there: a bad pick keeps it
        preflight(model_path, strategy or "cpu fp32", state_path, force_state=force_state)
        unload(slot)
        worker = ChatWorker(model_path, strategy=strategy or "cpu fp32", state_path=state_path,
                            force_state=force_state)
    except ChatError as err:
        raise gr.Error(str(err), duration=None) from err
    with _lock:
        _workers[slot] = worker
    mounted = f" with state `{state}`" if state else ""
    note = f"\n\n⚠️ {UNTRAINED_NOTE}" if is_demo_base(model_path) and not state_path else ""
    return f"✅ `{model}`{mounted} loaded ({worker.version}, {worker.strategy}).{note}"


def unload(slot: str) -> str:
    with _lock:
        worker = _workers.pop(slot, None)
    if worker:
        worker.close()
        return "Unloaded; its memory is free."
    return "Nothing loaded."


def _text(content) -> str:
    """Message content from the Chatbot: a string, or Gradio 6's list of typed blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    if isinstance(content, dict):
        return content.get("text", "")
    return str(content or "")


def _plain(history) -> list[dict]:
    return [{"role": m["role"], "content": _text(m["content"])} for m in history or []]


def respond(slot: str, message: str, history: list | None, params: dict) -> Iterator[list[dict]]:
    """Stream the answer of the model in ``slot`` to ``message`` after ``history`` (messages format)."""
    worker = _workers.get(slot)
    if worker is None:
        raise gr.Error("Load a model first.")
    history = _plain(history)
    try:
        sampling = SamplingParams.from_mapping(params)
    except ValueError as err:
        raise gr.Error(str(err)) from err
    answer = {"role": "assistant", "content": ""}
    shown = history + [{"role": "user", "content": message}, answer]
    try:
        for delta in worker.generate(history, message, sampling):
            answer["content"] += delta
            yield shown
    except ChatError as err:
        raise gr.Error(str(err)) from err
    yield shown


def build() -> dict:
    c: dict = {}
    strategies = available_strategies()
    with gr.Row():
        c["model"] = gr.Dropdown(choices=model_choices(), label=t("chat.model"), allow_custom_value=True, scale=3,
                                 elem_id="chat-model")
        c["state"] = gr.Dropdown(choices=state_choices(), value="", label=t("chat.state"), allow_custom_value=True,
                                 scale=2)
        c["force_state"] = gr.Checkbox(value=False, label=t("chat.force_state"), info=t("chat.force_state_info"),
                                       scale=1)
        c["strategy"] = gr.Dropdown(choices=strategies, value=strategies[-1] if "cuda" in strategies[-1]
                                    else strategies[0], label=t("chat.strategy"), scale=1)
    with gr.Row():
        c["load"] = gr.Button(t("chat.load"), variant="primary", elem_id="chat-load")
        c["unload"] = gr.Button(t("chat.unload"))
    c["status"] = gr.Markdown(elem_id="chat-status")
    with gr.Accordion(t("chat.sampling"), open=False):
        with gr.Row():
            c["temperature"] = gr.Slider(0, 3, value=1.0, step=0.05, label="Temperature")
            c["top_p"] = gr.Slider(0, 1, value=0.3, step=0.01, label="Top_P")
            c["top_k"] = gr.Slider(0, 200, value=0, step=1, label="Top_K")
        with gr.Row():
            c["presence_penalty"] = gr.Slider(0, 2, value=0.0, step=0.05, label="Presence Penalty")
            c["frequency_penalty"] = gr.Slider(0, 2, value=1.0, step=0.05, label="Frequency Penalty")
            c["penalty_decay"] = gr.Slider(0.9, 1.0, value=0.996, step=0.001, label="Penalty Decay")
            c["max_tokens"] = gr.Slider(1, 4096, value=300, step=1, label="Max Tokens")
    with gr.Accordion(t("chat.compare"), open=False):
        with gr.Row():
            c["compare_model"] = gr.Dropdown(choices=model_choices(), label=t("chat.compare_model"),
                                             allow_custom_value=True, scale=3)
            c["compare_load"] = gr.Button(t("chat.load"), scale=1)
            c["compare_unload"] = gr.Button(t("chat.unload"), scale=1)
        c["compare_status"] = gr.Markdown()
    with gr.Row():
        c["chat"] = gr.Chatbot(label=t("chat.chat"), height=420, buttons=["copy"], elem_id="chat-chatbot")
        c["compare_chat"] = gr.Chatbot(label=t("chat.compare_chat"), height=420, visible=False)
    with gr.Row():
        c["message"] = gr.Textbox(placeholder=t("chat.placeholder"), show_label=False, scale=5, lines=2,
                                  elem_id="chat-message")
        c["send"] = gr.Button(t("chat.send"), variant="primary", scale=1, elem_id="chat-send")
        c["clear"] = gr.Button(t("chat.clear"), scale=1)

    sampling_names = ["temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "penalty_decay",
                      "max_tokens"]
    sampling = [c[n] for n in sampling_names]

    def params_of(values) -> dict:
        params = dict(zip(sampling_names, values))
        params["top_k"], params["max_tokens"] = int(params["top_k"]), int(params["max_tokens"])
        return params

    def send(message, history, *values):
        yield from respond("main", message, history, params_of(values))

    def send_compare(message, history, *values):
        if "compare" not in _workers:
            yield gr.update()
            return
        yield from respond("compare", message, history, params_of(values))

    for picker in (c["model"], c["compare_model"]):
        picker.focus(lambda cur: gr.update(choices=model_choices(), value=cur), picker, picker,
                     api_visibility="private")
    c["state"].focus(lambda cur: gr.update(choices=state_choices(), value=cur), c["state"], c["state"],
                     api_visibility="private")
    common.job(c["load"], lambda m, s, st, force: load("main", m, s, st, force),
               [c["model"], c["strategy"], c["state"], c["force_state"]], c["status"], result=c["status"],
               api_name="load_model", concurrency_id="chat")
    c["unload"].click(lambda: unload("main"), None, c["status"], api_name="unload_model")
    common.job(c["compare_load"], lambda m, s: load("compare", m, s), [c["compare_model"], c["strategy"]],
               c["compare_status"], result=c["compare_status"], api_visibility="private", concurrency_id="chat") \
        .success(lambda: gr.update(visible=True), None, c["compare_chat"], api_visibility="private")
    c["compare_unload"].click(lambda: unload("compare"), None, c["compare_status"], api_visibility="private") \
        .then(lambda: gr.update(visible=False), None, c["compare_chat"], api_visibility="private")
    # Send (or Enter) is off while the answer streams; "Load a model first." shows in the status line and
    # the question stays in its box
    sent = common.job(c["send"], send, [c["message"], c["chat"]] + sampling, c["chat"], result=c["status"],
                      keep=[c["chat"]], triggers=[c["message"].submit], api_name="chat", concurrency_id="chat")
    compared = sent.success(send_compare, [c["message"], c["compare_chat"]] + sampling, c["compare_chat"],
                            api_visibility="private", concurrency_id="chat")
    common.show_failure(compared, c["compare_status"], keep=[c["compare_chat"]])
    compared.then(lambda: "", None, c["message"], api_visibility="private")
    c["clear"].click(lambda: ([], []), None, [c["chat"], c["compare_chat"]], api_visibility="private")
    return c
