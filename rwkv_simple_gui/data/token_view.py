"""Which tokens of one record a loss mask learns: the record rendered as training text (data/template.py),
tokenized as the tokenize step does (end-of-text appended), weighed by data/masks.py as the trainer weighs it.
The Data tab shows it as coloured HTML, ``python -m rwkv_simple_gui tokens`` as text or JSON."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

from . import masks, template
from .formats import BadRecord, DatasetError, detect_format, read_records


@dataclass(frozen=True)
class Token:
    id: int
    text: str  # its bytes as text (a piece of a character shows as U+FFFD)
    role: str  # the turn it is in: System, User, Assistant, "" (before any header)
    learned: bool  # whether its prediction is weighed in the loss


@dataclass(frozen=True)
class TokenView:
    line: int
    loss_mask: str
    tokens: list[Token]

    @property
    def learned(self) -> int:
        return sum(t.learned for t in self.tokens)

    def to_json(self) -> dict:
        return {"line": self.line, "loss_mask": self.loss_mask, "tokens": len(self.tokens), "learned": self.learned,
                "items": [{"id": t.id, "text": t.text, "role": t.role, "learned": t.learned} for t in self.tokens]}


def record_text(path: str | os.PathLike, line: int) -> str:
    """The training text of the record on ``line`` (its number as the Data tab shows it)."""
    path = Path(path)
    fmt = detect_format(path)
    for rec in read_records(path, format=fmt):
        if rec.line == line:
            if isinstance(rec, BadRecord):
                raise DatasetError(path, line, rec.reason, "fix that record first", fmt.unit)
            return rec.text
        if rec.line > line:
            break
    raise DatasetError(path, line, f"no record on this {fmt.unit}", "pick the number of a record, as the preview "
                       "shows it", fmt.unit)


def view(text: str, loss_mask: str = "qa", *, tokenizer: str = "world", eof: bool = True, mask0: str = "User:",
         mask1: str = "Assistant:", line: int = 0) -> TokenView:
    """The tokens of a training text and whether each is learned under ``loss_mask``. The first token is
    never learned (nothing predicts it); the rest follow the mask's weight of the position that predicts them."""
    from .tokenizer import get_tokenizer

    if loss_mask not in masks.KINDS:
        raise ValueError(f"loss_mask {loss_mask!r} is not one of {', '.join(masks.KINDS)}")
    tok = get_tokenizer(tokenizer)
    ids = tok.encode(text) + ([0] if eof else [])
    weights = masks.target_weights(loss_mask, tok, ids, mask0, mask1)
    pieces = masks.token_pieces(tok, ids)
    roles, at = [], 0
    spans = template.role_spans(b"".join(pieces))
    for piece in pieces:
        roles.append(next((s.role for s in reversed(spans) if s.start <= at), ""))
        at += len(piece)
    tokens = [Token(int(i), piece.decode("utf-8", "replace"), role,
                    n > 0 and (weights is None or bool(weights[n - 1] > 0)))
              for n, (i, piece, role) in enumerate(zip(ids, pieces, roles))]
    return TokenView(line, loss_mask, tokens)


def record_view(path: str | os.PathLike, line: int, loss_mask: str = "qa", **options) -> TokenView:
    return view(record_text(path, line), loss_mask, line=line, **options)


def summary(v: TokenView) -> str:
    return (f"{v.learned:,} of {len(v.tokens):,} tokens learned under loss_mask {v.loss_mask}, "
            f"{len(v.tokens) - v.learned:,} not learned")


def _shown(text: str) -> str:
    """A token's text with its invisible characters drawn: a newline as ↵ (and a break), end of text as ⟨eot⟩."""
    return text.replace("\n", "↵\n") if text else "⟨eot⟩"


def to_html(v: TokenView) -> str:
    """Each token in a box (its boundaries), green when learned, grey when not; hovering shows its id and turn."""
    cells = [f'<span class="tok tok-{"learned" if t.learned else "ignored"}" '
             f'title="{html.escape(f"id {t.id} · {t.role or chr(8212)}")}">{html.escape(_shown(t.text))}</span>'
             for t in v.tokens]
    return f'<pre class="token-text">{"".join(cells)}</pre>'


TOKEN_CSS = """
.token-text { white-space: pre-wrap; word-break: break-all; line-height: 1.9; font-size: 0.9em; }
.token-text .tok { border: 1px solid #9993; border-radius: 3px; padding: 0 1px; margin: 0 1px 0 0; }
.token-text .tok-learned { background: #16a34a33; border-color: #16a34a88; }
.token-text .tok-ignored { background: #9ca3af22; color: #6b7280; }
"""

_GREEN, _DIM, _RESET = "\033[42;30m", "\033[2m", "\033[0m"


def to_text(v: TokenView, color: bool = False) -> str:
    """The tokens separated by │; learned ones in green (``color``) or inside ⟦ ⟧ runs."""
    out, learned = [], False
    for t in v.tokens:
        piece = _shown(t.text)
        if color:
            out.append((_GREEN if t.learned else _DIM) + piece + _RESET + "│")
            continue
        if t.learned != learned:
            out.append("⟦" if t.learned else "⟧")
            learned = t.learned
        out.append(piece + "│")
    if learned and not color:
        out.append("⟧")
    return "".join(out) + "\n" + summary(v)
