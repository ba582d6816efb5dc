"""tokenize_file: make_tokenize.py's semantics, checked with TRIE_TOKENIZER and a reader written from the layout."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rwkv
from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

from rwkv_simple_gui import paths
from rwkv_simple_gui.data.formats import DatasetError
from rwkv_simple_gui.data.pipeline import TokenizeError, tokenize_file


def read_items(prefix) -> list[list[int]]:
    """Items of a uint16 binidx, decoded from the MMIDIDX layout with struct."""
    idx = Path(f"{prefix}.idx").read_bytes()
    magic, version, code, n, n_doc = struct.unpack_from("<9sQBQQ", idx)
    assert (magic, version, code, n_doc) == (b"MMIDIDX\x00\x00", 1, 8, n + 1)
    sizes = struct.unpack_from(f"<{n}i", idx, 34)
    pointers = struct.unpack_from(f"<{n}q", idx, 34 + 4 * n)
    data = Path(f"{prefix}.bin").read_bytes()
    assert len(data) == 2 * sum(sizes)
    return [list(struct.unpack_from(f"<{s}H", data, p)) for s, p in zip(sizes, pointers)]


@pytest.fixture(scope="module")
def trie():
    return TRIE_TOKENIZER(str(Path(rwkv.__file__).parent / "rwkv_vocab_v20230424.txt"))


def sample_docs(project, trie):
    texts = [
        json.loads(x)["text"] for x in (project / "data" / "sample.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return [trie.encode(t) for t in texts]


def test_sample_copies_are_seeded_shuffles_with_eof(project, trie):
    docs = [d + [0] for d in sample_docs(project, trie)]
    prefix = project / "out" / "sample"
    stages = []
    r = tokenize_file(
        project / "data" / "sample.jsonl", prefix, copies=3, seed=7, progress=lambda d, t, s: stages.append((d, t, s))
    )
    items = read_items(prefix)
    assert len(items) == r.items == r.data_line_count == 3 * len(docs)
    for c in range(3):  # every copy holds each document exactly once
        assert sorted(items[c * len(docs) : (c + 1) * len(docs)]) == sorted(docs)
    assert items[: len(docs)] != items[len(docs) : 2 * len(docs)]  # copies are shuffled independently
    assert r.tokens == 3 * sum(map(len, docs))
    longest = max(map(len, docs))
    assert r.max_length == (longest + 15) // 16 * 16 and r.max_length_power_of_two == 1 << (longest - 1).bit_length()
    assert sorted(r.lengths.tolist()) == sorted(map(len, docs)) and r.dropped == 0 and r.documents == len(docs)
    assert [f["count"] for f in r.factors] == list(range(62, 83))
    meta = json.loads(Path(f"{prefix}.meta.json").read_text(encoding="utf-8"))
    assert meta["tokenizer"]["name"] == "rwkv_vocab_v20230424" and meta["items"] == r.items and meta["copies"] == 3
    assert stages[-1] == (r.items, r.items, "writing") and any(s == "tokenizing" for _, _, s in stages)

    again = tokenize_file(project / "data" / "sample.jsonl", project / "out" / "again", copies=3, seed=7)
    assert read_items(project / "out" / "again") == items and again.tokens == r.tokens
    tokenize_file(project / "data" / "sample.jsonl", project / "out" / "other", copies=3, seed=8)
    assert read_items(project / "out" / "other") != items


def test_no_eof_and_max_tokens_filter(project, trie):
    docs = sample_docs(project, trie)
    limit = sorted(len(d) + 1 for d in docs)[len(docs) // 2]  # the EOF token counts toward the limit
    r = tokenize_file(project / "data" / "sample.jsonl", project / "f", max_tokens=limit)
    kept = [d + [0] for d in docs if len(d) + 1 <= limit]
    assert sorted(read_items(project / "f")) == sorted(kept)
    assert r.dropped == len(docs) - len(kept) > 0 and r.items == len(kept)

    r = tokenize_file(project / "data" / "sample.jsonl", project / "n", eof=False)
    assert sorted(read_items(project / "n")) == sorted(docs) and r.tokens == sum(map(len, docs))

    with pytest.raises(DatasetError, match="every document is longer than max_tokens=3"):
        tokenize_file(project / "data" / "sample.jsonl", project / "none", max_tokens=3)
    assert not list(project.glob("none*"))


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_bad_records_stop_the_run_or_are_counted(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "User: a\\n\\nAssistant: b"}\n\n{"text": 1}\n{"text": "ok"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        tokenize_file(src, tmp_path / "out")
    assert e.value.line == 3 and "in.jsonl, line 3" in str(e.value) and "not a string" in str(e.value)
    assert outputs(tmp_path) == ["in.jsonl"]  # no binidx, no temporary folder left

    r = tokenize_file(src, tmp_path / "out", skip_bad=True)
    assert (r.items, r.skipped_bad, [b.line for b in r.bad]) == (2, 2, [3, 5])
    assert outputs(tmp_path) == ["in.jsonl", "out.bin", "out.idx", "out.meta.json"]

    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(b'{"text": "ok"}\n\n{"text": "caf\xe9"}\n')
    with pytest.raises(DatasetError) as e:
        tokenize_file(latin1, tmp_path / "l")
    # hand-computed: line 3 starts at byte 16 of the file, the bad byte is its 13th
    assert e.value.line == 3 and "invalid UTF-8 at byte 13 of the line (byte 29 of the file)" in e.value.reason


def test_empty_datasets_are_errors(tmp_path):
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no readable record"):
        tokenize_file(blank, tmp_path / "b")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": ""}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="all 2 records are bad"):
        tokenize_file(bad, tmp_path / "b", skip_bad=True)
    assert outputs(tmp_path) == ["bad.jsonl", "blank.jsonl"]


def big_jsonl(path: Path, n: int, bad_lines: dict[int, str] | None = None) -> list[str]:
    rng = random.Random(3)
    words = ["hello", "world", "数据", "模型", "🙂", "def f(x):", "\n    return x", "Assistant:", "。"]
    texts = []
    with open(path, "w", encoding="utf-8") as f:
        for line in range(1, n + 1):
            if bad_lines and line in bad_lines:
                f.write(bad_lines[line] + "\n")
                continue
            text = "User: " + " ".join(rng.choice(words) for _ in range(rng.randint(5, 120)))
            texts.append(text)
            f.write(json.dumps({"text": text}, ensure_ascii=rng.random() < 0.5) + "\n")
    return texts


def test_worker_processes_write_what_one_process_writes(tmp_path):
    src = tmp_path / "big.jsonl"
    big_jsonl(src, 6000)
    one = tokenize_file(src, tmp_path / "one", copies=2, workers=1)
    two = tokenize_file(src, tmp_path / "two", copies=2, workers=2)
    assert two.workers == 2
    assert (tmp_path / "one.bin").read_bytes() == (tmp_path / "two.bin").read_bytes()
    assert (tmp_path / "one.idx").read_bytes() == (tmp_path / "two.idx").read_bytes()
    assert np.array_equal(one.lengths, two.lengths)


def test_worker_processes_report_the_first_bad_line(tmp_path):
    # 6000 lines split into two ranges at about line 3000
    later = tmp_path / "later.jsonl"
    big_jsonl(later, 6000, {4500: '{"text": null}', 5900: "not json"})
    with pytest.raises(DatasetError) as e:  # line numbers continue across ranges
        tokenize_file(later, tmp_path / "out", workers=2)
    assert e.value.line == 4500 and "NoneType" in e.value.reason
    r = tokenize_file(later, tmp_path / "out", workers=2, skip_bad=True)
    assert [b.line for b in r.bad] == [4500, 5900] and r.items == 5998

    both = tmp_path / "both.jsonl"
    big_jsonl(both, 6000, {1200: "[]", 4500: '{"text": null}'})
    with pytest.raises(DatasetError) as e:  # the earliest bad line wins, whichever worker finds its own first
        tokenize_file(both, tmp_path / "out2", workers=2)
    assert e.value.line == 1200 and "not an object" in e.value.reason


def test_other_containers_and_schemas(tmp_path, trie):
    conversations = [
        [{"from": "human", "value": f"问题 {i}"}, {"from": "gpt", "value": f"answer {i} 🙂"}] for i in range(30)
    ]
    pd.DataFrame({"conversations": conversations}).to_parquet(tmp_path / "sg.parquet")
    r = tokenize_file(tmp_path / "sg.parquet", tmp_path / "sg")
    expected = [trie.encode(f"User: 问题 {i}\n\nAssistant: answer {i} 🙂") + [0] for i in range(30)]
    assert sorted(read_items(tmp_path / "sg")) == sorted(expected)
    assert (r.format.container, r.format.schema) == ("parquet", "sharegpt")

    pd.DataFrame({"instruction": ["Say hi", ""], "output": ["hi", "x"]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DatasetError) as e:
        tokenize_file(tmp_path / "a.csv", tmp_path / "a")
    assert e.value.line == 3 and 'field "instruction" is empty' in str(e.value)


def test_hf_tokenizer_is_used_and_recorded(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<|endoftext|>", "[UNK]"] + [f"w{i}" for i in range(2, 70001)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tok.json"))
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "w2 w3 zz"}\n{"text": "w65535"}\n', encoding="utf-8")
    r = tokenize_file(src, tmp_path / "out", tokenizer=str(tmp_path / "tok.json"))
    assert sorted(read_items(tmp_path / "out")) == [[2, 3, 1, 0], [65535, 0]]
    meta = json.loads((tmp_path / "out.meta.json").read_text(encoding="utf-8"))
    assert meta["tokenizer"]["kind"] == "hf" and meta["tokenizer"]["vocab_size"] == 70001 == r.tokenizer["vocab_size"]

    src.write_text('{"text": "w2"}\n{"text": "w65536"}\n', encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        tokenize_file(src, tmp_path / "over", tokenizer=str(tmp_path / "tok.json"))
    assert e.value.line == 2 and "65536" in e.value.reason and "uint16" in e.value.reason
    assert not list(tmp_path.glob("over*"))


def test_option_tokenizer_and_output_errors(project, tmp_path):
    sample = project / "data" / "sample.jsonl"
    with pytest.raises(TokenizeError, match="copies must be at least 1"):
        tokenize_file(sample, tmp_path / "x", copies=0)
    with pytest.raises(TokenizeError, match="missing.json does not exist"):
        tokenize_file(sample, tmp_path / "x", tokenizer=str(tmp_path / "missing.json"))
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    with pytest.raises(TokenizeError, match="cannot write"):
        tokenize_file(sample, tmp_path / "a_file" / "x")


# A tokenize run whose progress callback (called in the parent while the pool's workers are alive) says so and then
# hangs, so the test can kill the parent at a moment where its workers certainly exist, whatever the machine's speed.
HANGING_RUN = """
import sys, threading, time
from rwkv_simple_gui.data.pipeline import tokenize_file
if sys.argv[3] == "threaded":  # as in the app: a thread is running, so the pool uses forkserver
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
def progress(done, total, stage):
    print("workers up", flush=True)
    time.sleep(600)
tokenize_file(sys.argv[1], sys.argv[2], workers=2, progress=progress)
"""


@pytest.mark.parametrize("start", ["fork", "threaded"])
def test_workers_die_with_a_killed_parent(project, start):
    psutil = pytest.importorskip("psutil")
    src = project / "data" / "many.jsonl"
    src.write_text((project / "data" / "sample.jsonl").read_text(encoding="utf-8") * 20, encoding="utf-8")
    env = paths.child_env()
    parent = subprocess.Popen([sys.executable, "-c", HANGING_RUN, str(src), str(project / "out"), start],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline() == "workers up\n"
        family = psutil.Process(parent.pid).children(recursive=True)  # the workers (and forkserver's helpers)
        assert len(family) >= 2
    finally:
        parent.kill()
        parent.wait()

    def gone(p) -> bool:
        try:
            return p.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.time() + 30
    while not all(gone(p) for p in family) and time.time() < deadline:
        time.sleep(0.05)
    left = [p for p in family if not gone(p)]
    for p in left:  # do not leave them behind when the test fails
        p.kill()
    assert not left, f"still running after their parent was killed: {[p.cmdline() for p in left]}"
