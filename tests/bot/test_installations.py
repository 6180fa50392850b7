"""Installed through OAuth, for workspaces and for a whole Enterprise Grid organization (the web app in process,
on a real Redis and the Slack stand-in, with requests signed and shaped as Slack sends them from a Grid).

Installed here: workspaces T1 and T2 of organization E1 each on their own, organization E2 once for all its
workspaces (T3 among them). T9 installed nothing.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from redis import Redis

from bot.web import create_wsgi
from bot.web_settings import MissingSetting, bot_settings
from demo.signing import event_body
from demo.slack_standin import SlackStandIn
from tests.bot.test_web import SECRET, call, signed
from workers.core.settings import Settings
from workers.slack import outbox
from workers.state import installations, outgoing

App = Callable[[dict[str, Any], Any], Any]
CLIENT = ("1234.5678", "client-secret-x")


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


def oauth_env(monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn, **extra: str) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    env = {"SLACK_CLIENT_ID": CLIENT[0], "SLACK_CLIENT_SECRET": CLIENT[1], "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": slack.api_url, "REDIS_URL": redis_url, "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS",
           "TRAIL_AUDIT_REGIONS": "us-east-1", **extra}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn) -> App:
    slack.reset()
    slack.users.clear()
    slack.client = CLIENT
    Redis.from_url(redis_url).flushdb()
    oauth_env(monkeypatch, redis_url, slack)
    return create_wsgi()


def get(app: App, path: str, query: str = "", cookie: str = "") -> tuple[int, dict[str, str], str]:
    """One GET through the WSGI app: status, headers (Set-Cookie joined) and body."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "test",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(b""),
               "wsgi.url_scheme": "https", "CONTENT_LENGTH": "0", "HTTP_COOKIE": cookie}  # fmt: skip
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    out = b"".join(app(environ, lambda status, headers, *rest: seen.append((status, headers))))
    headers: dict[str, str] = {}
    for name, value in seen[0][1]:
        headers[name.lower()] = f"{headers[name.lower()]}, {value}" if name.lower() in headers else value
    return int(seen[0][0].split()[0]), headers, out.decode()


def install(app: App, slack: SlackStandIn, code: str, team: str | None, enterprise: str | None = None,
            org_wide: bool = False) -> str:  # fmt: skip
    """Run the install as a browser does: the install page, Slack's consent (a code), the redirect back."""
    token = slack.grant(code, team, enterprise, org_wide)
    status, headers, page = get(app, "/slack/install")
    assert status == 200 and "slack.com/oauth/v2/authorize" in page
    state = re.search(r"state=([\w.\-]+)", page)
    assert state and "slack-app-oauth-state=" in headers["set-cookie"]
    cookie = headers["set-cookie"].split(";", 1)[0]
    status, _, page = get(app, "/slack/oauth_redirect", urlencode({"code": code, "state": state[1]}), cookie)
    assert status == 200, page
    return token


def grid_command(app: App, text: str, user: str, team: str, enterprise: str | None, channel: str,
                 org_wide: bool = False, response_url: str = "") -> tuple[int, str]:  # fmt: skip
    """`/trail-audit <text>` as Slack sends it from a workspace of an Enterprise Grid organization."""
    fields = {"token": "unused", "team_id": team, "team_domain": team.lower(), "channel_id": channel,
              "channel_name": "sec", "user_id": user, "user_name": user.lower(), "command": "/trail-audit",
              "text": text, "response_url": response_url, "trigger_id": "1.2.3", "api_app_id": "A0TRAIL",
              "is_enterprise_install": "true" if org_wide else "false"}  # fmt: skip
    if enterprise:
        fields |= {"enterprise_id": enterprise, "enterprise_name": f"org {enterprise}"}
    body = urlencode(fields)
    return call(app, body.encode(), signed(body))


def grid_user(slack: SlackStandIn, user: str, team: str, enterprise: str) -> None:
    slack.users[user] = {"team_id": team, "enterprise_user": {"enterprise_id": enterprise, "teams": [team]}}


def users_info_token(slack: SlackStandIn, user: str) -> str:
    asked = [c for c in slack.of("users.info") if c.params.get("user") == user]
    assert asked, f"users.info was not asked about {user}"
    return str(asked[-1].params["_token"])


def installed(slack: SlackStandIn, app: App) -> dict[str, str]:
    return {"T1": install(app, slack, "code-t1", "T1", "E1"), "T2": install(app, slack, "code-t2", "T2", "E1"),
            "E2": install(app, slack, "code-e2", None, "E2", org_wide=True)}  # fmt: skip


# --- the install -----------------------------------------------------------------------------------------------


