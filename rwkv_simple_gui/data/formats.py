"""Dataset files: detect the format, stream records, normalise them to the G1 text, validate.

Every supported record becomes the text an RWKV-7 G1 model reads, rendered by data/template.py (the one
renderer): turns joined by a blank line, each prefixed by its role (``System: ...\\n\\nUser: ...\\n\\nAssistant:
...``), reasoning as a ``<think>`` block, tool calls as JSON lines, tool results as the next User turn. A field
that holds data the text does not use is named in :attr:`Normalised.unused` (and counted by :func:`inspect` and
the tokenize report), never dropped without a word.

Containers: ``.jsonl`` (one object per line), ``.json`` (an array of objects; a ``.json`` file that
holds one object per line is read as jsonl), ``.csv``/``.tsv`` (header row), ``.parquet`` (streamed by
row group). Schemas, detected from the first object:

- ``text``      ``{"text": "User: ...\\n\\nAssistant: ..."}`` (the seed's format, used as is)
- ``messages``  ``{"messages": [{"role": "user", "content": "..."}, ...], "tools": [...]}`` (OpenAI; an
  assistant's ``reasoning_content`` or ``<think>`` block, ``tool_calls``; ``tool`` messages)
- ``sharegpt``  ``{"conversations": [{"from": "human", "value": "..."}, ...], "system": ..., "tools": ...}``
  (``function_call`` and ``observation`` turns too)
- ``alpaca``    ``{"instruction": ..., "input": ..., "output": ...}`` (+ optional ``system``, ``history``)
- ``preference`` ``{"prompt": ..., "chosen": ..., "rejected": ...}`` or TRL's message lists (data/schemas.py;
  read here as the conversation with the chosen reply)

A bad record never stops reading: :func:`read_records` yields a :class:`BadRecord` with its 1-based
line (record number for .json, row line for .csv, row number for .parquet) and the reason.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from .. import paths
from . import template
from .schemas import (
    HAVE_ORJSON,
    ROLES,
    BadRecord,
    LongText,
    Pair,
    Record,
    RecordError,
    json_loads,
    normalise_pair,
    normalise_record,
    schema_of,
)

if TYPE_CHECKING:
    import pandas as pd

BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 4 << 20
PREVIEW_CHARS = 2000  # characters of a turn shown in a preview cell
PREVIEW_TURNS = 20  # turns of a record shown in a preview

SKIP_BAD_FIX = "fix or delete that record, or turn on skip-bad (--skip-bad) to skip such records and count them"


@dataclass(frozen=True)
class DatasetFormat:
    """How a file is stored (``container``) and which record layout it uses (``schema``)."""

    container: str
    schema: str

    @property
    def unit(self) -> str:
        """What a record's number counts in this container: line, record or row."""
        return {"jsonl": "line", "csv": "line", "json": "record", "parquet": "row"}[self.container]

    def __str__(self) -> str:
        return f"{self.schema} ({self.container})"


@dataclass
class DatasetReport:
    """What :func:`inspect` found in a file."""

    path: Path
    format: DatasetFormat
    records: int = 0
    chars: int = 0
    turns: int = 0
    role_turns: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ("", *ROLES)})
    bad: list[BadRecord] = field(default_factory=list)
    bad_count: int = 0
    unused: dict[str, int] = field(default_factory=dict)  # field -> records that have it, in order of appearance
    parts: dict[str, int] = field(default_factory=dict)  # reasoning, tool calls, ... -> how many (see PARTS)

    @property
    def ok(self) -> bool:
        return self.bad_count == 0 and self.records > 0


class DatasetError(ValueError):
    """A dataset problem, with the file, the line (or None for the whole file), the reason and the fix."""

    def __init__(self, path: str | os.PathLike, line: int | None, reason: str, fix: str = "", unit: str = "line"):
        self.path = Path(path)
        self.line = line
        self.reason = reason
        self.fix = fix
        self.unit = unit
        where = paths.display(self.path) + (f", {unit} {line}" if line is not None else "")
        super().__init__(f"{where}: {reason}" + (f". {fix[0].upper()}{fix[1:]}" if fix else ""))


# --- jsonl lines -----------------------------------------------------------------------------------


