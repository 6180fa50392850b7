"""Untrusted text never becomes a mention, a channel link or a link: every builder, hostile strings everywhere.

Text from users (resources, reasons) and from AWS (names, user agents, request parameters, error messages) is
put in every field of every builder's input; the only control sequences allowed in what the builder returns
are the ones it writes itself: the Slack ids it was given (users and channels come from Slack's signed
payloads) and the operator's alert mention setting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import parse
from workers.aws.event_history import ChangeEvent
from workers.core import mrkdwn
from workers.core.check_catalogue import PlanError, fix_for
from workers.monitor import tampering
from workers.slack.messages.alert import alert, alert_group, recovery, repost
from workers.slack.messages.answers import failed, progress, usage
from workers.slack.messages.prompt import outcome, prompt, recheck_result
from workers.slack.messages.report import events, report
from workers.slack.messages.rollup import rollup
from workers.slack.messages.status import log_entries, status

HOSTILE = [
    "<!channel>", "<!here>", "<!everyone>", "<!subteam^S0EVIL|oncall>", "<@U0EVIL>", "<#C0EVIL>",
    "<https://evil.example|runbook>", "<http://evil.example>", "<mailto:a@evil.example|mail>", "&lt;!here&gt;",
    "`<!here>`", "*<!channel>*", "<<@U0EVIL>>", "a & b > c", "\u202e<!here>", "```<!channel>```", "<!date^1|x>",
]  # fmt: skip
hostile = st.one_of(
    st.sampled_from(HOSTILE),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=8), st.sampled_from(HOSTILE), st.text(max_size=8)),
    st.text(max_size=60),
)
ALICE, BOB, CHANNEL, ONCALL = "U0ALICE", "U0BOB", "C0ALERTS", "<!subteam^S0ONCALL>"
ALLOWED = {f"<@{ALICE}>", f"<@{BOB}>", f"<#{CHANNEL}>", ONCALL}
CONTROL = re.compile(r"<[^<>]*>?")


def rendered(node: Any, plain: bool = False) -> list[str]:
    """The mrkdwn strings of a message or view (plain_text objects are shown as written: not mrkdwn)."""
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return []
        out = []
        for key, value in node.items():
            if key in ("value", "private_metadata", "action_id", "block_id", "callback_id", "type"):
                continue  # not shown
            out += [value] if isinstance(value, str) and key == "text" else rendered(value)
        return out
    if isinstance(node, list):
        return [s for item in node for s in rendered(item)]
    return []


def assert_no_injection(message: Any) -> None:
    for text in rendered(message):
        for token in CONTROL.findall(text):
            assert token in ALLOWED, f"{token!r} survived in {text!r}"


def trail_doc(h: str) -> dict[str, Any]:
    return {"account": h, "region": h, "resource": h, "check": h, "status": "FAIL", "detail": h, "remediation": h}


def report_doc(h: str) -> dict[str, Any]:
    findings = [trail_doc(h), {**trail_doc(h), "status": "PASS"}, {**trail_doc(h), "status": "ERROR"}]
    return {"findings": findings * 30, "summary": {"accounts": [h, h], "regions": [h]}}


def request_doc(h: str, requester: str = ALICE) -> dict[str, Any]:
    return {
        "id": h, "action": "backout.management_events_off", "requester": requester, "reason": h, "account": h,
        "region": h, "resource": h, "minutes": 5.0, "deadline": 1764240000.0, "expires": 1764240000.0,
        "status": h, "permissions": [h, h],
        "plan": {"calls": [{"service": h, "operation": h, "params": {h: h, "Name": [h]}, "region": h}]},
    }  # fmt: skip


def alert_doc(h: str, field: str, approved: bool, who: bool) -> dict[str, Any]:
    attribution = {"actor": h, "actor_type": h, "time": h, "source_ip": h, "error_code": h, "user_agent": h,
                   "name": h, "parameters": {h: h}}  # fmt: skip
    return {
        "id": h, "group": h, "account": h, "region": h, "resource": h, "field": field, "title": h, "before": h,
        "after": {h: [h]}, "story": "", "truncated": h, "created": 1764240000.0, "status": "open", "mention": ONCALL,
        "restorable": True, "restore": {}, "attribution": attribution if who else None, "lookup_error": h,
        "approved": {"request": h, "action": h, "requester": ALICE, "approver": BOB} if approved else None,
    }  # fmt: skip


def event(h: str, name: str = "StopLogging") -> ChangeEvent:
    return ChangeEvent(time="2026-11-30T10:00:00Z", name=name, source="cloudtrail.amazonaws.com", account=h,
                       region=h, actor=h, actor_type=h, source_ip=h, user_agent=h, error_code=None,
                       error_message=None, parameters={"name": h}, event_id=h)  # fmt: skip


def events_doc(h: str) -> dict[str, Any]:
    change = {"time": h, "name": h, "account": h, "region": h, "actor": h, "source_ip": h, "failed": True,
              "error_code": h}  # fmt: skip
    return {"hours": h, "events": [change], "errors": [{"account": h, "region": h, "detail": h}]}


def log_docs(h: str) -> list[dict[str, Any]]:
    return [{"at": 0, "event": h, "request": h, "actor": ALICE, "detail": {h: h}},
            {"at": 0, "event": h, "request": h, "actor": h, "detail": {"reason": h}}]  # fmt: skip


def every_message(h: str) -> list[Any]:
    """What every builder makes of `h` in every field it shows."""
    alerts = [alert_doc(h, f, a, w) for f in ("logging", "attempt", "event") for a in (True, False) for w in (1, 0)]
    story = tampering.event_alerts(h, h, [event(h)], [event(h), event(h, "StartLogging")], 0.0, [])
    try:
        fix_for(h)
        planned = ""
    except PlanError as exc:
        planned = str(exc)
    return [
        progress(1, 3, [h, h]),
        failed(h, h),
        *report(report_doc(h), {0: h}),
        events(events_doc(h)),
        status(1, 1, {"counts": {h: 1}, "finished": 0}, [request_doc(h)], [request_doc(h)], []),
        log_entries(log_docs(h)),
        prompt(request_doc(h)),
        prompt(request_doc(h), state=f"approved by {mrkdwn.mention(BOB)}"),
        outcome(request_doc(h), [{"call": h, "ok": False, "error": h}], {"status": h, "detail": h}),
        recheck_result(h, {"status": h, "detail": h}),
        recheck_result(h, None),
        *[alert(d) for d in alerts],
        *[alert({**d, "id": h, "group": h, "created": 0.0, "status": "open"}) for d in story],
        alert_group([{**d, "id": f"{h}{i}"} for i, d in enumerate(alerts * 8)]),
        recovery(alert_doc(h, "logging", False, True), f"restored by {mrkdwn.code(h)}"),
        repost(alert_doc(h, "logging", False, True), 15, ONCALL),
        rollup(
            {
                "findings": [{**trail_doc(h), "account": f"{h}{i}"} for i in range(8)],
                "summary": {"accounts": [h] * 8, "unreachable": [h]},
            }
        ),
        usage(parse(h).problem),
        usage(parse(f"audit {h}").problem),
        usage(planned),
    ]


@settings(max_examples=150, deadline=None)
@given(hostile)
def test_no_builder_lets_outside_text_mention_link_or_page(h: str) -> None:
    for message in every_message(h):
        assert_no_injection(message)


@settings(max_examples=100, deadline=None)
@given(hostile)
def test_ids_that_are_not_slack_ids_are_shown_as_text(h: str) -> None:
    """A user or channel id that is not one (it never should be) does not become a control sequence either."""
    for message in (status(0, 1, None, [request_doc("r", requester=h)], []), prompt(request_doc(h, h))):
        for text in rendered(message):
            for token in CONTROL.findall(text):
                assert re.fullmatch(r"<@[UW][A-Z0-9]{2,30}>", token), token


def test_hostile_text_is_shown_as_written_not_dropped() -> None:
    msg = prompt(request_doc("x") | {"reason": "<!channel> see <https://evil.example|runbook>"})
    shown = json.dumps(msg)
    assert "&lt;!channel&gt; see &lt;https://evil.example|runbook&gt;" in shown
    assert all(t.get("verbatim") for b in msg["blocks"] if b["type"] == "section" for t in [b["text"]])


def test_code_spans_cannot_be_closed_by_a_backtick() -> None:
    assert mrkdwn.code("a`<!here>`b") == "`a\u02cb&lt;!here&gt;\u02cbb`"
    assert mrkdwn.code("") == "` `"


def test_alert_mention_setting_only_in_its_valid_forms() -> None:
    assert mrkdwn.alert_mention("<!subteam^S0ONCALL>") == "<!subteam^S0ONCALL>"
    assert mrkdwn.alert_mention("<!here>") == "<!here>"
    assert mrkdwn.alert_mention("<https://evil.example|oncall>") == ""
    assert mrkdwn.alert_mention("<!subteam^S0X> <!channel>") == ""


def test_slash_command_text_is_held_as_typed() -> None:
    cmd = parse("remediate cloudtrail.trail_logging app &lt;!here&gt; &amp; more")
    assert cmd.reason == "<!here> & more"
