"""HF peft's ``rank_pattern`` / ``alpha_pattern`` keys, matched as peft matches them but in linear time.

peft reads a key as a regular expression: it applies to a module when ``re.match(rf"(.*\\.)?({key})$",
module)`` succeeds. Python's ``re`` backtracks, so a key like ``(.*.*)*x(.*.*)*y`` (from an adapter folder
someone else made) takes exponential time and, holding the GIL, freezes the whole app. Here the same
expression is parsed by Python's own parser (the same syntax as peft's) and run as a set of states
stepped over the module name once (Thompson's construction): time grows with pattern x name length, and
what needs backtracking to mean anything (back-references, look-around, atomic or possessive groups,
inline flags) is refused by name.
"""

from __future__ import annotations

import re
import re._constants as sre  # noqa: PLC2701 - the parser of ``re`` itself, so the syntax is exactly peft's
import re._parser as sre_parse  # noqa: PLC2701

MAX_STATES = 20_000  # a bounded repeat like x{1000} is unrolled; beyond this the key is refused


class PatternError(ValueError):
    """A key that cannot be matched here; the message says why."""


class _State:
    __slots__ = ("test", "out", "edges", "at")

    def __init__(self, test=None, out=None, edges=(), at=None):
        self.test, self.out, self.edges, self.at = test, out, list(edges), at


_CATEGORIES = {
    sre.CATEGORY_DIGIT: str.isdecimal, sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
}
_CATEGORIES |= {
    sre.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdecimal(), sre.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
    sre.CATEGORY_NOT_WORD: lambda ch: not (ch.isalnum() or ch == "_"),
}


def _class_test(items):
    negate = bool(items) and items[0][0] is sre.NEGATE
    tests = []
    for op, av in items[1:] if negate else items:
        if op is sre.LITERAL:
            tests.append(lambda ch, c=chr(av): ch == c)
        elif op is sre.RANGE:
            tests.append(lambda ch, lo=av[0], hi=av[1]: lo <= ord(ch) <= hi)
        elif op is sre.CATEGORY and av in _CATEGORIES:
            tests.append(_CATEGORIES[av])
        else:
            raise PatternError(f"uses {op} in a character class, which is not supported here")
    return (lambda ch: not any(t(ch) for t in tests)) if negate else (lambda ch: any(t(ch) for t in tests))


class _Builder:
    def __init__(self):
        self.count = 0

    def state(self, **kw) -> _State:
        self.count += 1
        if self.count > MAX_STATES:
            raise PatternError(f"is too large to match (over {MAX_STATES:,} states once its repeats are unrolled)")
        return _State(**kw)

    def sequence(self, items, then: _State) -> _State:
        """The states of ``items`` in a row, continuing with ``then`` (built from the end backwards)."""
        for op, av in reversed(list(items)):
            then = self.item(op, av, then)
        return then

    def item(self, op, av, then: _State) -> _State:
        if op is sre.LITERAL:
            return self.state(test=lambda ch, c=chr(av): ch == c, out=then)
        if op is sre.NOT_LITERAL:
            return self.state(test=lambda ch, c=chr(av): ch != c, out=then)
        if op is sre.ANY:
            return self.state(test=lambda ch: ch != "\n", out=then)
        if op is sre.IN:
            return self.state(test=_class_test(av), out=then)
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, inner = av
            if add_flags or del_flags:
                raise PatternError("uses inline flags like (?i:...), which are not supported here")
            return self.sequence(inner, then)
        if op is sre.BRANCH:
            return self.state(edges=[self.sequence(alt, then) for alt in av[1]])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):  # greedy or lazy: the same set of matches
            return self.repeat(*av, then)
        if op is sre.AT:
            return self.state(edges=[then], at=av)
        raise PatternError(f"uses a {str(op).lower().replace('_', ' ')}: back-references, look-around, atomic and "
                           "possessive groups need backtracking, which is not supported here")

    def repeat(self, least: int, most, inner, then: _State) -> _State:
        if most == sre.MAXREPEAT:
            loop = self.state()
            loop.edges = [self.sequence(inner, loop), then]
            tail = loop
        else:
            tail = then
            for _ in range(most - least):
                tail = self.state(edges=[self.sequence(inner, tail), tail])
        for _ in range(least):
            tail = self.sequence(inner, tail)
        return tail


def _at(kind, text: str, pos: int) -> bool:
    if kind in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING):
        return pos == 0
    if kind is sre.AT_END:
        return pos == len(text) or (pos == len(text) - 1 and text[-1] == "\n")
    if kind is sre.AT_END_STRING:
        return pos == len(text)
    word = lambda i: 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")  # noqa: E731
    boundary = word(pos - 1) != word(pos)
    if kind in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY):
        return boundary == (kind is sre.AT_BOUNDARY)
    raise PatternError(f"uses the anchor {kind}, which is not supported here")


def _closure(states, text: str, pos: int) -> set[_State]:
    """The states reachable from ``states`` at ``pos`` without reading a character."""
    seen: set[_State] = set()
    stack = list(states)
    while stack:
        s = stack.pop()
        if s in seen or (s.at is not None and not _at(s.at, text, pos)):
            continue
        seen.add(s)
        stack.extend(s.edges)
    return seen


class ModulePattern:
    """One ``rank_pattern`` / ``alpha_pattern`` key, compiled; :meth:`applies` to a module name as in peft."""

    def __init__(self, key: str):
        whole = rf"(.*\.)?({key})$"  # peft's own wrapping of the key
        try:
            parsed = sre_parse.parse(whole)
        except re.error as err:
            raise PatternError(f"is not a valid regular expression ({err})") from None
        if parsed.state.flags & ~sre.SRE_FLAG_UNICODE:
            raise PatternError("uses inline flags like (?i), which are not supported here")
        self.key = key
        self.done = _State()
        self.start = _Builder().sequence(parsed, self.done)

    def applies(self, module: str) -> bool:
        current = _closure([self.start], module, 0)
        for pos, ch in enumerate(module):
            if self.done in current:  # re.match: a match of a prefix is a match (the key ends in $)
                return True
            current = _closure([s.out for s in current if s.test is not None and s.test(ch)], module, pos + 1)
            if not current:
                return False
        return self.done in current
