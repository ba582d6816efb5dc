"""One huge record through tokenize: exact tokens, and a peak memory that is a small multiple of the record
(measured on the CLI in a child process; bench/huge_record.py gives the 201 MB figure)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.huge_record import record_ratio, write_huge_record
from rwkv_simple_gui.data import formats
from rwkv_simple_gui.data.binidx import read_binidx
from rwkv_simple_gui.data.pipeline import tokenize_file
from rwkv_simple_gui.data.tokenizer import get_tokenizer


def test_a_huge_record_between_normal_ones_gets_the_tokens_of_one_call(tmp_path):
    huge = tmp_path / "huge.jsonl"
    write_huge_record(huge, 6)  # over a read block (4 MB) and many encode windows
    text = json.loads(huge.read_bytes())["text"]
    with open(huge, "rb+") as f:  # normal records on both sides
        body = f.read()
        f.seek(0)
        f.write(b'{"text": "User: first"}\n' + body + b'{"text": "User: last"}\n')
    assert formats.detect_format(huge) == formats.DatasetFormat("jsonl", "text")
    result = tokenize_file(huge, tmp_path / "out" / "huge")
    assert result.documents == 3 and result.skipped_bad == 0
    tok = get_tokenizer()
    items = sorted((read_binidx(tmp_path / "out" / "huge")[i] for i in range(3)), key=len)
    assert items[-1].tolist() == tok.encode(text) + [0]
    assert items[0].tolist() == tok.encode("User: last") + [0]


def test_a_huge_broken_record_is_reported_by_line(tmp_path):
    huge = tmp_path / "broken.jsonl"
    write_huge_record(huge, 5)
    body = huge.read_bytes()
    huge.write_bytes(b'{"text": "User: fine"}\n' + body[:-3] + b'\\q"}\n')  # a bad escape at the end
    with pytest.raises(formats.DatasetError) as err:
        tokenize_file(huge, tmp_path / "out" / "broken")
    assert err.value.line == 2 and "invalid JSON" in str(err.value) and "escape" in str(err.value)
    assert not (tmp_path / "out" / "broken.bin").exists()


def test_peak_memory_of_a_huge_record_is_under_3x_the_record(tmp_path):
    r = record_ratio(tmp_path, 30)
    assert r["record_bytes"] > 30_000_000
    assert r["ratio"] <= 3, r  # was 16x when the ids of the record were one Python list
    assert np.isfinite(r["ratio"])
