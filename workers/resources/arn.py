"""What a trail ARN says (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME)."""

from __future__ import annotations

from workers.core.check_catalogue import PlanError
from workers.core.mrkdwn import code


def trail_region(arn: str) -> str:
    """A trail ARN's home region."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "cloudtrail" or not parts[5].startswith("trail/"):
        raise PlanError(f"{code(arn[:120])} is not a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME).")
    return parts[3]
