"""Dataset file -> binidx, as make_tokenize.py does it, as fast as the machine allows.

Semantics of the seed's ``make_tokenize.py``: every record is tokenized with the World vocabulary,
token 0 (end of document) is appended unless ``eof=False``, documents longer than ``max_tokens``
(EOF included) are dropped, and the file is written ``copies`` times, each copy in its own shuffled
order (seeded here, so runs are reproducible).

How it is fast:

1. A jsonl file is cut into byte ranges at line boundaries; worker processes parse (orjson) and
   tokenize (Rust trie, whole batches per call) their ranges in parallel and spill the tokens of each
   document, in file order, to a temporary file. Only per-document lengths travel back. A small file
   is done in this process, where starting workers would cost more than they save.
2. Each document is tokenized once; the copies are shuffled gathers from the spill (a few million
   tokens at a time), so memory stays flat however large the file is.
3. ``.bin``, ``.idx`` and ``.meta.json`` are written under temporary names and renamed together at
   the end; a failed run leaves none of them, and no spill behind.
"""

from __future__ import annotations

import errno
import itertools
import math
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .. import paths
from . import formats, template
from .binidx import BinIdxWriter, split_prefix
from .formats import SKIP_BAD_FIX, BadRecord, DatasetError, DatasetFormat
from .result import MAX_BAD_KEPT, TokenizeResult
from .stats import align_tokens, factor_table, next_pow2
from .tokenizer import TokenIdOverflow, TokenizerError, get_tokenizer

Progress = Callable[[int, int, str], None]

BATCH_CHARS = 1 << 20  # texts per tokenizer call: large enough that the call overhead vanishes
GATHER_TOKENS = 1 << 20  # tokens per shuffled gather when writing the copies (bounds the index arrays)
GATHER_BY_SLICE = 64  # mean document length (tokens) above which a per-document copy beats fancy indexing
SMALL_FILE = 4 << 20  # below this a single process is faster than starting workers
RANGE_BYTES = 2 << 20  # smallest byte range handed to a worker
RANGES_PER_WORKER = 4  # several ranges per worker even out a busy core


class TokenizeError(ValueError):
    """A run that cannot start or finish for a reason other than the data: options, tokenizer, output."""


# --- phase 1: records -> spilled tokens + per-document lengths ------------------------------------


@dataclass
class _Job:
    """One byte range of a jsonl file (or a whole file of another container) for one process."""

    index: int
    path: str
    start: int
    end: int
    spill: str
    format: DatasetFormat
    tokenizer: str
    backend: str
    eof: bool
    skip_bad: bool


@dataclass
class _Part:
    """What a job found: document lengths, bad records (numbered within the job) and how far it got."""

    index: int
    lines: int = 0
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    bad: list[BadRecord] = field(default_factory=list)
    bad_count: int = 0
    fatal: BadRecord | None = None  # the record that stopped the job
    unused: dict[str, int] = field(default_factory=dict)
    max_user_turns: int = 0
    think_replies: int = 0


