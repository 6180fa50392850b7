"""The CIS metric filter recognised by meaning: any order, spacing, quoting; one event missing fails."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.audit.metricfilter import CIS_EVENTS, PatternError, cis_match, compile_pattern, sample_event


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
    assert p(sample_event("CreateTrail")) and not p(sample_event("StopLogging"))
    assert compile_pattern("{ $.readOnly IS FALSE }")(sample_event("CreateTrail"))


def test_unreadable_patterns_are_errors_not_matches() -> None:
    for bad in ["{ $.eventName = ", "{ eventName = CreateTrail }", "{ ($.eventName = CreateTrail }"]:
        m = cis_match(bad)
        assert not m.complete and m.error
    try:
        compile_pattern("{ $.a > x }")
    except PatternError:
        pass
    else:
        raise AssertionError("a non-numeric > comparison must be refused")
