"""Benchmark: jsonl -> binidx with the seed's path versus ``python -m rwkv_simple_gui tokenize``.

    python bench/tokenize_speed.py [--mb 50 | --records 20000] [--runs 2] [--workers N] [--keep FILE | --corpus FILE]

Generates a seeded ~50 MB jsonl (or ``--records N`` records: 20,000 is about 40 MB and 11 M tokens) of mixed
Chinese, English, code and emoji in seed format (User / Assistant turns) in a temporary folder, then times, end to
end as a user waits for it (a fresh process, from start to exit):

(a) the seed's path, re-implemented straight from make_tokenize.py: ``json.loads`` per line,
    shuffle, the ``rwkv`` package's ``TRIE_TOKENIZER`` with its decode check, one process, binidx;
(b) ours: the ``tokenize`` CLI.

It checks that both wrote the same documents with the same tokens (each run shuffles its own way,
so documents are compared as a multiset) and prints both times, tokens/s and the ratio.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
EMOJI = [
    "🙂",
    "😂",
    "👍",
    "👍🏽",
    "👩‍💻",
    "👨‍👩‍👧‍👦",
    "❤️",
    "🇨🇳",
    "🇺🇸",
    "🎉",
    "🚀",
    "🌧️",
    "☔",
    "✅",
    "🤖",
    "🐱",
    "👋🏿",
    "🔥",
]
ZH_PUNCT = ["，", "。", "！", "？", "、", "：", "；", "（", "）", "“", "”"]


def _english_and_code(rng: random.Random) -> tuple[list[str], list[str]]:
    """Docstrings (real English prose) and function sources (real code) from the standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py"))
    rng.shuffle(files)
    prose, code = [], []
    for path in files[:120]:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    prose.append(doc.replace("\n\n", "\n"))
                segment = ast.get_source_segment(source, node)
                if segment and 80 < len(segment) < 3000 and "\n\n" not in segment:
                    code.append(segment)
    return prose, code


def _chinese_words() -> list[str]:
    """Chinese words of the World vocabulary (tokens made only of CJK characters)."""
    import rwkv

    words = []
    vocab = Path(rwkv.__file__).parent / "rwkv_vocab_v20230424.txt"
    for line in vocab.read_text(encoding="utf-8").splitlines():
        token = ast.literal_eval(line[line.index(" ") : line.rindex(" ")].strip())
        if isinstance(token, str) and token and all("\u4e00" <= ch <= "\u9fff" for ch in token):
            words.append(token)
    return words


def generate(path: Path, megabytes: float, seed: int = 0, records: int = 0) -> int:
    """Write the benchmark corpus (``records`` records when given, else ``megabytes``); returns the number of
    records."""
    rng = random.Random(seed)
    prose, code = _english_and_code(rng)
    words = _chinese_words() + ZH_PUNCT
    # punctuation is about one pick in eight, as in running Chinese text
    cum_weights = list(
        np.cumsum([1.0] * (len(words) - len(ZH_PUNCT)) + [len(words) / 7 / len(ZH_PUNCT)] * len(ZH_PUNCT))
    )

    def chinese(n_words: int) -> str:
        return "".join(rng.choices(words, cum_weights=cum_weights, k=n_words))

    def answer() -> str:
        parts = []
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.4:
                parts.append(chinese(rng.randint(20, 200)))
            elif kind < 0.7:
                parts.append(rng.choice(prose))
            else:
                parts.append("```python\n" + rng.choice(code) + "\n```")
            if rng.random() < 0.3:
                parts.append(" ".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4))))
        return "\n".join(parts)

    target = int(megabytes * 1_000_000)
    written = count = 0
    with open(path, "w", encoding="utf-8") as f:
        while (count < records) if records else (written < target):
            turns = []
            if rng.random() < 0.2:
                turns.append("System: " + (chinese(15) if rng.random() < 0.5 else rng.choice(prose)[:200]))
            for _ in range(rng.randint(1, 3)):
                question = chinese(rng.randint(5, 30)) if rng.random() < 0.5 else rng.choice(prose)[:300]
                turns += ["User: " + question, "Assistant: " + answer()]
            line = json.dumps({"text": "\n\n".join(turns)}, ensure_ascii=rng.random() < 0.1) + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))
            count += 1
    return count


