"""Event-selector coverage: examples, and properties over generated selector sets."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from workers.resources.selectors import READ, WRITE, coverage

RW = st.sampled_from(["All", "ReadOnly", "WriteOnly"])
KINDS = {"All": {READ, WRITE}, "ReadOnly": {READ}, "WriteOnly": {WRITE}}


def basic(rw: str = "All", include: bool = True, exclude: list[str] | None = None) -> dict[str, Any]:
    sel: dict[str, Any] = {
        "ReadWriteType": rw,
        "IncludeManagementEvents": include,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}],
    }
    if exclude is not None:
        sel["ExcludeManagementEventSources"] = exclude
    return sel


def test_default_when_nothing_is_returned() -> None:
    assert coverage({}).complete
    assert coverage({"EventSelectors": [], "AdvancedEventSelectors": []}).source == "default"


def test_defaults_of_basic_fields() -> None:
    assert coverage({"EventSelectors": [{}]}).complete  # IncludeManagementEvents and ReadWriteType default


def test_excluded_sources_fail_even_with_all() -> None:
    cov = coverage({"EventSelectors": [basic(exclude=["kms.amazonaws.com"])]})
    assert not cov.complete and cov.excluded_sources == ("kms.amazonaws.com",)
    assert "kms.amazonaws.com" in cov.sentence()


@given(st.lists(st.tuples(RW, st.booleans()), min_size=1, max_size=5))
def test_basic_union_of_management_selectors(selectors: list[tuple[str, bool]]) -> None:
    expected: set[str] = set()
    for rw, include in selectors:
        if include:
            expected |= KINDS[rw]
    cov = coverage({"EventSelectors": [basic(rw, include) for rw, include in selectors]})
    assert cov.kinds == expected
    assert cov.complete == (expected == {READ, WRITE})


@given(st.lists(st.tuples(RW, st.booleans()), min_size=1, max_size=5), st.text(min_size=1, max_size=20))
def test_any_exclusion_breaks_completeness(selectors: list[tuple[str, bool]], source: str) -> None:
    sels = [basic(rw, include) for rw, include in selectors]
    sels.append(basic("All", True, exclude=[source]))
    assert not coverage({"EventSelectors": sels}).complete


READONLY = st.one_of(
    st.none(),
    st.fixed_dictionaries({"Equals": st.lists(st.sampled_from(["true", "false"]), min_size=1, max_size=2)}),
    st.fixed_dictionaries({"NotEquals": st.lists(st.sampled_from(["true", "false"]), min_size=1, max_size=1)}),
)


def _expected(readonly: dict[str, list[str]] | None) -> set[str]:
    if readonly is None:
        return {READ, WRITE}
    if "Equals" in readonly:
        return {READ if v == "true" else WRITE for v in readonly["Equals"]}
    return {READ, WRITE} - {READ if v == "true" else WRITE for v in readonly["NotEquals"]}


@given(st.lists(READONLY, min_size=1, max_size=4), st.booleans())
def test_advanced_readonly_union(readonlys: list[dict[str, list[str]] | None], with_data: bool) -> None:
    selectors = []
    expected: set[str] = set()
    for i, ro in enumerate(readonlys):
        fields: list[dict[str, Any]] = [{"Field": "eventCategory", "Equals": ["Management"]}]
        if ro is not None:
            fields.append({"Field": "readOnly", **ro})
        selectors.append({"Name": f"m{i}", "FieldSelectors": fields})
        expected |= _expected(ro)
    if with_data:
        selectors.append(
            {
                "Name": "data",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                ],
            }
        )
    cov = coverage({"AdvancedEventSelectors": selectors})
    assert cov.kinds == expected and cov.source == "advanced"
    assert cov.complete == (expected == {READ, WRITE})


def test_advanced_selector_restricted_to_one_source_does_not_count() -> None:
    cov = coverage(
        {
            "AdvancedEventSelectors": [
                {
                    "Name": "ct-only",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "eventSource", "Equals": ["cloudtrail.amazonaws.com"]},
                    ],
                }
            ]
        }
    )
    assert not cov.complete and cov.notes


def test_advanced_data_only_captures_no_management_events() -> None:
    cov = coverage(
        {"AdvancedEventSelectors": [{"Name": "d", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]}
    )
    assert cov.kinds == frozenset() and cov.sentence() == "no management events"
