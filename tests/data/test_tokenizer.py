"""The World tokenizer against the rwkv package's TRIE_TOKENIZER, on a large mixed corpus and edge cases."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rwkv
from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

from rwkv_simple_gui import paths
from rwkv_simple_gui.data import tokenizer as tokmod
from rwkv_simple_gui.data.tokenizer import TokenIdOverflow, get_tokenizer

EDGE_CASES = [
    "",
    "\x00",
    "\x00\x00abc\x00",
    "\r\n",
    "a\r\n\r\nb",
    "👍🏽👋🏿",
    "👨‍👩‍👧‍👦 family, 🇨🇳🇺🇸 flags, ❤️ heart",
    "x" * 5000,
    " " * 3000,
    "\n" * 500,
    "。" * 1000,
    "\t\tindented\n    code",
    "".join(chr(c) for c in range(1, 32)),
    "\ufeffBOM inside",
    "\ufffd replacement",
    "\U0010ffff\ue000 private use",
    "e\u0301 combining, 한국어, 日本語のテキスト, русский, العربية, हिन्दी",
    "User: 你好\n\nAssistant: 你好！有什么可以帮你？",
]


def mixed_corpus(seed: int = 1, n_docs: int = 400) -> list[str]:
    """Seeded documents mixing English prose, Python code, Chinese characters and emoji."""
    rng = random.Random(seed)
    code = inspect.getsource(json) + inspect.getsource(random)
    prose = [line.strip() for line in code.splitlines() if line.strip().startswith(("#", '"""')) or " the " in line]
    emoji = ["🙂", "👍🏽", "👩‍💻", "🎉", "🇯🇵", "✅", "🔥", "❤️"]

    def piece() -> str:
        kind = rng.random()
        if kind < 0.3:
            return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(5, 200)))
        if kind < 0.55:
            start = rng.randrange(len(code) - 2000)
            return code[start : start + rng.randint(50, 2000)]
        if kind < 0.85:
            return " ".join(rng.choice(prose) for _ in range(rng.randint(1, 6)))
        return "".join(rng.choice(emoji) for _ in range(rng.randint(1, 8)))

    return ["\n".join(piece() for _ in range(rng.randint(1, 6))) for _ in range(n_docs)]


@pytest.fixture(scope="module")
def trie():
    return TRIE_TOKENIZER(str(Path(rwkv.__file__).parent / "rwkv_vocab_v20230424.txt"))


@pytest.fixture(scope="module")
def corpus(trie):
    docs = EDGE_CASES + mixed_corpus()
    assert sum(map(len, docs)) > 300_000
    return docs, [trie.encode(d) for d in docs]


HAS_CC = any(map(shutil.which, ("cc", "gcc", "clang")))
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C compiler here: the World tokenizer is a Rust package's")


def test_fast_path_is_c_where_a_compiler_is():
    assert get_tokenizer("world").backend.startswith("c:" if HAS_CC else "rust:")


@pytest.mark.parametrize("backend", [pytest.param("c", marks=needs_cc), "rust"])
def test_fast_backends_identical_to_trie(corpus, backend):
    tok = tokmod.WorldTokenizer(backend)
    assert tok.backend.startswith(f"{backend}:")
    docs, expected = corpus
    for doc, ids in zip(docs, expected):
        assert tok.encode(doc) == ids, doc[:80]


@needs_cc
def test_c_trie_on_token_soup(trie):
    """Texts made of vocabulary tokens and their cut prefixes (where a longer match almost fits), random
    characters and bytes of every range, compared id for id with TRIE_TOKENIZER; each text also ends inside
    a long token, where the match must stop at the end of the input."""
    tok = tokmod.WorldTokenizer("c")
    rng = random.Random(7)
    long_tokens = [t for t in trie.idx2token.values() if len(t) >= 6]
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 40)):
            kind = rng.random()
            if kind < 0.5:
                token = rng.choice(long_tokens)
                parts.append(token[: rng.randint(1, len(token))])
            elif kind < 0.8:
                low, high = rng.choice([(32, 0x7F), (0x80, 0x7FF), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF)])
                parts.append(chr(rng.randint(low, high)).encode())
            else:
                parts.append(bytes([rng.randint(0, 255)]))
        parts.append(rng.choice(long_tokens)[:-1])
        text = b"".join(parts).decode("utf-8", "replace")
        assert tok.encode(text) == trie.encode(text), text[:80]


