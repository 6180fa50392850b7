"""Which management events a trail's event selectors capture.

A pure function of the `GetEventSelectors` answer, so that it can be tested on its own, by example and by
property. Write events matter most: they are what records changes to CloudTrail itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

READ = "read"
WRITE = "write"
_RW = {"All": {READ, WRITE}, "ReadOnly": {READ}, "WriteOnly": {WRITE}}
_READONLY_VALUES = {"true": READ, "false": WRITE}


@dataclass(frozen=True)
class Coverage:
    """Management events a set of selectors captures, and why it falls short when it does."""

    kinds: frozenset[str]
    excluded_sources: tuple[str, ...] = ()
    source: str = "basic"  # "basic", "advanced" or "default" (no selectors returned)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        """Read and write management events, from every event source."""
        return self.kinds == {READ, WRITE} and not self.excluded_sources

    def sentence(self) -> str:
        """What is captured, as a human phrase."""
        if not self.kinds:
            what = "no management events"
        elif self.kinds == {READ}:
            what = "only read-only management events, so changes (writes) are not recorded"
        elif self.kinds == {WRITE}:
            what = "only write management events"
        else:
            what = "read and write management events"
        if self.excluded_sources:
            what += ", but excludes events from " + ", ".join(self.excluded_sources)
        return what


def coverage(response: dict[str, Any]) -> Coverage:
    """Coverage of a `GetEventSelectors` response.

    A trail whose selectors were never set has AWS's default: all management events, read and write.
    AWS returns that default explicitly; some emulators return no selectors at all. Both mean the default.
    """
    advanced = response.get("AdvancedEventSelectors") or []
    basic = response.get("EventSelectors") or []
    if advanced:
        return _advanced(advanced)
    if basic:
        return _basic(basic)
    return Coverage(frozenset({READ, WRITE}), source="default", notes=("no selectors set: AWS default applies",))


def _basic(selectors: list[dict[str, Any]]) -> Coverage:
    kinds: set[str] = set()
    excluded: list[str] = []
    for selector in selectors:
        if not selector.get("IncludeManagementEvents", True):
            continue
        kinds |= _RW.get(selector.get("ReadWriteType", "All"), set())
        excluded += selector.get("ExcludeManagementEventSources") or []
    return Coverage(frozenset(kinds), tuple(sorted(set(excluded))), source="basic")


def _advanced(selectors: list[dict[str, Any]]) -> Coverage:
    kinds: set[str] = set()
    excluded: list[str] = []
    notes: list[str] = []
    for selector in selectors:
        fields = {fs.get("Field"): fs for fs in selector.get("FieldSelectors", [])}
        category = fields.pop("eventCategory", None)
        if category is None or "Management" not in (category.get("Equals") or []):
            continue
        selected = _readonly_kinds(fields.pop("readOnly", None))
        source = fields.pop("eventSource", None)
        if source is not None:
            if source.get("NotEquals") and len(source) == 2:  # "Field" and "NotEquals" only
                excluded += source["NotEquals"]
            else:
                notes.append(f"selector {selector.get('Name', '?')!r} restricts eventSource")
                continue
        if fields:
            notes.append(f"selector {selector.get('Name', '?')!r} also filters on {', '.join(sorted(fields))}")
            continue
        kinds |= selected
    return Coverage(frozenset(kinds), tuple(sorted(set(excluded))), source="advanced", notes=tuple(notes))


def _readonly_kinds(field_selector: dict[str, Any] | None) -> set[str]:
    """Kinds a `readOnly` field selector lets through; no selector means both."""
    if field_selector is None:
        return {READ, WRITE}
    kinds = {READ, WRITE}
    if "Equals" in field_selector:
        kinds &= {_READONLY_VALUES[v] for v in field_selector["Equals"] if v in _READONLY_VALUES}
    if "NotEquals" in field_selector:
        kinds -= {_READONLY_VALUES[v] for v in field_selector["NotEquals"] if v in _READONLY_VALUES}
    return kinds
