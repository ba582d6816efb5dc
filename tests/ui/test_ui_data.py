"""Data and Tokenize tab handlers called directly, with real files in an isolated project folder."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest

from rwkv_simple_gui.ui import common, data_tab, tokenize_tab


class NoProgress:
    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))


def write_lines(path, lines):
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_inspect_lists_every_bad_record_with_its_line(project):
    bad = write_lines(project / "data" / "bad.jsonl", [
        b'{"text": "User: hi\\n\\nAssistant: hello"}',
        b'{"text": "User: no answer here"}',
        b'{"text": ',
        b'{"txt": "wrong field"}',
        b'{"text": "User: ok\\n\\nAssistant: \xff broken utf8"}',
    ])
    summary, problems = data_tab.inspect_dataset("data/bad.jsonl", True)
    assert "4 bad record" in summary
    assert list(problems["line"]) == [2, 3, 4, 5]
    reasons = " | ".join(problems["reason"])
    assert "Assistant" in reasons and "JSON" in reasons and "text" in reasons and "UTF-8" in reasons
    # without the qa mask, a record without an Assistant turn is fine
    summary, problems = data_tab.inspect_dataset(str(bad), False)
    assert list(problems["line"]) == [3, 4, 5]


def test_missing_file_is_a_clear_error(project):
    with pytest.raises(gr.Error, match="does not exist"):
        data_tab.inspect_dataset("data/nope.jsonl", False)
    with pytest.raises(gr.Error, match="Pick a dataset"):
        data_tab.inspect_dataset("", False)


def test_preview_pages_are_clamped_and_show_turns_by_role(project):
    df, page, info = data_tab.preview_page("sample.jsonl", 99)
    total = -(-24 // data_tab.PAGE_SIZE)
    assert page == total and info == f"{total} / {total}"
    df, page, _ = data_tab.preview_page("sample.jsonl", 1)
    assert page == 1 and set(df["role"]) >= {"User", "Assistant"}
    assert df["line"].min() == 1


def test_export_normalises_chat_formats_to_seed_text(project):
    src = project / "data" / "chat.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                            {"role": "assistant", "content": "Hello!"}]}) + "\n", encoding="utf-8")
    message, written = data_tab.export_dataset("data/chat.jsonl", "")
    assert "1 records" in message
    out = [json.loads(line) for line in open(written, encoding="utf-8")]
    assert out == [{"text": "User: Hi\n\nAssistant: Hello!"}]
    assert written.startswith(str(project))
    with pytest.raises(gr.Error, match="overwrite"):
        data_tab.export_dataset("data/chat.jsonl", "data/chat.jsonl")


def test_upload_is_copied_into_data_without_overwriting(project, tmp_path):
    upload = tmp_path / "sample.jsonl"
    upload.write_text('{"text": "User: a\\n\\nAssistant: b"}\n', encoding="utf-8")
    update, box = data_tab.upload_dataset(str(upload))
    assert update["value"] == "data/sample-1.jsonl" and box is None  # the box is ready for the next upload
    assert (project / "data" / "sample-1.jsonl").read_text(encoding="utf-8") == upload.read_text(encoding="utf-8")
    assert len((project / "data" / "sample.jsonl").read_text(encoding="utf-8").splitlines()) == 24


def test_tokenize_writes_binidx_and_reports_like_make_tokenize(project):
    progress = NoProgress()
    summary, lengths_md, fig, factors, report, prefix, lengths = tokenize_tab.run_tokenize(
        "sample.jsonl", 2, 0, True, 7, "world", False, "", 64, progress=progress)
    assert prefix == "data/sample"
    bin_path, idx_path = project / "data" / "sample.bin", project / "data" / "sample.idx"
    assert bin_path.is_file() and idx_path.is_file()
    n_items = 48
    assert f"**{n_items}** items" in summary
    assert "data_line_count **48**" in summary
    assert list(factors["data_line_count"]) == list(range(38, 59))
    row = factors[factors["data_line_count"] == 48].iloc[0]
    assert row["MICRO_BSZ"].split(", ")[:4] == ["2", "3", "4", "6"]
    assert "### Final" in report and "data_line_count" in report
    assert progress.calls, "the tab shows progress"
    assert "longer than ctx_len 64" in lengths_md
    # the histogram shows each source document once (not its copies), EOF included
    sizes = np.fromfile(idx_path, dtype=np.int32, count=n_items, offset=9 + 8 + 1 + 8 + 8)
    assert len(fig.data[0].x) == 24
    assert sorted(np.repeat(lengths, 2)) == sorted(sizes)
    # a different ctx_len is checked without tokenizing again
    again, fig2 = tokenize_tab.recheck_ctx_len(lengths, 16)
    assert f"**{int((lengths > 16).sum())}** of 24" in again


def test_tokenize_bad_record_names_file_and_line_and_leaves_nothing(project):
    write_lines(project / "data" / "broken.jsonl", [b'{"text": "User: a\\n\\nAssistant: b"}', b'{"text": 5}'])
    with pytest.raises(gr.Error) as err:
        tokenize_tab.run_tokenize("broken.jsonl", 1, 0, True, 1, "world", False, "", 64, progress=NoProgress())
    assert "broken.jsonl" in str(err.value) and "2" in str(err.value)
    leftovers = [p.name for p in (project / "data").iterdir() if p.name not in ("broken.jsonl", "sample.jsonl")]
    assert leftovers == []
    # --skip-bad drops and counts it
    summary, *_ = tokenize_tab.run_tokenize("broken.jsonl", 1, 0, True, 1, "world", True, "", 64,
                                            progress=NoProgress())
    assert "skipped (bad) 1" in summary


def test_existing_outputs_are_replaced_only_when_asked(project):
    data = project / "data"
    tokenize_tab.run_tokenize("sample.jsonl", 1, 0, True, 7, "world", False, "", 64, progress=NoProgress())
    stamp = (data / "sample.bin").stat().st_mtime_ns
    with pytest.raises(gr.Error, match=r"data/sample.bin already exists: tick \*Overwrite\*"):
        tokenize_tab.run_tokenize("sample.jsonl", 1, 0, True, 7, "world", False, "", 64, False, progress=NoProgress())
    assert (data / "sample.bin").stat().st_mtime_ns == stamp
    tokenize_tab.run_tokenize("sample.jsonl", 1, 0, True, 7, "world", False, "", 64, True, progress=NoProgress())
    assert (data / "sample.bin").stat().st_mtime_ns != stamp

    data_tab.export_dataset("sample.jsonl", "copy.jsonl")  # a bare name goes into data/
    with pytest.raises(gr.Error, match="copy.jsonl already exists"):
        data_tab.export_dataset("sample.jsonl", "data/copy.jsonl")
    assert "24 records" in data_tab.export_dataset("sample.jsonl", "data/copy.jsonl", True)[0]
    (data / "dir.jsonl").mkdir()
    with pytest.raises(gr.Error, match="is a folder; give the export a file name"):
        data_tab.export_dataset("sample.jsonl", "data/dir.jsonl", True)
    with pytest.raises(gr.Error, match="data/dir.jsonl is a folder, not a file"):
        data_tab.inspect_dataset("data/dir.jsonl", False)


def test_the_tokenizer_description_is_not_listed_as_a_dataset(project):
    tokenize_tab.run_tokenize("sample.jsonl", 1, 0, True, 7, "world", False, "", 64, progress=NoProgress())
    assert (project / "data" / "sample.meta.json").is_file()
    assert common.list_files("data", common.DATASET_EXTS) == ["data/sample.jsonl"]


def test_preview_cuts_long_turns_and_says_so(project):
    answer = "long answer " * 500_000  # 6 MB in one turn
    (project / "data" / "long.jsonl").write_text(json.dumps({"text": f"User: q\n\nAssistant: {answer}"}) + "\n",
                                                 encoding="utf-8")
    df, page, _ = data_tab.preview_page("long.jsonl", 1)
    assert df["text"].tolist()[0] == "q"
    cell = df["text"].tolist()[1]
    assert cell.startswith("long answer long") and len(cell) < 2200
    assert f"preview cut here: the turn has {len(answer):,} characters" in cell

    chat = "\n\n".join(f"User: q{i}\n\nAssistant: a{i}" for i in range(30))  # 60 turns
    (project / "data" / "chat.jsonl").write_text(json.dumps({"text": chat}) + "\n", encoding="utf-8")
    df, _, _ = data_tab.preview_page("chat.jsonl", 1)
    assert len(df) == 21 and df["text"].tolist()[19] == "a9"
    assert df["role"].tolist()[-1] == "(more)"
    assert "40 more turns not shown: the record has 60 turns" in df["text"].tolist()[-1]


def test_remembered_choices_survive_a_restart(project):
    common.remember("dataset", "data/sample.jsonl")
    common.remember("ctx_len", 256)
    assert common.load_settings() == {"dataset": "data/sample.jsonl", "ctx_len": 256}
    assert common.list_files("data", common.DATASET_EXTS) == ["data/sample.jsonl"]


def test_a_page_that_opens_finds_what_was_made_since_the_app_started(project):
    """Choices and defaults are read when a page loads: after tokenizing, a refresh keeps the dataset."""
    from rwkv_simple_gui.demo import ensure_demo_model
    from rwkv_simple_gui.ui import control, params_tab

    names = control.option_names()
    assert params_tab.form_defaults()["data_path"] == ""
    ensure_demo_model()
    tokenize_tab.run_tokenize("data/sample.jsonl", 1, 0, True, 42, "world", False, "", 1024, progress=NoProgress())
    for stored in (None, {}, {"data_path": "", "model_path": None}):  # a browser that kept an empty field
        values = params_tab.form_defaults(stored)
        assert values["data_path"] == "data/sample" and values["model_path"].startswith("model/rwkv7-demo")
    assert params_tab.form_defaults({})["ctx_len"] == 112  # a first visit on the demo model: the demo preset
    updates = dict(zip(names, params_tab.page_load({"lora_r": 4}, names)))
    assert updates["data_path"]["value"] == "data/sample" and "data/sample" in updates["data_path"]["choices"]
    assert updates["lora_r"]["value"] == 4
    common.remember("dataset", "data/other.jsonl")
    assert common.dataset_dropdown()["value"] == "data/other.jsonl"
    assert "data/sample.jsonl" in common.dataset_dropdown()["choices"]
