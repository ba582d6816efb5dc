"""Chat tab: load a model (and a state) through the rwkv package and talk to it, streaming.

One model at a time for the whole app (it is the machine's memory); "compare" loads a second one
(normally the base model) and answers the same message side by side.
"""

from __future__ import annotations

import json
import threading
from typing import Iterator

import gradio as gr

from ..chat import session
from ..chat.prompt import SamplingParams
from ..chat.worker import ChatError, ChatWorker, available_strategies, preflight
from ..data import template
from ..demo import UNTRAINED_NOTE, is_demo_base
from . import common
from .i18n import t

_workers: dict[str, ChatWorker] = {}
_fits: dict[str, session.Fit] = {}
_lock = threading.Lock()
THINK_TITLE = "💭 <think>"  # the folded reasoning above an answer
CALL_ICON = "🛠"  # a tool call, shown as a call: its name, then its arguments
DEFAULT_SETTINGS = {"system": "", "think": "off", "think_length": "", "fit_history": True}
_DEFAULTS = SamplingParams()  # the sliders start where the CLI's flags do


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
    fit = session.fit(model_path)
    with _lock:
        _workers[slot], _fits[slot] = worker, fit
    mounted = f" with state `{state}`" if state else ""
    lines = [f"✅ `{model}`{mounted} loaded ({worker.version}, {worker.strategy}).", "", fit.describe()]
    if fit.think_replies:
        lines.append(f"Trained with reasoning ({fit.think_replies:,} replies in think mode): ask in think mode full.")
    if is_demo_base(model_path) and not state_path:
        lines += ["", f"⚠️ {UNTRAINED_NOTE}"]
    return "\n".join(lines)


def unload(slot: str) -> str:
    with _lock:
        worker = _workers.pop(slot, None)
        _fits.pop(slot, None)
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
    out = []
    for m in history or []:
        message = {"role": m["role"], "content": _text(m["content"])}
        if m.get("metadata"):
            message["metadata"] = dict(m["metadata"])
        out.append(message)
    return out


def shown_reply(reply: template.Reply) -> list[dict]:
    """A reply as Chatbot messages: its reasoning folded above the answer, each tool call as a call."""
    messages = []
    if reply.reasoning is not None:
        messages.append({"role": "assistant", "content": reply.reasoning,
                         "metadata": {"title": THINK_TITLE,
                                      "status": "done" if reply.finished_thinking else "pending"}})
    if reply.answer or (reply.reasoning is None and not reply.calls):
        messages.append({"role": "assistant", "content": reply.answer})
    for call in reply.calls:
        arguments = json.dumps(call.arguments, ensure_ascii=False, indent=1)
        messages.append({"role": "assistant", "content": f"```json\n{arguments}\n```",
                         "metadata": {"title": f"{CALL_ICON} {call.name}"}})
    return messages


def conversation(history) -> list[template.Turn]:
    """The turns of a Chatbot history (as :func:`shown_reply` shows replies): the messages after a question
    make one reply."""
    turns: list[template.Turn] = []
    for m in _plain(history):
        title = (m.get("metadata") or {}).get("title") or ""
        text = m["content"]
        if m["role"] != "assistant":
            turns.append(template.Turn("system" if m["role"] == "system" else "user", text))
            continue
        if not turns or turns[-1].role != "assistant":
            turns.append(template.Turn("assistant"))
        last = turns[-1]
        if title.startswith(THINK_TITLE):
            turns[-1] = template.Turn("assistant", last.content, text, last.calls)
        elif title.startswith(CALL_ICON):
            body = text.strip().removeprefix("```json").removesuffix("```")
            call = template.ToolCall(title[len(CALL_ICON):].strip(), template.parse_arguments(body.strip()))
            turns[-1] = template.Turn("assistant", last.content, last.reasoning, last.calls + (call,))
        else:
            joined = f"{last.content}\n{text}" if last.content else text
            turns[-1] = template.Turn("assistant", joined, last.reasoning, last.calls)
    return turns


def respond(slot: str, message: str, history: list | None, params: dict,
            settings: dict | None = None) -> Iterator[list[dict]]:
    """Stream the reply of the model in ``slot`` to ``message`` after ``history`` (messages format). ``settings``:
    system prompt, think mode and length, and whether the history is fitted to the model (the default)."""
    worker = _workers.get(slot)
    if worker is None:
        raise gr.Error("Load a model first.")
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    try:
        sampling = SamplingParams.from_mapping(params)
        template.reply_prefix(settings["think"])
        if settings["think"] == "full":
            template.with_think_length("", settings["think_length"] or "")
    except ValueError as err:
        raise gr.Error(str(err)) from err
    shown = _plain(history) + [{"role": "user", "content": message}]
    asked = session.fitted(conversation(history), message, _fits.get(slot, session.Fit()).window) \
        if settings["fit_history"] else session.windowed(conversation(history), None)
    reply = ""
    try:
        for delta in worker.generate(asked, message, sampling, system=settings["system"] or "",
                                     think=settings["think"], think_length=settings["think_length"] or ""):
            reply += delta
            yield shown + shown_reply(template.parse_reply(reply))
    except ChatError as err:
        raise gr.Error(str(err)) from err
    yield shown + shown_reply(template.parse_reply(reply))


