"""What the web process needs to know of the checks and fixes, without the AWS code behind them.

The check ids with their scope, the fix of each fixable check, the shape of a region name and the error a
request that cannot be planned raises. The web process imports this and never boto3; a test keeps it equal
to the registries in `workers.resources.verdicts` and `workers.resources.actions`.
"""

from __future__ import annotations

import re

from workers.core.mrkdwn import code

GLOBAL = "global"  # the region of an account-wide finding
REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

# check id -> what one of its findings is about ("account", "trail" or "region")
CHECK_SCOPES: dict[str, str] = {
    "cloudtrail.multiregion_management_logging": "account",
    "cloudtrail.trail_logging": "trail",
    "cloudtrail.trail_management_events": "trail",
    "cloudtrail.trail_s3_delivery": "trail",
    "cloudtrail.trail_log_file_validation": "trail",
    "cloudtrail.trail_log_retention": "trail",
    "cloudtrail.config_change_alarm": "account",
    "config.recorder_recording": "region",
    "config.records_cloudtrail_trails": "region",
    "config.delivery_channel": "region",
}

# check id -> the action that fixes it
FIXES: dict[str, str] = {
    "cloudtrail.trail_logging": "cloudtrail.start_logging",
    "cloudtrail.trail_management_events": "cloudtrail.enable_management_events",
    "cloudtrail.trail_log_file_validation": "cloudtrail.enable_log_file_validation",
    "cloudtrail.multiregion_management_logging": "cloudtrail.create_multiregion_trail",
    "config.records_cloudtrail_trails": "config.record_cloudtrail_trails",
    "config.recorder_recording": "config.start_recorder",
    "cloudtrail.config_change_alarm": "cloudwatch.config_change_alarm",
}


class PlanError(Exception):
    """The action cannot be planned: a clear sentence for the requester (a missing setting, no recorder...)."""


def invalid_region_names(names: list[str]) -> list[str]:
    """The names that are not shaped like an AWS region name (us-east-1, ap-southeast-3, us-gov-west-1)."""
    return [n for n in names if not REGION_NAME.match(n)]


def fix_for(check_id: str) -> str:
    """The action that fixes a check; an unknown check or one without a fix lists the valid names."""
    if check_id not in CHECK_SCOPES:
        raise PlanError(f"Unknown check {code(check_id[:60])}. Valid: {', '.join(sorted(CHECK_SCOPES))}.")
    if check_id not in FIXES:
        raise PlanError(f"No fix for {code(check_id[:60])}. Checks with a fix: {', '.join(sorted(FIXES))}.")
    return FIXES[check_id]
