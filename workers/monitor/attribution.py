"""Who made a change: the CloudTrail event, or the approved trail-audit action, that explains a regression.

Pure functions of plain data, tested directly.
"""

from __future__ import annotations

from typing import Any

from workers.aws.event_history import ChangeEvent
from workers.monitor import tampering
from workers.resources.watched import field_of


def attribute(change: dict[str, Any], events: list[ChangeEvent]) -> ChangeEvent | None:
    """The newest successful watched call that explains a change (same event name, same resource)."""
    names = field_of(change["kind"], change["field"]).events
    target = change["resource"]
    # a trail's alarm chain is known by the trail; a call names one of its links (its filter, alarm, topic)
    known = {target, target.rsplit("/", 1)[-1], *((change.get("snapshot") or {}).get("names") or [])}
    for event in sorted(events, key=lambda e: e.time, reverse=True):
        if event.name not in names or event.failed:
            continue
        if tampering.target(event) in known:
            return event
    return None


# The fields each executed action can change (None: any, for a restore of the last known good state).
ACTION_FIELDS: dict[str, set[str] | None] = {
    "cloudtrail.start_logging": {"logging"},
    "cloudtrail.enable_management_events": {"management"},
    "cloudtrail.enable_log_file_validation": {"validation"},
    "cloudtrail.create_multiregion_trail": {"present", "logging", "multi_region"},
    "config.record_cloudtrail_trails": {"present", "narrowed"},
    "config.start_recorder": {"recording"},
    "backout.management_events_off": {"management"},
    "backout.recorder_off": {"recording"},
    "reenable": {"management", "recording"},
    "restore.last_known_good": None,
}


def correlate(change: dict[str, Any], actions: list[dict[str, Any]], since: float) -> dict[str, Any] | None:
    """The executed trail-audit action (approved request) that explains a change, if any.

    An action matches when it acted on the same resource (same account and region), can change that field,
    and ran after the previous observation (`since`), the window in which the change happened.
    """
    for action in sorted(actions, key=lambda a: a["ended"], reverse=True):
        fields = ACTION_FIELDS.get(action["action"], set())
        if fields is not None and change["field"] not in fields:
            continue
        same_place = action["account"] == change["account"] and action["region"] == change["region"]
        same_resource = action["resource"] in (change["resource"], change["region"])
        if fields is None and "restored" in action:  # a Restore explains only what it put back, nothing else
            same_resource = [change["kind"], change["resource"], change["field"]] in (action.get("restored") or [])
        if same_place and same_resource and action["ended"] >= since - 5:
            return action
    return None

