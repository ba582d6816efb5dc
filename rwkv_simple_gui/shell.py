"""Read the variables of a shell script (a seed user's training.sh or merge.sh) as data, never running it.

``read_assignments(text)`` understands what such scripts use to set values: ``NAME=value`` and ``export NAME=value``,
comments, single and double quotes, backslash escapes and line continuations, ``$NAME`` / ``${NAME}`` /
``${NAME:-default}`` references to variables set earlier in the file (and ``$1``.. to the positional arguments
given), and it steps over ``if``/``case``/``for``/``while`` blocks, ``{ }`` groups and subshells without reading
them (a value set inside one depends on the script's run). Everything only the shell could compute is named, with
its line, as not understood and left out: command substitution ``$(...)`` and backticks, arithmetic ``$((...))``,
``source``/``.``, function definitions, redirections (no file is created or read), here-documents, arrays, and
commands (``echo``, ``eval``, ``python3 ...``), which are listed as not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\+?)=")
OPENERS = {"if": "fi", "case": "esac", "for": "done", "while": "done", "until": "done", "select": "done", "{": "}"}
CLOSERS = {"fi", "esac", "done", "}"}
CONTINUATIONS = {"then", "else", "elif", "do", "!", "time"}
DECLARERS = {"export", "declare", "typeset", "readonly", "local"}
REDIRECTIONS = {"<", ">", ">>", "<<", "<&", ">&", "&>", "<>", ">|"}
SEPARATORS = {"\n", ";", ";;", "&", "&&", "||", "|"}
OPERATORS = ("&&", "||", ";;", ">>", "<<", "<&", ">&", "&>", "<>", ">|", ";", "&", "|", "(", ")", "<", ">", "\n")


@dataclass
class Value:
    text: str
    line: int


@dataclass
class Note:
    line: int
    text: str   # the statement as written (first line, shortened)
    why: str    # in words: what is not understood or not run, and that it was left out


@dataclass
class Script:
    """What a script sets: ``values`` (name -> Value, the last top-level assignment wins), ``notes`` (what was
    not understood or not run), ``blocks`` (line ranges of if/case/loop blocks, which were not read)."""

    values: dict[str, Value] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    blocks: list[tuple[int, int, str]] = field(default_factory=list)
    commands: dict[str, list[int]] = field(default_factory=dict)  # command name -> lines, never run


# --- lexing -----------------------------------------------------------------------------------------

@dataclass
class Part:
    kind: str   # "lit" (literal text), "var" (a parameter expansion), "shell" (only the shell could compute it)
    text: str


@dataclass
class Word:
    parts: list[Part]
    line: int
    raw: str

    def literal(self) -> str | None:
        """The word's text when it holds no expansion at all."""
        return "".join(p.text for p in self.parts) if all(p.kind == "lit" for p in self.parts) else None


@dataclass
class Op:
    text: str
    line: int


