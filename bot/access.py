"""Who may do what, checked before any listener runs (a Bolt global middleware).

In order: the request comes from this installation's workspace (and enterprise); the user is a full member of
it, not a guest nor someone from another workspace (users.info, cached in Redis); a command is used in an
allowed channel by an operator; a click belongs to the message it came from; Acknowledge, `log` and `status`
are for operators and approvers; audits and change requests stay within a few a minute per user and per
channel. Approve and Deny are left to the approval rules (approvers only, never the requester) and are never
rate-limited. Every refusal is logged and answered in a line only that user sees.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from slack_bolt import BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.commands import Command, parse
from bot.oauth import INSTALLATION
from workers.core.mrkdwn import channel as channel_link
from workers.core.people import is_named
from workers.core.settings import Settings
from workers.monitor import alerts
from workers.remediation import approvals
from workers.slack import outbox
from workers.slack.messages.answers import ephemeral
from workers.state import (
    alert_records,
    audits,
    caches,
    fix_offers,
    installations,
    outgoing,
    quota,
    request_records,
)
from workers.state.connection import connection

log = logging.getLogger("trail_audit.bot")

ACKNOWLEDGE = ("ack_alert", "ack_group")
REQUESTS = ("restore", "restore_all", "request_fix")  # clicks that start a change request
READS = ("report_account",)  # clicks that show more of a report
DECISIONS = ("approve", "deny")
LIMITED = ("audit", "events", "remediate", "backout", "waive")  # commands that start work
FOR_OPERATORS_AND_APPROVERS = ("status", "log")
UNINSTALLS = ("app_uninstalled", "tokens_revoked")  # events that end an installation


@dataclass(frozen=True)
class Caller:
    """Who sent a request, from where, and what it is."""

    kind: str  # "command", "block_actions", "view_submission", or another payload type
    user: str
    team: str | None
    enterprise: str | None
    user_team: str | None  # the user's own workspace, when the payload says it
    channel: str | None
    action: str | None  # the button's action_id, or the subcommand
    value: str  # the button's value (an opaque id)
    command: Command | None = None  # a slash command's text, parsed (once: the listener reads it from here)


def caller(body: dict[str, Any]) -> Caller:
    """Read the caller from a slash command's form or an interaction's payload (any shape: never raises)."""
    if "command" in body:
        cmd = parse(str(body.get("text") or ""))
        return Caller(
            kind="command",
            user=str(body.get("user_id") or ""),
            team=_str(body.get("team_id")),
            enterprise=_str(body.get("enterprise_id")),
            user_team=None,
            channel=_str(body.get("channel_id")),
            action=cmd.name,
            value="",
            command=cmd,
        )
    if body.get("type") == "event_callback":
        event = _dict(body.get("event"))
        return Caller(kind="event_callback", user=str(event.get("user") or ""), team=_str(body.get("team_id")),
                      enterprise=_str(body.get("enterprise_id")), user_team=None, channel=None,
                      action=_str(event.get("type")), value=str(event.get("tab") or ""))  # fmt: skip
    user = _dict(body.get("user"))
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    first = _dict(actions[0]) if actions else {}
    container = _dict(body.get("container"))
    return Caller(
        kind=str(body.get("type") or ""),
        user=str(user.get("id") or ""),
        team=_str(_dict(body.get("team")).get("id")),
        enterprise=_str(_dict(body.get("enterprise")).get("id") or _dict(body.get("team")).get("enterprise_id")),
        user_team=_str(user.get("team_id")),
        channel=_str(container.get("channel_id") or _dict(body.get("channel")).get("id")),
        action=_str(first.get("action_id")),
        value=str(first.get("value") or _dict(first.get("selected_option")).get("value") or ""),
    )


class Refused(Exception):
    """A request turned away: the sentence its sender is shown."""


class Access:
    """The checks, with what they learn from Slack (the installation's workspace; profiles and groups, cached)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._home: tuple[str, str | None] | None = None

    def guard(self, body: dict[str, Any], client: WebClient, context: BoltContext, next: Callable[[], None]) -> Any:
        """The middleware: call the listener, or answer the refusal without it."""
        context["access"] = self
        who = caller(body)
        context["command"] = who.command
        try:
            conn = connection(self.settings)
            self.check(conn, client, who, body, context.get(INSTALLATION))
        except Refused as exc:
            log.warning("request refused", extra={"user": who.user, "kind": who.kind, "action": who.action,
                                                  "reason": str(exc)})  # fmt: skip
            return _refusal(who, str(exc), context)
        _note_origin(conn, who, context.get(INSTALLATION))
        next()
        return None

    def check(
        self, conn: Redis, client: WebClient, who: Caller, body: dict[str, Any], installed: dict[str, Any] | None = None
    ) -> None:
        """Raise Refused when `who` may not do what the request asks (`installed`: the request's installation,
        when installed through OAuth)."""
        if who.kind == "event_callback" and who.action in UNINSTALLS:
            return  # Slack saying a workspace removed the app: signed, and nothing is done but forgetting it
        home = self._home_of(client, installed)
        self._workspace(who, home, installed)
        if who.kind == "event_callback" and who.action == "app_home_opened":
            self._member(conn, client, who, home)
            if not self.is_operator(conn, client, who.user):
                raise Refused("The App Home shows trail-audit's state to its operators and approvers only.")
            return
        if who.kind not in ("command", "block_actions", "view_submission"):
            return  # nothing else is listened to: Bolt answers it as unhandled
        self._member(conn, client, who, home)
        if who.kind == "command":
            self._command(conn, client, who)
        elif who.kind == "block_actions":
            self._click(conn, client, who, body)
        elif not self.is_operator(conn, client, who.user):
            raise Refused("Only trail-audit's operators can request changes (TRAIL_AUDIT_OPERATORS).")

    def _home_of(self, client: WebClient, installed: dict[str, Any] | None) -> tuple[str, str | None] | None:
        """The workspace and organization this request must come from (the installation's, with OAuth)."""
        if not self.settings.installed_by_oauth:
            return self.home(client)
        if installed is None:
            raise Refused("trail-audit is not installed in this workspace (nor for its organization).")
        return installed.get("team_id") or "", installed.get("enterprise_id")

    @staticmethod
    def _workspace(who: Caller, home: tuple[str, str | None] | None, installed: dict[str, Any] | None) -> None:
        if home is None:
            raise Refused("trail-audit cannot confirm its own workspace with Slack right now; try again in a minute.")
        team, enterprise = home
        if installed is not None and installed.get("is_enterprise_install"):
            if who.enterprise != enterprise:
                raise Refused("This request comes from outside the organization trail-audit is installed for.")
            return  # any workspace of the organization; users.info confirms the user is of it
        if who.team != team or (enterprise and who.enterprise and who.enterprise != enterprise):
            raise Refused("This request comes from another workspace than trail-audit's.")
        if who.user_team and who.user_team != team:
            raise Refused("Users of another workspace cannot use trail-audit.")

    def _member(self, conn: Redis, client: WebClient, who: Caller, home: tuple[str, str | None] | None) -> None:
        profile = self.profile(conn, client, who.user)
        if profile is None:
            if who.user in self.settings.approvers or who.user in self.settings.operators:
                return  # named in the settings: trusted while Slack cannot be asked
            raise Refused("trail-audit cannot check your account with Slack right now; try again in a minute.")
        team, enterprise = home or ("", None)
        other = profile["team"] != team and not (enterprise and profile.get("enterprise") == enterprise)
        if profile["guest"] or profile["stranger"] or other or profile["deleted"]:
            raise Refused("Guests and users of other workspaces cannot use trail-audit.")

    def _command(self, conn: Redis, client: WebClient, who: Caller) -> None:
        allowed = self.settings.channels
        if allowed and who.channel not in allowed:
            raise Refused("Use `/trail-audit` in " + ", ".join(channel_link(c) for c in allowed) + ".")
        if who.action == "help":
            return
        if not self.is_operator(conn, client, who.user):
            if who.action in FOR_OPERATORS_AND_APPROVERS and self.is_approver(conn, client, who.user):
                return
            raise Refused("Only trail-audit's operators can use this command (TRAIL_AUDIT_OPERATORS).")
        if who.action in LIMITED:
            self._spend(conn, who)

    def _click(self, conn: Redis, client: WebClient, who: Caller, body: dict[str, Any]) -> None:
        _bound(conn, who, body)
        if who.action in ACKNOWLEDGE and not self.may_acknowledge(conn, client, who.user):
            raise Refused("Only trail-audit's operators and approvers can acknowledge an alert.")
        if who.action in READS and not self.is_operator(conn, client, who.user):
            raise Refused("Only trail-audit's operators can read the report's details (TRAIL_AUDIT_OPERATORS).")
        if who.action in REQUESTS:
            if not self.is_operator(conn, client, who.user):
                raise Refused("Only trail-audit's operators can request changes (TRAIL_AUDIT_OPERATORS).")
            self._spend(conn, who)

    def _spend(self, conn: Redis, who: Caller) -> None:
        s = self.settings
        try:
            if not quota.spend(conn, "user", who.user, s.user_requests_per_minute):
                raise Refused(f"That is more than {s.user_requests_per_minute} audits or requests a minute for "
                              "one person; try again in a minute.")  # fmt: skip
            if who.channel and not quota.spend(conn, "channel", who.channel, s.channel_requests_per_minute):
                raise Refused(f"That is more than {s.channel_requests_per_minute} audits or requests a minute in "
                              "this channel; try again in a minute.")  # fmt: skip
        except RedisError:
            return  # uncounted: the listener itself says that the queue is unreachable

    # --- what is learnt from Slack ------------------------------------------------------------------------

    def home(self, client: WebClient) -> tuple[str, str | None] | None:
        """The installation's workspace and enterprise (TRAIL_AUDIT_TEAM_ID, or auth.test once)."""
        if self.settings.team_id:
            return self.settings.team_id, None
        if self._home is None:
            try:
                answer = client.auth_test()
            except SlackClientError as exc:
                log.warning("auth.test failed", extra={"error": type(exc).__name__})
                return None
            self._home = (str(answer.get("team_id") or ""), _str(answer.get("enterprise_id")))
        return self._home

    def profile(self, conn: Redis, client: WebClient, user: str) -> dict[str, Any] | None:
        """What users.info says of a user (guest, workspace), cached; None when Slack cannot be asked."""
        cached = caches.profile(conn, user)
        if cached is not None:
            return cached
        if not user:
            return None
        try:
            info = _dict(client.users_info(user=user).get("user"))
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "user_not_visible"):
                info = {"is_stranger": True}
            else:
                log.warning("users.info failed", extra={"slack_error": exc.response.get("error")})
                return None
        except SlackClientError as exc:
            log.warning("users.info failed", extra={"error": type(exc).__name__})
            return None
        profile = {
            "guest": bool(info.get("is_restricted") or info.get("is_ultra_restricted")),
            "stranger": bool(info.get("is_stranger")),
            "deleted": bool(info.get("deleted")),
            "team": str(info.get("team_id") or ""),
            "enterprise": _str(_dict(info.get("enterprise_user")).get("enterprise_id")),
        }
        caches.keep_profile(conn, user, profile)
        return profile

    def members(self, conn: Redis, client: WebClient, group: str) -> set[str]:
        """The members of a user group (usergroups.users.list), cached; empty when Slack cannot be asked."""
        cached = caches.group_members(conn, group)
        if cached is not None:
            return set(cached)
        try:
            users = [str(u) for u in client.usergroups_users_list(usergroup=group).get("users") or []]
        except SlackClientError as exc:
            log.warning("user group not read", extra={"group": group, "error": type(exc).__name__})
            return set()
        caches.keep_group_members(conn, group, users)
        return set(users)

    def _named(self, conn: Redis, client: WebClient, user: str, names: list[str]) -> bool:
        return is_named(user, names, lambda group: self.members(conn, client, group))

    def is_operator(self, conn: Redis, client: WebClient, user: str) -> bool:
        """Whether a user may run commands and request changes (anyone when TRAIL_AUDIT_OPERATORS is unset)."""
        operators = self.settings.operators
        return not operators or self._named(conn, client, user, operators) or self.is_approver(conn, client, user)

    def is_approver(self, conn: Redis, client: WebClient, user: str) -> bool:
        """Whether a user is named (or in a group named) in TRAIL_AUDIT_APPROVERS."""
        return self._named(conn, client, user, self.settings.approvers)

    def may_acknowledge(self, conn: Redis, client: WebClient, user: str) -> bool:
        """Operators named in the settings and approvers; anyone only when neither list is set."""
        s = self.settings
        if not s.operators and not s.approvers:
            return True
        return self._named(conn, client, user, s.operators) or self.is_approver(conn, client, user)