class _Spiller:
    """Collects texts, tokenizes them a batch at a time and appends the tokens to the spill file.

    ``texts``/``lines`` are appended to directly by the hot loop (and cleared in place by ``flush``).
    """

    def __init__(self, job: _Job, part: _Part, out):
        self.tok = get_tokenizer(job.tokenizer, backend=job.backend)
        self.job, self.part, self.out = job, part, out
        self.texts: list[str] = []
        self.lines: list[int] = []
        self.chars = 0
        self.lengths: list[np.ndarray] = []

    def add_record(self, line: int, obj) -> bool:
        """Normalise a parsed record and queue its text (or record why it is bad); counts its unused fields."""
        try:
            record = formats.normalise_record(obj, self.job.format.schema)
        except formats.RecordError as e:
            return self.bad(line, str(e))
        for name in record.unused:
            self.part.unused[name] = self.part.unused.get(name, 0) + 1
        return self.add(line, record.text)

    def add(self, line: int, text: str) -> bool:
        """Queue a text; False when the job must stop (a token id that uint16 cannot hold)."""
        self.texts.append(text)
        self.lines.append(line)
        self.chars += len(text)
        return self.chars < BATCH_CHARS or self.flush()

    def add_long(self, line: int, text: formats.LongText) -> bool:
        """Tokenize a very long text now, piece by piece; False when the job must stop."""
        if not self.flush():
            return False
        try:
            size = self.tok.encode_text_to(self.out, text.pieces(), eof=self.job.eof)
        except TokenIdOverflow as e:
            self.part.fatal = BadRecord(line, str(e))
            return False
        self.lengths.append(np.array([size], np.int64))
        return True

    def bad(self, line: int, reason: str) -> bool:
        """Record a bad record; False when the job must stop (skip_bad is off)."""
        record = BadRecord(line, reason)
        if not self.job.skip_bad:
            self.part.fatal = record
            return False
        self.part.bad_count += 1
        if len(self.part.bad) < MAX_BAD_KEPT:
            self.part.bad.append(record)
        return True

    def flush(self) -> bool:
        if not self.texts:
            return True
        self.part.max_user_turns = max(self.part.max_user_turns, max(map(template.user_turns, self.texts)))
        self.part.think_replies += sum(map(template.think_replies, self.texts))
        try:
            self.lengths.append(self.tok.encode_docs_to(self.out, self.texts, eof=self.job.eof))
        except TokenIdOverflow as e:
            self.part.fatal = BadRecord(self.lines[e.doc], str(e))
            return False
        self.texts.clear()
        self.lines.clear()
        self.chars = 0
        return True

    def finish(self) -> _Part:
        if self.part.fatal is None:
            self.flush()
        self.part.lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64)
        return self.part


class _JsonlBlocks:
    """Turns blocks of jsonl lines into texts for the spiller. The hot loop: millions of lines pass here, so
    a valid seed-format line costs a dict lookup and two appends; every other case is a method call."""

    def __init__(self, job: _Job, spill: _Spiller):
        self.spill, self.schema = spill, job.format.schema
        # Valid seed-format records skip the general normaliser; orjson has already rejected lone surrogates.
        self.text_fast_path = self.schema == "text" and formats.HAVE_ORJSON

    def read(self, block, offset: int, line: int) -> tuple[int, bool]:
        """The block's lines after line number ``line``: (the last line number, False when the run must stop)."""
        raws = formats.block_lines(block)
        if self.text_fast_path:
            return self._read_texts(raws, offset, line)
        return self._read_records(raws, offset, line)

    def _read_records(self, raws, offset: int, line: int) -> tuple[int, bool]:
        """:meth:`read` of any schema: every record goes through the normaliser."""
        loads = formats.json_loads
        first, starts = line + 1, []  # starts: file offset of each line, worked out on the block's first bad line
        for line, raw in enumerate(raws, first):
            try:
                obj = loads(raw)
            except ValueError as e:
                if not self._bad_json(line, raw, e, raws, offset, first, starts):
                    return line, False
                continue
            if not self._normalised(line, obj):
                return line, False
        return line, True

    def _read_texts(self, raws, offset: int, line: int) -> tuple[int, bool]:
        """:meth:`read` of seed-format ``{"text": ...}`` lines, the other records going through the normaliser."""
        spill, loads = self.spill, formats.json_loads
        add_text, add_line = spill.texts.append, spill.lines.append
        first, starts = line + 1, []
        for line, raw in enumerate(raws, first):
            if len(raw) > formats.BLOCK_BYTES:  # never the whole text as one str
                handled, ok = self._long(line, raw)
                if handled:
                    if not ok:
                        return line, False
                    continue
            try:
                obj = loads(raw)
            except ValueError as e:
                if not self._bad_json(line, raw, e, raws, offset, first, starts):
                    return line, False
                continue
            if type(obj) is dict and len(obj) == 1:  # any other field is named in the report
                text = obj.get("text")
                if type(text) is str and text and not text.isspace():
                    add_text(text)
                    add_line(line)
                    spill.chars += len(text)
                    if spill.chars >= BATCH_CHARS and not spill.flush():
                        return line, False
                    continue
            if not self._normalised(line, obj):
                return line, False
        return line, True

    def _long(self, line: int, raw) -> tuple[bool, bool]:
        long_text = formats.long_text(raw)
        if long_text is None:
            return False, True
        return True, self.spill.add_long(line, long_text)

    def _bad_json(self, line: int, raw, error: ValueError, raws, offset: int, first: int, starts: list) -> bool:
        raw = bytes(raw)  # a memoryview of a long line; no copy for bytes
        if not raw.strip():  # the seed skips blank lines
            return True
        if not starts:
            starts.extend(itertools.accumulate((len(r) + 1 for r in raws), initial=offset))
        return self.spill.bad(line, formats.diagnose_json(raw, error, starts[line - first]))

    def _normalised(self, line: int, obj) -> bool:
        return self.spill.add_record(line, obj)


