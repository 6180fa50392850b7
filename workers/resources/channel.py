"""The AWS Config delivery channel: how it is read, judged, watched and put back.

Facts: `DescribeDeliveryChannels`. Check: a channel exists. Watched: its existence (a deleted channel is put
back exactly as it was).
"""

from __future__ import annotations

from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact, call, unwrap
from workers.aws.errors import ApiError
from workers.resources.actions import ApiCall, Plan
from workers.resources.facts import RegionFacts
from workers.resources.findings import Status
from workers.resources.verdicts import Scope, Verdict, check, error_verdict
from workers.resources.watched import Field, Kind, watch


def read_channels(account: Account, region: str) -> Fact:
    """The region's delivery channels, or the ApiError."""
    return unwrap(call(account, "config", region, "DescribeDeliveryChannels"), "DeliveryChannels")


@check("config.delivery_channel", Scope.REGION, "Config delivery channel exists")
def delivery_channel(region: RegionFacts) -> Verdict:
    """A delivery channel exists."""
    if isinstance(region.channels, ApiError):
        return error_verdict(region.channels, "the Config delivery channel")
    names = [c.get("name") for c in region.channels]
    if names:
        return Verdict(Status.PASS, f"Config delivery channel {names[0]} exists.", {"DeliveryChannels": names})
    return Verdict(
        Status.FAIL,
        f"No AWS Config delivery channel exists in {region.region}: recorded changes are delivered nowhere.",
        {"DeliveryChannels": []},
    )



def observe_channels(acct: Account, region: str, trails: Fact = None) -> dict[str, Any]:
    """The region's delivery channels, by name, each kept whole (what a Restore puts back)."""
    channels = call(acct, "config", region, "DescribeDeliveryChannels")
    if isinstance(channels, ApiError):
        return {"error": channels.sentence()}
    return {c["name"]: {"channel": c} for c in channels.get("DeliveryChannels", [])}


def glance_channels(
    acct: Account, region: str, known: dict[str, Any], observed: dict[str, Any]
) -> dict[str, Any] | None:
    """The channels as last read while every recorder of the region records (AWS refuses to delete the delivery
    channel of a recording recorder, so deleting one stops a recorder first, which the recorders' glance
    sees); None (read them) otherwise."""
    recorders = observed.get("recorders") or {}
    if not known or not recorders or "error" in recorders or not all(r.get("recording") for r in recorders.values()):
        return None
    return known


def restore_channel(region: str, name: str, field: str, snap: dict[str, Any]) -> Plan:
    """PutDeliveryChannel with the channel as it was."""
    return Plan([ApiCall("config", region, "PutDeliveryChannel", {"DeliveryChannel": snap["channel"]})])


watch(
    Kind("channel", "channels", "Delivery channel", observe_channels, restore_channel, glance=glance_channels,
         glance_last=True),
    Field("channel", "present", "was deleted", ("DeleteDeliveryChannel",), "config.delivery_channel"),
)
