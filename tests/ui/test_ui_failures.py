"""How a failed event shows (ui/messages.py, ui/common.py), without a browser: the error raised for the page
makes no toast and is kept for the result area; the failure handler writes it there and empties the event's
other results; a job's button is turned back on after a failure as after a success. The browser side is in
tests/browser/test_browser_gui.py."""

from __future__ import annotations

import gradio as gr
import pandas as pd
import pytest

from rwkv_simple_gui.ui import common, messages


def _boom():
    raise ValueError("boom")


def _refused():
    raise gr.Error("Pick a dataset file first.")


def test_an_error_raises_no_toast_and_is_kept_for_the_page(monkeypatch):
    monkeypatch.setattr(messages, "PINNED", "zh")
    with pytest.raises(gr.Error) as err:
        messages.localize(_refused)()
    assert err.value.visible is False and err.value.message == "请先选择数据文件。"
    assert messages.last_error() == "请先选择数据文件。" and messages.last_error() == ""  # read once
    with pytest.raises(gr.Error) as err:  # a bug of ours: named, still no toast
        messages.localize(_boom)()
    assert err.value.visible is False and err.value.message.startswith("意外的 ValueError：boom")


def _failure_of(demo: gr.Blocks, event):
    [fn] = [f for f in demo.fns.values() if f.trigger_after == event["id"] and f.trigger_only_on_failure]
    return fn


def test_a_failure_replaces_the_result_and_empties_the_rest_but_what_is_kept(monkeypatch):
    with gr.Blocks() as demo:
        go = gr.Button()
        result, table, kept, later = gr.Markdown("✅ done"), gr.Dataframe(headers=["line", "reason"]), gr.Dropdown(), \
            gr.Markdown("a preview of it")
        event = go.click(_refused, None, [result, table, kept])
        common.show_failure(event, result, keep=[kept], clear=[later])
    failure = _failure_of(demo, event)
    assert failure.outputs == [result, table, kept, later]
    monkeypatch.setattr(messages, "_last_errors", {"": "data/x.jsonl does not exist."})
    shown, emptied, untouched, cleared = failure.fn()
    assert shown == "### ❌ data/x.jsonl does not exist."
    assert isinstance(emptied["value"], pd.DataFrame) and list(emptied["value"].columns) == ["line", "reason"]
    assert untouched == gr.update() and cleared == gr.update(value=None)


def test_a_job_turns_its_button_back_on_after_a_failure_too():
    """Gradio 6.31 runs no ``.then`` of a failed event: the button comes back through the failure's own chain."""
    with gr.Blocks() as demo:
        go, result = gr.Button(), gr.Markdown()
        ran = common.job(go, _refused, None, result, result=result)
    after = {f.trigger_after: f for f in demo.fns.values() if f.outputs == [go] and f.trigger_after is not None}
    assert after[ran["id"]].trigger_only_on_success  # after a success
    failure = _failure_of(demo, ran)
    assert after[failure._id].fn() == gr.update(interactive=True)  # and after the failure has been shown