def _note_origin(conn: Redis, who: Caller, installed: dict[str, Any] | None) -> None:
    """Remember which installation the request's channel and user came through (the workers post with it)."""
    if installed is None:
        return
    try:
        installations.note_origin(conn, str(installed["owner"]), who.channel, who.user or None)
    except RedisError as exc:  # the listener says that the state is unreachable; posts fall back to the home one
        log.warning("origin not noted", extra={"error": type(exc).__name__})


def _bound(conn: Redis, who: Caller, body: dict[str, Any]) -> None:
    """A click's id must belong to the message it came from (its channel and ts, or its thread's parent)."""
    message = _dict(body.get("message"))
    container = _dict(body.get("container"))
    ts = {_str(container.get("message_ts")), _str(message.get("ts")), _str(message.get("thread_ts"))} - {None}
    try:
        expected, channel = _message_of(conn, who)
        if expected is None:
            return  # an unknown id: the listener says so
        landed = outgoing.where(conn, expected)
    except RedisError:
        return  # the listener says that the state is unreachable
    if landed is None:
        if channel is not None and channel == who.channel:
            return  # a report answered through its response_url: bound by channel (the button only asks why)
        raise Refused("This message is still being posted; try again in a moment.")
    if landed.channel != who.channel or landed.ts not in ts:
        log.warning("click not bound to its message", extra={"action": who.action, "value": who.value})
        raise Refused("This button does not belong to this message; nothing was done.")


