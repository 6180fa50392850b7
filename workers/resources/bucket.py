"""A trail's S3 log bucket: how long it keeps the logs, and whether its policy lets CloudTrail write them.

Facts: `GetBucketLifecycleConfiguration` and `GetBucketPolicy` of each trail's bucket, in the trail's home
region. Check: `cloudtrail.trail_log_retention` (and the policy half of `cloudtrail.trail_s3_delivery`, in
`trail.py`). Watched, per bucket a trail delivers to: its existence, the shortest lifecycle expiry over the
trails' log prefixes, and whether the policy still allows delivery. Restore: the lifecycle configuration and
the policy it replaced, put back exactly; a deleted bucket is not restorable (its objects are gone).

The judging functions (`shortest_expiry`, `delivery_allowed`) are pure and tested directly.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from dataclasses import dataclass
from typing import Any

from workers.aws.accounts import Account
from workers.aws.calls import Fact, call
from workers.aws.errors import ApiError
from workers.resources.actions import ApiCall, Plan
from workers.resources.facts import TrailFacts
from workers.resources.findings import Status
from workers.resources.verdicts import Scope, Verdict, check, error_verdict
from workers.resources.watched import Field, Kind, watch

CLOUDTRAIL = "cloudtrail.amazonaws.com"
NO_LIFECYCLE = ("NoSuchLifecycleConfiguration",)
NO_POLICY = ("NoSuchBucketPolicy",)
MISSING = ("404", "NoSuchBucket", "NotFound")


# --- facts -------------------------------------------------------------------------------------------------


def log_base(trail: dict[str, Any]) -> str:
    """Where CloudTrail writes a trail's log objects in its bucket: `<prefix>/AWSLogs/`."""
    prefix = str(trail.get("S3KeyPrefix") or "").strip("/")
    return f"{prefix}/AWSLogs/" if prefix else "AWSLogs/"


def read_lifecycle(account: Account, region: str, bucket: str | None) -> Fact:
    """The bucket's lifecycle rules ([] when it has none), None when no bucket is set, or the ApiError."""
    if not bucket:
        return None
    answer = call(account, "s3", region, "GetBucketLifecycleConfiguration", Bucket=bucket)
    if isinstance(answer, ApiError):
        return [] if answer.code in NO_LIFECYCLE else answer
    return list(answer.get("Rules") or [])


def read_policy(account: Account, region: str, bucket: str | None) -> Fact:
    """The bucket's policy document ({} when it has none), None when no bucket is set, or the ApiError."""
    if not bucket:
        return None
    answer = call(account, "s3", region, "GetBucketPolicy", Bucket=bucket)
    if isinstance(answer, ApiError):
        return {} if answer.code in NO_POLICY else answer
    try:
        doc = json.loads(answer.get("Policy") or "{}")
    except ValueError:
        return ApiError("s3", "GetBucketPolicy", "MalformedPolicy", "the bucket policy is not JSON")
    return doc if isinstance(doc, dict) else {}


# --- judging (pure) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expiry:
    """The soonest a lifecycle rule deletes log objects (current or noncurrent versions), and which rule."""

    days: int
    rule: str
    what: str  # "current" or "noncurrent versions of"


def _rule_prefix(rule: dict[str, Any]) -> str | None:
    """The key prefix a rule applies to ("" for the whole bucket), or None when only tagged objects match
    (CloudTrail's log objects carry no tags)."""
    if "Prefix" in rule and "Filter" not in rule:
        return str(rule.get("Prefix") or "")
    filt = rule.get("Filter") or {}
    if "Tag" in filt:
        return None
    if "And" in filt:
        if (filt["And"] or {}).get("Tags"):
            return None
        return str((filt["And"] or {}).get("Prefix") or "")
    return str(filt.get("Prefix") or "")