@needs_cc
def test_c_trie_built_once_and_rust_without_a_compiler(tmp_path, monkeypatch, corpus):
    """The C encoder is compiled into the project's .state/world-trie/<key>/ on first use and loaded from there
    later (no compiler needed then); with no compiler and no cache, auto falls back to Rust and "c" says why."""
    monkeypatch.delenv("RWKV_SIMPLE_GUI_CACHE", raising=False)
    monkeypatch.setattr(tokmod.world_trie.paths, "PROJECT_ROOT", tmp_path)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert tokmod.WorldTokenizer("auto").backend.startswith("rust:")
    with pytest.raises(tokmod.TokenizerError, match="C World encoder is unavailable: .*no-such-cc"):
        tokmod.WorldTokenizer("c")
    monkeypatch.delenv("CC")
    built = tokmod.WorldTokenizer("c")
    (folder,) = (tmp_path / ".state" / "world-trie").iterdir()  # one cache folder, no temporary left
    assert sorted(p.name for p in folder.iterdir()) == ["trie.npz", "world_trie.so"]
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    loaded = tokmod.WorldTokenizer("auto")
    assert loaded.backend == "c:world_trie"
    docs, expected = corpus
    assert built.encode(docs[-1]) == loaded.encode(docs[-1]) == expected[-1]
    monkeypatch.delenv("CC")
    arrays = dict(np.load(folder / "trie.npz"))
    arrays["edges"][arrays["edges"][:, 0] > 0, 1] = 10**6  # children past the last node: C would read astray
    np.savez(folder / "trie.npz", **arrays)
    with pytest.raises(tokmod.world_trie.DamagedBuild, match="does not hold a whole trie"):
        tokmod.world_trie.WorldTrie(folder)
    (folder / "trie.npz").write_bytes(b"half a file")
    assert tokmod.WorldTokenizer("c").encode(docs[-1]) == expected[-1]  # a damaged build is made again


@pytest.mark.parametrize("eof", [True, False])
def test_encode_docs_batches_equal_one_by_one(corpus, eof):
    tok = get_tokenizer("world")
    docs, expected = corpus
    no_nul = [i for i, d in enumerate(docs) if "\x00" not in d]
    for batch in (no_nul, list(range(len(docs)))):  # without NUL: one joined call; with: the per-text fallback
        tokens, lengths = tok.encode_docs([docs[i] for i in batch], eof=eof)
        want = [expected[i] + ([0] if eof else []) for i in batch]
        assert tokens.dtype == np.uint16
        assert lengths.tolist() == [len(w) for w in want]
        assert tokens.tolist() == [t for w in want for t in w]


