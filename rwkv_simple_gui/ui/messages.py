"""Run-time messages in the reader's language.

Backend code and handlers write English, as the CLI prints it (f-strings, no keys). The app translates
what a handler returns or raises at display time (``localize_app``): each line is matched against the
English *templates* of ``ZH`` and rewritten from the Chinese one. A template is the English text with
``{placeholders}`` (any name; by habit the f-string's own expression) that match the varying parts; the
values they capture are translated in turn. A message without a template shows in English, so a new
message never breaks the UI; ``tests/ui/test_i18n.py`` lists every template of a user message without a
Chinese entry.

The language is ``--lang`` when pinned, else the browser's (its Accept-Language, as Gradio's labels).
"""

from __future__ import annotations

import functools
import inspect
import re

import gradio as gr

from .messages_zh import LABELS, ZH

PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Markdown and emoji a line starts with (kept as they are): headings, bullets, quotes, status icons.
LINE_PREFIX = re.compile(r"^\s*(?:(?:#+|[-•>])\s+)*(?:[\u2100-\u2BFF\U0001F000-\U0001FAFF]\ufe0f?\s*)*")
SENTENCE_END = re.compile(r"(?<=[.;!?])\s+(?=[A-Z`*(])")
MAX_DEPTH = 3

PINNED: str | None = None  # app.py --lang


def current() -> str:
    """``zh`` or ``en``: the pinned language, else the language of the browser making this request."""
    if PINNED:
        return PINNED
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    header = request.headers.get("accept-language", "") if request is not None else ""
    return "zh" if header.strip().lower().startswith("zh") else "en"


@functools.lru_cache(maxsize=1)
def _compiled() -> tuple[dict[str, str], list[tuple[re.Pattern, list[str], str]]]:
    """Exact entries, and the templates with placeholders as regexes, the most literal text first."""
    exact, patterns = {}, []
    for en, zh in ZH.items():
        parts = PLACEHOLDER.split(en)
        if len(parts) == 1:
            exact[en] = zh
            continue
        regex = "".join(re.escape(p) if i % 2 == 0 else "(.*?)" for i, p in enumerate(parts))
        patterns.append((re.compile(regex + r"\Z", re.S), parts[1::2], zh, len("".join(parts[::2]))))
    patterns.sort(key=lambda p: -p[3])
    return exact, [p[:3] for p in patterns]


def _segment(text: str, depth: int) -> str | None:
    """The Chinese of one message, or None when no template matches it."""
    exact, patterns = _compiled()
    if text in exact:
        return exact[text]
    for regex, names, zh in patterns:
        m = regex.match(text)
        if m:
            values = dict(zip(names, m.groups()))
            if depth < MAX_DEPTH:
                values = {k: _translated(v, depth + 1) for k, v in values.items()}
            return PLACEHOLDER.sub(lambda p: values.get(p.group(1), p.group(0)), zh)
    return None


def known(text: str) -> bool:
    """Whether one message line has a Chinese template."""
    return _segment(text, MAX_DEPTH) is not None


def _translated(text: str, depth: int) -> str:
    core = text.strip()
    if core != text:  # a value filled in with its spaces: " (it leads to ...)"
        return text[:text.index(core[0])] + _translated(core, depth) + text[len(text.rstrip()):] if core else text
    found = _segment(text, depth)
    if found is not None:
        return found
    pieces = SENTENCE_END.split(text)
    if len(pieces) == 1:
        return text
    out = [_segment(p, depth) for p in pieces]
    if all(o is None for o in out):
        return text
    return "".join(o if o is not None else p + " " for o, p in zip(out, pieces)).rstrip()


def _line(line: str) -> str:
    prefix = LINE_PREFIX.match(line).group(0)
    body = line[len(prefix):].rstrip()
    if not body:
        return line
    return prefix + _translated(body, 0) + line[len(prefix) + len(body):]


def label(word: str, lang: str | None = None) -> str:
    """A column header, legend entry or other label of a figure in ``lang`` (default :func:`current`)."""
    return LABELS.get(word, word) if (lang or current()) == "zh" else word


def translate(text, lang: str | None = None):
    """``text`` in ``lang`` (default :func:`current`), line by line; anything not a string comes back as is."""
    if not isinstance(text, str) or not text or (lang or current()) != "zh":
        return text
    return "\n".join(_line(line) for line in text.split("\n"))


