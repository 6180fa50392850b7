"""Which regions to audit for an account, and which of them are not enabled (and so are SKIPPED)."""

from __future__ import annotations

from dataclasses import dataclass

from workers.aws.accounts import Account
from workers.aws.calls import call
from workers.aws.errors import ApiError
from workers.core.check_catalogue import REGION_NAME, invalid_region_names

__all__ = ["REGION_NAME", "RegionPlan", "invalid_region_names", "plan"]


@dataclass(frozen=True)
class RegionPlan:
    """The regions to gather, and those to report as SKIPPED."""

    enabled: list[str]
    skipped: list[str]


def plan(account: Account, home_region: str, requested: list[str]) -> RegionPlan | ApiError:
    """Enabled regions from ec2:DescribeRegions; with `requested`, those of them that are enabled.

    When DescribeRegions fails and regions were requested, they are all tried: a region that is not
    enabled then shows as ERROR findings, never as PASS.
    """
    answer = call(account, "ec2", home_region, "DescribeRegions", AllRegions=True)
    if isinstance(answer, ApiError):
        return RegionPlan(sorted(requested), []) if requested else answer
    enabled = {
        r["RegionName"]
        for r in answer.get("Regions", [])
        if r.get("OptInStatus", "opt-in-not-required") in {"opt-in-not-required", "opted-in"}
    }
    wanted = requested or sorted(enabled)
    return RegionPlan([r for r in wanted if r in enabled], [r for r in wanted if r not in enabled])
