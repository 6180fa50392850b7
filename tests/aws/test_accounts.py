"""The process's AWS clients, shared by accounts (moto): each request signed as the account that makes it and
counted for it, none made outside an account; one client per service and region however many accounts."""

from __future__ import annotations

import pytest

from demo.fake_account import HOME, compliant
from demo.servers import Moto
from workers.aws import accounts
from workers.aws.accounts import Account
from workers.core.settings import Settings
from workers.resources import alarm

ROLES = [f"arn:aws:iam::{n}:role/TrailAudit" for n in ("111111111111", "222222222222")]


def test_a_shared_client_signs_as_each_account(aws: Moto, settings: Settings) -> None:
    reached = [accounts.assumed_account(settings, role) for role in ROLES]
    assert all(isinstance(a, Account) for a in reached)
    for acct in reached:
        assert isinstance(acct, Account)
        s3 = acct.client("s3", HOME)
        s3.create_bucket(Bucket=f"logs-{acct.id}")
        assert acct.client("sts", HOME).get_caller_identity()["Account"] == acct.id
    for acct in reached:
        assert isinstance(acct, Account)
        assert [b["Name"] for b in acct.client("s3", HOME).list_buckets()["Buckets"]] == [f"logs-{acct.id}"]
        assert acct.calls["s3:CreateBucket"] == 1 and acct.calls["s3:ListBuckets"] == 1
    made = {key[:2] for key in accounts._SHARED}
    assert len(made) == len(accounts._SHARED)  # one client per service and region for both accounts
    assert ("s3", HOME) in made and ("sts", HOME) in made


def test_pages_are_read_as_the_account_too(aws: Moto, settings: Settings) -> None:
    for role in ROLES:
        acct = accounts.assumed_account(settings, role)
        assert isinstance(acct, Account)
        acct.client("s3", HOME).create_bucket(Bucket=f"paged-{acct.id}")
        pages = acct.client("s3", HOME).get_paginator("list_objects_v2").paginate(Bucket=f"paged-{acct.id}")
        assert [p["Name"] for p in pages] == [f"paged-{acct.id}"]


def test_a_call_outside_any_account_is_refused(aws: Moto, settings: Settings) -> None:
    acct = accounts.default_account(settings)
    assert isinstance(acct, Account)
    acct.client("sts", HOME).get_caller_identity()
    shared = next(c for key, c in accounts._SHARED.items() if key[:2] == ("sts", HOME))
    with pytest.raises(RuntimeError, match="outside an account"):
        shared.get_caller_identity()  # never the process's own credentials by accident


def test_a_filter_pattern_is_judged_once_for_an_hour(aws: Moto, settings: Settings) -> None:
    compliant([HOME])
    acct = accounts.default_account(settings)
    assert isinstance(acct, Account)
    first = alarm.judge_pattern(acct, HOME, "{ ($.eventName = StopLogging) }")
    assert alarm.judge_pattern(acct, HOME, "{ ($.eventName = StopLogging) }") == first
    assert acct.calls["logs:TestMetricFilter"] == 1
    alarm.judge_pattern(acct, HOME, "{ ($.eventName = DeleteTrail) }")  # another pattern: judged at once
    assert acct.calls["logs:TestMetricFilter"] == 2
