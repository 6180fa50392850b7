"""The CIS metric filter recognised by meaning: any order, spacing, quoting; one event missing fails."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from workers.aws.accounts import Account, client_config
from workers.core.settings import Settings
from workers.resources.alarm import judge_pattern
from workers.resources.filter_pattern import CIS_EVENTS, PatternError, cis_match, compile_pattern, fields, message


def clause(name: str, quote: bool, space: bool, parens: bool) -> str:
    value = f'"{name}"' if quote else name
    sp = " " if space else ""
    text = f"$.eventName{sp}={sp}{value}"
    return f"({text})" if parens else text


@st.composite
def cis_patterns(draw: st.DrawFn, drop: int | None = None) -> str:
    names = list(draw(st.permutations(CIS_EVENTS)))
    if drop is not None:
        names = [n for n in names if n != CIS_EVENTS[drop]]
    parts = [clause(n, draw(st.booleans()), draw(st.booleans()), draw(st.booleans())) for n in names]
    joiner = draw(st.sampled_from(["||", " || ", "  ||  ", "||\n"]))
    body = joiner.join(parts)
    if draw(st.booleans()):
        body = f"$.eventSource = cloudtrail.amazonaws.com && ({body})"
    pad = draw(st.sampled_from(["", " ", "  "]))
    return "{" + pad + body + pad + "}"


@given(cis_patterns())
def test_every_variant_of_the_full_filter_matches(pattern: str) -> None:
    m = cis_match(pattern)
    assert m.complete, (pattern, m)


@given(st.integers(0, 4).flatmap(lambda i: st.tuples(st.just(i), cis_patterns(drop=i))))
def test_a_filter_missing_one_event_is_incomplete(case: tuple[int, str]) -> None:
    dropped, pattern = case
    m = cis_match(pattern)
    assert not m.complete and m.missing == (CIS_EVENTS[dropped],)


def test_term_patterns() -> None:
    assert cis_match("?CreateTrail ?UpdateTrail ?DeleteTrail ?StartLogging ?StopLogging").complete
    assert not cis_match("?CreateTrail ?UpdateTrail").complete
    assert not cis_match("CreateTrail UpdateTrail").complete  # both terms required: matches nothing


def test_wildcards_and_conditions_on_other_fields() -> None:
    assert cis_match("{ ($.eventName = *Trail) || ($.eventName = *Logging) }").complete
    # only failed attempts: the sample (successful) events do not match
    assert not cis_match("{ ($.eventName = StopLogging) && ($.errorCode = *) }").complete
    assert not cis_match("{ $.eventSource = s3.amazonaws.com && $.eventName = *Trail }").complete


def test_not_equals_and_exists() -> None:
    p = compile_pattern("{ $.errorCode NOT EXISTS && $.eventName != StopLogging }")
    assert p(message("CreateTrail")) and not p(message("StopLogging"))
    assert compile_pattern("{ $.readOnly IS FALSE }")(message("CreateTrail"))


def test_unreadable_patterns_are_errors_not_matches() -> None:
    for bad in ["{ $.eventName = ", "{ eventName = CreateTrail }", "{ ($.eventName = CreateTrail }"]:
        m = cis_match(bad)
        assert not m.complete and m.error
    with pytest.raises(PatternError):
        compile_pattern("{ $.a > x }")  # a non-numeric > comparison


# AWS's rules (CloudWatch Logs, "Filter pattern syntax"), on constructed log events: moto has no evaluator.


def test_a_star_is_a_wildcard_only_at_the_start_or_end_of_a_value() -> None:
    assert cis_match('{ $.eventName = "*Trail" || $.eventName = "*Logging" }').complete
    assert cis_match("{ $.eventName = Create* || $.eventName = Update* || $.eventName = Delete* || "
                     "$.eventName = Start* || $.eventName = Stop* }").complete  # fmt: skip
    assert cis_match("{ $.eventName = *Trail* || $.eventName = *Logg* }").complete
    inner = cis_match("{ $.eventName = Create*Trail || $.eventName = *Logging }")
    assert inner.missing == ("CreateTrail", "UpdateTrail", "DeleteTrail")  # "Create*Trail" is literal
    assert compile_pattern("{ $.eventName = Create*Trail }")('{"eventName":"Create*Trail"}')


def test_regular_expressions_with_the_operators_aws_lists() -> None:
    assert cis_match("{ $.eventName = %CreateTrail|UpdateTrail|DeleteTrail|StartLogging|StopLogging% }").complete
    assert cis_match("{ $.eventName = %Trail$% || $.eventName = %^St[a-z]+Logging$% }").complete
    assert cis_match("%CreateTrail|UpdateTrail|DeleteTrail|StartLogging|StopLogging%").complete  # a term regex
    assert not cis_match("{ $.eventName = %^Trail% }").complete
    for refused in ("{ $.eventName = %(Create|Delete)Trail% }", "%Stop!Logging%", "{ $.eventName = %[% }"):
        m = cis_match(refused)
        assert not m.complete and m.error and "cannot evaluate this filter pattern" in m.error, refused


def test_space_delimited_patterns_split_fields_as_aws_does() -> None:
    line = '203.0.113.7 - alice [27/Nov/2026:12:00:00 +0000] "POST /x HTTP/1.1" 403 512'
    assert fields(line) == ["203.0.113.7", "-", "alice", "27/Nov/2026:12:00:00 +0000", "POST /x HTTP/1.1", "403", "512"]
    assert compile_pattern("[ip, id, user, when, request, status=4*, size]")(line)
    assert not compile_pattern("[ip, id, user, when, request, status=2*, size]")(line)
    assert compile_pattern("[ip, ..., status>=400, size<1000]")(line)
    assert compile_pattern("[..., status=403 || status=404, size]")(line)
    assert not compile_pattern("[ip, user, size]")(line)  # three fields are not seven
    assert compile_pattern('[ip=%^203%, ..., request="POST /x HTTP/1.1", status, size]')(line)


def test_a_space_delimited_pattern_is_not_a_substring_search() -> None:
    """A CloudTrail record is one line of compact JSON, split at the spaces of its user agent: `[...]` patterns
    see its fields, as AWS does, not its text."""
    assert len(fields(message("StopLogging"))) == 5
    assert not cis_match("[StopLogging]").complete  # one field, but the line has five
    assert cis_match("[head, ...]").complete  # a bare name matches any field
    assert cis_match("[head=StopLogging, ...]").matched == ()  # the field is not the event name
    names = " || ".join(f"head=*{n}*" for n in CIS_EVENTS)
    assert cis_match(f"[{names}, ...]").complete  # the first field holds the eventName


# AWS's own evaluator first: logs:TestMetricFilter, through botocore's Stubber (moto does not offer it).


def stubbed_account() -> tuple[Account, Stubber]:
    account = Account(id="123456789012", config=client_config(Settings(_env_file=None)))  # type: ignore[call-arg]
    client = account.client("logs", "us-east-1", 1)
    return account, Stubber(client)


def expect(stub: Stubber, pattern: str, answer: dict[str, Any] | None = None, error: str | None = None) -> None:
    params = {"filterPattern": pattern, "logEventMessages": [message(n) for n in CIS_EVENTS]}
    if error:
        stub.add_client_error("test_metric_filter", service_error_code=error, expected_params=params)
    else:
        stub.add_response("test_metric_filter", answer or {}, params)


def test_aws_judges_when_it_can() -> None:
    account, stub = stubbed_account()
    matches = [
        {"eventNumber": i, "eventMessage": message(n), "extractedValues": {}} for i, n in enumerate(CIS_EVENTS, 1)
    ]
    expect(stub, "{ $.eventName = * }", {"matches": matches})
    expect(stub, "{ $.x = y }", {"matches": matches[:2]})
    with stub:
        every = judge_pattern(account, "us-east-1", "{ $.eventName = * }")
        some = judge_pattern(account, "us-east-1", "{ $.x = y }")
    assert every.complete and every.evaluator == "logs:TestMetricFilter"
    assert some.missing == ("DeleteTrail", "StartLogging", "StopLogging") and some.evaluator == "logs:TestMetricFilter"


def test_a_pattern_aws_refuses_is_an_error_and_a_denied_evaluator_falls_back() -> None:
    account, stub = stubbed_account()
    expect(stub, "{ broken", error="InvalidParameterException")
    expect(stub, CIS_EVENTS_PATTERN, error="AccessDeniedException")
    with stub:
        refused = judge_pattern(account, "us-east-1", "{ broken")
        local = judge_pattern(account, "us-east-1", CIS_EVENTS_PATTERN)
    assert not refused.complete and refused.error and refused.evaluator == "logs:TestMetricFilter"
    assert local.complete and local.evaluator == "local evaluator (logs:TestMetricFilter: AccessDeniedException)"


CIS_EVENTS_PATTERN = "{ " + " || ".join(f"$.eventName = {n}" for n in CIS_EVENTS) + " }"


def test_pending_subscriptions_do_not_count_and_a_missing_topic_is_an_answer() -> None:
    """Constructed answers (Stubber): moto confirms every subscription at once."""
    from workers.resources import alarm

    account = Account(id="123456789012", config=client_config(Settings(_env_file=None)))  # type: ignore[call-arg]
    stub = Stubber(account.client("sns", "us-east-1"))
    topic = "arn:aws:sns:us-east-1:123456789012:oncall"
    pending = {"SubscriptionArn": "PendingConfirmation", "Owner": "1", "Protocol": "email", "Endpoint": "a@b.c",
               "TopicArn": topic}  # fmt: skip
    stub.add_response("list_subscriptions_by_topic", {"Subscriptions": [pending]}, {"TopicArn": topic})
    stub.add_client_error("list_subscriptions_by_topic", service_error_code="NotFound", http_status_code=404,
                          expected_params={"TopicArn": topic})  # fmt: skip
    with stub:
        assert alarm.subscribers(account, topic) == 0
        assert alarm.subscribers(account, topic) == "missing"
