"""JSON metric filter patterns `{ ... }`: selectors `$.a.b[0]`, comparisons, `&&`, `||`, parentheses,
`IS TRUE|FALSE|NULL` and `NOT EXISTS`, compiled to a predicate over a log event's message."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from workers.resources.filter_values import MISSING, PatternError, Test, comparison

Predicate = Callable[[str], bool]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|>=|<=|=|>|<|\(|\)|\{|\})
      | (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<sel>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\])+)
      | (?P<re>%[^%]+%)
      | (?P<word>[^\s()&|=!<>{}"]+)
    )""",
    re.VERBOSE,
)




def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while text[pos:].strip():
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PatternError(f"cannot read the pattern at {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def json_pattern(text: str) -> Predicate:
    """A predicate over a log event's message for a JSON pattern `{ ... }`; PatternError when it cannot be read."""
    test = _JsonParser(_tokenize(text)).parse()

    def predicate(line: str) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False  # a JSON pattern matches JSON log events only
        return test(record)

    return predicate


class _JsonParser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> Test:
        self._expect("{")
        test = self._or()
        self._expect("}")
        if self.pos != len(self.tokens):
            raise PatternError("text after the closing brace")
        return test

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise PatternError("the pattern ends too early")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _expect(self, value: str) -> None:
        kind, got = self._next()
        if got != value or kind != "op":
            raise PatternError(f"expected {value!r}, found {got!r}")

    def _or(self) -> Test:
        parts = [self._and()]
        while self._peek() == "||":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def _and(self) -> Test:
        parts = [self._atom()]
        while self._peek() == "&&":
            self.pos += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def _atom(self) -> Test:
        if self._peek() == "(":
            self.pos += 1
            inner = self._or()
            self._expect(")")
            return inner
        kind, selector = self._next()
        if kind != "sel":
            raise PatternError(f"expected a $.field selector, found {selector!r}")
        path = _path(selector)
        kind, op = self._next()
        if kind == "word" and op.upper() in {"IS", "NOT"}:
            return self._keyword(path, op.upper())
        if kind != "op" or op not in {"=", "!=", ">", "<", ">=", "<="}:
            raise PatternError(f"expected a comparison after {selector}, found {op!r}")
        kind, raw = self._next()
        if kind not in {"str", "word", "re"}:
            raise PatternError(f"expected a value after {selector} {op}, found {raw!r}")
        value = json.loads(raw) if kind == "str" else raw
        test = comparison(op, str(value), quoted=kind == "str")
        return lambda e: test(_lookup(e, path))

    def _keyword(self, path: list[str | int], first: str) -> Test:
        _, word = self._next()
        word = word.upper()
        if first == "NOT" and word == "EXISTS":
            return lambda e: _lookup(e, path) is MISSING
        if first == "IS" and word in {"TRUE", "FALSE"}:
            wanted = word == "TRUE"
            return lambda e: _lookup(e, path) is wanted
        if first == "IS" and word == "NULL":
            return lambda e: _lookup(e, path) is None
        raise PatternError(f"unknown keyword {first} {word}")


def _path(selector: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z0-9_@\-]+)|\[(\d+)\]", selector):
        parts.append(int(index) if index else name)
    return parts


def _lookup(event: Any, path: list[str | int]) -> Any:
    node = event
    for part in path:
        try:
            node = node[part]  # a dict key, or a list index from "[n]"
        except (KeyError, IndexError, TypeError):
            return MISSING
    return node
