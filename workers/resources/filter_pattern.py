"""Does a CloudWatch Logs metric filter pattern match the CIS set of CloudTrail changes?

Real accounts write the CIS 4.5 (5.5) filter in many ways: any clause order, with or without spaces and
parentheses, quoted or bare names, extra conditions, term patterns (`?StopLogging ?DeleteTrail`). Rather than
compare text, the pattern is run on realistic CloudTrail records, one per event name, as CloudTrail writes them
to CloudWatch Logs (one compact JSON object a log event): the filter counts when it matches all five.

In an account, AWS's own evaluator judges (`logs:TestMetricFilter`, see `workers.resources.alarm`); this module
is the local evaluator used where that call is unavailable, and follows CloudWatch Logs' documented syntax:

- term patterns: every plain term must occur, at least one `?term` when there are any, no `-term`; terms
  and quoted phrases match case-sensitively anywhere in the event; `%regex%` terms are regular expressions;
- JSON patterns `{ ... }`: selectors `$.a.b[0]`, `=`, `!=`, `<`, `>`, `<=`, `>=`, `&&`, `||`, parentheses,
  `IS TRUE|FALSE|NULL`, `NOT EXISTS`; in a value a `*` is a wildcard only at its start or end (anywhere
  else it is the character itself), and `%regex%` is a regular expression;
- space-delimited patterns `[a, b=x, ..., c]`: the event split into fields at spaces (text in double quotes
  or square brackets is one field), `...` standing for any number of fields, the same value rules;
- regular expressions only with the characters and operators AWS lists (no parentheses).

Anything else raises PatternError: the check then says it cannot evaluate the pattern, never PASS or FAIL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.resources.filter_json import json_pattern
from workers.resources.filter_values import PatternError, Test, comparison, regex

CIS_EVENTS = ("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging")
LOCAL = "local evaluator"

Predicate = Callable[[str], bool]  # over a log event's message


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
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off",
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


def message(event_name: str) -> str:
    """The log event CloudTrail writes for `event_name`: its record as one line of compact JSON."""
    return json.dumps(sample_event(event_name), separators=(",", ":"))


@dataclass(frozen=True)
class Match:
    """Which of the CIS event names a pattern matches, and who judged (or why nobody could)."""

    matched: tuple[str, ...]
    error: str | None = None
    evaluator: str = LOCAL

    @property
    def complete(self) -> bool:
        """All five CIS events match."""
        return self.error is None and set(self.matched) == set(CIS_EVENTS)

    @property
    def missing(self) -> tuple[str, ...]:
        """The CIS events the pattern lets through unseen."""
        return tuple(e for e in CIS_EVENTS if e not in self.matched)


def cis_match(pattern: str) -> Match:
    """Run `pattern` locally on one CloudTrail log event per CIS event name."""
    try:
        predicate = compile_pattern(pattern)
    except PatternError as exc:
        return Match((), error=f"cannot evaluate this filter pattern: {exc}")
    return Match(tuple(name for name in CIS_EVENTS if predicate(message(name))))


def compile_pattern(pattern: str) -> Predicate:
    """A predicate over a log event's message for a filter pattern; PatternError when it cannot be read."""
    text = pattern.strip()
    if not text:
        return lambda _message: True  # the empty pattern matches every event
    if text.startswith("{"):
        return json_pattern(text)
    if text.startswith("["):
        return _delimited_pattern(text)
    return _term_pattern(text)


# --- space-delimited patterns ---------------------------------------------------------------------------------


def fields(line: str) -> list[str]:
    """A log event split as space-delimited patterns see it: at spaces, "..." and [...] each one field."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i].isspace():
            i += 1
            continue
        closer = {'"': '"', "[": "]"}.get(line[i])
        if closer:
            end = line.find(closer, i + 1)
            end = len(line) if end < 0 else end
            out.append(line[i + 1 : end])
            i = end + 1
            continue
        j = i
        while j < len(line) and not line[j].isspace():
            j += 1
        out.append(line[i:j])
        i = j
    return out


_CONDITION = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|>|<)\s*("(?:[^"\\]|\\.)*"|[^\s&|"]+)\s*')


def _delimited_pattern(text: str) -> Predicate:
    if not text.endswith("]"):
        raise PatternError("a space-delimited pattern ends with ']'")
    specs = [_field_spec(part) for part in _split_top(text[1:-1], ",")]
    return lambda line: _fit(specs, fields(line))


def _split_top(text: str, sep: str) -> list[str]:
    parts, current, quoted = [], "", False
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        if not quoted and text.startswith(sep, i):
            parts.append(current)
            current, i = "", i + len(sep)
            continue
        current += c
        i += 1
    if quoted:
        raise PatternError("an unclosed quote")
    return [*parts, current]


def _field_spec(part: str) -> Test | None:
    """None for `...`; a test for a field: a bare name (anything), or conditions joined by && and ||."""
    spec = part.strip()
    if spec == "...":
        return None
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec):
        return lambda _field: True
    alternatives = []
    for alternative in _split_top(spec, "||"):
        tests = []
        for condition in _split_top(alternative, "&&"):
            m = _CONDITION.fullmatch(condition)
            if m is None:
                raise PatternError(f"cannot read the field {spec!r}")
            _, op, raw = m.groups()
            quoted = raw.startswith('"')
            tests.append(comparison(op, json.loads(raw) if quoted else raw, quoted))
        alternatives.append(tests)
    return lambda field: any(all(t(field) for t in tests) for tests in alternatives)


def _fit(specs: list[Test | None], values: list[str]) -> bool:
    """Whether the fields fit the specs in order, `...` (None) taking any number of them."""
    if not specs:
        return not values
    head, rest = specs[0], specs[1:]
    if head is None:
        return any(_fit(rest, values[i:]) for i in range(len(values) + 1))
    return bool(values) and head(values[0]) and _fit(rest, values[1:])


# --- term patterns --------------------------------------------------------------------------------------------

_TERM = re.compile(r'([?\-]?)("(?:[^"\\]|\\.)*"|%[^%]+%|\S+)')


def _term_pattern(text: str) -> Predicate:
    required: list[Callable[[str], bool]] = []
    optional: list[Callable[[str], bool]] = []
    excluded: list[Callable[[str], bool]] = []
    for sign, raw in _TERM.findall(text):
        if raw.startswith('"'):
            try:
                term = str(json.loads(raw))
            except ValueError:
                raise PatternError(f"cannot read the quoted term {raw!r}") from None
            test = _contains(term)
        elif len(raw) >= 2 and raw.startswith("%") and raw.endswith("%"):
            test = _found(regex(raw[1:-1]))
        else:
            test = _contains(raw)
        {"": required, "?": optional, "-": excluded}[sign].append(test)
    return lambda line: (
        all(t(line) for t in required)
        and (not optional or any(t(line) for t in optional))
        and not any(t(line) for t in excluded)
    )


def _found(compiled: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda line: compiled.search(line) is not None


def _contains(term: str) -> Callable[[str], bool]:
    return lambda line: term in line
