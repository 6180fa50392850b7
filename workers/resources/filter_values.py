"""Values in a metric filter pattern: literals, edge wildcards, `%regex%` and comparisons, as CloudWatch Logs
reads them (shared by JSON and space-delimited patterns)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Test = Callable[[Any], bool]  # over one value (a JSON field, or a space-delimited field)
MISSING = object()  # what a JSON selector that names no field finds


class PatternError(ValueError):
    """The pattern is not one this evaluator can read."""


_REGEX_ALLOWED = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+. ]*")


def regex(body: str) -> re.Pattern[str]:
    """A `%...%` regular expression, refused when it uses what CloudWatch Logs does not support."""
    if not body:
        raise PatternError("an empty regular expression")
    if not _REGEX_ALLOWED.fullmatch(body):
        bad = next(c for c in body if not _REGEX_ALLOWED.fullmatch(c))
        raise PatternError(f"a regular expression with {bad!r}, which CloudWatch Logs does not support")
    try:
        return re.compile(body)
    except re.error as exc:
        raise PatternError(f"a regular expression that does not compile ({exc})") from None


def text_test(value: str, quoted: bool) -> Callable[[str], bool]:
    """How a string value matches: `%re%`, a `*` at the start and/or end, or exactly."""
    if not quoted and len(value) >= 2 and value.startswith("%") and value.endswith("%"):
        compiled = regex(value[1:-1])
        return lambda actual: compiled.search(actual) is not None
    if value == "*":
        return lambda actual: True
    head, tail = value.startswith("*"), value.endswith("*") and len(value) > 1
    core = value[1 if head else 0 : len(value) - 1 if tail else len(value)]
    if head and tail:
        return lambda actual: core in actual
    if head:
        return lambda actual: actual.endswith(core)
    if tail:
        return lambda actual: actual.startswith(core)
    return lambda actual: actual == value


def comparison(op: str, value: str, quoted: bool) -> Test:
    """A test of one field's value (a JSON value, or a space-delimited field's text)."""
    if op in {"=", "!="}:
        equal = equality(value, quoted)
        if op == "=":
            return lambda actual: actual is not MISSING and equal(actual)
        return lambda actual: actual is not MISSING and not equal(actual)
    try:
        number = float(value)
    except ValueError:
        raise PatternError(f"{op} needs a number, found {value!r}") from None

    def numeric(actual: Any) -> bool:
        if isinstance(actual, str):
            try:
                actual = float(actual)
            except ValueError:
                return False
        if not isinstance(actual, int | float) or isinstance(actual, bool):
            return False
        return {">": actual > number, "<": actual < number, ">=": actual >= number, "<=": actual <= number}[op]

    return numeric


def equality(value: str, quoted: bool) -> Test:
    """How `=` (or `!=`'s opposite) matches one value: a number, `%regex%`, an edge wildcard, or exactly."""
    text = text_test(value, quoted)
    try:
        number: float | None = float(value) if not quoted else None
    except ValueError:
        number = None

    def equal(actual: Any) -> bool:
        if isinstance(actual, dict | list) or actual is None:
            return False
        if isinstance(actual, bool):
            return value.lower() == str(actual).lower()
        if isinstance(actual, int | float):
            return number is not None and float(actual) == number
        return text(str(actual))

    return equal
