"""Approval rules on a real redis-server: who may decide, expiry, tampering, replay, and the race."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from redis import Redis as RedisClient
from rq import Queue

from demo.slack_standin import SlackStandIn
from workers.core.ids import new_id
from workers.core.settings import Settings
from workers.queue import paths
from workers.queue.queues import URGENT
from workers.remediation import approvals
from workers.remediation.approvals import Refused, Request, RequestStatus
from workers.remediation.backouts import sweep_due
from workers.slack import outbox
from workers.state import auditlog, machine

APPROVERS = ["U0BOB", "U0CAROL", "S0SECOPS"]


@pytest.fixture
def server(redis_url: str) -> str:
    return redis_url


@pytest.fixture
def conn(server: str) -> RedisClient:
    c = RedisClient.from_url(server)
    c.flushall()
    return c


def pending_request(conn: RedisClient, minutes: float = 30) -> Request:
    req = Request(id=new_id(), action="cloudtrail.start_logging", requester="U0ALICE", reason="stopped",
                  account="123456789012", region="us-east-1", resource="arn:aws:cloudtrail:us-east-1:1:trail/x",
                  expires=time.time() + minutes * 60, prompt_channel="C0ALERTS")  # fmt: skip
    machine.create_request(conn, req.id, req.doc())
    assert approvals.move(conn, req, RequestStatus.PENDING)
    return req


def test_an_approver_approves_and_it_is_logged(conn: RedisClient) -> None:
    req = pending_request(conn)
    decided = approvals.decide(conn, req.id, "U0BOB", True, APPROVERS)
    assert decided.status is RequestStatus.APPROVED and approvals.load(conn, req.id).status is RequestStatus.APPROVED
    assert approvals.pending(conn) == []
    assert auditlog.newest(conn, 1)[0]["event"] == "approved" and auditlog.newest(conn, 1)[0]["actor"] == "U0BOB"


@pytest.mark.parametrize(
    ("user", "why"),
    [("U0MALLORY", "Only the configured approvers"), ("U0ALICE", "Only the configured approvers")],
)
def test_a_non_approver_is_refused(conn: RedisClient, user: str, why: str) -> None:
    req = pending_request(conn)
    with pytest.raises(Refused, match=why):
        approvals.decide(conn, req.id, user, True, APPROVERS)
    assert approvals.load(conn, req.id).status is RequestStatus.PENDING


def test_the_requester_cannot_approve_their_own_request(conn: RedisClient) -> None:
    req = pending_request(conn)
    with pytest.raises(Refused, match="another approver"):
        approvals.decide(conn, req.id, "U0ALICE", True, [*APPROVERS, "U0ALICE"])
    assert approvals.decision(conn, req.id) is None


def test_a_member_of_an_approver_group_may_decide(conn: RedisClient) -> None:
    req = pending_request(conn)
    members = {"S0SECOPS": {"U0DAVE"}}
    with pytest.raises(Refused, match="configured approvers"):  # not in the group: refused, nothing recorded
        approvals.decide(conn, req.id, "U0ERIN", True, [*APPROVERS, "S0SECOPS"], lambda g: members.get(g, set()))
    assert approvals.decision(conn, req.id) is None
    approvals.decide(conn, req.id, "U0DAVE", True, [*APPROVERS, "S0SECOPS"], lambda g: members.get(g, set()))
    made = approvals.decision(conn, req.id)
    assert made is not None and made.user == "U0DAVE" and made.approved
    assert approvals.load(conn, req.id).status is RequestStatus.APPROVED


def test_an_expired_request_is_refused_and_marked(conn: RedisClient) -> None:
    req = pending_request(conn, minutes=30)
    with pytest.raises(Refused, match="expired"):
        approvals.decide(conn, req.id, "U0BOB", True, APPROVERS, now=time.time() + 31 * 60)
    assert approvals.load(conn, req.id).status is RequestStatus.EXPIRED


@pytest.mark.parametrize("bad", ["0123456789abcdef", "../../etc", "x" * 200, ""])
def test_unknown_or_tampered_ids_are_refused(conn: RedisClient, bad: str) -> None:
    pending_request(conn)
    with pytest.raises(Refused, match=r"no request|not valid"):
        approvals.decide(conn, bad, "U0BOB", True, APPROVERS)


def test_a_replay_after_completion_names_the_decision(conn: RedisClient) -> None:
    req = pending_request(conn)
    approvals.decide(conn, req.id, "U0BOB", True, APPROVERS)
    done = approvals.load(conn, req.id)
    assert approvals.move(conn, done, RequestStatus.EXECUTING) and approvals.move(conn, done, RequestStatus.DONE)
    for user in ("U0BOB", "U0CAROL"):
        with pytest.raises(Refused, match=r"already approved by <@U0BOB> at"):
            approvals.decide(conn, req.id, user, True, APPROVERS)


def test_twenty_concurrent_approvals_decide_exactly_once(server: str, conn: RedisClient) -> None:
    req = pending_request(conn)
    users = [f"U0APP{i:02d}" for i in range(20)]
    winners: list[str] = []
    refusals: list[str] = []
    barrier = threading.Barrier(20)

    def click(user: str) -> None:
        c = RedisClient.from_url(server)
        barrier.wait()
        try:
            approvals.decide(c, req.id, user, True, users)
            winners.append(user)
        except Refused as exc:
            refusals.append(str(exc))

    threads = [threading.Thread(target=click, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(refusals) == 19
    assert all(f"approved by <@{winners[0]}>" in r for r in refusals)
    assert [e["event"] for e in auditlog.newest(conn, 50)].count("approved") == 1


@pytest.fixture
def slack(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackStandIn]:
    """A Slack stand-in, with the environment a worker job reads pointing at it and at the test's Redis."""
    with SlackStandIn() as stand_in:
        for key, value in {"REDIS_URL": server, "SLACK_API_URL": stand_in.api_url, "SLACK_BOT_TOKEN": "xoxb-t"}.items():
            monkeypatch.setenv(key, value)
        yield stand_in