def _whole(value: Any) -> int:
    """A rule's days (CloudTrail records them as text); one that cannot be read counts as 0: the soonest."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _days_until(when: Any, today: dt.date) -> int:
    try:
        date = dt.date.fromisoformat(str(when)[:10])
    except ValueError:
        return 0
    return max(0, (date - today).days)


def shortest_expiry(rules: list[dict[str, Any]], base: str, today: dt.date | None = None) -> Expiry | None:
    """The enabled rule that deletes objects under `base` soonest, or None when none deletes them.

    A rule applies when its prefix and the log prefix overlap (it covers all the logs, or some of them); a
    rule filtered by tags does not (log objects are untagged); a size filter is not judged (it applies).
    """
    today = today or dt.datetime.now(dt.UTC).date()
    found: list[Expiry] = []
    for rule in rules:
        prefix = _rule_prefix(rule)
        if rule.get("Status") != "Enabled" or prefix is None:
            continue
        if not (base.startswith(prefix) or prefix.startswith(base)):
            continue
        name = str(rule.get("ID") or "(unnamed)")
        expiration = rule.get("Expiration") or {}
        if "Days" in expiration:
            found.append(Expiry(_whole(expiration["Days"]), name, "current"))
        elif "Date" in expiration:
            found.append(Expiry(_days_until(expiration["Date"], today), name, "current"))
        noncurrent = (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
        if noncurrent is not None:
            found.append(Expiry(_whole(noncurrent), name, "noncurrent versions of"))
    return min(found, key=lambda e: e.days) if found else None


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _principal_is_cloudtrail(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return CLOUDTRAIL in _listed(principal.get("Service")) or "*" in _listed(principal.get("AWS"))
    return False


def _matches(patterns: list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def _applies(statement: dict[str, Any], key_arn: str) -> bool:
    actions = _listed(statement.get("Action"))
    return (
        _principal_is_cloudtrail(statement.get("Principal"))
        and _matches(actions, "s3:PutObject")
        and _matches(_listed(statement.get("Resource")), key_arn)
    )


def _harmless_condition(condition: dict[str, Any]) -> bool:
    """A deny that only refuses plain-HTTP requests never stops CloudTrail (it writes over TLS)."""
    return list(condition) == ["Bool"] and condition["Bool"] == {"aws:SecureTransport": "false"}


def delivery_allowed(policy: dict[str, Any], bucket: str, base: str, account: str, trail_arn: str) -> str | None:
    """None when the policy lets CloudTrail put this trail's logs; otherwise why it does not.

    A Deny on CloudTrail's PutObject (any condition but plain-HTTP) refuses; an Allow must name the service,
    the action and the trail's log objects, and its `aws:SourceArn`, when it has one, must match the trail.
    """
    key_arn = f"arn:aws:s3:::{bucket}/{base}{account}/CloudTrail/log.json.gz"
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    for st in statements:
        if st.get("Effect") == "Deny" and _applies(st, key_arn) and not _harmless_condition(st.get("Condition") or {}):
            return f"statement {st.get('Sid') or '(no Sid)'} denies {CLOUDTRAIL} s3:PutObject on the trail's logs"
    for st in statements:
        if st.get("Effect") != "Allow" or not _applies(st, key_arn):
            continue
        conditions = st.get("Condition") or {}
        sources = [v for c in conditions.values() if isinstance(c, dict) for k, v in c.items()
                   if k.lower() == "aws:sourcearn"]  # fmt: skip
        if all(_matches(_listed(s), trail_arn) for s in sources):
            return None
    if not statements:
        return "the bucket has no policy, so CloudTrail may not write to it"
    return f"no statement allows {CLOUDTRAIL} s3:PutObject on {base}{account}/"


def refused(policy: dict[str, Any], bucket: str, trail: dict[str, Any]) -> str | None:
    """Why a bucket policy stops a trail's delivery, or None. An organization trail writes under
    AWSLogs/<organization id>/, which DescribeTrails does not name: for it only a Deny is judged."""
    why = delivery_allowed(policy, bucket, log_base(trail), trail["TrailARN"].split(":")[4], trail["TrailARN"])
    if why and trail.get("IsOrganizationTrail") and not why.startswith("statement "):
        return None
    return why


# --- check -------------------------------------------------------------------------------------------------


@check("cloudtrail.trail_log_retention", Scope.TRAIL, "Trail's log bucket keeps its logs long enough")
def trail_log_retention(tf: TrailFacts) -> Verdict:
    """No enabled lifecycle rule on the trail's log prefix deletes logs sooner than the retention setting."""
    bucket, keep = tf.trail.get("S3BucketName"), tf.retention_days
    evidence: dict[str, Any] = {"S3BucketName": bucket, "log_prefix": log_base(tf.trail), "required_days": keep}
    if tf.lifecycle is None:
        return Verdict(Status.FAIL, f"Trail {tf.name} has no S3 bucket: its logs are kept nowhere.", evidence)
    if isinstance(tf.lifecycle, ApiError):
        return error_verdict(tf.lifecycle, f"how long bucket {bucket} keeps the logs of trail {tf.name}")
    soonest = shortest_expiry(tf.lifecycle, log_base(tf.trail))
    evidence["Rules"] = tf.lifecycle
    if soonest is None or soonest.days >= keep:
        after = f" (its soonest rule, {soonest.rule}, after {soonest.days} days)" if soonest else ""
        return Verdict(Status.PASS, f"Bucket {bucket} keeps the logs of trail {tf.name}{after}.", evidence)
    evidence["expiring_rule"] = soonest.rule
    return Verdict(
        Status.FAIL,
        f"Lifecycle rule {soonest.rule} of bucket {bucket} deletes {soonest.what} the logs of trail {tf.name} "
        f"after {soonest.days} days, sooner than the {keep} required.",
        evidence,
    )


# --- watched -----------------------------------------------------------------------------------------------


def observe_buckets(acct: Account, region: str, trails: Fact) -> dict[str, Any]:
    """The buckets of the trails homed in this region, by name: whether each exists, its lifecycle and policy,
    and what they mean for the trails' logs (shortest expiry in days; whether delivery is allowed)."""
    if isinstance(trails, ApiError):
        return {"error": trails.sentence()}
    by_bucket: dict[str, list[dict[str, Any]]] = {}
    for t in trails.get("trailList", []):
        if t.get("HomeRegion") == region and t.get("S3BucketName"):
            by_bucket.setdefault(t["S3BucketName"], []).append(t)
    return {name: _observed(acct, region, name, homed) for name, homed in sorted(by_bucket.items())}


