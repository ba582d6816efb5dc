"""A run's .jsonl files as every poll reads them: parsed once, then only what was appended, and read again from the
start when the file is replaced, truncated or rewritten."""

from __future__ import annotations

import json
import os

from rwkv_simple_gui.train import rundir


def lines(*steps):
    return "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in steps)


def test_appended_lines_are_read_and_a_half_written_line_waits_for_its_end(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(lines(1, 2))
    assert [m["step"] for m in rundir.read_metrics(tmp_path)] == [1, 2]
    with path.open("a") as f:
        f.write(lines(3) + '{"step": 4, "lo')
    assert [m["step"] for m in rundir.read_metrics(tmp_path)] == [1, 2, 3]
    with path.open("a") as f:
        f.write('ss": 0.25}\n')
    assert [m["step"] for m in rundir.read_metrics(tmp_path)] == [1, 2, 3, 4]
    assert [m["step"] for m in rundir.read_metrics(tmp_path, since_step=2)] == [3, 4]


def test_an_unchanged_file_is_not_parsed_again(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    path.write_text(lines(*range(1, 101)))
    rundir.read_metrics(tmp_path)
    parsed = []
    real = json.loads
    monkeypatch.setattr(rundir.json, "loads", lambda text: parsed.append(text) or real(text))
    assert len(rundir.read_metrics(tmp_path)) == 100
    assert parsed == []
    with path.open("a") as f:
        f.write(lines(101))
    assert len(rundir.read_metrics(tmp_path)) == 101
    assert len(parsed) == 1, "only the appended line is parsed"


def test_a_rewritten_replaced_or_truncated_file_is_read_from_the_start(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(lines(1, 2, 3, 4))
    assert len(rundir.read_metrics(tmp_path)) == 4
    rundir.RunDir(tmp_path).keep_metrics_until(2)  # resume: written to a temporary name, then renamed
    assert [m["step"] for m in rundir.read_metrics(tmp_path)] == [1, 2]
    with path.open("r+") as f:  # same file, same size and more: the lines read before are gone
        f.write(lines(7, 8, 9))
    assert [m["step"] for m in rundir.read_metrics(tmp_path)] == [7, 8, 9]
    os.truncate(path, 0)
    assert rundir.read_metrics(tmp_path) == []
    path.write_text(lines(5))
    assert [m["step"] for m in rundir.read_metrics(tmp_path)] == [5]
    path.unlink()
    assert rundir.read_metrics(tmp_path) == []


def test_the_rows_a_caller_gets_are_its_own_list(tmp_path):
    (tmp_path / "samples.jsonl").write_text(lines(1, 2))
    first = rundir.read_samples(tmp_path)
    first.clear()
    assert len(rundir.read_samples(tmp_path)) == 2