def test_the_sweep_expires_undecided_requests_and_says_so_on_the_prompt(conn: RedisClient, slack: SlackStandIn) -> None:
    late = pending_request(conn, minutes=-1)
    fresh = pending_request(conn, minutes=30)
    assert sweep_due()["expired"] == 1
    assert sweep_due()["expired"] == 0
    assert approvals.load(conn, late.id).status is RequestStatus.EXPIRED
    assert approvals.load(conn, fresh.id).status is RequestStatus.PENDING
    assert outbox.flush(conn, Settings(_env_file=None)) == 1  # type: ignore[call-arg]
    assert "expired without a decision" in str(slack.of("chat.postMessage")[-1].params["blocks"])
    assert [e["request"] for e in auditlog.newest(conn, 5) if e["event"] == "expired"] == [late.id]


def test_an_approved_request_whose_execution_was_lost_is_queued_again_once(
    conn: RedisClient, slack: SlackStandIn
) -> None:
    req = pending_request(conn)
    approvals.decide(conn, req.id, "U0BOB", True, APPROVERS, now=time.time() - 120)  # its enqueue never happened
    sweep_due()
    sweep_due()
    queued = [j for j in Queue(URGENT, connection=conn).jobs if j.func_name == paths.EXECUTE]
    assert [j.args for j in queued] == [(req.id,)]
    claims = [machine.move_request(conn, req.id, RequestStatus.EXECUTING, {RequestStatus.APPROVED}) for _ in "ab"]
    assert claims == [RequestStatus.APPROVED, None]  # one execution per request


@pytest.mark.parametrize("expiry", ["racing", "passed"])
def test_concurrent_approvals_against_an_expiry_have_exactly_one_outcome(
    server: str, conn: RedisClient, expiry: str
) -> None:
    """Twenty approvers and an expiry let go at once (a barrier, no sleeps): whichever commits first wins,
    alone. "passed": the request's time is already up, so no approval can win and it expires once."""
    req = pending_request(conn, minutes=30 if expiry == "racing" else -1)
    users = [f"U0APP{i:02d}" for i in range(20)]
    barrier = threading.Barrier(21)

    def click(user: str) -> None:
        c = RedisClient.from_url(server)
        barrier.wait()
        with contextlib.suppress(Refused):
            approvals.decide(c, req.id, user, True, users)

    def sweep() -> None:
        c = RedisClient.from_url(server)
        barrier.wait()
        approvals.expire(c, approvals.load(c, req.id))

    threads = [threading.Thread(target=click, args=(u,)) for u in users] + [threading.Thread(target=sweep)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = [e["event"] for e in auditlog.newest(conn, 100)]
    final = approvals.load(conn, req.id).status
    assert final in (RequestStatus.APPROVED, RequestStatus.EXPIRED)
    if expiry == "passed":
        assert final is RequestStatus.EXPIRED
    if final is RequestStatus.APPROVED:
        assert events.count("approved") == 1 and "expired" not in events
    else:
        assert "approved" not in events and events.count("expired") == 1
        assert approvals.decision(conn, req.id) is None