def send(model: str | None, strategy: str, state: str | None, force_state: bool, message: str, history: list | None,
         params: dict, settings: dict) -> Iterator[tuple]:
    """Send on the main model: an unloaded model is loaded first (the one picked), then the reply streams.
    Yields (chat, status) pairs."""
    if "main" not in _workers:
        yield history or [], f"⏳ Loading `{model}`…" if model else gr.update()
        status = load("main", model, strategy, state, force_state)
        yield history or [], status
    for shown in respond("main", message, history, params, settings):
        yield shown, gr.update()


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
    with gr.Row():
        c["system"] = gr.Textbox(label=t("chat.system"), placeholder=t("chat.system_placeholder"), lines=1, scale=3,
                                 elem_id="chat-system")
        c["think"] = gr.Radio(choices=[(t(f"chat.think_{m}"), m) for m in template.THINK_MODES], value="off",
                              label=t("chat.think"), info=t("chat.think_info"), scale=2, elem_id="chat-think")
        c["think_length"] = gr.Dropdown(choices=[(t("chat.think_length_none"), "")] +
                                        [(w, w) for w in template.THINK_LENGTHS if w],
                                        value="", label=t("chat.think_length"), scale=1)
        c["fit_history"] = gr.Checkbox(value=True, label=t("chat.fit_history"), info=t("chat.fit_history_info"),
                                       scale=2, elem_id="chat-fit-history")
    with gr.Accordion(t("chat.sampling"), open=False):
        with gr.Row():
            c["temperature"] = gr.Slider(0, 3, value=_DEFAULTS.temperature, step=0.05, label="Temperature")
            c["top_p"] = gr.Slider(0, 1, value=_DEFAULTS.top_p, step=0.01, label="Top_P")
            c["top_k"] = gr.Slider(0, 200, value=_DEFAULTS.top_k, step=1, label="Top_K")
        with gr.Row():
            c["presence_penalty"] = gr.Slider(0, 2, value=_DEFAULTS.presence_penalty, step=0.05,
                                              label="Presence Penalty")
            c["frequency_penalty"] = gr.Slider(0, 2, value=_DEFAULTS.frequency_penalty, step=0.05,
                                               label="Frequency Penalty")
            c["penalty_decay"] = gr.Slider(0.9, 1.0, value=_DEFAULTS.penalty_decay, step=0.001, label="Penalty Decay")
            c["max_tokens"] = gr.Slider(1, 4096, value=_DEFAULTS.max_tokens, step=1, label="Max Tokens")
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
    setting_names = ["system", "think", "think_length", "fit_history"]
    asking = [c[n] for n in sampling_names + setting_names]
    picked = [c["model"], c["strategy"], c["state"], c["force_state"]]

    def split(values) -> tuple[dict, dict]:
        params = dict(zip(sampling_names, values[:len(sampling_names)]))
        params["top_k"], params["max_tokens"] = int(params["top_k"]), int(params["max_tokens"])
        return params, dict(zip(setting_names, values[len(sampling_names):]))

    def send_main(model, strategy, state, force, message, history, *values):
        yield from send(model, strategy, state, force, message, history, *split(values))

    def send_compare(message, history, *values):
        if "compare" not in _workers:
            yield gr.update()
            return
        yield from respond("compare", message, history, *split(values))

    def loaded_main(model, strategy, state, force):
        status = load("main", model, strategy, state, force)
        return status, gr.update(value="full") if _fits["main"].think_replies else gr.update()

    for picker in (c["model"], c["compare_model"]):
        common.relist_on_focus(picker, model_choices)
    common.relist_on_focus(c["state"], state_choices)
    # a failed Load leaves the think mode as it was (an emptied choice would fail every later Send)
    common.job(c["load"], loaded_main, picked, [c["status"], c["think"]], result=c["status"], keep=[c["think"]],
               api_name="load_model", concurrency_id="chat")
    c["unload"].click(lambda: unload("main"), None, c["status"], api_name="unload_model")
    common.job(c["compare_load"], lambda m, s: load("compare", m, s), [c["compare_model"], c["strategy"]],
               c["compare_status"], result=c["compare_status"], api_visibility="private", concurrency_id="chat") \
        .success(lambda: gr.update(visible=True), None, c["compare_chat"], api_visibility="private")
    c["compare_unload"].click(lambda: unload("compare"), None, c["compare_status"], api_visibility="private") \
        .then(lambda: gr.update(visible=False), None, c["compare_chat"], api_visibility="private")
    # Send (or Enter) is off while the answer streams; with no model loaded it loads the picked one first, and a
    # failure shows in the status line with the question left in its box
    sent = common.job(c["send"], send_main, picked + [c["message"], c["chat"]] + asking, [c["chat"], c["status"]],
                      result=c["status"], keep=[c["chat"]], triggers=[c["message"].submit], api_name="chat",
                      concurrency_id="chat")
    compared = sent.success(send_compare, [c["message"], c["compare_chat"]] + asking, c["compare_chat"],
                            api_visibility="private", concurrency_id="chat")
    common.show_failure(compared, c["compare_status"], keep=[c["compare_chat"]])
    compared.then(lambda: "", None, c["message"], api_visibility="private")
    c["clear"].click(lambda: ([], []), None, [c["chat"], c["compare_chat"]], api_visibility="private")
    return c