def _tokenize_jsonl_range(job: _Job, on_bytes: Callable[[int], None], should_stop: Callable[[], bool]) -> _Part:
    part = _Part(job.index)
    line = 0
    with open(job.path, "rb") as f, open(job.spill, "wb") as out:
        spill = _Spiller(job, part, out)
        blocks = _JsonlBlocks(job, spill)
        for offset, block in formats.iter_line_blocks(f, job.start, job.end):
            if should_stop():  # an earlier range failed: this one's result will not be used
                break
            line, ok = blocks.read(block, offset, line)
            if not ok:
                return spill.finish()
            on_bytes(len(block))
        part.lines = line
        return spill.finish()


def _tokenize_records(job: _Job, on_bytes: Callable[[int], None]) -> _Part:
    """A .json / .csv / .parquet file, read as a stream of records in this process."""
    part = _Part(job.index)
    source = formats.record_source(Path(job.path), job.format.container)
    done = 0
    with open(job.spill, "wb") as out:
        spill = _Spiller(job, part, out)
        for n, (line, obj) in enumerate(source, 1):
            ok = spill.bad(line, obj.reason) if isinstance(obj, BadRecord) else spill.add_record(line, obj)
            if not ok:
                return spill.finish()
            if n % 1000 == 0:
                on_bytes(source.done - done)
                done = source.done
        return spill.finish()


# Worker-process state, set by _init_worker: per-range progress and the earliest failed range.
_progress_slots = None
_first_failed = None