def seed_path(input_path: str, prefix: str) -> None:
    """make_tokenize.py's path (N_EPOCH 1, EOF on, no filter), with a binidx writer from the layout."""
    import rwkv
    from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

    tokenizer = TRIE_TOKENIZER(str(Path(rwkv.__file__).parent / "rwkv_vocab_v20230424.txt"))
    lines = []
    with open(input_path, "r", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines.append(json.loads(line.strip())["text"])
    random.shuffle(lines)
    sizes = []
    with open(prefix + ".bin", "wb") as out:
        for text in lines:
            ids = tokenizer.encode(text)
            if tokenizer.decode(ids) != text:
                raise SystemExit("round trip failed")
            ids.append(0)
            out.write(np.array(ids, dtype=np.uint16).tobytes())
            sizes.append(len(ids))
    n = len(sizes)
    sizes_arr = np.array(sizes, dtype=np.int32)
    pointers = np.concatenate(([0], np.cumsum(sizes_arr[:-1].astype(np.int64) * 2)))
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")
        f.write(np.array([1], "<u8").tobytes() + bytes([8]) + np.array([n, n + 1], "<u8").tobytes())
        f.write(
            sizes_arr.astype("<i4").tobytes()
            + pointers.astype("<i8").tobytes()
            + np.arange(n + 1, dtype="<i8").tobytes()
        )


def read_docs(prefix: str) -> list[bytes]:
    """Items of a uint16 binidx as raw bytes, straight from the layout (independent of our reader)."""
    idx = Path(prefix + ".idx").read_bytes()
    n = int.from_bytes(idx[18:26], "little")
    sizes = np.frombuffer(idx, "<i4", n, 34)
    pointers = np.frombuffer(idx, "<i8", n, 34 + 4 * n)
    data = Path(prefix + ".bin").read_bytes()
    return [data[p : p + 2 * s] for p, s in zip(pointers.tolist(), sizes.tolist())]


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all processes) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50, help="corpus size in MB (default 50)")
    ap.add_argument("--records", type=int, default=0, help="generate this many records instead (the issue's "
                    "short-record corpus: 20000)")
    ap.add_argument("--runs", type=int, default=2, help="timed runs of each path (default 2)")
    ap.add_argument("--workers", type=int, default=None, help="--workers for ours (default: automatic)")
    ap.add_argument("--corpus", type=Path, help="use this jsonl instead of generating one (e.g. kept from --keep)")
    ap.add_argument("--keep", type=Path, help="also save the generated corpus here")
    ap.add_argument("--seed-path", nargs=2, metavar=("INPUT", "PREFIX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.seed_path:
        seed_path(*args.seed_path)
        return

    with tempfile.TemporaryDirectory(prefix="bench-tokenize-") as tmp:
        if args.corpus:
            corpus = args.corpus.resolve()
            records = sum(1 for line in open(corpus, "rb") if line.strip())
        else:
            corpus = Path(tmp) / "corpus.jsonl"
            t = time.perf_counter()
            records = generate(corpus, args.mb, records=args.records)
            print(f"generated in {time.perf_counter() - t:.1f} s")
            if args.keep:
                shutil.copyfile(corpus, args.keep)
        print(f"corpus: {corpus.stat().st_size / 1e6:.1f} MB, {records} records")
        ours_cmd = [sys.executable, "-m", "rwkv_simple_gui", "tokenize", str(corpus), "--out", f"{tmp}/ours"]
        if args.workers:
            ours_cmd += ["--workers", str(args.workers)]
        seed_cmd = [sys.executable, __file__, "--seed-path", str(corpus), f"{tmp}/seed"]
        seed_runs, ours_runs = [], []
        for run in range(args.runs):
            seed_runs.append(timed(seed_cmd))
            ours_runs.append(timed(ours_cmd))
            (sw, sc), (ow, oc) = seed_runs[-1], ours_runs[-1]
            print(
                f"run {run + 1}: seed path {sw:.2f} s wall ({sc:.2f} s CPU), ours {ow:.2f} s wall ({oc:.2f} s CPU): "
                f"{sw / ow:.1f}x"
            )

        seed_docs, ours_docs = read_docs(f"{tmp}/seed"), read_docs(f"{tmp}/ours")
        tokens = sum(len(d) for d in seed_docs) // 2
        assert len(seed_docs) == len(ours_docs) == records, (len(seed_docs), len(ours_docs), records)
        assert sorted(seed_docs) == sorted(ours_docs), "the two paths wrote different tokens"
        print(f"identical tokens: {tokens} tokens in {records} documents (compared as a multiset)")
        for name, runs in (("seed path", seed_runs), ("ours", ours_runs)):
            best = min(w for w, _ in runs)
            print(
                f"{name:9}: best {best:.2f} s wall, {tokens / best / 1e6:.2f} M tokens/s; CPU s per run: "
                f"{', '.join(f'{c:.2f}' for _, c in runs)}"
            )
        ratio = min(w for w, _ in seed_runs) / min(w for w, _ in ours_runs)
        cpu_ratio = min(c for _, c in seed_runs) / min(c for _, c in ours_runs)
        print(
            f"ratio (best wall / best wall): {ratio:.1f}x; CPU-time ratio {cpu_ratio:.1f}x; {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