def test_installs_are_kept_per_workspace_and_per_organization(app: App, slack: SlackStandIn, redis_url: str) -> None:
    tokens = installed(slack, app)
    conn = Redis.from_url(redis_url)
    assert installations.owners(conn) == ["org:E2", "team:T1", "team:T2"]
    t1 = installations.load(conn, "team:T1")
    assert t1 and t1["bot_token"] == tokens["T1"] and t1["enterprise_id"] == "E1" and t1["bot_id"] == "BT1"
    e2 = installations.load(conn, "org:E2")
    assert e2 and e2["is_enterprise_install"] and e2["team_id"] is None and e2["bot_token"] == tokens["E2"]
    exchanges = slack.of("oauth.v2.access")
    assert len(exchanges) == 3 and {c.params["client_id"] for c in exchanges} == {CLIENT[0]}
    assert not any(tokens["T1"] in str(v) for k in conn.keys("ta:oauth:*") for v in [conn.get(k)])


def test_a_replayed_or_forged_redirect_installs_nothing(app: App, slack: SlackStandIn, redis_url: str) -> None:
    slack.grant("code-x", "T5", "E1")
    _, headers, page = get(app, "/slack/install")
    state = re.search(r"state=([\w.\-]+)", page)
    assert state
    cookie = headers["set-cookie"].split(";", 1)[0]
    forged = get(app, "/slack/oauth_redirect", urlencode({"code": "code-x", "state": "made-up"}), cookie)
    assert forged[0] >= 400 and not installations.owners(Redis.from_url(redis_url))
    assert get(app, "/slack/oauth_redirect", urlencode({"code": "code-x", "state": state[1]}), cookie)[0] == 200
    slack.grant("code-y", "T6", "E1")  # a good code, with the state already used
    replayed = get(app, "/slack/oauth_redirect", urlencode({"code": "code-y", "state": state[1]}), cookie)
    assert replayed[0] >= 400 and installations.owners(Redis.from_url(redis_url)) == ["team:T5"]


# --- every request with its installation's token ---------------------------------------------------------------


def test_every_request_is_authorised_with_the_right_bot_token(app: App, slack: SlackStandIn) -> None:
    tokens = installed(slack, app)
    for user, team in (("U0T1", "T1"), ("U0T2", "T2")):
        grid_user(slack, user, team, "E1")
    grid_user(slack, "U0T3", "T3", "E2")
    checks = len(slack.of("auth.test"))  # one per install, by Bolt's flow
    for user, team, enterprise, org_wide, token in (
        ("U0T1", "T1", "E1", False, tokens["T1"]),
        ("U0T2", "T2", "E1", False, tokens["T2"]),
        ("U0T3", "T3", "E2", True, tokens["E2"]),  # any workspace of an organization installed org-wide
    ):
        status, answer = grid_command(app, "help", user, team, enterprise, f"C0{team}", org_wide)
        assert status == 200 and "/trail-audit audit" in json.loads(answer)["text"]
        assert users_info_token(slack, user) == token
    assert len(slack.of("auth.test")) == checks  # authorised from Redis alone: no auth.test per request