TABLE_COLUMNS = ("reason", "state")  # table columns that hold messages (never the user's data); headers: LABELS


def _kind(component) -> str | None:
    """What of an output is a message: Markdown and HTML text, some columns of a table; never a value the
    user typed or picked, their data (previews, reports) nor a chat."""
    if isinstance(component, (gr.Markdown, gr.HTML)):
        return "text"
    if isinstance(component, gr.Dataframe):
        return "table"
    return None


def _output(value, kind: str | None, lang: str):
    if kind is None:
        return value
    if isinstance(value, dict) and value.get("__type__") == "update":
        return {**value, "value": _output(value["value"], kind, lang)} if "value" in value else value
    if kind == "text":
        return translate(value, lang)
    if not hasattr(value, "columns"):
        return value
    columns = [c for c in TABLE_COLUMNS if c in value.columns]
    value = value.copy()
    if columns:
        value[columns] = value[columns].map(lambda v: translate(v, lang))
    return value.rename(columns=lambda c: label(c, lang))


def _outputs(value, kinds: list, lang: str):
    """A handler's return value with the messages in it translated."""
    if lang != "zh" or not any(kinds):
        return value
    if len(kinds) == 1:
        return _output(value, kinds[0], lang)
    if isinstance(value, (tuple, list)) and len(value) == len(kinds):
        return type(value)(_output(v, k, lang) for v, k in zip(value, kinds))
    return value


_last_errors: dict[str, str] = {}  # session -> the message of its last failed event


def _session() -> str:
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None) or ""


def last_error() -> str:
    """The message of this session's last failed event (for ``common.show_failure``)."""
    return _last_errors.pop(_session(), "")


def _error(err: Exception, lang: str) -> gr.Error:
    """The error a handler raised, in the reader's language, kept for ``common.show_failure`` to show where
    the result would be. It raises no toast: Gradio 6 titles every toast "Error" in English, and a toast
    outlives its cause (it stayed through a later success). Anything but a ``gr.Error`` is a bug of ours:
    its name and text are shown, the console has the traceback."""
    message = err.message if isinstance(err, gr.Error) else (
        f"Unexpected {type(err).__name__}: {err} (the app's console shows where it happened)")
    shown = _dataset_error(err.__cause__, lang) if str(err.__cause__) == message else translate(message, lang)
    _last_errors[_session()] = shown
    return gr.Error(shown, visible=False)


def _dataset_error(err, lang: str) -> str:
    """A ``DatasetError`` (a tab re-raises it as it is) from its parts: its text joins the file, the line, the
    reason and a capitalised fix into one line that no template can take apart."""
    from .. import paths
    from ..data.formats import DatasetError

    if not isinstance(err, DatasetError) or lang != "zh":
        return translate(str(err), lang)
    where = paths.display(err.path) + (f"，第 {err.line} {translate(err.unit, lang)}" if err.line is not None else "")
    return f"{where}：{translate(err.reason, lang)}" + (f"。{translate(err.fix, lang)}" if err.fix else "")


def _refusal(err: ValueError) -> gr.Error:
    """A path refused when it was opened (``paths.open_read`` / ``atomic_output``: a link swapped in after the
    handler's check) is an error like the check's own."""
    return gr.Error(str(err), duration=None)


def localize(fn, outputs: list = ()):
    """``fn`` with the messages among its ``outputs`` (components) and its ``gr.Error`` in the reader's
    language; the same signature for Gradio."""
    from .. import paths

    if getattr(fn, "_localized", False):
        return fn
    kinds = [_kind(c) for c in outputs]
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            lang = current()
            try:
                for value in fn(*args, **kwargs):
                    yield _outputs(value, kinds, lang)
            except Exception as err:
                raise _error(err, lang) from err
            except paths.PathRefused as err:
                raise _error(_refusal(err), lang) from None
    elif inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return fn
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            lang = current()
            try:
                return _outputs(fn(*args, **kwargs), kinds, lang)
            except Exception as err:
                raise _error(err, lang) from err
            except paths.PathRefused as err:
                raise _error(_refusal(err), lang) from None
    wrapper._localized = True
    return wrapper


def localize_app(demo: gr.Blocks) -> None:
    """Every event handler of ``demo`` answers in its reader's language."""
    for block_fn in demo.fns.values():
        if block_fn.fn is not None:
            block_fn.fn = localize(block_fn.fn, block_fn.outputs)