def _message_of(conn: Redis, who: Caller) -> tuple[str | None, str | None]:
    """The outbox id of the message a button's id belongs to (and the channel to accept when it has no ts)."""
    if who.action in DECISIONS:
        found = request_records.exists(conn, who.value)
        return (approvals.prompt_message_id(who.value) if found else None), None
    if who.action in ("ack_alert", "restore"):
        try:
            return alerts.group_id(alert_records.load(conn, who.value)), None
        except approvals.Refused:
            return None, None
    if who.action in ("ack_group", "restore_all"):
        found = alert_records.group_exists(conn, who.value)
        return (alerts.group_id({"group": who.value, "id": who.value}) if found else None), None
    if who.action == "report_account":
        audit = who.value.split(":", 1)[0]
        found = audits.exists(conn, audit)
        return (outbox.report_id(audit) if found else None), None
    if who.action == "request_fix":
        fix = fix_offers.recall(conn, who.value)
        return (fix.get("message") if fix else None), (fix.get("channel") if fix else None)
    return None, None


def _refusal(who: Caller, text: str, context: BoltContext) -> BoltResponse:
    if who.kind == "command":
        return BoltResponse(status=200, body=json.dumps(ephemeral(f":no_entry: {text}")),
                            headers={"content-type": "application/json"})  # fmt: skip
    if who.kind == "view_submission":
        answer = {"response_action": "errors", "errors": {"reason": text[:150]}}
        return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})
    respond = context.respond
    if respond is not None:
        try:
            respond(text=f":no_entry: {text}", response_type="ephemeral", replace_original=False)
        except (OSError, SlackClientError) as exc:  # the refusal stands; only telling the clicker failed
            log.warning("refusal not told", extra={"error": type(exc).__name__})
    return BoltResponse(status=200, body="")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None