def _observed(acct: Account, region: str, bucket: str, trails: list[dict[str, Any]]) -> dict[str, Any]:
    rules, policy = read_lifecycle(acct, region, bucket), read_policy(acct, region, bucket)
    for answer in (rules, policy):
        if isinstance(answer, ApiError):
            if answer.code in MISSING:
                return {"exists": False, "trails": sorted(t["TrailARN"] for t in trails)}
            return {"error": answer.sentence()}
    expiries = [shortest_expiry(rules, log_base(t)) for t in trails]
    days = [e.days for e in expiries if e is not None]
    refusals = [refused(policy, bucket, t) for t in trails]
    return {
        "exists": True,
        "trails": sorted(t["TrailARN"] for t in trails),  # what a re-check after a Restore judges
        "about": {t["TrailARN"]: {k: t.get(k) for k in ("S3KeyPrefix", "IsOrganizationTrail")} for t in trails},
        "expiry_days": min(days) if days else None,
        "delivery": not any(refusals),
        "lifecycle": rules,
        "policy": policy,
    }


def _shorter(before: Any, after: Any) -> bool:
    return after is not None and (before is None or after < before)


def _as_long(before: Any, now: Any) -> bool:
    return now is None or (before is not None and now >= before)


def _days(value: Any) -> str:
    return "kept for ever" if value is None else f"deleted after {value} day{'' if value == 1 else 's'}"


def lifecycle_call(name: str, params: dict[str, Any]) -> tuple[Any] | None:
    """The soonest expiry a lifecycle call sets, as CloudTrail records it (one `Rule` or a list; the trail's
    prefix unknown here: any rule that deletes counts); deleting the configuration keeps the logs."""
    if name == "DeleteBucketLifecycle":
        return (None,)
    if name != "PutBucketLifecycle":
        return None
    config = params.get("LifecycleConfiguration")
    config = config if isinstance(config, dict) else {}
    rules = config.get("Rule") or config.get("Rules") or []
    rules = [rules] if isinstance(rules, dict) else rules
    soonest = shortest_expiry([r for r in rules if isinstance(r, dict)], "")
    return (soonest.days if soonest else None,)


def _policy_call(name: str, params: dict[str, Any], item: dict[str, Any]) -> tuple[Any] | None:
    """Whether the trails of the bucket's last known state may still deliver under the policy a call sets."""
    if name == "DeleteBucketPolicy":
        return (not item.get("trails"),)
    policy = params.get("bucketPolicy")
    if name != "PutBucketPolicy" or not item.get("trails"):
        return None
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return None
    bucket = str(params.get("bucketName") or "")
    trails = [{"TrailARN": arn, **about} for arn, about in (item.get("about") or {}).items()]
    return (isinstance(policy, dict) and not any(refused(policy, bucket, t) for t in trails),)


def restore_bucket(region: str, bucket: str, field: str, snap: dict[str, Any]) -> Plan:
    """The lifecycle configuration or the policy the bucket had, put back exactly."""
    if field == "retention":
        if not snap["lifecycle"]:
            return Plan([ApiCall("s3", region, "DeleteBucketLifecycle", {"Bucket": bucket})])
        config = {"Rules": snap["lifecycle"]}
        return Plan([ApiCall("s3", region, "PutBucketLifecycleConfiguration",
                             {"Bucket": bucket, "LifecycleConfiguration": config})])  # fmt: skip
    if field == "delivery":
        if not snap["policy"]:
            return Plan([ApiCall("s3", region, "DeleteBucketPolicy", {"Bucket": bucket})])
        policy = {"Bucket": bucket, "Policy": json.dumps(snap["policy"])}
        return Plan([ApiCall("s3", region, "PutBucketPolicy", policy)])
    return Plan([])  # a deleted bucket: its objects are gone, there is nothing exact to put back


watch(
    Kind("bucket", "buckets", "Log bucket", observe_buckets, restore_bucket, absent_is_deleted=False),
    Field("bucket", "exists", "was deleted", ("DeleteBucket",), "cloudtrail.trail_s3_delivery", restorable=False,
          from_call=lambda name, params, item: (False,) if name == "DeleteBucket" else None),
    Field("bucket", "retention", "got a lifecycle rule that deletes trail logs sooner",
          ("PutBucketLifecycle", "PutBucketLifecycleConfiguration"), "cloudtrail.trail_log_retention",
          value=lambda item: item.get("expiry_days"), regressed=_shorter, recovered=_as_long, text=_days,
          from_call=lambda name, params, item: lifecycle_call(name, params)),
    Field("bucket", "delivery", "no longer lets CloudTrail write the trail's logs",
          ("PutBucketPolicy", "DeleteBucketPolicy"), "cloudtrail.trail_s3_delivery", from_call=_policy_call),
)  # fmt: skip
