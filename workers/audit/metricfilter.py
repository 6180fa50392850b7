"""Does a CloudWatch Logs metric filter pattern match the CIS set of CloudTrail changes?

Real accounts write the CIS 4.5 (5.5) filter in many ways: any clause order, with or without spaces and
parentheses, quoted or bare names, extra conditions, term patterns (`?StopLogging ?DeleteTrail`). Rather
than compare text, this module parses the pattern and runs it on realistic CloudTrail records, one per
event name: the filter counts when it matches all five.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CIS_EVENTS = ("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging")

Predicate = Callable[[dict[str, Any]], bool]


class PatternError(ValueError):
    """The pattern is not a filter pattern this module understands."""


def sample_event(event_name: str) -> dict[str, Any]:
    """A realistic CloudTrail record of `event_name`, as CloudTrail delivers it to CloudWatch Logs."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice",
            "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
            "accountId": "123456789012",
        },
        "eventTime": "2026-11-27T12:00:00Z",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"name": "management-trail"},
        "responseElements": None,
        "requestID": "0f6f2b4e-8d0b-4f3e-9d7a-000000000000",
        "eventID": "6e9b9a45-2d1c-4c1d-8f7e-000000000000",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
    }


@dataclass(frozen=True)
class Match:
    """Which of the CIS event names a pattern matches."""

    matched: tuple[str, ...]
    error: str | None = None

    @property
    def complete(self) -> bool:
        """All five CIS events match."""
        return set(self.matched) == set(CIS_EVENTS)

    @property
    def missing(self) -> tuple[str, ...]:
        """The CIS events the pattern lets through unseen."""
        return tuple(e for e in CIS_EVENTS if e not in self.matched)


def cis_match(pattern: str) -> Match:
    """Run `pattern` on one sample record per CIS event name."""
    try:
        predicate = compile_pattern(pattern)
    except PatternError as exc:
        return Match((), error=str(exc))
    return Match(tuple(name for name in CIS_EVENTS if predicate(sample_event(name))))


def compile_pattern(pattern: str) -> Predicate:
    """A predicate over a log event (a parsed JSON record) for a filter pattern."""
    text = pattern.strip()
    if not text:
        return lambda _event: True  # the empty pattern matches every event
    if text.startswith("{"):
        return _JsonParser(_tokenize(text)).parse()
    return _term_pattern(text)


# --- JSON patterns: { $.a = x && ($.b != "y" || $.c > 3) } ---------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|>=|<=|=|>|<|\(|\)|\{|\})
      | (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<sel>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\])+)
      | (?P<word>[^\s()&|=!<>{}"]+)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PatternError(f"cannot read the pattern at {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _JsonParser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> Predicate:
        self._expect("{")
        predicate = self._or()
        self._expect("}")
        if self.pos != len(self.tokens):
            raise PatternError("text after the closing brace")
        return predicate

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

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek() == "||":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._atom()]
        while self._peek() == "&&":
            self.pos += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def _atom(self) -> Predicate:
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
        if kind not in {"str", "word"}:
            raise PatternError(f"expected a value after {selector} {op}, found {raw!r}")
        value = json.loads(raw) if kind == "str" else raw
        return _comparison(path, op, value)

    def _keyword(self, path: list[str | int], first: str) -> Predicate:
        _, word = self._next()
        word = word.upper()
        if first == "NOT" and word == "EXISTS":
            return lambda e: _lookup(e, path) is _MISSING
        if first == "IS" and word in {"TRUE", "FALSE"}:
            wanted = word == "TRUE"
            return lambda e: _lookup(e, path) is wanted
        if first == "IS" and word == "NULL":
            return lambda e: _lookup(e, path) is None
        raise PatternError(f"unknown keyword {first} {word}")


_MISSING = object()


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
            return _MISSING
    return node


def _equals(actual: Any, value: str) -> bool:
    if actual is _MISSING or isinstance(actual, (dict, list)):
        return False
    if isinstance(actual, bool):
        return value.lower() == str(actual).lower()
    if isinstance(actual, (int, float)):
        try:
            return float(value) == float(actual)
        except ValueError:
            return False
    if actual is None:
        return False
    if value.startswith("%") and value.endswith("%") and len(value) > 1:
        return re.search(value[1:-1], str(actual)) is not None
    return fnmatch.fnmatchcase(str(actual), value) if "*" in value else str(actual) == value


def _comparison(path: list[str | int], op: str, value: str) -> Predicate:
    if op == "=":
        return lambda e: _equals(_lookup(e, path), value)
    if op == "!=":
        return lambda e: _lookup(e, path) is not _MISSING and not _equals(_lookup(e, path), value)
    try:
        number = float(value)
    except ValueError as exc:
        raise PatternError(f"{op} needs a number, found {value!r}") from exc

    def numeric(e: dict[str, Any]) -> bool:
        actual = _lookup(e, path)
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return False
        return {">": actual > number, "<": actual < number, ">=": actual >= number, "<=": actual <= number}[op]

    return numeric


# --- term patterns: CreateTrail ?StopLogging -"x" ------------------------------------------------------

_TERM = re.compile(r'([?\-]?)("(?:[^"\\]|\\.)*"|\S+)')


def _term_pattern(text: str) -> Predicate:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    for sign, raw in _TERM.findall(text):
        term = json.loads(raw) if raw.startswith('"') else raw
        {"": required, "?": optional, "-": excluded}[sign].append(term)

    def predicate(event: dict[str, Any]) -> bool:
        line = json.dumps(event)
        return (
            all(t in line for t in required)
            and (not optional or any(t in line for t in optional))
            and not any(t in line for t in excluded)
        )

    return predicate