def test_workers_post_with_the_token_of_the_installation_a_channel_came_through(
    app: App, slack: SlackStandIn, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = installed(slack, app)
    grid_user(slack, "U0T2", "T2", "E1")
    grid_user(slack, "U0T3", "T3", "E2")
    grid_command(app, "help", "U0T2", "T2", "E1", "C0T2ROOM")
    grid_command(app, "help", "U0T3", "T3", "E2", "C0T3ROOM", org_wide=True)
    conn = Redis.from_url(redis_url)
    for mid, channel in (("m-t2", "C0T2ROOM"), ("m-t3", "C0T3ROOM"), ("m-alert", "C0ALERTS")):
        outgoing.commit(conn, mid, channel, {"text": mid})
    outbox.flush(conn, Settings())
    posted = {c.params["channel"]: c.params["_token"] for c in slack.of("chat.postMessage")}
    assert posted == {"C0T2ROOM": tokens["T2"], "C0T3ROOM": tokens["E2"]}
    assert "no installation of trail-audit reaches C0ALERTS" in outbox.status_lines(conn)[1]  # three: none is home
    from workers.app_home import _publish

    view = {"type": "home", "blocks": []}
    assert _publish(Settings(), ["U0T3", "U0NEVERSEEN"], view) == 1  # a user no request came from: no token
    assert [c.params["_token"] for c in slack.of("views.publish")] == [tokens["E2"]]
    monkeypatch.setenv("TRAIL_AUDIT_TEAM_ID", "T1")  # the alert channel is in T1
    outgoing.commit(conn, "m-alert-2", "C0ALERTS", {"text": "alert"})
    outbox.flush(conn, Settings())
    assert slack.of("chat.postMessage")[-1].params["_token"] == tokens["T1"]


# --- refused --------------------------------------------------------------------------------------------------


def test_a_workspace_without_an_installation_is_refused(app: App, slack: SlackStandIn, redis_url: str) -> None:
    installed(slack, app)
    grid_user(slack, "U0T9", "T9", "E9")
    status, _ = grid_command(app, "audit", "U0T9", "T9", "E9", "C0T9", response_url=slack.response_url("t9"))
    assert status == 200
    told = [c for c in slack.of("response_url") if c.params["response_url"].endswith("/t9")]
    assert told and "not installed in this workspace" in told[-1].params["text"]
    assert not [c for c in slack.of("users.info") if c.params.get("user") == "U0T9"]
    assert not Redis.from_url(redis_url).keys("rq:queue:*")  # nothing was queued


def test_ids_that_do_not_match_the_installation_are_refused(app: App, slack: SlackStandIn) -> None:
    installed(slack, app)
    grid_user(slack, "U0T1", "T1", "E1")
    _, answer = grid_command(app, "help", "U0T1", "T1", "E7", "C0T1")  # T1 is of E1, not E7
    assert "another workspace" in json.loads(answer)["text"]
    grid_user(slack, "U0OUT", "T8", "E8")  # a user of another organization in a channel of E2
    _, answer = grid_command(app, "help", "U0OUT", "T3", "E2", "C0T3", org_wide=True)
    assert "users of other workspaces cannot use trail-audit" in json.loads(answer)["text"]
    payload = {"type": "block_actions", "user": {"id": "U0T2", "team_id": "T2"}, "team": {"id": "T1"},
               "enterprise": {"id": "E1"}, "api_app_id": "A0TRAIL", "container": {"channel_id": "C0T1"},
               "channel": {"id": "C0T1"}, "response_url": slack.response_url("click"),
               "actions": [{"action_id": "ack_alert", "value": "x", "type": "button"}]}  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)})
    assert call(app, body.encode(), signed(body))[0] == 200
    told = [c for c in slack.of("response_url") if c.params["response_url"].endswith("/click")]
    assert told and "Users of another workspace" in told[-1].params["text"]


def test_the_installation_s_organization_is_checked_again_by_the_access_rules(
    app: App, slack: SlackStandIn, redis_url: str
) -> None:
    from bot.access import Access, Caller, Refused

    installed(slack, app)
    conn = Redis.from_url(redis_url)
    org = installations.find(conn, "E2", "T3")
    assert org and org["owner"] == "org:E2"
    who = Caller(kind="command", user="U0T3", team="T3", enterprise="E9", user_team=None, channel="C0T3",
                 action="help", value="")  # fmt: skip
    with pytest.raises(Refused, match="outside the organization"):
        Access(Settings()).check(conn, None, who, {}, org)  # type: ignore[arg-type]  # refused before Slack is asked
    with pytest.raises(Refused, match="not installed"):
        Access(Settings()).check(conn, None, who, {}, None)  # type: ignore[arg-type]


def test_an_uninstall_forgets_the_installation_and_its_token(app: App, slack: SlackStandIn, redis_url: str) -> None:
    installed(slack, app)
    for team, enterprise, org_wide in (("T2", "E1", False), (None, "E2", True)):
        callback = json.loads(event_body({"type": "app_uninstalled"}, team=team or "T3"))
        callback |= {"enterprise_id": enterprise, "authorizations": [
            {"enterprise_id": enterprise, "team_id": team, "user_id": "UBOT", "is_bot": True,
             "is_enterprise_install": org_wide}]}  # fmt: skip
        body = json.dumps(callback)
        assert call(app, body.encode(), signed(body, content_type="application/json"))[0] == 200
    assert installations.owners(Redis.from_url(redis_url)) == ["team:T1"]
    grid_user(slack, "U0T2", "T2", "E1")
    _, _ = grid_command(app, "help", "U0T2", "T2", "E1", "C0T2", response_url=slack.response_url("gone"))
    told = [c for c in slack.of("response_url") if c.params["response_url"].endswith("/gone")]
    assert told and "not installed" in told[-1].params["text"]


# --- settings ---------------------------------------------------------------------------------------------------


def test_oauth_settings_are_checked_at_start(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, slack: SlackStandIn
) -> None:
    oauth_env(monkeypatch, redis_url, slack, SLACK_BOT_TOKEN="xoxb-one")
    with pytest.raises(MissingSetting, match="not both"):
        bot_settings()
    oauth_env(monkeypatch, redis_url, slack)
    monkeypatch.delenv("SLACK_CLIENT_SECRET")
    with pytest.raises(MissingSetting, match="SLACK_CLIENT_SECRET must be set"):
        bot_settings()
    oauth_env(monkeypatch, redis_url, slack, SLACK_APP_TOKEN="xapp-1")
    with pytest.raises(MissingSetting, match="Socket Mode"):
        bot_settings()
