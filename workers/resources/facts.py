"""The facts the checks judge, as gathered: per trail, per region, per account.

Each fact is the API's answer or the `ApiError` that kept us from it (see `workers.aws.calls`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from workers.aws.calls import Fact
from workers.aws.errors import ApiError
from workers.resources.filter_pattern import CIS_EVENTS, Match


@dataclass
class AlarmFacts:
    """A metric filter of a trail's log group, which CIS events it matches (and who judged), and, when it
    matches all five, the alarms on its metric."""

    filter_name: str
    pattern: str
    metric: str
    namespace: str
    alarms: list[dict[str, Any]]  # {"name", "enabled", "actions", "topics": {arn: subscribers | "missing" | ApiError}}
    judged: Match = dataclasses.field(default_factory=lambda: Match(CIS_EVENTS))
    definition: dict[str, Any] = dataclasses.field(default_factory=dict)  # the filter as PutMetricFilter takes it


@dataclass
class TrailFacts:
    """Everything known of one trail, gathered in its home region."""

    arn: str
    home_region: str
    trail: dict[str, Any]
    status: Fact = None
    selectors: Fact = None
    bucket: Fact = None  # "exists", "missing", "forbidden", "unset", or ApiError
    alarm: Fact = None  # list[AlarmFacts], ApiError, or None when the trail has no log group
    lifecycle: Fact = None  # the bucket's lifecycle rules, ApiError, or None when no bucket is set
    policy: Fact = None  # the bucket's policy document ({} for none), ApiError, or None when no bucket is set
    key: Fact = None  # DescribeKey's KeyMetadata, ApiError, or None when the trail sets no KMS key
    retention_days: int = 365  # how long its logs must be kept (TRAIL_AUDIT_LOG_RETENTION_DAYS)

    @property
    def name(self) -> str:
        """The trail's name."""
        return str(self.trail.get("Name") or self.arn.rsplit("/", 1)[-1])


@dataclass
class RegionFacts:
    """Everything gathered in one region of one account."""

    account: str
    region: str
    enabled: bool = True
    trails: Fact = None  # DescribeTrails(includeShadowTrails=True)["trailList"]
    trail_facts: list[TrailFacts] = field(default_factory=list)
    recorders: Fact = None
    recorder_statuses: Fact = None
    linked_recorders: Fact = None  # service-linked recorders ListConfigurationRecorders named ([] if it did not answer)
    channels: Fact = None



@dataclass
class AccountFacts:
    """Everything gathered for one account, across the audited regions."""

    account: str
    regions: list[RegionFacts]

    def trails(self) -> list[TrailFacts]:
        """Every trail judged, once each, by ARN."""
        seen: dict[str, TrailFacts] = {}
        for region in self.regions:
            for tf in region.trail_facts:
                seen.setdefault(tf.arn, tf)
        return sorted(seen.values(), key=lambda t: t.arn)

    def enabled(self) -> list[RegionFacts]:
        """The regions that were enabled and so were gathered."""
        return [r for r in self.regions if r.enabled]

    def trail_list_errors(self) -> list[tuple[str, ApiError]]:
        """Regions whose DescribeTrails failed, with the error."""
        return [(r.region, r.trails) for r in self.enabled() if isinstance(r.trails, ApiError)]

    def owns(self, arn: str) -> bool:
        """True when the ARN belongs to this account."""
        parts = arn.split(":")
        return len(parts) > 4 and parts[4] == self.account

