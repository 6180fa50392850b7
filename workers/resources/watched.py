"""What the monitor watches: each resource kind's fields, how they are observed, and how one is put back.

A resource module registers its kind (`watch`) with its fields; the functions here work over every registered
kind. `observe` reads AWS; `regressions`, `recovered`, `value_in` and `restore_plan` are functions of plain
data, tested directly. A part of the state that could not be read (an API error) is never compared: the last
known value stands, so an error is never mistaken for a deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact, call
from workers.resources.actions import Plan


def _on_off_regressed(before: Any, after: Any) -> bool:
    return before is True and after is not True


def _equal(before: Any, now: Any) -> bool:
    return bool(now == before)


@dataclass(frozen=True)
class Field:
    """A watched property: the good value's opposite is a regression, with its title and the calls behind it.

    `value` reads the field from an observed item (default: the item's key of the field's name); `regressed`
    and `recovered` compare values (default: an on/off switch that was on).
    """

    kind: str  # "trail", "recorder", "channel"
    name: str
    title: str  # "{what} stopped logging"
    events: tuple[str, ...]  # the calls that make this change (the first turns it off)
    check: str  # re-checked after a restore
    value: Callable[[dict[str, Any]], Any] | None = None
    regressed: Callable[[Any, Any], bool] = _on_off_regressed
    recovered: Callable[[Any, Any], bool] = _equal
    restorable: bool = True  # False: no exact, safe Restore exists (a deleted bucket's objects are gone)
    text: Callable[[Any], str] | None = None  # how an alert shows a value (default: yes/no, none, as is)
    # what a successful call sets this field to, from its name, its request parameters as CloudTrail records
    # them and the resource's last known item: `(value,)`, or None when the call does not set it (the pushed
    # path's before and after, and its recovery)
    from_call: Callable[[str, dict[str, Any], dict[str, Any]], tuple[Any] | None] | None = None

    def read(self, item: dict[str, Any]) -> Any:
        """This field's value in an observed item."""
        return self.value(item) if self.value is not None else item.get(self.name)


@dataclass(frozen=True)
class Kind:
    """A watched kind of resource: where its items sit in a region's observed state, how they are read, and how
    one of its fields is put back."""

    name: str  # "trail"
    part: str  # "trails": its key in a region's observed state
    label: str  # "Trail": how a sentence names one
    observe: Callable[[Account, str, Fact], dict[str, Any]]  # (acct, region, DescribeTrails' answer) ->
    # {resource: item}, or {"error": sentence}
    restore: Callable[[str, str, str, dict[str, Any]], Plan]  # (region, resource, field, snapshot) -> the calls
    absent_is_deleted: bool = True  # False: an item that leaves the state is no longer watched (a bucket no
    # trail delivers to any more), not deleted; such a kind says deletion with an `exists` field
    # a cheaper read for a cycle that need not read everything: (acct, region, last known items, what this
    # observation read so far) -> the items, or None when it shows that more changed (then `observe` runs)
    glance: Callable[[Account, str, dict[str, Any], dict[str, Any]], dict[str, Any] | None] | None = None
    glance_last: bool = False  # its glance looks at other kinds' parts: observed after them


KINDS: dict[str, Kind] = {}
FIELDS: dict[tuple[str, str], Field] = {}


def watch(kind: Kind, *fields: Field) -> None:
    """Register a kind and its fields (a field named "present" is the resource's existence)."""
    if kind.name in KINDS:
        raise ValueError(f"watched kind {kind.name} is registered twice")
    KINDS[kind.name] = kind
    for f in fields:
        FIELDS[(f.kind, f.name)] = f


def field_of(kind: str, name: str) -> Field:
    """The watched field `name` of a `kind` of resource; an unknown one lists the valid names."""
    try:
        return FIELDS[(kind, name)]
    except KeyError:
        valid = ", ".join(f"{k}.{n}" for k, n in FIELDS)
        raise KeyError(f"unknown watched field {kind}.{name}; valid: {valid}") from None



@dataclass(frozen=True)
class Change:
    """A regression (or a recovery) of one field of one resource."""

    account: str
    region: str
    kind: str
    resource: str  # trail ARN, recorder or channel name
    field: str
    before: Any
    after: Any
    snapshot: dict[str, Any]  # the resource's last known good state (what Restore puts back)

    @property
    def key(self) -> str:
        """Identity of the alert: one per account, region, resource and field."""
        return f"{self.account}|{self.region}|{self.kind}|{self.resource}|{self.field}"

    def sentence(self) -> str:
        """`Trail app-audit stopped logging`."""
        name = self.resource.rsplit("/", 1)[-1]
        return f"{KINDS[self.kind].label} {name} {field_of(self.kind, self.field).title}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


# --- observing ---------------------------------------------------------------------------------------------


def listed_trails(acct: Account, region: str) -> Fact:
    """The region's trails (`DescribeTrails`, shadow trails left out), read once for every kind that follows
    trails (the trail, its bucket, key and alarm chain), or the ApiError."""
    return call(acct, "cloudtrail", region, "DescribeTrails", includeShadowTrails=False)


