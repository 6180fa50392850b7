"""A trail's event selectors: which management events they capture, and how they are changed.

`coverage` is a pure function of the `GetEventSelectors` answer, so that it can be tested on its own, by example
and by property. Write events matter most: they are what records changes to CloudTrail itself. The fix that
turns management events on, the backout that turns them off, and its exact restore keep every data-event
selector as it is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import read
from workers.core.settings import Settings
from workers.resources.actions import ApiCall, Plan, remediation, restores
from workers.resources.arn import trail_region

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


# --- changing them: the fix, the backout and its exact restore ------------------------------------------------

def from_request(params: dict[str, Any]) -> dict[str, Any]:
    """The selectors of a PutEventSelectors call as CloudTrail records its request (camelCase), in the API's
    PascalCase that `coverage` reads."""

    def cap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k[:1].upper() + k[1:]: cap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [cap(v) for v in value]
        return value

    basic = cap(params.get("eventSelectors") or [])
    advanced = [{"Name": s.get("Name"), "FieldSelectors": s.get("FieldSelectors", [])}
                for s in cap(params.get("advancedEventSelectors") or [])]  # fmt: skip
    return {"EventSelectors": basic, "AdvancedEventSelectors": advanced}


MANAGEMENT_ALL = {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}


def selectors_of(account: Account, arn: str) -> dict[str, Any]:
    """A trail's selectors as `{"EventSelectors": [...], "AdvancedEventSelectors": [...]}` (the exact snapshot)."""
    answer = read(account, "cloudtrail", trail_region(arn), "GetEventSelectors", TrailName=arn)
    return {
        "EventSelectors": answer.get("EventSelectors") or [],
        "AdvancedEventSelectors": answer.get("AdvancedEventSelectors") or [],
    }


def _is_management(selector: dict[str, Any]) -> bool:
    return any(
        f.get("Field") == "eventCategory" and "Management" in (f.get("Equals") or [])
        for f in selector.get("FieldSelectors", [])
    )


@remediation(
    "cloudtrail.enable_management_events",
    "cloudtrail.trail_management_events",
    ("cloudtrail:GetEventSelectors", "cloudtrail:PutEventSelectors"),
)
def enable_management_events(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Management events, read and write, from every source; every data-event selector kept as it is."""
    current = selectors_of(account, resource)
    home = trail_region(resource)
    if current["AdvancedEventSelectors"]:
        kept = [s for s in current["AdvancedEventSelectors"] if not _is_management(s)]
        wanted = [
            *kept,
            {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        ]
        if wanted == current["AdvancedEventSelectors"]:
            return Plan([])
        params = {"TrailName": resource, "AdvancedEventSelectors": wanted}
        return Plan([ApiCall("cloudtrail", home, "PutEventSelectors", params)])
    selectors = copy.deepcopy(current["EventSelectors"])
    for s in selectors:
        s["ExcludeManagementEventSources"] = []
        if s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") != "All":
            if s.get("DataResources"):
                s["IncludeManagementEvents"] = False  # its data events stay exactly as they were
            else:
                s["ReadWriteType"] = "All"
    if not any(s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") == "All" for s in selectors):
        selectors.append(dict(MANAGEMENT_ALL))
    if selectors == current["EventSelectors"]:
        return Plan([])
    return Plan(
        [ApiCall("cloudtrail", home, "PutEventSelectors", {"TrailName": resource, "EventSelectors": selectors})]
    )


@remediation(
    "backout.management_events_off",
    None,
    ("cloudtrail:GetEventSelectors", "cloudtrail:PutEventSelectors"),
    backout=True,
)
def management_events_off(account: Account, region: str, resource: str, settings: Settings) -> Plan:
    """Management events off on a trail (data-event selectors kept); the exact selectors are the snapshot."""
    snapshot = selectors_of(account, resource)
    nothing = [{**MANAGEMENT_ALL, "IncludeManagementEvents": False}]
    if snapshot["AdvancedEventSelectors"]:
        kept = [s for s in snapshot["AdvancedEventSelectors"] if not _is_management(s)]
        key, value = ("AdvancedEventSelectors", kept) if kept else ("EventSelectors", nothing)
    else:
        selectors = [{**s, "IncludeManagementEvents": False} for s in snapshot["EventSelectors"]]
        key, value = "EventSelectors", selectors or nothing
    params = {"TrailName": resource, key: value}
    call_ = ApiCall("cloudtrail", trail_region(resource), "PutEventSelectors", params)
    return Plan([call_], snapshot={"kind": "selectors", "trail": resource, **snapshot})


@restores("selectors")
def restore_selectors(snapshot: dict[str, Any]) -> Plan:
    """PutEventSelectors with the snapshot's selectors exactly (never-set selectors mean AWS's default: all
    management events, set explicitly)."""
    trail = snapshot["trail"]
    if snapshot["AdvancedEventSelectors"]:
        params: dict[str, Any] = {"TrailName": trail, "AdvancedEventSelectors": snapshot["AdvancedEventSelectors"]}
    else:
        params = {"TrailName": trail, "EventSelectors": snapshot["EventSelectors"] or [dict(MANAGEMENT_ALL)]}
    return Plan([ApiCall("cloudtrail", trail_region(trail), "PutEventSelectors", params)])
