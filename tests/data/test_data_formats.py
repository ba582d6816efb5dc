"""Dataset reading: every container and schema normalised to the seed's text, and validation of bad records."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rwkv_simple_gui.data import formats, schemas
from rwkv_simple_gui.data.formats import BadRecord, DatasetError, Record


def write_jsonl(path, objs):
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")
    return path


MESSAGES = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi\r\n\r\nthere"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "And "}, {"type": "text", "text": "you?"}]},
        {"role": "assistant", "content": "  Fine.  "},
    ]
}
MESSAGES_TEXT = "System: Be brief.\n\nUser: Hi\nthere\n\nAssistant: Hello!\n\nUser: And you?\n\nAssistant: Fine."
SHAREGPT = {
    "conversations": [
        {"from": "system", "value": "你是助手"},
        {"from": "human", "value": "2+2?"},
        {"from": "gpt", "value": "4"},
    ]
}
SHAREGPT_TEXT = "System: 你是助手\n\nUser: 2+2?\n\nAssistant: 4"
ALPACA = [
    {"instruction": "Translate to English.", "input": "猫", "output": "cat"},
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {
        "instruction": "And the sky?",
        "output": "Blue too.",
        "system": "Answer in two words.",
        "history": [["Grass?", "Green."]],
    },
]
ALPACA_TEXTS = [
    "User: Translate to English.\n猫\n\nAssistant: cat",
    "User: Name a colour.\n\nAssistant: Blue.",
    "System: Answer in two words.\n\nUser: Grass?\n\nAssistant: Green.\n\nUser: And the sky?\n\nAssistant: Blue too.",
]


def good_texts(path, **kw):
    out = list(formats.read_records(path, **kw))
    assert all(isinstance(r, Record) for r in out), out
    return [r.text for r in out]


def test_jsonl_schemas_normalise_to_seed_text(tmp_path):
    seed_text = "System: 你好\n\nUser: hi\n\nAssistant: para 1\n\npara 2"
    cases = {
        "text": ([{"text": seed_text}], [seed_text]),
        "messages": ([MESSAGES], [MESSAGES_TEXT]),
        "sharegpt": ([SHAREGPT], [SHAREGPT_TEXT]),
        "alpaca": (ALPACA, ALPACA_TEXTS),
    }
    for schema, (objs, expected) in cases.items():
        path = write_jsonl(tmp_path / f"{schema}.jsonl", objs)
        fmt = formats.detect_format(path)
        assert (fmt.container, fmt.schema) == ("jsonl", schema)
        assert good_texts(path) == expected
    # the seed's own text is kept as is, its turns split on role paragraphs (a blank line inside a turn stays)
    (rec,) = formats.read_records(tmp_path / "text.jsonl")
    assert rec.turns == [("System", "你好"), ("User", "hi"), ("Assistant", "para 1\n\npara 2")]
    assert schemas.split_turns("User: a\n\n\nAssistant: b") == [("User", "a"), ("Assistant", "b")]


def test_json_array_csv_and_parquet(tmp_path):
    array = tmp_path / "chat.json"
    array.write_text(json.dumps([MESSAGES, MESSAGES]), encoding="utf-8")
    assert formats.detect_format(array) == formats.DatasetFormat("json", "messages")
    assert good_texts(array) == [MESSAGES_TEXT, MESSAGES_TEXT]

    # a .json file holding one object per line is jsonl
    lines_json = write_jsonl(tmp_path / "lines.json", [SHAREGPT])
    assert formats.detect_format(lines_json) == formats.DatasetFormat("jsonl", "sharegpt")

    csv_path = tmp_path / "alpaca.csv"
    pd.DataFrame(ALPACA[:2]).to_csv(csv_path, index=False)
    assert formats.detect_format(csv_path) == formats.DatasetFormat("csv", "alpaca")
    assert good_texts(csv_path) == ALPACA_TEXTS[:2]

    # csv cells may hold a conversation as JSON text
    csv_chat = tmp_path / "chat.csv"
    pd.DataFrame({"conversations": [json.dumps(SHAREGPT["conversations"], ensure_ascii=False)]}).to_csv(
        csv_chat, index=False
    )
    assert good_texts(csv_chat) == [SHAREGPT_TEXT]

    parquet = tmp_path / "chat.parquet"
    pd.DataFrame({"messages": [MESSAGES["messages"][:3]] * 3}).to_parquet(parquet)
    assert formats.detect_format(parquet) == formats.DatasetFormat("parquet", "messages")
    assert good_texts(parquet) == ["System: Be brief.\n\nUser: Hi\nthere\n\nAssistant: Hello!"] * 3
    assert [r.line for r in formats.read_records(parquet)] == [1, 2, 3]


def bad_jsonl(tmp_path):
    lines = [
        b'\xef\xbb\xbf{"text": "User: a\\n\\nAssistant: b"}',  # 1 BOM
        b'{"text": "User: ok\\n\\nAssistant: fine"}',  # 2 good
        b"   ",  # 3 blank: skipped, still counted as a line
        b'{"text": 5}',  # 4
        b'{"text": "  "}',  # 5
        b'{"txt": "x"}',  # 6
        b"[1, 2]",  # 7
        b'{"text": "abc',  # 8
        b'{"text": "caf\xe9"}',  # 9 latin-1 byte
        b'{"text": "User: only a question"}',  # 10 good unless an Assistant turn is required
        b'{"text": "\\ud800"}',  # 11 lone surrogate escape
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    # hand-computed: line 9 starts after eight lines and their CRLFs; the bad byte follows '{"text": "caf'
    utf8_file_offset = sum(len(x) + 2 for x in lines[:8]) + len(b'{"text": "caf')
    return path, utf8_file_offset


def test_every_bad_record_is_reported_with_line_and_reason(tmp_path):
    path, offset = bad_jsonl(tmp_path)
    out = list(formats.read_records(path))
    assert [r.line for r in out if isinstance(r, Record)] == [2, 10]
    bad = {r.line: r.reason for r in out if isinstance(r, BadRecord)}
    assert sorted(bad) == [1, 4, 5, 6, 7, 8, 9, 11]
    assert "byte order mark" in bad[1]
    assert "not a string" in bad[4]
    assert "empty" in bad[5]
    assert 'missing field "text"' in bad[6]
    assert "not an object" in bad[7]
    assert "invalid JSON" in bad[8]
    assert f"invalid UTF-8 at byte 13 of the line (byte {offset} of the file)" in bad[9]
    assert "surrogate" in bad[11]

    strict = {r.line: r.reason for r in formats.read_records(path, require_assistant=True) if isinstance(r, BadRecord)}
    assert sorted(strict) == [1, 4, 5, 6, 7, 8, 9, 10, 11]
    assert "Assistant" in strict[10]

    report = formats.inspect(path, require_assistant=True, max_bad=3)
    assert (report.records, report.bad_count, len(report.bad)) == (1, 9, 3)
    assert report.format == formats.DatasetFormat("jsonl", "text")
    assert (report.chars, report.turns) == (len("User: ok\n\nAssistant: fine"), 2)


def test_bad_records_in_other_schemas(tmp_path):
    path = write_jsonl(
        tmp_path / "chat.jsonl",
        [
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
            {"messages": []},
            {"messages": [{"role": "robot", "content": "x"}]},
            {"messages": [{"role": "user", "content": None}]},
            {"messages": [{"role": "user", "content": "only a question"}]},
        ],
    )
    out = list(formats.read_records(path, require_assistant=True))
    assert isinstance(out[0], Record)
    reasons = [r.reason for r in out[1:]]
    assert "empty list" in reasons[0]
    assert '"robot"' in reasons[1] and "tool" in reasons[1]  # the roles it knows are listed
    assert 'field "content" of message 1 is NoneType' in reasons[2]
    assert "Assistant" in reasons[3]

    sharegpt = write_jsonl(tmp_path / "sg.jsonl", [SHAREGPT, {"conversations": [{"from": "robot", "value": "x"}]}])
    good, bad = formats.read_records(sharegpt)
    assert good.text == SHAREGPT_TEXT and bad.line == 2 and '"robot"' in bad.reason


def test_csv_line_numbers_and_bad_bytes(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b'text\n"User: two\nlines\n\nAssistant: ok"\n"bad \xff byte"\nUser: q\n')
    out = list(formats.read_records(path))
    assert isinstance(out[0], Record) and out[0].line == 2 and out[0].text == "User: two\nlines\n\nAssistant: ok"
    assert isinstance(out[1], BadRecord) and out[1].line == 6
    assert out[1].reason.startswith('invalid UTF-8 in column "text" at byte 4 of the field')
    assert isinstance(out[2], Record) and out[2].line == 7


def test_file_level_errors_name_file_and_fix(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"text": "a"}, {"text": ', encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        list(formats.read_records(broken))
    assert "broken.json" in str(e.value) and "invalid JSON" in str(e.value)

    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(DatasetError) as e:
        formats.detect_format(unknown)
    assert e.value.line == 1 and "answer" in str(e.value) and '"messages"' in str(e.value)

    with pytest.raises(DatasetError, match="file not found"):
        formats.detect_format(tmp_path / "missing.jsonl")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(DatasetError, match="unsupported file type"):
        formats.detect_format(tmp_path / "notes.txt")


def test_preview_pages_and_turn_rows(tmp_path):
    path, _ = bad_jsonl(tmp_path)
    df, pages = formats.preview(path, page=1, page_size=4)
    assert pages == 3  # ten non-blank lines
    assert list(df.columns) == ["line", "turn", "role", "text"]
    assert df["line"].tolist() == [1, 2, 2, 4, 5]
    assert df["role"].tolist() == ["(bad)", "User", "Assistant", "(bad)", "(bad)"]
    assert df["text"].tolist()[1:3] == ["ok", "fine"]
    df, pages = formats.preview(path, page=99, page_size=4)  # clamped to the last page
    assert df["line"].tolist() == [10, 11]


def test_export_text_jsonl_is_atomic(tmp_path):
    src = write_jsonl(tmp_path / "chat.jsonl", [MESSAGES, {"messages": "nope"}, MESSAGES])
    dest = tmp_path / "out" / "chat_text.jsonl"
    with pytest.raises(DatasetError) as e:
        formats.export_text_jsonl(src, dest)
    assert e.value.line == 2 and "chat.jsonl" in str(e.value) and "skip-bad" in str(e.value)
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written

    assert formats.export_text_jsonl(src, dest, skip_bad=True) == 2
    lines = dest.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [{"text": MESSAGES_TEXT}] * 2
    assert formats.detect_format(dest) == formats.DatasetFormat("jsonl", "text")


def test_csv_fields_of_any_size(tmp_path):
    path = tmp_path / "long.csv"
    long_answer = "很长的回答。" * 100_000  # 1.8 MB, far over the csv module's default 128 KiB field limit
    pd.DataFrame({"instruction": ["q1", "q2"], "output": [long_answer, "short"]}).to_csv(path, index=False)
    out = list(formats.read_records(path))
    assert [type(r) for r in out] == [Record, Record]
    assert out[0].text == f"User: q1\n\nAssistant: {long_answer}" and out[1].line == 3


def test_csv_broken_quoting_is_one_bad_record_with_its_lines(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text(
        'text\n'
        '"User: ok\n\nAssistant: fine"\n'
        '"User: this quote is not closed\n'
        'User: swallowed\n'
        '"User: the next quoted field"\n'
        'User: after\n'
        '"User: a ""quoted"" word\n\nAssistant: yes"\n',
        encoding="utf-8",
    )
    out = list(formats.read_records(path))
    assert [type(r) for r in out] == [Record, BadRecord, Record, Record]
    bad = out[1]
    assert bad.line == 5 and "lines 5-7 were read as one row" in bad.reason and '("")' in bad.reason
    assert out[2].line == 8 and out[2].text == "User: after"
    assert out[3].line == 9 and out[3].text == 'User: a "quoted" word\n\nAssistant: yes'

    never_closed = tmp_path / "open.csv"
    never_closed.write_text('text\n"User: ok"\n"User: open\nUser: to the end\n', encoding="utf-8")
    out = list(formats.read_records(never_closed))
    assert isinstance(out[1], BadRecord) and out[1].line == 3 and "never closed" in out[1].reason
    report = formats.inspect(never_closed)
    assert report.records == 1 and report.bad_count == 1


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_long_text_pieces_decode_to_the_whole_text(monkeypatch, ensure_ascii):
    """Pieces far smaller than PIECE_BYTES force cuts next to every kind of escape and character."""
    import random

    monkeypatch.setattr(formats, "PIECE_BYTES", 16)
    monkeypatch.setattr(formats, "TAIL_BYTES", 200)
    rng = random.Random(0)
    alphabet = list('abc de\n"\\/\t') + list("我们模型") + ["🙂", "𠀀", "\u2028", "\x00"]
    for trial in range(300):
        text = "x" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        obj = {"id": 1, "text": text, "meta": [{"q": '"text": "decoy'}]} if trial % 2 else {"text": text}
        raw = json.dumps(obj, ensure_ascii=ensure_ascii).encode("utf-8")
        long = formats.long_text(memoryview(raw))
        assert long is not None and "".join(long.pieces()) == text, raw[:80]
    for raw in [b'{"text": "abc', b'{"text": "a\\qb"}', b'{"text": "ab"} x', b'{"text": "a", "text": "b"}',
                b'{"txt": "a"}', b'["text", "a"]', b'{"x": "\\"text\\": \\"a"}', b'{"text": "a\nb"}',
                b'{"text": "\\ud800"}', b'{"text": "\xff"}', b'{"text": "a"b"}', b'{"text": "   "}',
                b'{"text": "' + b"x" * 50 + b'", "k": "' + b"y" * 300 + b'"}']:
        assert formats.long_text(memoryview(raw)) is None, raw  # the caller parses these whole