def diagnose_json(raw: bytes, error: Exception, file_offset: int, what: str = "line") -> str:
    """Why JSON bytes did not parse, in the most useful terms: BOM, bad UTF-8 (with offsets), JSON."""
    if raw.startswith(BOM):
        return f"the {what} starts with a UTF-8 byte order mark (BOM); save the file as UTF-8 without BOM"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        at = (
            f"byte {e.start} of the line (byte {file_offset + e.start} of the file)"
            if what == "line"
            else f"byte {e.start}"
        )
        return f"invalid UTF-8 at {at}: {raw[e.start:e.start + 4]!r}; re-save the file as UTF-8"
    return f"invalid JSON: {error}"


def iter_line_blocks(f, start: int, end: int, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Blocks of whole lines from byte ``start`` to ``end`` of a binary file, with each block's offset.

    A line longer than a block grows in one bytearray (no quadratic re-joining, no second copy) and is
    yielded as its own block.
    """
    f.seek(start)
    offset = start
    carry = b""  # the beginning of a line whose end is not read yet
    long_line: bytearray | None = None
    remaining = end - start
    while remaining > 0:
        chunk = f.read(min(block_bytes, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        cut = chunk.rfind(b"\n") + 1 if remaining > 0 else len(chunk)
        if not cut:  # no line end in this chunk: a long line goes on
            if long_line is None:
                long_line, carry = bytearray(carry), b""
            long_line += chunk
            continue
        if long_line is not None:
            long_line += chunk[:cut]
            block, long_line = long_line, None
        else:
            block = carry + chunk[:cut]
        carry = chunk[cut:]
        yield offset, block
        offset += len(block)
    tail = long_line if long_line is not None else carry
    if tail:
        yield offset, tail


def block_lines(block: bytes | bytearray) -> list:
    """The lines of a block from :func:`iter_line_blocks`, without their line ends. The block of a long
    line (a bytearray) is cut into memoryviews rather than copied; :data:`json_loads` reads those."""
    if isinstance(block, bytes):
        raws = block.split(b"\n")
    else:
        view, raws, pos = memoryview(block), [], 0
        while (nl := block.find(b"\n", pos)) >= 0:
            raws.append(view[pos:nl])
            pos = nl + 1
        raws.append(view[pos:])
    if block.endswith(b"\n"):
        raws.pop()
    return raws


_TEXT_KEY = re.compile(rb'"text"[ \t\r\n]*:[ \t\r\n]*"')
_QUOTE = re.compile(rb'"')
# A byte that is never part of an escape sequence nor inside a character: a JSON string cut before it
# leaves two bodies that decode on their own (a surrogate pair stays whole).
_CUT_BEFORE = re.compile(rb'[^"\\/bfnrtu0-9a-fA-F\x80-\xbf]')
_PLACEHOLDER = b'"\\u0000"'
PIECE_BYTES = 1 << 20
TAIL_BYTES = 1 << 16  # how far from the line's end the text's closing quote is looked for


def long_text(raw: memoryview) -> LongText | None:
    """The text of a very long ``{"text": "...", ...}`` line in pieces of about PIECE_BYTES, each checked
    as ``json_loads`` checks the whole line, so the text never has to be one str (4 bytes a character
    once it holds one emoji). None for any other line, or one that is not valid: the caller parses it
    whole, which also words its error. The text's closing quote is looked for near the end of the line
    (a huge line is huge because of its text): the one that leaves the rest a valid object whose "text"
    is the text.
    """
    key = _TEXT_KEY.search(raw) if HAVE_ORJSON else None  # orjson refuses lone surrogates, as the fast path needs
    if key is None:
        return None
    start = key.end()
    end = _closing_quote(raw, start)
    if end is None:
        return None
    text = LongText(raw, _piece_ranges(raw, start, end))
    try:
        blank = all([piece.isspace() for piece in text.pieces()])  # decodes every piece: checks them all
    except ValueError:
        return None
    return None if blank else text


def _closing_quote(raw: memoryview, start: int) -> int | None:
    """Where the text that opens at ``start`` ends: the last quote near the line's end that leaves the rest a
    valid object whose "text" is the text (None: no quote does)."""
    head = bytes(raw[: start - 1])
    tail_start = max(start, len(raw) - TAIL_BYTES)
    for quote in reversed([m.start() for m in _QUOTE.finditer(raw, tail_start)]):
        small = head + _PLACEHOLDER + bytes(raw[quote + 1 :])
        try:
            obj = json_loads(small)
        except ValueError:
            continue
        if type(obj) is dict and obj.get("text") == "\x00" and small.count(_PLACEHOLDER) == 1:
            return quote
    return None


def _piece_ranges(raw: memoryview, start: int, end: int) -> list[tuple[int, int]]:
    """Byte ranges of about PIECE_BYTES that cover the text's body from ``start`` to ``end``."""
    ranges, pos = [], start
    while pos < end:
        cut = _CUT_BEFORE.search(raw, pos + PIECE_BYTES, end) if pos + PIECE_BYTES < end else None
        ranges.append((pos, cut.start() if cut else end))
        pos = ranges[-1][1]
    return ranges


class _Source:
    """Base of the per-container readers: iterating yields (number, parsed object or BadRecord);
    ``done`` of ``total`` (bytes, or records) tells the progress."""

    unit = "line"

    def __init__(self, path: Path):
        self.path = path
        self.done = 0
        self.total = 0


class _JsonlSource(_Source):
    """With ``long_texts``, a very long ``{"text": ...}`` line comes as a :class:`LongText`, not parsed."""

    def __init__(self, path: Path, long_texts: bool = False):
        super().__init__(path)
        self.long_texts = long_texts

    def __iter__(self):
        line = 0
        with paths.open_read(self.path) as f:  # in the app: the file checked is the file read
            self.total = os.fstat(f.fileno()).st_size
            for offset, block in iter_line_blocks(f, 0, self.total):
                start = offset
                for raw in block_lines(block):
                    line += 1
                    text = long_text(raw) if self.long_texts and len(raw) > BLOCK_BYTES else None
                    if text is not None:
                        yield line, text
                    elif raw and not bytes(raw).isspace():  # the seed skips blank lines
                        try:
                            yield line, json_loads(raw)
                        except ValueError as e:
                            yield line, BadRecord(line, diagnose_json(bytes(raw), e, start))
                    start += len(raw) + 1
                self.done = offset + len(block)


class _JsonArraySource(_Source):
    unit = "record"

    def __iter__(self):
        with paths.open_read(self.path) as f:
            raw = f.read()
        self.total = len(raw)
        if raw.startswith(BOM):
            raise DatasetError(
                self.path, None, "the file starts with a UTF-8 byte order mark (BOM)", "save it as UTF-8 without BOM"
            )
        try:
            data = json_loads(raw)
        except ValueError as e:
            raise DatasetError(
                self.path,
                None,
                diagnose_json(raw, e, 0, "file"),
                "fix the JSON, or save it as jsonl (one object per line) to see every bad record",
            ) from None
        if not isinstance(data, list):
            raise DatasetError(
                self.path,
                None,
                f"a .json dataset must be an array of records, this is a JSON {type(data).__name__}",
                "wrap the records in [...] or save them as jsonl",
            )
        self.total = len(data)
        for i, obj in enumerate(data, 1):
            self.done = i
            yield i, obj


class _CsvSource(_Source):
    """Header row, then one record per row. Quoting is read strictly, so a broken quote is one bad
    record naming the lines it spans instead of rows silently merged; fields have no size limit."""

    def __iter__(self):
        delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the default 128 KiB is far below a long text
        with paths.open_read(self.path) as raw_file:
            self.total = os.fstat(raw_file.fileno()).st_size
            # utf-8-sig: Excel writes a BOM in every UTF-8 csv; bad bytes surface as surrogates, per field.
            text = io.TextIOWrapper(raw_file, encoding="utf-8-sig", errors="surrogateescape", newline="")
            reader = csv.reader(text, delimiter=delimiter, strict=True)
            header = None
            while True:
                line = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    yield line, BadRecord(line, _csv_quoting(e, line, reader.line_num))
                    continue
                self.done = raw_file.tell()
                if header is None:
                    header = fields
                    continue
                if not fields:  # a blank line
                    continue
                row = dict(zip(header, fields + [None] * (len(header) - len(fields))))
                bad = _csv_bad_utf8(row)
                if bad:
                    yield line, BadRecord(line, bad)
                elif len(fields) > len(header):
                    yield line, BadRecord(line, f"the row has {len(fields)} fields but the header has {len(header)}")
                else:
                    yield line, row


def _csv_quoting(error: csv.Error, first: int, last: int) -> str:
    """A broken-quote csv.Error in plain words: where the row starts, where the reader gave up."""
    fix = 'a field that holds a quote, a comma or a line break must be in quotes, its own quotes doubled ("")'
    if "unexpected end of data" in str(error):
        return f"a quote opened in this row is never closed (the file ends inside it, line {last}); {fix}"
    span = f"lines {first}-{last} were read as one row" if last > first else "this row"
    return f"broken quoting ({error}): {span}; {fix}"


def _csv_bad_utf8(row: dict) -> str | None:
    for key, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                offset = len(value[: e.start].encode("utf-8", "surrogateescape"))
                return f'invalid UTF-8 in column "{key}" at byte {offset} of the field; re-save the file as UTF-8'
    return None


class _ParquetSource(_Source):
    unit = "row"

    def __iter__(self):
        import pyarrow.parquet as pq

        with paths.open_read(self.path) as f:
            try:
                pf = pq.ParquetFile(f)
            except Exception as e:  # pyarrow raises several types for a damaged file
                raise DatasetError(
                    self.path, None, f"not a readable parquet file ({e})",
                    "re-export it with pandas.DataFrame.to_parquet"
                ) from None
            self.total = pf.metadata.num_rows
            row = 0
            for batch in pf.iter_batches(batch_size=4096):  # one row group slice at a time, never the whole table
                for obj in batch.to_pylist():
                    row += 1
                    yield row, obj
                self.done = row


_SOURCES = {"jsonl": _JsonlSource, "json": _JsonArraySource, "csv": _CsvSource, "parquet": _ParquetSource}


def record_source(path: Path, container: str) -> _Source:
    """The raw reader of a container: iterate it for (number, parsed object or BadRecord)."""
    return _SOURCES[container](path)


def _require_file(path: Path) -> None:
    if path.is_dir():
        raise DatasetError(path, None, "this is a folder, not a file",
                           "pick a dataset file inside it, e.g. data/NAME.jsonl")
    if not path.is_file():
        raise DatasetError(path, None, "file not found", "pick a file in data/ or type its full path")


def container_of(path: str | os.PathLike) -> str:
    """jsonl, json, csv or parquet, from the suffix (and the first byte for .json / unknown suffixes)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".jsonlines"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    _require_file(path)
    with paths.open_read(path) as f:
        head = f.read(4096).removeprefix(BOM).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{") or (suffix == ".json" and not head):
        return "jsonl"
    raise DatasetError(
        path, None, f'unsupported file type "{suffix or path.name}"', "use .jsonl, .json, .csv or .parquet"
    )


def detect_format(path: str | os.PathLike) -> DatasetFormat:
    """The container and the schema of a dataset file (schema from its first readable object)."""
    path = Path(path)
    _require_file(path)
    container = container_of(path)
    # a huge first record is only looked at, never parsed into one str
    source = _JsonlSource(path, long_texts=True) if container == "jsonl" else record_source(path, container)
    first_keys = first_bad = None
    for n, (line, obj) in enumerate(source):
        if n >= 1000:
            break
        if isinstance(obj, BadRecord):
            first_bad = first_bad or obj
            continue
        schema = schema_of(obj)
        if schema:
            return DatasetFormat(container, schema)
        if first_keys is None:
            first_keys = (line, sorted(obj) if isinstance(obj, dict) else type(obj).__name__)
    if first_keys is None:
        reason = "no readable record in the file" + (
            f" ({source.unit} {first_bad.line}: {first_bad.reason})" if first_bad else ""
        )
        raise DatasetError(
            path, None, reason, 'records look like {"text": "User: ...\\n\\nAssistant: ..."}', source.unit
        )
    line, keys = first_keys
    raise DatasetError(
        path,
        line,
        f"no known fields (found {keys})",
        'records need "text", "messages" (role/content), "conversations" (from/value), "instruction"+"output" '
        'or "prompt"+"chosen"+"rejected" (preference pairs)',
        source.unit,
    )


def read_records(
    path: str | os.PathLike,
    *,
    require_assistant: bool = False,
    format: DatasetFormat | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Iterator[Record | BadRecord]:
    """Stream every record of a file as a :class:`Record` or, when unusable, a :class:`BadRecord`.

    ``progress(done, total, "reading")`` is called now and then (bytes, or records for .json/.parquet).
    """
    path = Path(path)
    fmt = format or detect_format(path)
    source = record_source(path, fmt.container)
    for n, (line, obj) in enumerate(source, 1):
        if progress and n % 2000 == 0:
            progress(source.done, source.total, "reading")
        if isinstance(obj, BadRecord):
            yield obj
            continue
        try:
            rec = normalise_record(obj, fmt.schema, require_assistant=require_assistant)
        except RecordError as e:
            yield BadRecord(line, str(e))
        else:
            yield Record(line, rec.text, rec.turns, rec.unused, rec.conversation)
    if progress:
        progress(source.total, source.total, "reading")


def inspect(
    path: str | os.PathLike,
    *,
    require_assistant: bool = False,
    max_bad: int = 1000,
    progress: Callable[[int, int, str], None] | None = None,
) -> DatasetReport:
    """Read a whole file: format, counts (records, characters, turns by role) and every bad record.

    ``bad`` keeps the first ``max_bad`` bad records; ``bad_count`` counts all of them.
    """
    path = Path(path)
    fmt = detect_format(path)
    report = DatasetReport(path=path, format=fmt)
    for rec in read_records(path, require_assistant=require_assistant, format=fmt, progress=progress):
        if isinstance(rec, BadRecord):
            report.bad_count += 1
            if len(report.bad) < max_bad:
                report.bad.append(rec)
            continue
        report.records += 1
        report.chars += len(rec.text)
        report.turns += len(rec.turns)
        for role, _ in rec.turns:
            report.role_turns[role] += 1
        for name in rec.unused:
            report.unused[name] = report.unused.get(name, 0) + 1
        for part, count in conversation_parts(rec.conversation).items():
            report.parts[part] = report.parts.get(part, 0) + count
    return report


# what a report counts in the conversations it read, in this order
PARTS = ("system prompts", "reasoning blocks", "tool calls", "tool results")


def conversation_parts(turns: tuple[template.Turn, ...] | None) -> dict[str, int]:
    """How many system prompts, reasoning blocks, tool calls and tool results a conversation holds."""
    if not turns:
        return {}
    found = {
        "system prompts": sum(t.role == "system" for t in turns),
        "reasoning blocks": sum(t.reasoning is not None for t in turns),
        "tool calls": sum(len(t.calls) for t in turns),
        "tool results": sum(t.role == "tool" for t in turns),
    }
    return {part: n for part, n in found.items() if n}


def unused_summary(unused: dict[str, int], limit: int = 12) -> str:
    """``id (40 records), messages[].name (3 records)``: the fields a file holds that its text does not use."""
    shown = [f"{name} ({count:,} record{'s' if count != 1 else ''})" for name, count in list(unused.items())[:limit]]
    more = len(unused) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def count_records(path: str | os.PathLike, format: DatasetFormat | None = None) -> int:
    """How many records (good or bad) a file holds; fast for jsonl (non-blank lines) and parquet."""
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt.container == "jsonl":
        n = 0
        with paths.open_read(path) as f:
            for _, block in iter_line_blocks(f, 0, os.fstat(f.fileno()).st_size):
                n += sum(1 for raw in block.split(b"\n") if raw and not raw.isspace())
        return n
    if fmt.container == "parquet":
        import pyarrow.parquet as pq

        with paths.open_read(path) as f:
            return pq.ParquetFile(f).metadata.num_rows
    return sum(1 for _ in record_source(path, fmt.container))


def preview(
    path: str | os.PathLike,
    page: int = 1,
    page_size: int = 20,
    *,
    require_assistant: bool = False,
    max_chars: int = PREVIEW_CHARS,
) -> tuple[pd.DataFrame, int]:
    """One page of records as a table with one row per turn: (line, turn, role, text); and the page count.

    Bad records appear in place, role "(bad)" and the reason as text, so the table shows what
    validation found. ``page`` is 1-based and clamped to the available pages. A turn longer than
    ``max_chars`` is cut and a record's turns after PREVIEW_TURNS are counted, not shown, and the table
    says so: a page must reach a browser fast however long a record is. Preference pairs come one row per
    pair instead: (line, prompt, chosen, rejected).
    """
    import pandas as pd

    fmt = detect_format(path)
    if fmt.schema == "preference":  # pairs side by side: line, prompt, chosen, rejected
        return preview_pairs(path, page, page_size, max_chars)
    total_pages = max(1, math.ceil(count_records(path, fmt) / page_size))
    page = min(max(1, int(page)), total_pages)
    first, last = (page - 1) * page_size, page * page_size
    rows = []
    for i, rec in enumerate(read_records(path, require_assistant=require_assistant, format=fmt)):
        if i >= last:
            break
        if i < first:
            continue
        if isinstance(rec, BadRecord):
            rows.append((rec.line, 0, "(bad)", rec.reason))
        else:
            shown = rec.turns[:PREVIEW_TURNS]
            rows += [(rec.line, t, role or "(text)", _cut(text, max_chars)) for t, (role, text) in enumerate(shown, 1)]
            if len(rec.turns) > len(shown):
                rows.append((rec.line, len(shown) + 1, "(more)", f"… {len(rec.turns) - len(shown):,} more turns not "
                             f"shown: the record has {len(rec.turns):,} turns, {len(rec.text):,} characters"))
    return pd.DataFrame(rows, columns=["line", "turn", "role", "text"]), total_pages


# --- preference pairs ----------------------------------------------------------------------------------


def read_pairs(path, fmt: DatasetFormat | None = None) -> Iterator[Pair | BadRecord]:
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt.schema != "preference":
        raise DatasetError(path, None, f"not a preference dataset (its records are {fmt.schema})",
                           'preference records have "prompt", "chosen" and "rejected" fields', fmt.unit)
    for line, obj in record_source(path, fmt.container):
        if isinstance(obj, BadRecord):
            yield obj
            continue
        try:
            yield normalise_pair(obj, line)
        except RecordError as e:
            yield BadRecord(line, str(e))


def preview_pairs(path, page: int = 1, page_size: int = 20, max_chars: int = PREVIEW_CHARS):
    """One page of pairs side by side: (line, prompt, chosen, rejected); bad records show their reason as
    the prompt and "(bad)" as chosen. Returns (DataFrame, pages)."""
    import pandas as pd

    fmt = detect_format(path)
    pages = max(1, math.ceil(count_records(path, fmt) / page_size))
    page = min(max(1, int(page)), pages)
    first, last = (page - 1) * page_size, page * page_size
    rows = []
    for i, rec in enumerate(read_pairs(path, fmt)):
        if i >= last:
            break
        if i < first:
            continue
        if isinstance(rec, BadRecord):
            rows.append((rec.line, rec.reason, "(bad)", "(bad)"))
        else:
            rows.append((rec.line, *(_cut(t, max_chars) for t in (rec.prompt, rec.chosen, rec.rejected))))
    return pd.DataFrame(rows, columns=["line", "prompt", "chosen", "rejected"]), pages


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]} … [preview cut here: the turn has {len(text):,} characters]"


def export_text_jsonl(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> int:
    """Write the normalised records as seed-format jsonl (``{"text": ...}`` per line); returns the count.

    The file appears only when complete. A bad record raises :class:`DatasetError` unless ``skip_bad``.
    """
    src = Path(src)
    fmt = detect_format(src)
    count = 0
    with paths.atomic_output(dest) as tmp, open(tmp, "wb") as out:
        for rec in read_records(src, format=fmt, progress=progress):
            if isinstance(rec, BadRecord):
                if skip_bad:
                    continue
                raise DatasetError(src, rec.line, rec.reason, SKIP_BAD_FIX, fmt.unit)
            out.write(json.dumps({"text": rec.text}, ensure_ascii=False).encode("utf-8") + b"\n")
            count += 1
        if count == 0:
            raise DatasetError(src, None, "no usable record to export", "add records or fix the bad ones", fmt.unit)
    return count
