"""binidx writer and reader against the MMIDIDX layout, decoded and encoded here with struct."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rwkv_simple_gui.data.binidx import BinIdxError, BinIdxWriter, read_binidx, write_binidx


def read_by_spec(prefix):
    """The layout, read byte by byte: header, int32 sizes, int64 pointers, int64 doc_idx; uint16 tokens."""
    idx = open(f"{prefix}.idx", "rb").read()
    magic, version, code, n, n_doc = struct.unpack_from("<9sQBQQ", idx, 0)
    off = 34
    sizes = struct.unpack_from(f"<{n}i", idx, off)
    pointers = struct.unpack_from(f"<{n}q", idx, off + 4 * n)
    doc_idx = struct.unpack_from(f"<{n_doc}q", idx, off + 12 * n)
    assert off + 12 * n + 8 * n_doc == len(idx)
    data = open(f"{prefix}.bin", "rb").read()
    docs = [list(struct.unpack_from(f"<{s}H", data, p)) for s, p in zip(sizes, pointers)]
    return magic, version, code, list(doc_idx), docs


def write_by_spec(prefix, docs):
    sizes = [len(d) for d in docs]
    pointers = [2 * sum(sizes[:i]) for i in range(len(docs))]
    with open(f"{prefix}.bin", "wb") as f:
        for d in docs:
            f.write(struct.pack(f"<{len(d)}H", *d))
    with open(f"{prefix}.idx", "wb") as f:
        f.write(struct.pack("<9sQBQQ", b"MMIDIDX\x00\x00", 1, 8, len(docs), len(docs) + 1))
        f.write(struct.pack(f"<{len(docs)}i", *sizes))
        f.write(struct.pack(f"<{len(docs)}q", *pointers))
        f.write(struct.pack(f"<{len(docs) + 1}q", *range(len(docs) + 1)))


DOCS = [[5, 6, 7, 0], [65535, 0], [1], [], [300] * 1000]


def test_writer_output_reads_by_the_spec(tmp_path):
    meta = {"tokenizer": {"name": "x", "vocab_size": 65536}}
    assert write_binidx(tmp_path / "d", DOCS, meta=meta) == len(DOCS)
    magic, version, code, doc_idx, docs = read_by_spec(tmp_path / "d")
    assert (magic, version, code) == (b"MMIDIDX\x00\x00", 1, 8)
    assert doc_idx == list(range(len(DOCS) + 1))
    assert docs == DOCS
    assert read_binidx(tmp_path / "d").meta == meta


def test_reader_on_files_written_by_the_spec(tmp_path):
    write_by_spec(tmp_path / "s", DOCS)
    data = read_binidx(tmp_path / "s.idx")  # any of the files names the prefix
    assert len(data) == len(DOCS)
    assert [data[i].tolist() for i in range(len(data))] == DOCS
    assert data[-1].tolist() == DOCS[-1]
    assert data.num_tokens == sum(map(len, DOCS)) == data.tokens.size
    assert data.sizes.tolist() == [4, 2, 1, 0, 1000]
    assert data.pointers.tolist() == [0, 8, 12, 14, 14]
    assert data.meta is None
    with pytest.raises(IndexError):
        data[len(DOCS)]


def test_add_items_batches_equal_single_adds(tmp_path):
    with BinIdxWriter(tmp_path / "b") as w:
        w.add_items(np.array([1, 2, 3, 4], np.uint16), np.array([3, 1]))
        w.add(iter([9, 9]))
    assert read_by_spec(tmp_path / "b")[4] == [[1, 2, 3], [4], [9, 9]]


def test_token_id_over_uint16_is_a_clear_error_and_leaves_nothing(tmp_path):
    with pytest.raises(BinIdxError, match="token id 70000 .* uint16"):
        write_binidx(tmp_path / "big", [[1, 2], [70000]], meta={})
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_old_files_untouched(tmp_path):
    write_binidx(tmp_path / "d", [[1, 2]])
    with pytest.raises(RuntimeError):
        with BinIdxWriter(tmp_path / "d", meta={}) as w:
            w.add([3, 4, 5])
            raise RuntimeError("interrupted")
    assert read_by_spec(tmp_path / "d")[4] == [[1, 2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.bin", "d.idx"]


def test_damaged_files_are_reported(tmp_path):
    write_by_spec(tmp_path / "d", DOCS)
    idx = (tmp_path / "d.idx").read_bytes()
    (tmp_path / "d.idx").write_bytes(idx[:-8])
    with pytest.raises(BinIdxError, match="truncated"):
        read_binidx(tmp_path / "d")
    (tmp_path / "d.idx").write_bytes(idx)
    (tmp_path / "d.bin").write_bytes(b"\x00\x00")
    with pytest.raises(BinIdxError, match="do not belong together"):
        read_binidx(tmp_path / "d")
    (tmp_path / "d.idx").write_bytes(b"NOTANIDX" + idx[8:])
    with pytest.raises(BinIdxError, match="not an MMIDIDX"):
        read_binidx(tmp_path / "d")
    with pytest.raises(BinIdxError, match="not found"):
        read_binidx(tmp_path / "missing")
