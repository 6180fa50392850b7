"""Installed through OAuth on real processes (web, worker, clock, a real redis-server, moto, the Slack stand-in):
two workspaces of one Enterprise Grid organization install it each on their own, a second organization installs
it once for all its workspaces; each audit's messages go out with the token of the installation it came
through, and a workspace that installed nothing is refused."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from demo.fake_account import demo_account
from demo.servers import Moto, start_redis
from demo.signing import post
from demo.slack_standin import SlackStandIn
from demo.stack import Stack
from tests.e2e.test_e2e_approvals import SECRET, SETTINGS
from tests.helpers.waiting import wait_until
from workers.state import installations

pytestmark = pytest.mark.e2e
CLIENT = ("1234.5678", "e2e-client-secret")


@pytest.fixture
def grid(aws: Moto) -> Iterator[dict[str, Any]]:
    demo_account(["us-east-1"])
    redis = start_redis()
    with SlackStandIn() as slack:
        slack.client = CLIENT
        env = {**SETTINGS, "SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": CLIENT[0], "SLACK_CLIENT_SECRET": CLIENT[1],
               "TRAIL_AUDIT_TEAM_ID": "T1"}  # fmt: skip
        stack = Stack(aws.url, redis.url, slack.api_url, SECRET, env)
        try:
            stack.start("web", "worker", "clock")
            yield {"stack": stack, "slack": slack}
        finally:
            stack.stop()
            redis.stop()


def install(stack: Stack, slack: SlackStandIn, code: str, team: str | None, enterprise: str, org: bool = False) -> str:
    """The install as a browser runs it: the install page (its state cookie), then Slack's redirect back."""
    token = slack.grant(code, team, enterprise, org)
    with urllib.request.urlopen(stack.url + "/slack/install", timeout=10) as page:
        state = re.search(r"state=([\w.\-]+)", page.read().decode())
        cookie = str(page.headers["Set-Cookie"]).split(";", 1)[0]
    assert state
    back = urllib.request.Request(f"{stack.url}/slack/oauth_redirect?{urlencode({'code': code, 'state': state[1]})}",
                                  headers={"Cookie": cookie})  # fmt: skip
    with urllib.request.urlopen(back, timeout=10) as done:
        assert done.status == 200
    return token


def audit_from(stack: Stack, slack: SlackStandIn, user: str, team: str, enterprise: str, channel: str,
               org: bool = False) -> dict[str, Any]:  # fmt: skip
    slack.users[user] = {"team_id": team, "enterprise_user": {"enterprise_id": enterprise, "teams": [team]}}
    body = urlencode({"token": "unused", "team_id": team, "enterprise_id": enterprise, "channel_id": channel,
                      "user_id": user, "command": "/trail-audit", "text": "audit", "api_app_id": "A0TRAIL",
                      "response_url": slack.response_url(f"{user}-{time.monotonic_ns()}"), "trigger_id": "1.2.3",
                      "is_enterprise_install": "true" if org else "false"})  # fmt: skip
    status, answer = post(stack.url + "/slack/events", body, SECRET)
    assert status == 200
    return dict(json.loads(answer)) if answer.strip() else {}


def test_each_installation_s_messages_go_out_with_its_own_token(grid: dict[str, Any]) -> None:
    stack, slack = grid["stack"], grid["slack"]
    tokens = {"T1": install(stack, slack, "c-t1", "T1", "E1"), "T2": install(stack, slack, "c-t2", "T2", "E1"),
              "E2": install(stack, slack, "c-e2", None, "E2", org=True)}  # fmt: skip
    assert installations.owners(stack.redis()) == ["org:E2", "team:T1", "team:T2"]
    for user, team, enterprise, org, channel in (("U0T2", "T2", "E1", False, "C0T2ROOM"),
                                                 ("U0T3", "T3", "E2", True, "C0T3ROOM")):  # fmt: skip
        assert "queued" in audit_from(stack, slack, user, team, enterprise, channel, org)["text"]

    def reports() -> dict[str, set[str]]:
        done = [c for c in slack.of("chat.update") if "app-audit" in json.dumps(c.params)]
        return {ch: {c.params["_token"] for c in done if c.params["channel"] == ch} for ch in ("C0T2ROOM", "C0T3ROOM")}

    wait_until(lambda: all(reports().values()), 90)
    assert reports() == {"C0T2ROOM": {tokens["T2"]}, "C0T3ROOM": {tokens["E2"]}}
    posted = {c.params["channel"]: c.params["_token"] for c in slack.of("chat.postMessage")}
    assert posted["C0T2ROOM"] == tokens["T2"] and posted["C0T3ROOM"] == tokens["E2"]

    refused_url = slack.response_url("t9")
    body = urlencode({"team_id": "T9", "enterprise_id": "E9", "channel_id": "C0T9", "user_id": "U0T9",
                      "command": "/trail-audit", "text": "audit", "response_url": refused_url})  # fmt: skip
    assert post(stack.url + "/slack/events", body, SECRET)[0] == 200
    told = wait_until(lambda: [c for c in slack.of("response_url") if c.params["response_url"].endswith("/t9")], 10)
    assert "not installed in this workspace" in told[-1].params["text"]
    assert not [c for c in slack.calls if c.params.get("channel") == "C0T9"]
    try:
        urllib.request.urlopen(f"{stack.url}/slack/oauth_redirect?code=c-x&state=forged", timeout=10)
        raise AssertionError("a forged redirect was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code >= 400
    assert installations.owners(stack.redis()) == ["org:E2", "team:T1", "team:T2"]
