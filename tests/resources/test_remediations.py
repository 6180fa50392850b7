"""Every remediation and backout, judged by its effect on moto's state: the finding passes afterwards, what
must be kept is kept, and running it twice leaves the same state."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from demo.fake_account import ACCOUNT, CONFIG_ROLE, HOME, LOG_GROUP, FakeAccount, compliant
from demo.servers import Moto
from tests.helpers import ROOT
from tests.helpers.faults import Faults
from workers.aws.accounts import Account, default_account
from workers.aws.errors import iam_action
from workers.core.check_catalogue import PlanError
from workers.core.settings import Settings
from workers.resources import actions
from workers.resources.findings import GLOBAL, Status
from workers.resources.recheck import recheck
from workers.resources.recorder import TRAIL_TYPE
from workers.resources.selectors import MANAGEMENT_ALL

DATA = {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payments-data/"]}]}  # fmt: skip
ADV_DATA = {"Name": "S3 writes", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
    {"Field": "readOnly", "Equals": ["false"]}]}  # fmt: skip


def account(settings: Settings) -> Account:
    acct = default_account(settings)
    assert isinstance(acct, Account)
    return acct


def fix_twice(action: str, settings: Settings, region: str, resource: str, state: Any) -> None:
    """Run the action; it must change something. Run it again; the state must be what the first left."""
    acct = account(settings)
    before = Counter(acct.calls)
    first = actions.plan(action, acct, region, resource, settings)
    assert first.calls, "the action had nothing to do: the test set up no problem"
    assert all(r["ok"] for r in actions.execute(acct, first))
    after_one = state()
    assert all(r["ok"] for r in actions.execute(acct, actions.plan(action, acct, region, resource, settings)))
    assert state() == after_one
    used = {iam_action(*name.split(":")) for name in acct.calls - before}
    assert used <= set(actions.get(action).permissions), (
        f"{action} calls undeclared {used - set(actions.get(action).permissions)}"
    )


def passes(settings: Settings, check: str, region: str, resource: str) -> None:
    finding = recheck(account(settings), settings, check, region, resource)
    assert finding is not None and finding.status is Status.PASS, finding


def selectors(arn: str) -> dict[str, Any]:
    answer = FakeAccount().client("cloudtrail").get_event_selectors(TrailName=arn)
    return {k: answer.get(k) or [] for k in ("EventSelectors", "AdvancedEventSelectors")}


def recorder(region: str) -> dict[str, Any]:
    return FakeAccount().client("config", region).describe_configuration_recorders()["ConfigurationRecorders"][0]


@pytest.fixture
def acct(aws: Moto) -> FakeAccount:
    return compliant([HOME])


def test_start_logging(acct: FakeAccount, settings: Settings) -> None:
    arn = acct.trail("app", multi_region=False, logging=False)
    status = lambda: FakeAccount().client("cloudtrail").get_trail_status(Name=arn)["IsLogging"]  # noqa: E731
    fix_twice("cloudtrail.start_logging", settings, HOME, arn, status)
    passes(settings, "cloudtrail.trail_logging", HOME, arn)


def test_enable_management_events_keeps_basic_data_selectors(acct: FakeAccount, settings: Settings) -> None:
    arn = acct.trail("app", multi_region=False)
    readonly = {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True, "DataResources": []}
    FakeAccount().client("cloudtrail").put_event_selectors(TrailName=arn, EventSelectors=[DATA, readonly])
    fix_twice("cloudtrail.enable_management_events", settings, HOME, arn, lambda: selectors(arn))
    passes(settings, "cloudtrail.trail_management_events", HOME, arn)
    data = [s for s in selectors(arn)["EventSelectors"] if s["DataResources"]]
    assert data and data[0]["DataResources"] == DATA["DataResources"] and data[0]["ReadWriteType"] == "WriteOnly"


def test_enable_management_events_keeps_advanced_data_selectors(acct: FakeAccount, settings: Settings) -> None:
    arn = acct.trail("app", multi_region=False)
    readonly_mgmt = {"Name": "reads", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                         {"Field": "readOnly", "Equals": ["true"]}]}  # fmt: skip
    FakeAccount().client("cloudtrail").put_event_selectors(
        TrailName=arn, AdvancedEventSelectors=[ADV_DATA, readonly_mgmt]
    )
    fix_twice("cloudtrail.enable_management_events", settings, HOME, arn, lambda: selectors(arn))
    passes(settings, "cloudtrail.trail_management_events", HOME, arn)
    assert ADV_DATA in selectors(arn)["AdvancedEventSelectors"]


def test_enable_log_file_validation(acct: FakeAccount, settings: Settings) -> None:
    arn = acct.trail("app", multi_region=False, validation=False)
    ct = FakeAccount().client("cloudtrail")
    fix_twice("cloudtrail.enable_log_file_validation", settings, HOME, arn,
              lambda: ct.get_trail(Name=arn)["Trail"]["LogFileValidationEnabled"])  # fmt: skip
    passes(settings, "cloudtrail.trail_log_file_validation", HOME, arn)


def test_create_multiregion_trail(aws: Moto, settings: Settings) -> None:
    acct = FakeAccount()
    acct.bucket()
    acct.trail("regional", multi_region=False)
    for_bucket = settings.model_copy(update={"trail_bucket": "org-cloudtrail-logs", "regions": [HOME]})
    ct = acct.client("cloudtrail")
    state = lambda: sorted((t["Name"], t["IsMultiRegionTrail"]) for t in ct.describe_trails()["trailList"])  # noqa: E731
    fix_twice("cloudtrail.create_multiregion_trail", for_bucket, GLOBAL, ACCOUNT, state)
    passes(for_bucket, "cloudtrail.multiregion_management_logging", GLOBAL, ACCOUNT)
    with pytest.raises(PlanError, match="TRAIL_AUDIT_TRAIL_BUCKET"):
        actions.plan("cloudtrail.create_multiregion_trail", account(settings), GLOBAL, ACCOUNT, settings)


@pytest.mark.parametrize("strategy", ["inclusion", "exclusion"])
def test_record_cloudtrail_trails_keeps_the_group_role_and_mode(aws: Moto, settings: Settings, strategy: str) -> None:
    acct = FakeAccount()
    group = (
        {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"],
         "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"}}
        if strategy == "inclusion"
        else {"allSupported": False, "exclusionByResourceTypes": {"resourceTypes": [TRAIL_TYPE, "AWS::EC2::VPC"]},
              "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"}}
    )  # fmt: skip
    acct.bucket()
    acct.recorder(HOME, group=group)
    before = recorder(HOME)
    fix_twice("config.record_cloudtrail_trails", settings, HOME, HOME, lambda: recorder(HOME))
    passes(settings.model_copy(update={"regions": [HOME]}), "config.records_cloudtrail_trails", HOME, HOME)
    after = recorder(HOME)
    assert after["roleARN"] == before["roleARN"] == CONFIG_ROLE
    assert after.get("recordingMode") == before.get("recordingMode")
    kept = "AWS::S3::Bucket" if strategy == "inclusion" else "AWS::EC2::VPC"
    assert kept in json.dumps(after["recordingGroup"])


def test_record_cloudtrail_trails_creates_a_recorder_when_none(aws: Moto, settings: Settings) -> None:
    with_role = settings.model_copy(update={"config_role_arn": CONFIG_ROLE})
    fix_twice("config.record_cloudtrail_trails", with_role, HOME, HOME, lambda: recorder(HOME))
    passes(with_role.model_copy(update={"regions": [HOME]}), "config.records_cloudtrail_trails", HOME, HOME)


def test_start_recorder(aws: Moto, settings: Settings) -> None:
    acct = FakeAccount()
    acct.bucket()
    acct.recorder(HOME, start=False)
    cfg = acct.client("config")
    state = lambda: cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"]  # noqa: E731
    fix_twice("config.start_recorder", settings, HOME, HOME, state)
    passes(settings.model_copy(update={"regions": [HOME]}), "config.recorder_recording", HOME, HOME)


def test_start_recorder_needs_a_delivery_channel(aws: Moto, settings: Settings) -> None:
    FakeAccount().recorder(HOME, channel=False, start=False)
    with pytest.raises(PlanError, match="delivery channel"):
        actions.plan("config.start_recorder", account(settings), HOME, HOME, settings)


def test_config_change_alarm(aws: Moto, settings: Settings) -> None:
    acct = FakeAccount()
    acct.bucket()
    acct.client("logs").create_log_group(logGroupName=LOG_GROUP)
    acct.trail("management", log_group=LOG_GROUP)
    topic = acct.client("sns").create_topic(Name="oncall")["TopicArn"]
    acct.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{HOME}:{ACCOUNT}:q")
    with_topic = settings.model_copy(update={"alarm_topic_arn": topic, "regions": [HOME]})
    logs, cw = acct.client("logs"), acct.client("cloudwatch")
    state = lambda: (logs.describe_metric_filters(logGroupName=LOG_GROUP)["metricFilters"],  # noqa: E731
                     [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]])  # fmt: skip
    fix_twice("cloudwatch.config_change_alarm", with_topic, GLOBAL, ACCOUNT, state)
    passes(with_topic, "cloudtrail.config_change_alarm", GLOBAL, ACCOUNT)


@pytest.mark.parametrize("kind", ["basic", "advanced", "never-set"])
def test_backout_then_reenable_restores_selectors_exactly(acct: FakeAccount, settings: Settings, kind: str) -> None:
    arn = acct.trail("app", multi_region=False)
    ct = FakeAccount().client("cloudtrail")
    if kind == "basic":
        ct.put_event_selectors(TrailName=arn, EventSelectors=[DATA, dict(MANAGEMENT_ALL)])
    elif kind == "advanced":
        mgmt = {"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
        ct.put_event_selectors(TrailName=arn, AdvancedEventSelectors=[ADV_DATA, mgmt])
    before = selectors(arn)
    a = account(settings)
    plan = actions.plan("backout.management_events_off", a, HOME, arn, settings)
    assert all(r["ok"] for r in actions.execute(a, plan))
    off = recheck(a, settings.model_copy(update={"regions": [HOME]}), "cloudtrail.trail_management_events", HOME, arn)
    assert off is not None and off.status is Status.FAIL
    assert plan.snapshot is not None
    assert all(r["ok"] for r in actions.execute(a, actions.reenable(plan.snapshot)))
    if kind == "never-set":  # AWS's default (all management events) is restored explicitly
        assert selectors(arn)["EventSelectors"][0]["IncludeManagementEvents"] is True
    else:
        assert selectors(arn) == before


def test_recorder_off_then_reenable(acct: FakeAccount, settings: Settings) -> None:
    cfg = FakeAccount().client("config")
    before = (
        cfg.describe_configuration_recorders(),
        cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"],
    )
    a = account(settings)
    plan = actions.plan("backout.recorder_off", a, HOME, HOME, settings)
    assert all(r["ok"] for r in actions.execute(a, plan))
    assert cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"] is False
    assert plan.snapshot is not None
    assert all(r["ok"] for r in actions.execute(a, actions.reenable(plan.snapshot)))
    after = (
        cfg.describe_configuration_recorders(),
        cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"][0]["recording"],
    )
    assert after[0]["ConfigurationRecorders"] == before[0]["ConfigurationRecorders"] and after[1] is before[1] is True


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(PlanError, match=r"cloudtrail\.start_logging"):
        actions.get("cloudtrail.restart")
    with pytest.raises(PlanError, match="Checks with a fix"):
        actions.for_check("config.delivery_channel")


def test_remediation_policy_covers_exactly_what_the_actions_declare_and_call(aws: Moto, settings: Settings) -> None:
    policy = json.loads((ROOT / "deploy/iam/remediation-policy.json").read_text())
    allowed = {a for st in policy["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}
    declared = {p for r in actions.REMEDIATIONS.values() for p in r.permissions} | set(actions.REENABLE_PERMISSIONS)
    assert allowed == declared  # and each test above checks that an action calls only what it declares
    assert not any(a.endswith("*") for a in allowed)


def test_a_failed_call_stops_the_plan_and_says_why(acct: FakeAccount, settings: Settings, faults: Any) -> None:
    arn = acct.trail("app", multi_region=False, logging=False, validation=False)
    injector: Faults = faults(deny={"cloudtrail:StartLogging"})
    a = account(settings)
    calls = actions.plan("cloudtrail.start_logging", a, HOME, arn, settings).calls * 2
    results = actions.execute(a, actions.Plan(calls))
    assert len(results) == 1 and not results[0]["ok"] and "cloudtrail:StartLogging" in results[0]["error"]
    assert injector is not None


def test_a_failed_reenable_keeps_the_backout_and_tries_again(
    acct: FakeAccount, settings: Settings, faults: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis import Redis as RedisClient

    from demo.servers import start_redis
    from demo.slack_standin import SlackStandIn
    from workers.remediation import approvals, backouts
    from workers.state import auditlog, keys

    arn = acct.trail("app", multi_region=False)
    FakeAccount().client("cloudtrail").put_event_selectors(
        TrailName=arn, EventSelectors=[DATA, dict(MANAGEMENT_ALL)]
    )
    before = selectors(arn)
    redis = start_redis()
    try:
        with SlackStandIn() as slack:
            for key, value in {
                "REDIS_URL": redis.url,
                "SLACK_API_URL": slack.api_url,
                "SLACK_BOT_TOKEN": "xoxb-t",
            }.items():
                monkeypatch.setenv(key, value)
            conn = RedisClient.from_url(redis.url)
            plan = actions.plan("backout.management_events_off", account(settings), HOME, arn, settings)
            assert all(r["ok"] for r in actions.execute(account(settings), plan))
            req = approvals.Request(id="b0", action="backout.management_events_off", requester="U0ALICE", reason="r",
                                    account=ACCOUNT, region=HOME, resource=arn, plan=plan.to_dict(),
                                    deadline=time.time())  # fmt: skip
            conn.hset(keys.request("b0"), mapping={"doc": req.doc(), "status": approvals.RequestStatus.ACTIVE.value})
            injector: Faults = faults(deny={"cloudtrail:PutEventSelectors"})
            assert backouts.reenable("b0", "deadline") == "backout active"
            assert conn.zscore(keys.REENABLE_DUE, "b0") is not None  # tried again in a minute
            assert auditlog.newest(conn, 10)[0]["event"] == "reenable_failed"
            injector.deny.clear()
            assert backouts.reenable("b0", "deadline") == "restored"
            assert selectors(arn) == before and conn.zscore(keys.REENABLE_DUE, "b0") is None
    finally:
        redis.stop()


def test_every_action_is_documented() -> None:
    text = (ROOT / "docs/remediations.md").read_text()
    assert all(f"`{action}`" in text for action in actions.REMEDIATIONS)


def test_a_trail_name_is_found_in_whichever_region_holds_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On moto state: a single-region trail homed outside the home region is listed only in its own region."""
    from workers.remediation import planning
    from workers.remediation.approvals import Request

    monkeypatch.setenv("TRAIL_AUDIT_REGIONS", "us-east-1,eu-west-1,eu-central-1")
    wide = Settings(_env_file=None)  # type: ignore[call-arg]
    fake = FakeAccount()
    fake.bucket()
    eu = fake.trail("eu-data", region="eu-west-1", multi_region=False)
    fake.trail("dup", region="eu-west-1", multi_region=False)
    fake.trail("dup", region="eu-central-1", multi_region=False)
    acct = default_account(wide)
    assert isinstance(acct, Account)

    def request(name: str) -> Request:
        return Request(id="r1", action="cloudtrail.start_logging", requester="U1", reason="r", account=acct.id,
                       region=HOME, resource=name, check="cloudtrail.trail_logging")  # fmt: skip

    assert planning.resolve(acct, wide, request("eu-data")) == ("eu-west-1", eu)
    with pytest.raises(PlanError) as ambiguous:
        planning.resolve(acct, wide, request("dup"))
    assert "Several trails are named `dup`" in str(ambiguous.value)
    assert "eu-west-1" in str(ambiguous.value) and "eu-central-1" in str(ambiguous.value)
    with pytest.raises(PlanError, match="No trail named `nowhere`"):
        planning.resolve(acct, wide, request("nowhere"))


def test_a_recheck_that_cannot_list_the_trails_is_error_not_gone(
    acct: FakeAccount, settings: Settings, faults: Any
) -> None:
    arn = acct.trail("app", multi_region=False)
    faults(deny={"cloudtrail:DescribeTrails"})
    finding = recheck(account(settings), settings, "cloudtrail.trail_logging", HOME, arn)
    assert finding is not None and finding.status is Status.ERROR
    assert "cloudtrail:DescribeTrails" in finding.detail