class Lexer:
    """Words and operators of a shell script, with the line each starts on."""

    def __init__(self, text: str):
        self.s, self.i, self.line = text, 0, 1
        self.heredocs: list[str] = []

    def peek(self, k: int = 0) -> str:
        return self.s[self.i + k] if self.i + k < len(self.s) else ""

    def advance(self, n: int = 1) -> str:
        out = self.s[self.i:self.i + n]
        self.line += out.count("\n")
        self.i += n
        return out

    def tokens(self):
        while self.i < len(self.s):
            c = self.peek()
            if c in " \t\r":
                self.advance()
            elif c == "\\" and self.peek(1) == "\n":
                self.advance(2)
            elif c == "#":
                while self.i < len(self.s) and self.peek() != "\n":
                    self.advance()
            elif c == "\n":
                yield Op("\n", self.line)
                self.advance()
                self._skip_heredocs()
            else:
                op = next((o for o in OPERATORS if self.s.startswith(o, self.i)), None)
                if op is not None:
                    line = self.line
                    self.advance(len(op))
                    if op == "<<":
                        self._heredoc_delimiter()
                    yield Op(op, line)
                else:
                    yield self.word()

    def _heredoc_delimiter(self) -> None:
        if self.peek() == "-":
            self.advance()
        while self.i < len(self.s) and self.peek() in " \t":
            self.advance()
        start = self.i
        while self.i < len(self.s) and self.peek() not in " \t\n;&|<>()":
            self.advance()
        self.heredocs.append(self.s[start:self.i].strip("'\""))

    def _skip_heredocs(self) -> None:
        while self.heredocs:
            end = self.heredocs.pop(0)
            while self.i < len(self.s):
                nl = self.s.find("\n", self.i)
                stop = len(self.s) if nl < 0 else nl + 1
                body = self.advance(stop - self.i)
                if body.strip() == end:
                    break

    def word(self) -> Word:
        line, start, parts = self.line, self.i, []

        def lit(text):
            if parts and parts[-1].kind == "lit":
                parts[-1].text += text
            else:
                parts.append(Part("lit", text))

        while self.i < len(self.s):
            c = self.peek()
            if c in " \t\r\n;&|<>()":
                break
            if c == "\\":
                self.advance()
                nxt = self.advance()
                if nxt != "\n":
                    lit(nxt)
            elif c == "'":
                self.advance()
                end = self.s.find("'", self.i)
                end = len(self.s) if end < 0 else end
                lit(self.advance(end - self.i))
                self.advance()
            elif c == '"':
                self.advance()
                self._double_quoted(parts, lit)
            elif c == "$":
                self._dollar(parts, lit)
            elif c == "`":
                parts.append(Part("shell", self._backticks()))
            else:
                lit(self.advance())
        return Word(parts, line, self.s[start:self.i])

    def _double_quoted(self, parts, lit) -> None:
        while self.i < len(self.s) and self.peek() != '"':
            c = self.peek()
            if c == "\\" and self.peek(1) in '"\\$`\n':
                self.advance()
                nxt = self.advance()
                if nxt != "\n":
                    lit(nxt)
            elif c == "$":
                self._dollar(parts, lit)
            elif c == "`":
                parts.append(Part("shell", self._backticks()))
            else:
                lit(self.advance())
        self.advance()

    def _balanced(self, open_: str, close: str) -> str:
        """From an opening bracket to its match (quotes inside respected); returns the text."""
        start, depth = self.i, 0
        while self.i < len(self.s):
            c = self.peek()
            if c == "\\":
                self.advance(2)
                continue
            if c in "'\"":
                end = self.s.find(c, self.i + 1)
                self.advance((len(self.s) if end < 0 else end + 1) - self.i)
                continue
            if c == open_:
                depth += 1
            elif c == close:
                depth -= 1
                if depth == 0:
                    self.advance()
                    break
            self.advance()
        return self.s[start:self.i]

    def _dollar(self, parts, lit) -> None:
        nxt = self.peek(1)
        if nxt == "(":
            self.advance()
            parts.append(Part("shell", "$" + self._balanced("(", ")")))
        elif nxt == "{":
            self.advance()
            parts.append(Part("var", "$" + self._balanced("{", "}")))
        elif nxt == "'":  # $'...': ANSI-C quoting
            self.advance(2)
            end = self.s.find("'", self.i)
            end = len(self.s) if end < 0 else end
            body = self.advance(end - self.i)
            self.advance()
            parts.append(Part("shell", f"$'{body}'"))
        else:
            m = NAME.match(self.s, self.i + 1)
            if m:
                parts.append(Part("var", self.advance(1 + len(m.group()))))
            elif nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
                parts.append(Part("var", self.advance(2)))
            else:
                lit(self.advance())

    def _backticks(self) -> str:
        start = self.i
        self.advance()
        while self.i < len(self.s) and self.peek() != "`":
            self.advance(2 if self.peek() == "\\" else 1)
        self.advance()
        return self.s[start:self.i]


# --- reading statements -----------------------------------------------------------------------------

def _short(text: str, width: int = 80) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= width else first[:width - 1] + "…"


