"""A trail's KMS key: whether CloudTrail can still encrypt its logs with it.

Facts: `DescribeKey` of each trail's `KmsKeyId`, in the key's region. Judged in `cloudtrail.trail_s3_delivery`
(`trail.py`): a key that is not `Enabled` means no log is written. Watched, per key a trail homed in the region
uses: disabled (`DisableKey`), scheduled for deletion (`ScheduleKeyDeletion`); `PutKeyPolicy` on it is alerted
as a call. Restore: `EnableKey`, or `CancelKeyDeletion` then `EnableKey` when it was enabled.
"""

from __future__ import annotations

from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact, call
from workers.aws.errors import ApiError
from workers.resources.actions import ApiCall, Plan
from workers.resources.watched import Field, Kind, watch

ENABLED = "Enabled"
PENDING = ("PendingDeletion", "PendingReplicaDeletion")


def key_region(key: str, default: str) -> str:
    """The region of a key ARN (a bare key id is in the caller's region)."""
    parts = key.split(":")
    return parts[3] if key.startswith("arn:") and len(parts) > 3 and parts[3] else default


def read_key(account: Account, region: str, key: str | None) -> Fact:
    """The key's metadata (`KeyState` among it), None when the trail sets no key, or the ApiError."""
    if not key:
        return None
    answer = call(account, "kms", key_region(key, region), "DescribeKey", KeyId=key)
    return answer if isinstance(answer, ApiError) else answer.get("KeyMetadata") or {}


def unusable(metadata: dict[str, Any]) -> str | None:
    """Why CloudTrail cannot encrypt with a key, or None when it can."""
    state = metadata.get("KeyState")
    if state == ENABLED:
        return None
    if state in PENDING:
        return f"is scheduled for deletion on {metadata.get('DeletionDate') or 'an unknown date'}"
    return f"is {state or 'in an unknown state'}"


# --- watched -----------------------------------------------------------------------------------------------


def observe_keys(acct: Account, region: str, trails: Fact) -> dict[str, Any]:
    """The KMS keys of the trails homed in this region, by ARN, with their state."""
    if isinstance(trails, ApiError):
        return {"error": trails.sentence()}
    users: dict[str, list[str]] = {}
    for t in trails.get("trailList", []):
        if t.get("HomeRegion") == region and t.get("KmsKeyId"):
            users.setdefault(t["KmsKeyId"], []).append(t["TrailARN"])
    out: dict[str, Any] = {}
    for key, arns in sorted(users.items()):
        metadata = read_key(acct, region, key)
        out[key] = {"error": metadata.sentence()} if isinstance(metadata, ApiError) else {
            "state": metadata.get("KeyState"), "trails": sorted(arns)}  # fmt: skip
    return out


def _disabled(before: Any, after: Any) -> bool:
    return before == ENABLED and after not in (ENABLED, *PENDING)


def _deleting(before: Any, after: Any) -> bool:
    return before not in PENDING and after in PENDING


def restore_key(region: str, key: str, field: str, snap: dict[str, Any]) -> Plan:
    """EnableKey; a key scheduled for deletion has its deletion cancelled first (it is left disabled). Both
    are made in the key's own account and region (neither works across accounts), by its id."""
    where, key_id = key_region(key, region), key.rsplit("/", 1)[-1]
    calls = []
    if field == "deletion":
        calls.append(ApiCall("kms", where, "CancelKeyDeletion", {"KeyId": key_id}))
    if snap.get("state") == ENABLED:
        calls.append(ApiCall("kms", where, "EnableKey", {"KeyId": key_id}))
    return Plan(calls)


watch(
    Kind("key", "keys", "KMS key", observe_keys, restore_key, absent_is_deleted=False),
    Field("key", "enabled", "was disabled: CloudTrail can no longer encrypt the trail's logs", ("DisableKey",),
          "cloudtrail.trail_s3_delivery", value=lambda item: item.get("state"), regressed=_disabled,
          from_call=lambda name, params, item: {"DisableKey": ("Disabled",), "EnableKey": (ENABLED,)}.get(name)),
    Field("key", "deletion", "was scheduled for deletion: the trail's logs will be unreadable",
          ("ScheduleKeyDeletion",), "cloudtrail.trail_s3_delivery", value=lambda item: item.get("state"),
          regressed=_deleting,
          from_call=lambda name, params, item: {"ScheduleKeyDeletion": ("PendingDeletion",)}.get(name)),
)  # fmt: skip