@needs_cc
def test_processes_building_at_once_share_one_build(tmp_path, trie):
    """Three processes that find no C encoder build it at the same time: each gets the same ids, one build
    stays, and killed builds' temporary folders (over an hour old) are cleared."""
    for n in range(2000):  # many, so that the processes clear them at the same time: one must not trip on another
        stale = tmp_path / "world-trie" / f".0123456789abcdef-killed{n}.tmp"
        stale.mkdir(parents=True)
        os.utime(stale, (time.time() - 7200,) * 2)
    code = "from rwkv_simple_gui.data.tokenizer import WorldTokenizer as W; print(W('c').encode('同时 built 🙂'))"
    env = paths.child_env(RWKV_SIMPLE_GUI_CACHE=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outs
    assert {out for out, _ in outs} == {f"{trie.encode('同时 built 🙂')}\n"}
    (folder,) = (tmp_path / "world-trie").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["trie.npz", "world_trie.so"]


def test_python_fallback_when_no_c_or_rust(tmp_path, monkeypatch, corpus, trie):
    real_import = importlib.import_module

    def without_rust(name, *args):
        if name in tokmod.RUST_PACKAGES:
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(tokmod.importlib, "import_module", without_rust)
    monkeypatch.setenv("CC", "no-such-cc")
    monkeypatch.setenv("RWKV_SIMPLE_GUI_CACHE", str(tmp_path))  # no cached C encoder, none built
    monkeypatch.setattr("rwkv.rwkv_tokenizer.TRIE_TOKENIZER", lambda path: trie)  # reuse the loaded trie: 3 s saved
    tok = tokmod.WorldTokenizer("auto")
    assert tok.backend.startswith("python:")
    docs, expected = corpus
    tokens, lengths = tok.encode_docs(docs[:60], eof=True)
    assert tokens.tolist() == [t for ids in expected[:60] for t in ids + [0]]
    with pytest.raises(tokmod.TokenizerError, match="pip install rwkv-tokenizer"):
        tokmod.WorldTokenizer("rust")


def test_decode(corpus, trie):
    tok = get_tokenizer("world")
    docs, expected = corpus
    for doc, ids in zip(docs[:100], expected[:100]):
        assert tok.decode(ids) == doc
    cut = trie.encodeBytes("👍".encode()[:2]) + trie.encode("ok")  # a character cut in the middle
    ids = [0] + cut + [0]
    want = b"".join(trie.idx2token[i] for i in cut).decode("utf-8", "replace")
    assert "\ufffd" in want and tok.decode(ids) == want
    assert tok.decode(np.array(trie.encode("数组"), np.uint16)) == "数组"
    assert tok.decode([65535]) == "\ufffd"
    vocab = tokmod._world_vocab_bytes()  # the decode table: every id's bytes as the trie has them
    assert all(vocab[i] == trie.idx2token[i] for i in range(1, 65530))
    assert tok.identity == {"kind": "world", "name": "rwkv_vocab_v20230424", "vocab_size": 65536, "spec": "world"}


def write_word_level(path: Path, words: list[str]) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=words[0]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return path


def test_hf_tokenizer_json(tmp_path):
    path = write_word_level(tmp_path / "tokenizer.json", ["<|endoftext|>", "hello", "world", "[UNK]"])
    tok = get_tokenizer(path)
    assert tok.backend.startswith("hf:")
    assert tok.encode("hello world hello") == [1, 2, 1]
    tokens, lengths = tok.encode_docs(["hello", "world hello"], eof=True)
    assert tokens.tolist() == [1, 0, 2, 1, 0] and lengths.tolist() == [2, 3]
    assert tok.decode([1, 2]) == "hello world"
    ident = tok.identity
    assert ident["kind"] == "hf" and ident["vocab_size"] == 4 and ident["spec"] == str(path)
    assert ident["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_hf_token_id_over_uint16(tmp_path):
    words = ["<|endoftext|>"] + [f"w{i}" for i in range(1, 70001)]
    tok = get_tokenizer(write_word_level(tmp_path / "big.json", words))
    with pytest.raises(TokenIdOverflow) as e:
        tok.encode_docs(["w1 w2", "w3", "w4 w69999"], eof=True)
    assert e.value.doc == 2 and e.value.token_id == 69999 and "70001" in str(e.value)


def test_bad_specs(tmp_path):
    with pytest.raises(tokmod.TokenizerError, match="nope.json does not exist"):
        get_tokenizer(tmp_path / "nope.json")
    with pytest.raises(tokmod.TokenizerError, match="is a folder, not a file"):
        get_tokenizer(tmp_path)
    (tmp_path / "junk.json").write_text("{}", encoding="utf-8")
    with pytest.raises(tokmod.TokenizerError, match="not a tokenizers JSON"):
        get_tokenizer(tmp_path / "junk.json")


def test_a_long_text_encoded_window_by_window_equals_one_call(corpus, trie):
    """Windows far smaller than LONG_TEXT force every kind of cut: inside words, emoji, CJK, NUL, and
    after tokens that end inside a character (rare CJK characters are byte tokens)."""
    tok = get_tokenizer("world")
    docs, expected = corpus
    rng = random.Random(3)
    rare = "𠀀𪚥𫝀" * 40  # no whole-character tokens: cut points inside characters are everywhere
    texts = ["\x00".join(docs[:40]), rare, "x" * 300 + rare + "\n\n" * 50]
    for text in texts:
        want = trie.encode(text)
        for window in (1, 33, 200, 5000):
            got = np.concatenate(list(tok.encode_stream([text], window)))
            assert got.dtype == np.uint16 and got.tolist() == want, (text[:40], window)
        cuts = sorted(rng.sample(range(1, len(text)), 6))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]  # a document that comes in pieces
        assert np.concatenate(list(tok.encode_stream(pieces, 64))).tolist() == want


def test_encode_docs_to_streams_long_texts_between_short_ones(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(tokmod, "LONG_TEXT", 500)
    tok = get_tokenizer("world")
    docs, expected = corpus
    long_ones = [i for i, d in enumerate(docs) if len(d) > 500 and "\x00" not in d][:3]
    batch = [0, long_ones[0], 5, 6, long_ones[1], long_ones[2], 9]
    path = tmp_path / "spill.u16"
    with open(path, "wb") as out:
        lengths = tok.encode_docs_to(out, [docs[i] for i in batch], eof=True)
    want = [expected[i] + [0] for i in batch]
    assert lengths.tolist() == [len(w) for w in want]
    assert np.fromfile(path, np.uint16).tolist() == [t for w in want for t in w]