def _exit_with_parent() -> None:
    """End this worker as soon as the process that started the pool dies, even by kill -9: an orphaned pool
    worker would wait on the pool's pipe forever, holding its tokenizer (~275 MB). A thread waits on
    multiprocessing's parent sentinel, a pipe that only the parent holds open (forked siblings hold each other's,
    so they go one after the other). The kernel's parent-death signal is no help under forkserver: the workers'
    parent is the server, which itself waits for them."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        mp_connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(progress_slots, first_failed) -> None:
    global _progress_slots, _first_failed
    _exit_with_parent()
    _progress_slots, _first_failed = progress_slots, first_failed


def _run_job(job: _Job) -> _Part:
    def on_bytes(n: int) -> None:
        _progress_slots[job.index] += n

    # A range after a failed one is wasted work; ranges before it must finish (they may fail earlier).
    part = _tokenize_jsonl_range(job, on_bytes, lambda: _first_failed.value < job.index)
    if part.fatal is not None:
        with _first_failed.get_lock():
            _first_failed.value = min(_first_failed.value, job.index)
    return part


def _mp_context():
    """fork when safe (instant start, the loaded tokenizer is shared); forkserver/spawn in a threaded app."""
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _next_line_start(f, pos: int) -> int:
    """The offset just after the first line end at or after ``pos`` (the file's size when none), found
    block by block: ``readline`` would hold a whole very long line in memory."""
    f.seek(pos)
    while block := f.read(formats.BLOCK_BYTES):
        nl = block.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(block)
    return pos


def _split_ranges(path: Path, size: int, n: int) -> list[tuple[int, int]]:
    """``n`` byte ranges of about equal size, each starting at the beginning of a line."""
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, n):
            cut = _next_line_start(f, max(cuts[-1], size * i // n))
            if cut >= size:
                break
            if cut > cuts[-1]:
                cuts.append(cut)
    cuts.append(size)
    return list(zip(cuts[:-1], cuts[1:]))


def _run_phase1(jobs: list[_Job], workers: int, size: int, progress: Progress | None) -> list[_Part]:
    def report(done: int) -> None:
        if progress:
            progress(min(done, size), size, "tokenizing")

    if workers == 1:  # one job: the whole file, in this process
        done = 0

        def on_bytes(n: int) -> None:
            nonlocal done
            done += n
            report(done)

        if jobs[0].format.container == "jsonl":
            return [_tokenize_jsonl_range(jobs[0], on_bytes, lambda: False)]
        return [_tokenize_records(jobs[0], on_bytes)]

    ctx = _mp_context()
    slots = ctx.Array("q", len(jobs), lock=False)
    first_failed = ctx.Value("i", len(jobs))
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(slots, first_failed)) as pool:
        futures = [pool.submit(_run_job, job) for job in jobs]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
            report(sum(slots))
            for fut in finished:
                if fut.exception() is not None:
                    for other in pending:
                        other.cancel()
                    raise fut.exception()
        return [f.result() for f in futures]


# --- phase 2: spilled documents -> shuffled copies in a binidx ------------------------------------


def _gather_chunks(order: np.ndarray, lengths: np.ndarray) -> Iterable[np.ndarray]:
    """Consecutive slices of ``order`` holding about GATHER_TOKENS tokens each (at least one document)."""
    ends = np.cumsum(lengths[order])
    i = 0
    while i < len(order):
        base = ends[i - 1] if i else 0
        j = max(i + 1, int(np.searchsorted(ends, base + GATHER_TOKENS, side="right")))
        yield order[i:j]
        i = j


def _gather(spill: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The spilled documents starting at ``starts`` with ``sizes`` tokens, back to back."""
    out_ends = np.cumsum(sizes)
    if out_ends[-1] >= GATHER_BY_SLICE * len(sizes):  # long documents: one slice copy each is cheapest
        out = np.empty(int(out_ends[-1]), np.uint16)
        for start, end, size in zip(starts.tolist(), out_ends.tolist(), sizes.tolist()):
            out[end - size : end] = spill[start : start + size]
        return out
    # many short documents: one fancy-indexing pass (document start + position in the document)
    index_type = np.int32 if spill.size < 2**31 else np.int64  # half the memory traffic when it fits
    shift = (starts - (out_ends - sizes)).astype(index_type)
    return spill[np.repeat(shift, sizes) + np.arange(int(out_ends[-1]), dtype=index_type)]


def _read_document(spill_file, start: int, size: int) -> Iterable[np.ndarray]:
    """A long spilled document in GATHER_TOKENS slices, read (not mapped: mapped pages would stay
    resident) so memory stays one slice whatever its length."""
    for offset in range(start, start + size, GATHER_TOKENS):
        spill_file.seek(2 * offset)
        yield np.frombuffer(spill_file.read(2 * min(GATHER_TOKENS, start + size - offset)), np.uint16)


def _write_copies(
    writer: BinIdxWriter,
    spill_path: Path,
    lengths: np.ndarray,
    kept: np.ndarray,
    copies: int,
    seed: int,
    progress: Progress | None,
) -> None:
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    rng = np.random.default_rng(seed)
    total, done = copies * len(kept), 0
    # a plain ndarray view of the map: slicing a np.memmap costs a Python-level hook per slice
    spill = np.memmap(spill_path, np.uint16, mode="r").view(np.ndarray) if starts.size and lengths.sum() else None
    with open(spill_path, "rb") as spill_file:
        for _ in range(copies):
            order = kept[rng.permutation(len(kept))]
            for docs in _gather_chunks(order, lengths):
                if len(docs) == 1 and lengths[docs[0]] > GATHER_TOKENS:
                    writer.add_item_pieces(_read_document(spill_file, int(starts[docs[0]]), int(lengths[docs[0]])))
                else:
                    writer.add_items(_gather(spill, starts[docs], lengths[docs]), lengths[docs])
                done += len(docs)
            if progress:
                progress(done, total, "writing")


def _concat_spills(parts_paths: list[Path]) -> Path:
    """Append every spill to the first one; the result holds all documents in file order."""
    first = parts_paths[0]
    with open(first, "ab") as out:
        for p in parts_paths[1:]:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
            p.unlink()
    return first


def _merge_parts(parts: list[_Part], src: Path,
                 fmt: DatasetFormat) -> tuple[np.ndarray, int, list[BadRecord], dict[str, int]]:
    """Document lengths in file order, the skipped count, the first bad records (numbered in the whole file)
    and the unused fields; raises for the record that stopped a job (every range before it ran to its end)."""
    line_base, skipped, bad, unused = 0, 0, [], {}
    for part in parts:
        if part.fatal is not None:
            raise DatasetError(src, line_base + part.fatal.line, part.fatal.reason, SKIP_BAD_FIX, fmt.unit)
        skipped += part.bad_count
        bad += [BadRecord(line_base + b.line, b.reason) for b in part.bad]
        line_base += part.lines
        for name, count in part.unused.items():
            unused[name] = unused.get(name, 0) + count
    return np.concatenate([p.lengths for p in parts]), skipped, bad[:MAX_BAD_KEPT], unused


def _kept_documents(lengths: np.ndarray, max_tokens: int, skipped: int, src: Path, fmt: DatasetFormat) -> np.ndarray:
    """Indices of the documents that pass the max_tokens filter; an empty result is an error."""
    if lengths.size == 0:
        why = f"all {skipped} records are bad" if skipped else "the file has no records"
        raise DatasetError(
            src,
            None,
            f"no data to tokenize: {why}",
            'add records such as {"text": "User: ...\\n\\nAssistant: ..."}',
            fmt.unit,
        )
    kept = np.flatnonzero(lengths <= max_tokens) if max_tokens > 0 else np.arange(lengths.size)
    if kept.size == 0:
        raise DatasetError(
            src,
            None,
            f"every document is longer than max_tokens={max_tokens} (the shortest has {int(lengths.min())} tokens, "
            f"EOF included)",
            "raise max_tokens (--max-tokens), or set 0 for no limit",
            fmt.unit,
        )
    return kept


def _write_failure(error: OSError, prefix: Path) -> str:
    """Why the output could not be written, in plain words; nothing was left behind either way."""
    folder = paths.display(prefix.parent)
    target = f"{paths.display(prefix)}.bin/.idx"
    if error.errno == errno.ENOSPC:
        free = shutil.disk_usage(prefix.parent).free / 1e6 if prefix.parent.is_dir() else 0
        return (f"the disk holding {folder} is full ({free:.0f} MB free) while writing {target}: it needs room for "
                "the tokens twice (a working copy and the .bin). Free some space, or write the output to another "
                "disk (--out / Output prefix), and tokenize again; nothing was written")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"the folder {folder} is not writable ({error.strerror}) so {target} cannot be written; "
                "choose another output prefix or fix the folder's permissions")
    return f"cannot write {target}: {error.strerror or error}; check the folder and free disk space"


