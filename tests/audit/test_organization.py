"""A whole AWS Organization on moto: accounts discovered (every page), suspended and excluded ones left out,
each assumed role reaching its own account's state, an unreachable account an ERROR that is not covered."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from demo.fake_account import BUCKET, HOME
from demo.servers import Moto
from tests.helpers.faults import Faults
from workers.audit.engine import run_audit
from workers.aws import organization
from workers.core.settings import Settings
from workers.resources.findings import Status


def org_with(accounts: int) -> tuple[Any, str, list[str]]:
    """An organization (this account its management account) with `accounts` member accounts."""
    org = boto3.client("organizations", region_name=HOME)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ids = [org.create_account(Email=f"member{i}@example.com", AccountName=f"member-{i}")["CreateAccountStatus"]
           ["AccountId"] for i in range(accounts)]  # fmt: skip
    return org, root, ids


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_discovery_reads_every_page_and_leaves_out_suspended_and_excluded(
    aws: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, root, ids = org_with(24)  # with the management account, more than one page of ListAccounts
    sandbox = org.create_organizational_unit(ParentId=root, Name="sandbox")["OrganizationalUnit"]["Id"]
    nested = org.create_organizational_unit(ParentId=sandbox, Name="experiments")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=ids[0], SourceParentId=root, DestinationParentId=sandbox)
    org.move_account(AccountId=ids[1], SourceParentId=root, DestinationParentId=nested)  # below the excluded OU
    org.close_account(AccountId=ids[2])  # SUSPENDED
    pages = org.get_paginator("list_accounts").paginate(MaxResults=20)  # as trail-audit asks: 20, the API's most
    assert sum(1 for _ in pages) > 1, "the organization must span pages for this test to mean anything"
    settings = settings_with(monkeypatch, TRAIL_AUDIT_ORG_ROLE_NAME="TrailAudit",
                             TRAIL_AUDIT_ACCOUNTS_EXCLUDE=f"{sandbox},{ids[3]}")  # fmt: skip
    roles, error = organization.roles(settings)
    assert error is None
    reached = {str(r).split(":")[4] for r in roles}
    assert reached == {"123456789012", *ids[4:]}  # 21 accounts: not the OU's two, the suspended, the excluded
    assert all(str(r).endswith(":role/TrailAudit") for r in roles)


def test_each_account_is_audited_in_its_own_state_and_the_unreachable_is_error(
    aws: Moto, monkeypatch: pytest.MonkeyPatch, faults: Callable[..., Faults]
) -> None:
    _, _, ids = org_with(2)
    good, bare = ids
    creds = boto3.client("sts", region_name=HOME).assume_role(
        RoleArn=f"arn:aws:iam::{good}:role/TrailAudit", RoleSessionName="seed")["Credentials"]  # fmt: skip
    member = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"], region_name=HOME)  # fmt: skip
    member.client("s3").create_bucket(Bucket=f"{BUCKET}-{good}")
    arn = member.client("cloudtrail").create_trail(Name="org-member", S3BucketName=f"{BUCKET}-{good}",
                                                   IsMultiRegionTrail=True)["TrailARN"]  # fmt: skip
    member.client("cloudtrail").start_logging(Name=arn)
    settings = settings_with(monkeypatch, TRAIL_AUDIT_ORG_ROLE_NAME="TrailAudit",
                             TRAIL_AUDIT_ROLE_ARNS="arn:aws:iam::000000000000:role/NotThere")  # fmt: skip
    faults(deny={"sts:AssumeRole"}, deny_if="000000000000")  # that one role cannot be assumed
    result = run_audit(settings, regions=[HOME])
    logging = {f.account: f.status for f in result.findings if f.check == "cloudtrail.trail_logging"}
    assert logging.get(good) is Status.PASS  # its own trail, seen through its own role
    assert bare not in logging or logging[bare] is not Status.PASS  # no trail of its own
    unreachable = [f for f in result.findings if f.account == "000000000000"]
    assert unreachable and all(f.status is Status.ERROR for f in unreachable)
    assert result.unreachable == ["000000000000"]
    assert result.coverage == f"{len(result.accounts) - 1} of {len(result.accounts)} accounts covered"
    assert {"123456789012", good, bare} <= set(result.accounts)


def test_an_organization_that_cannot_be_read_is_said(aws: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, TRAIL_AUDIT_ORG_ROLE_NAME="TrailAudit")  # no organization exists
    result = run_audit(settings, regions=[HOME])
    assert "the organization" in result.unreachable
    assert any(f.account == "the organization" and f.status is Status.ERROR for f in result.findings)


def test_the_summary_is_a_line_per_account_that_is_not_clean(aws: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from workers import cli

    org_with(2)
    settings_with(monkeypatch, TRAIL_AUDIT_ORG_ROLE_NAME="TrailAudit")
    out = io.StringIO()
    status = cli.main(["audit", "--regions", HOME, "--no-events", "--summary"], stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert status == 1 and "3 of 3 accounts covered" in lines[0]
    assert len([line for line in lines[1:] if ": " in line and " fail, " in line]) == 3  # none has a trail


def test_a_process_keeps_a_bounded_number_of_accounts(aws: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.aws import accounts

    settings = settings_with(monkeypatch, TRAIL_AUDIT_ACCOUNT_CACHE="3")
    for i in range(6):
        assert isinstance(
            accounts.assumed_account(settings, f"arn:aws:iam::{i:012d}:role/TrailAudit"), accounts.Account
        )
    assert list(accounts._ACCOUNTS) == [f"arn:aws:iam::{i:012d}:role/TrailAudit" for i in (3, 4, 5)]


def test_the_monitor_spreads_accounts_over_its_interval(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from redis import Redis
    from rq.registry import ScheduledJobRegistry

    from workers.monitor import watch
    from workers.queue.queues import MONITOR, queue

    conn = Redis.from_url(redis_url)
    conn.flushdb()
    roles = ",".join(f"arn:aws:iam::{n:012d}:role/TrailAudit" for n in range(4))
    settings_with(monkeypatch, REDIS_URL=redis_url, TRAIL_AUDIT_ROLE_ARNS=roles, TRAIL_AUDIT_MONITOR_SECONDS="60")
    assert watch.cycle() == 4
    q = queue(conn, MONITOR)
    assert len(q) == 1  # the first account now
    scheduled = ScheduledJobRegistry(queue=q)
    when = sorted(scheduled.get_scheduled_time(j).timestamp() for j in scheduled.get_job_ids())
    # spread over 85% of the interval, so the last starts well before the next cycle: 60 x 0.85 / 4 = 12.75 s
    # apart (RQ keeps whole seconds, so 12 or 13)
    assert len(when) == 3 and all(abs(b - a - 12.75) < 1 for a, b in itertools.pairwise(when))
    assert when[-1] - time.time() < 3 * 12.75 + 1


def test_alerts_and_prompts_route_by_account_or_ou(aws: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.aws.organization import _PARENTS, channel_for

    org, root, ids = org_with(3)
    payments = org.create_organizational_unit(ParentId=root, Name="payments")["OrganizationalUnit"]["Id"]
    inner = org.create_organizational_unit(ParentId=payments, Name="prod")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=ids[0], SourceParentId=root, DestinationParentId=inner)
    _PARENTS.clear()
    settings = settings_with(monkeypatch, TRAIL_AUDIT_ALERT_CHANNEL="C0ALERTS",
                             TRAIL_AUDIT_CHANNEL_ROUTES=f"{payments}=C0PAYMENTS, {ids[1]}=C0TEAM")  # fmt: skip
    assert channel_for(settings, ids[0]) == "C0PAYMENTS"  # through its OU's parent
    assert channel_for(settings, ids[1]) == "C0TEAM"  # by its id
    assert channel_for(settings, ids[2]) == "C0ALERTS"  # no route: the alert channel


def test_a_routed_alert_is_posted_in_its_accounts_channel(
    aws: Moto, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    from redis import Redis

    from tests.helpers.cloudtrail_records import pushed
    from workers.monitor import pushed as reading
    from workers.monitor.pushed_alerts import record
    from workers.state import keys

    conn = Redis.from_url(redis_url)
    conn.flushdb()
    settings = settings_with(monkeypatch, TRAIL_AUDIT_ALERT_CHANNEL="C0ALERTS",
                             TRAIL_AUDIT_CHANNEL_ROUTES="123456789012=C0TEAM")  # fmt: skip
    event = reading.parse(pushed("DeleteTrail", params={"name": "unknown"}))
    assert not isinstance(event, reading.Unreadable)
    assert record(conn, settings, [event]) == 1
    [message] = [m.decode() for m in conn.zrange(keys.OUTBOX_DUE, 0, -1)]
    assert conn.hget(keys.message(message), "channel") == b"C0TEAM"


def test_an_organizations_audit_is_fanned_out_by_account_batches_and_a_failed_batch_is_error_rows(
    aws: Moto, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from redis import Redis
    from rq import SimpleWorker
    from rq.job import Job

    from demo.slack_standin import SlackStandIn
    from workers.audit import jobs
    from workers.queue.queues import QUEUES, queue
    from workers.slack import outbox
    from workers.state import keys

    _, _, ids = org_with(jobs.ACCOUNTS_PER_JOB + 2)  # with the management account: two batches
    real = jobs.collect_region

    def broken(acct: Any, region: str, audited: list[str], retention_days: int) -> Any:
        if acct.id == ids[0]:
            raise RuntimeError("the work horse lost its way")
        return real(acct, region, audited, retention_days)

    monkeypatch.setattr(jobs, "collect_region", broken)
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    with SlackStandIn() as slack:
        env = {"REDIS_URL": redis_url, "SLACK_API_URL": slack.api_url, "SLACK_BOT_TOKEN": "xoxb-t"}
        settings = settings_with(monkeypatch, TRAIL_AUDIT_ORG_ROLE_NAME="TrailAudit", TRAIL_AUDIT_REGIONS=HOME,
                                 TRAIL_AUDIT_SECURITYHUB_EXPORT="true", **env)  # fmt: skip
        request = {"id": "orgaudit1", "kind": "audit", "channel": "C0AUDIT", "user": "U0A", "response_url": None,
                   "regions": [], "hours": None}  # fmt: skip
        assert jobs.start_audit(request) == "orgaudit1"
        batches = [j for j in queue(conn).get_jobs() if j.func_name.endswith("audit_accounts")]
        assert len(batches) == 2 and sorted(len(j.args[1]) for j in batches) == [3, 10]
        SimpleWorker([queue(conn, q) for q in QUEUES], connection=conn).work(burst=True)
        outbox.flush(conn, settings)
        report = json.loads(conn.get(keys.audit_report("orgaudit1")) or "{}")
        lost = next(j.args[1] for j in batches if any(ids[0] in str(r) for r in j.args[1]))
        lost_ids = {str(r).split(":")[4] for r in lost}
        by_account: dict[str, set[str]] = {}
        for f in report["findings"]:
            by_account.setdefault(f["account"], set()).add(f["status"])
        assert len(by_account) == len(ids) + 1  # every account has its rows: none missing
        assert all(by_account[a] == {"ERROR"} for a in lost_ids)  # never PASS when it could not verify
        assert all("FAIL" in s for a, s in by_account.items() if a not in lost_ids)  # reached: no trail
        assert set(report["summary"]["unreachable"]) == lost_ids
        assert "JobFailed" in json.dumps([f for f in report["findings"] if f["account"] == ids[0]])
        posted = slack.of("chat.update") + slack.of("chat.postMessage")
        covered = f"{len(ids) + 1 - len(lost_ids)} of {len(ids) + 1} accounts covered"
        assert any(covered in json.dumps(c.params) for c in posted)
        assert not any(Job.exists(j.id, connection=conn) for j in batches)  # their facts are in the report now
        # TRAIL_AUDIT_SECURITYHUB_EXPORT: the audit's findings in each account's Security Hub, said in the thread
        said = [c for c in slack.of("chat.postMessage") if "Security Hub:" in c.params["text"]]
        assert len(said) == 1 and said[0].params.get("thread_ts")
        assert f"imported into {len(ids) + 1} accounts" in said[0].params["text"]
        hub = boto3.client("securityhub", region_name=HOME)
        mine = [f for page in hub.get_paginator("get_findings").paginate() for f in page["Findings"]]
        assert mine and {f["AwsAccountId"] for f in mine} == {"123456789012"}