class _Reader:
    def __init__(self, positional: list[str]):
        self.script = Script()
        self.positional = positional
        self.stack: list[tuple[str, int]] = []  # open blocks: (closing word, first line)
        self.items: list = []  # the tokens of the statement being read
        self.function = None  # a function definition being read: [its first word, waiting for its name]

    # tokens ------------------------------------------------------------------------------------------
    def feed(self, tok) -> None:
        """One token of the script: a separator ends the statement read so far."""
        if self.function is not None and self._function_head(tok):
            return
        if isinstance(tok, Op) and self._operator(tok):
            return
        if isinstance(tok, Word) and not self.items and tok.literal() == "function" and not self.stack:
            self.function = [tok, True]
            return
        self.items.append(tok)

    def _operator(self, op: Op) -> bool:
        """Whether ``op`` ends a statement or is a parenthesis of a block (a case pattern's ")" is dropped);
        False: it is part of the statement."""
        if op.text in SEPARATORS:
            self.statement(self.items)
            self.items = []
            return True
        if op.text == "(":
            return not self.stack and self._open_paren(op)
        if op.text == ")":
            if self.stack and self.stack[-1][0] == ")":
                self._close(")", op.line)
                self.items = []
            return True
        return False

    def _function_head(self, tok) -> bool:
        """Whether ``tok`` belongs to the head of the function definition being read (``function NAME``,
        ``NAME()``); at its body the definition is noted and the body read as a block."""
        if isinstance(tok, Op) and tok.text in ("(", ")", "\n"):
            return True
        if isinstance(tok, Word) and self.function[1]:
            self.function = [tok, False]
            return True
        first = self.function[0]
        self.note(first.line, f"{first.raw}() {{ ... }}", "a function definition: not run, nothing it sets was read")
        self.function = None
        if isinstance(tok, Word) and tok.literal() == "{":
            self.stack.append(("}", tok.line))
            return True
        return False

    def _open_paren(self, tok: Op) -> bool:
        """A top-level "(" that opens a subshell, a function's ``NAME()`` or an array; False for any other."""
        words = [t for t in self.items if isinstance(t, Word)]
        if not self.items:
            self.stack.append((")", tok.line))
            self.note(tok.line, "( ... )", "a subshell: not run")
            return True
        if len(self.items) == 1 and words and NAME.fullmatch(words[0].raw):
            self.function, self.items = [words[0], False], []
            return True
        if words and words[-1].raw.endswith("=") and ASSIGNMENT.fullmatch(words[-1].raw):
            self.note(tok.line, words[-1].raw + "(...)", "an array: left out")
            self.stack.append((")", tok.line))
            self.items = []
            return True
        return False

    def finish(self) -> Script:
        self.statement(self.items)
        if self.stack:
            closing, start = self.stack[0]
            self.note(start, f"... {closing}", f"a block opened on line {start} is not closed: the rest of the file "
                                               f"was not read")
        return self.script

    def note(self, line: int, text: str, why: str) -> None:
        self.script.notes.append(Note(line, _short(text), why))

    # values ------------------------------------------------------------------------------------------
    def expand(self, word: Word, name: str) -> str | None:
        """The value of ``word``, or None (with a note) when only the shell could compute it."""
        out = []
        for part in word.parts:
            if part.kind == "lit":
                out.append(part.text)
            elif part.kind == "shell":
                why = ("backticks run a command" if part.text.startswith("`") else
                       "$((...)) is shell arithmetic" if part.text.startswith("$((") else
                       "$(...) runs a command" if part.text.startswith("$(") else "this quoting")
                self.note(word.line, f"{name}={word.raw}", f"{why}, which is never run here: {name} was left out")
                return None
            else:
                value = self.parameter(part.text)
                if value is None:
                    self.note(word.line, f"{name}={word.raw}", f"{part.text} is not set earlier in the file (only "
                                                                f"the shell could fill it in): {name} was left out")
                    return None
                out.append(value)
        return "".join(out)

    def parameter(self, text: str) -> str | None:
        body = text[2:-1] if text.startswith("${") else text[1:]
        default = None
        if text.startswith("${"):
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*|\d+)(?::?-(.*))?", body, re.S)
            if not m:
                return None
            body, default = m.group(1), m.group(2)
        if body.isdigit():
            n = int(body)
            value = self.positional[n - 1] if 0 < n <= len(self.positional) else None
        elif NAME.fullmatch(body):
            found = self.script.values.get(body)
            value = found.text if found is not None else None
        else:
            value = None
        if (value is None or value == "") and default is not None and "$" not in default and "`" not in default:
            return default
        return value

    # statements --------------------------------------------------------------------------------------
    def statement(self, items: list) -> None:
        """One simple command (words and redirection operators) at the top level or inside a block."""
        words = [t for t in items if isinstance(t, Word)]
        if not words and not items:
            return
        first = words[0].literal() if words else None
        # block structure: read the first word(s) that open, continue or close a block
        while words and words[0].literal() in CONTINUATIONS:
            words.pop(0)
            first = words[0].literal() if words else None
        if first in OPENERS:
            self.stack.append((OPENERS[first], words[0].line))
            if first == "{":  # a group may hold a command on the same line
                self.statement(words[1:])
            return
        if first in CLOSERS:
            self._close(first, words[0].line)
            return
        if self.stack:
            return  # inside a block: its commands depend on the script's run
        self.top_level(items, words)

    def _close(self, word: str, line: int) -> None:
        if self.stack and self.stack[-1][0] == word:
            _, start = self.stack.pop()
            if not self.stack:
                self.script.blocks.append((start, line, word))

    def top_level(self, items: list, words: list[Word]) -> None:
        text = " ".join(t.raw if isinstance(t, Word) else t.text for t in items)
        redirection = next((t for t in items if isinstance(t, Op) and t.text in REDIRECTIONS), None)
        if redirection is not None:
            self.note(words[0].line if words else redirection.line, text or redirection.text,
                      "a redirection (reads or writes a file): not run, no file was created or read")
            return
        if not words:
            return
        if words[0].literal() in DECLARERS:
            self.declaration(words, text)
            return
        assignments = _assignments(words)
        if assignments and len(assignments) == len(words):
            for name, append, word in assignments:
                self.assign(name, append, word)
            return
        self.command(words[len(assignments):], text)

    def declaration(self, words: list[Word], text: str) -> None:
        """``export`` / ``declare`` / ... of NAME=value (plain flags only); ``export NAME`` sets nothing."""
        rest, flags = words[1:], []
        while rest and (rest[0].literal() or "").startswith("-"):
            flags.append(rest.pop(0).literal())
        assignments = _assignments(rest)
        rest = [w for w in rest if not NAME.fullmatch(w.raw)]
        assignments = [a for a in assignments if a[2] in rest]
        if len(assignments) < len(rest):
            self.note(words[0].line, text, f"{words[0].literal()} of something other than NAME=value: left out")
            return
        if not assignments:
            self.command(words, text)
            return
        if any(f not in ("-x", "-g", "-r") for f in flags):
            self.note(words[0].line, text, f"{words[0].literal()} {' '.join(flags)} is not a plain variable: left out")
            return
        for name, append, word in assignments:
            self.assign(name, append, word)

    def assign(self, name: str, append: str, word: Word) -> None:
        prefix = len(name) + len(append) + 1
        value_word = self._value_word(word, prefix)
        value = self.expand(value_word, name)
        if value is None:
            return
        if append:
            old = self.script.values.get(name)
            value = (old.text if old else "") + value
        self.script.values[name] = Value(value, word.line)

    @staticmethod
    def _value_word(word: Word, prefix: int) -> Word:
        """The part of an assignment word after ``NAME=`` (the name is always plain text)."""
        parts, skip = [], prefix
        for p in word.parts:
            if skip and p.kind == "lit":
                cut = min(skip, len(p.text))
                skip -= cut
                if p.text[cut:]:
                    parts.append(Part("lit", p.text[cut:]))
            else:
                parts.append(p)
        return Word(parts, word.line, word.raw[prefix:])

    def command(self, words: list[Word], text: str) -> None:
        name = words[0].literal() if words else None
        line = words[0].line
        if name in ("source", "."):
            self.note(line, text, f"{name} would read and run another file: not run, its variables were not read")
        elif name is None:
            self.note(line, text, "a command only the shell could name: not run")
        else:
            self.script.commands.setdefault(name, []).append(line)


def _assignments(words: list[Word]) -> list[tuple[str, str, Word]]:
    """The leading NAME=value / NAME+=value words: (name, "+" or "", word)."""
    out = []
    for w in words:
        m = ASSIGNMENT.match(w.raw)
        if not m:
            break
        out.append((m.group(1), m.group(2), w))
    return out


def read_assignments(text: str, positional: list[str] | None = None) -> Script:
    """The variables ``text`` (a shell script) sets at its top level, in order, and what was left out, as
    :class:`Script`. Nothing is executed. ``positional`` fills ``$1``, ``$2``... (merge.sh's epoch)."""
    reader = _Reader(list(positional or []))
    for tok in Lexer(text).tokens():
        reader.feed(tok)
    return reader.finish()