def default_prefix(input_path: str | os.PathLike) -> Path:
    """Where the seed puts the binidx: the project's data/ folder, named after the input file."""
    return paths.folder("data") / Path(input_path).stem


def _check_options(copies: int, max_tokens: int, seed: int) -> None:
    if copies < 1:
        raise TokenizeError(f"copies must be at least 1, got {copies}")
    if max_tokens < 0:
        raise TokenizeError(f"max_tokens must be 0 (no limit) or a positive number of tokens, got {max_tokens}")
    if not 0 <= seed < 2**32:
        raise TokenizeError(f"seed must be a whole number from 0 to {2**32 - 1}, got {seed}: it fixes the shuffled "
                            "order of the copies (the same seed gives the same order); unlike training's seed, -1 "
                            "(random) is not offered here, so the order can always be made again")


def _ranges(src: Path, size: int, fmt, workers: int | None) -> tuple[list[tuple[int, int]], int]:
    """The byte ranges of ``src`` read in parallel and how many workers read them (a jsonl file only; by
    default one per RANGE_BYTES, as many as the CPUs allow, none for a small file)."""
    if fmt.container != "jsonl":
        workers = 1
    elif workers is None:
        workers = 1 if size < SMALL_FILE else min(available_cpus(), math.ceil(size / RANGE_BYTES))
    workers = max(1, workers)
    n_ranges = 1 if workers == 1 else min(workers * RANGES_PER_WORKER, max(workers, size // RANGE_BYTES))
    ranges = _split_ranges(src, size, n_ranges) if n_ranges > 1 else [(0, size)]
    return ranges, min(workers, len(ranges))


def tokenize_file(
    input: str | os.PathLike,
    out_prefix: str | os.PathLike | None = None,
    *,
    copies: int = 1,
    max_tokens: int = 0,
    eof: bool = True,
    seed: int = 42,
    tokenizer: str = "world",
    skip_bad: bool = False,
    workers: int | None = None,
    backend: str = "auto",
    progress: Progress | None = None,
) -> TokenizeResult:
    """Tokenize a dataset file into ``out_prefix.bin/.idx/.meta.json`` (default: data/<input stem>).

    ``progress(done, total, stage)``: stage "tokenizing" counts input bytes, "writing" counts items.
    Raises :class:`DatasetError` for a bad record (unless ``skip_bad``: then it is skipped and
    counted), an empty dataset, or one the ``max_tokens`` filter empties; :class:`TokenizeError` for
    bad options, a tokenizer that cannot be loaded, or an output that cannot be written.
    """
    began = time.perf_counter()
    src = Path(input)
    _check_options(copies, max_tokens, seed)
    fmt = formats.detect_format(src)
    prefix = split_prefix(out_prefix) if out_prefix is not None else default_prefix(src)
    try:
        tok = get_tokenizer(tokenizer, backend=backend)  # loaded once here: forked workers inherit it
    except TokenizerError as e:
        raise TokenizeError(str(e)) from e
    if fmt.schema == "preference":  # pairs keep their prompt/reply split: data/preference.py
        from .preference import tokenize_pairs

        try:
            return tokenize_pairs(src, prefix, fmt, tok, copies=copies, max_tokens=max_tokens, eof=eof, seed=seed,
                                  skip_bad=skip_bad, progress=progress)
        except OSError as e:
            raise TokenizeError(_write_failure(e, prefix)) from e
    size = src.stat().st_size
    ranges, workers = _ranges(src, size, fmt, workers)

    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=paths.tokenize_folder_prefix(), dir=prefix.parent) as tmp:
            jobs = [
                _Job(
                    i,
                    str(src),
                    a,
                    b,
                    str(Path(tmp) / f"part-{i}.u16"),
                    fmt,
                    tok.identity["spec"],
                    backend,
                    eof,
                    skip_bad,
                )
                for i, (a, b) in enumerate(ranges)
            ]
            parts = _run_phase1(jobs, workers, size, progress)
            lengths, skipped, bad, unused = _merge_parts(parts, src, fmt)
            kept = _kept_documents(lengths, max_tokens, skipped, src, fmt)
            max_size = int(lengths[kept].max())
            items = copies * int(kept.size)
            result = TokenizeResult(
                prefix=prefix,
                tokens=copies * int(lengths[kept].sum()),
                items=items,
                documents=int(lengths.size),
                dropped=int(lengths.size - kept.size),
                skipped_bad=skipped,
                bad=bad,
                max_length=align_tokens(max_size),
                max_length_power_of_two=next_pow2(max_size),
                data_line_count=items,
                factors=factor_table(items),
                lengths=lengths,
                format=fmt,
                tokenizer=tok.identity,
                backend=tok.backend,
                eof=eof,
                copies=copies,
                seed=seed,
                max_tokens=max_tokens,
                workers=workers,
                seconds=0.0,
                unused=unused,
                conversations={"max_user_turns": max(p.max_user_turns for p in parts),
                               "think_replies": sum(p.think_replies for p in parts)},
            )
            meta = {
                "format": "rwkv-simple-gui binidx",
                "version": 1,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source": paths.display(src),
                "dtype": "uint16",
                "eof_token": 0 if eof else None,
                **{k: v for k, v in result.to_json().items() if k not in ("factors", "bad", "prefix", "seconds")},
            }
            spill_path = _concat_spills([Path(j.spill) for j in jobs])
            with BinIdxWriter(prefix, meta=meta) as writer:
                _write_copies(writer, spill_path, lengths, kept, copies, seed, progress)
    except OSError as e:
        raise TokenizeError(_write_failure(e, prefix)) from e
    result.seconds = time.perf_counter() - began
    return result