def observe(
    acct: Account, region: str, trails: Fact | None = None, known: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every watched kind of the region; a part that failed holds its error.

    `trails` is the region's DescribeTrails answer when the caller has it. With `known` (the last known state),
    a kind that has a `glance` is read by it where that suffices (the caller bounds how long: see
    `workers.monitor.reads`); without, everything is read.
    """
    trails = listed_trails(acct, region) if trails is None else trails
    observed: dict[str, Any] = {}
    for kind in sorted(KINDS.values(), key=lambda k: k.glance_last):
        last = (known or {}).get(kind.part)
        items = None
        if kind.glance is not None and known is not None and last is not None and "error" not in last:
            items = kind.glance(acct, region, last, observed)
        observed[kind.part] = items if items is not None else kind.observe(acct, region, trails)
    return observed


def unreadable(observed: dict[str, Any]) -> list[str]:
    """Why parts of an observation could not be read (empty when all was read)."""
    out = [items["error"] for items in observed.values() if "error" in items]
    out += [v["error"] for items in observed.values() if "error" not in items for v in items.values() if "error" in v]
    return out


def merge(previous: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    """The state to keep: what was read now, and the last known value of whatever could not be read."""
    merged: dict[str, Any] = {}
    for part, items in now.items():
        old = (previous or {}).get(part) or {}
        if "error" in items:
            merged[part] = {k: v for k, v in old.items() if k != "error"}
            continue
        merged[part] = {name: (old.get(name, {}) if "error" in value else value) for name, value in items.items()}
    return merged


# --- comparing ---------------------------------------------------------------------------------------------


def regressions(account: str, region: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every field that got worse between two observations (parts that could not be read are skipped)."""
    out: list[Change] = []
    for kind in KINDS.values():
        old, new = before.get(kind.part) or {}, after.get(kind.part) or {}
        if "error" in old or "error" in new:
            continue
        for name, was in old.items():
            if "error" in was:
                continue
            now = new.get(name)
            if now is None and not kind.absent_is_deleted:
                continue
            if now is None:
                out.append(Change(account, region, kind.name, name, "present", "present", "missing", was))
            elif "error" not in now:
                out.extend(_fields(account, region, kind.name, name, was, now))
    return out


def _fields(account: str, region: str, kind: str, name: str, was: dict[str, Any], now: dict[str, Any]) -> list[Change]:
    out = []
    for (k, field), f in FIELDS.items():
        if k != kind or field == "present" or (now.get("exists") is False and field != "exists"):
            continue  # an item that says it does not exist is compared on its existence only
        before, after = f.read(was), f.read(now)
        if f.regressed(before, after):
            out.append(Change(account, region, kind, name, field, before, after, was))
    return out


def _item(state: dict[str, Any], kind: str, resource: str) -> tuple[dict[str, Any] | None, str | None]:
    """The observed item of a resource, or why there is none ("missing", or the unreadable part's error)."""
    items = state.get(KINDS[kind].part) or {}
    if "error" in items:
        return None, f"unreadable: {items['error']}"
    now = items.get(resource)
    if now is None:
        return None, "missing"
    if "error" in now:
        return None, f"unreadable: {now['error']}"
    return now, None


def recovered(alert: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether the field an alert is about is back to its last known good value."""
    now, _ = _item(state, alert["kind"], alert["resource"])
    if now is None:
        return False
    if alert["field"] == "present":
        return True
    f = field_of(alert["kind"], alert["field"])
    return f.recovered(alert["before"], f.read(now))


def value_in(state: dict[str, Any], kind: str, resource: str, field: str) -> Any:
    """A watched field's value in an observation, as a `Change` records it (`missing` when the resource is
    gone; an unreadable part gives its error sentence, which never equals a recorded value)."""
    now, why = _item(state, kind, resource)
    if now is None:
        return why
    if field == "present":
        return "present"
    return field_of(kind, field).read(now)


# --- restoring ---------------------------------------------------------------------------------------------


def restore_plan(change: dict[str, Any]) -> Plan:
    """The calls that put a resource back to its last known good state (what an alert's Restore proposes)."""
    kind = KINDS[change["kind"]]
    return kind.restore(change["region"], change["resource"], change["field"], change["snapshot"])


def checked_resource(change: dict[str, Any]) -> str:
    """What the check re-run after a Restore judges: a trail is itself; a bucket or key, the first trail that
    uses it; anything else, its region."""
    if change["kind"] == "trail":
        return str(change["resource"])
    trails = (change.get("snapshot") or {}).get("trails") or []
    return str(trails[0]) if trails else str(change["region"])


def basis(change: dict[str, Any]) -> dict[str, Any]:
    """What a Restore is planned against: the changed field's value when the alert was raised."""
    return {k: change[k] for k in ("kind", "region", "resource", "field", "after")}


def current_value(acct: Account, basis_: dict[str, Any]) -> Any:
    """The field a Restore is planned against, observed now (to refuse a restore onto a changed state)."""
    part = KINDS[basis_["kind"]].observe(acct, basis_["region"], listed_trails(acct, basis_["region"]))
    return value_in({KINDS[basis_["kind"]].part: part}, basis_["kind"], basis_["resource"], basis_["field"])
