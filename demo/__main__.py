"""`make demo`: the whole flow, offline, as the channels would see it.

It starts a fake AWS account (a moto server seeded with a realistic mix of problems), a redis-server, the
Procfile's processes (the bot, a worker, the cron scheduler) and a local stand-in for the Slack Web API. Then,
signed exactly as Slack signs them, it sends: an audit; a fix requested by one user, refused when that same
user tries to approve it, approved by another, executed and re-checked; a short backout restored at its
deadline; a tamper pushed by EventBridge, alerted and restored through approval, then Stratus Red Team's
lifecycle rule on the trail's bucket (its logs deleted after a day) alerted with its actor and restored; a
waiver; the App Home; and the audit log.
Each message is printed as it reads in Slack, with a Block Kit Builder link.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from demo import bus
from demo.fake_account import ACCOUNT, BUCKET, FakeAccount, demo_account
from demo.servers import aws_env, moto_server, start_redis
from demo.signing import action_body, event_body, post, slash_body
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from demo.transcript import builder_link, message, render

REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-east-1"]
SECRET = "demo-signing-secret"
CHANNEL, ALERTS = "C0SECOPS", "C0ONCALL"
NAMES = {"U0ALICE": "alice", "U0BOB": "bob", CHANNEL: "#secops", ALERTS: "#oncall-alerts"}
MANAGEMENT = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management"
SHOWN = ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url")


def say(text: str = "") -> None:
    """Print a line of the transcript now."""
    print(text, flush=True)


class Conversation:
    """Sends what users do, and prints what the bot says, in order, each message once."""

    def __init__(self, stack: Stack, slack: SlackStandIn) -> None:
        self.stack, self.slack, self.printed = stack, slack, 0

    def command(self, user: str, text: str) -> dict[str, Any]:
        """`/trail-audit <text>` typed by `user` in #secops; prints the ephemeral answer."""
        say(f"── @{NAMES[user]} types in #secops: /trail-audit {text}".rstrip())
        status, answer = post(self.stack.url + "/slack/events", slash_body(text, channel=CHANNEL, user=user), SECRET)
        doc = json.loads(answer) if answer.startswith("{") else {"text": answer}
        say(message("trail-audit", f"answers only @{NAMES[user]} (HTTP {status})", doc.get("blocks") or [],
                    doc.get("text", "")))  # fmt: skip
        say()
        return dict(doc)

    def click(self, user: str, label: str, request_id: str) -> None:
        """`user` clicks a prompt's button (after its confirmation dialog)."""
        say(f"── @{NAMES[user]} clicks [ {label} ]" + (" on the prompt, and confirms" if label != "Restore" else ""))
        url = self.slack.response_url(f"{label}-{user}-{time.monotonic_ns()}")
        channel, ts = self.message_with(request_id)
        self.stack.landed(ts)
        body = action_body(label.lower(), request_id, user, channel, ts, url)
        post(self.stack.url + "/slack/events", body, SECRET)

    def message_with(self, button_value: str) -> tuple[str, str]:
        """The channel and ts of the message that carries a button with this value (clicks are bound to it)."""
        drawn = sorted([*self.slack.of("chat.postMessage"), *self.slack.of("chat.update")], key=lambda c: c.at)
        for call in reversed(drawn):  # an update redraws a message with new buttons (an event alert made a change's)
            if f'"value": "{button_value}"' in json.dumps(call.params.get("blocks")):
                return str(call.params["channel"]), str(call.params.get("_ts") or call.params["ts"])
        return ALERTS, "1.0"

    def until(self, text: str, timeout: float = 90) -> None:
        """Wait until the bot has said `text`, then print everything it said since the last print."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = [c for c in self.slack.calls[self.printed :] if c.method in SHOWN]
            if any(text in json.dumps(c.params) for c in calls):
                time.sleep(0.4)  # what follows at once (thread replies) belongs to the same moment
                self.flush()
                return
            time.sleep(0.05)
        raise SystemExit(f"demo: the bot did not say {text!r} within {timeout:.0f}s")

    def flush(self) -> None:
        """Print every bot message not printed yet."""
        calls = self.slack.calls[self.printed :]
        self.printed += len(calls)
        for call in calls:
            if call.method in SHOWN:
                show(call)


def show(call: Call) -> None:
    """A recorded Web API call as a transcript entry."""
    p = call.params
    where = NAMES.get(str(p.get("channel")), str(p.get("channel", "")))
    verb = {
        "chat.postMessage": f"posts in {where}" + (" (in the thread)" if p.get("thread_ts") else ""),
        "chat.update": f"updates its message in {where}",
        "chat.postEphemeral": f"tells only @{NAMES.get(str(p.get('user')), p.get('user'))} in {where}",
        "response_url": "answers only the person who clicked",
    }[call.method]
    say(message("trail-audit", verb, p.get("blocks") or [], p.get("text", "")))
    say()


def home_tab(stack: Stack, slack: SlackStandIn) -> None:
    """Open alice's Home tab and print the view the worker published, with its Block Kit Builder link."""
    say("── @alice opens the Home tab of trail-audit")
    event = {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home"}
    post(stack.url + "/slack/events", event_body(event), SECRET, content_type="application/json")
    deadline = time.monotonic() + 30
    while not slack.of("views.publish") and time.monotonic() < deadline:
        time.sleep(0.1)
    if not slack.of("views.publish"):
        raise SystemExit("demo: the Home tab was not published within 30 s")
    raw = slack.of("views.publish")[-1].params["view"]
    view = json.loads(raw) if isinstance(raw, str) else raw
    say(f"trail-audit publishes @alice's Home tab ({len(view['blocks'])} blocks):")
    for line in render(view["blocks"]):
        say(f"   {line}")
    say(f"   └ the view's JSON: {json.dumps(view)[:300]}…")
    say(f"   └ as Slack draws it: {builder_link(view['blocks'], 'home')}\n")


def alert_id(slack: SlackStandIn, about: str = "") -> str:
    """The id the newest alert's Restore button carries (of an alert that names `about`)."""
    deadline = time.monotonic() + 30  # the poller redraws the alert with Restore if the pushed call came first
    while True:
        drawn = sorted([*slack.of("chat.postMessage"), *slack.of("chat.update")], key=lambda c: c.at)
        alerts = [c for c in drawn if "UNAPPROVED" in c.params.get("text", "") and about in json.dumps(c.params)]
        buttons = [e for c in alerts for b in c.params["blocks"] for e in [b.get("accessory") or {},
                   *b.get("elements", [])] if isinstance(e, dict) and e.get("action_id") == "restore"]  # fmt: skip
        if buttons or time.monotonic() > deadline:
            return str(buttons[-1]["value"])
        time.sleep(0.2)


def restore_id(slack: SlackStandIn) -> str:
    """The request id of the newest Restore request."""
    told = [c for c in slack.of("chat.postMessage") if "Restore requested by" in c.params.get("text", "")][-1]
    return str(told.params["text"].split("`")[1])


def request_id(answer: dict[str, Any]) -> str:
    """The request id in the bot's answer to `remediate` or `backout`."""
    return str(answer["text"].split("`")[1])


def lifecycle(talk: Conversation, slack: SlackStandIn) -> None:
    """Step 4b: Stratus Red Team's cloudtrail-lifecycle-rule on the trail's bucket, alerted and restored."""
    say("   Then mallory goes around the switch: a lifecycle rule that deletes the trail's logs after a day\n"
        "   (Stratus Red Team's aws.defense-evasion.cloudtrail-lifecycle-rule, MITRE ATT&CK T1562.008)\n")
    say(f"── mallory: aws s3api put-bucket-lifecycle-configuration --bucket {BUCKET} (expire everything after 1 day)\n")
    rule = {"ID": "nuke-cloudtrail-logs-after-1-day", "Status": "Enabled", "Filter": {"Prefix": ""},
            "Expiration": {"Days": 1}}  # fmt: skip
    FakeAccount().client("s3").put_bucket_lifecycle_configuration(Bucket=BUCKET,
                                                                  LifecycleConfiguration={"Rules": [rule]})
    params = {"bucketName": BUCKET, "lifecycle": "", "LifecycleConfiguration": {"Rule": rule}}
    bus.put(FakeAccount(), bus.call("PutBucketLifecycle", "mallory", "203.0.113.66", params,
                                    source="s3.amazonaws.com"))  # fmt: skip
    talk.until("UNAPPROVED change")
    talk.click("U0BOB", "Restore", alert_id(slack, about="sooner"))
    talk.until("Approval needed")
    talk.click("U0ALICE", "Approve", restore_id(slack))
    talk.until("Recovered")


def main() -> int:
    """Run the demo."""
    say("trail-audit demo: a fake AWS account, Redis, the bot, a worker and a Slack stand-in, all local.\n")
    settings = {"TRAIL_AUDIT_REGIONS": ",".join(REGIONS), "TRAIL_AUDIT_ALERT_CHANNEL": ALERTS,
                "TRAIL_AUDIT_APPROVERS": "U0ALICE,U0BOB", "TRAIL_AUDIT_MONITOR_SECONDS": "5"}  # fmt: skip
    with moto_server() as moto, SlackStandIn() as slack:
        os.environ.update(aws_env(moto.url))
        demo_account(REGIONS[:4])
        settings["TRAIL_AUDIT_EVENTS_QUEUE_URL"] = bus.event_queue(FakeAccount())
        settings["TRAIL_AUDIT_EVENTS_WAIT_SECONDS"] = "1"
        settings["TRAIL_AUDIT_EVENTS_BURST_SECONDS"] = "2"  # each tamper its own message (default: a minute)
        redis = start_redis()
        stack = Stack(moto.url, redis.url, slack.api_url, SECRET, settings)
        try:
            stack.start()
            say(f"  fake AWS      {moto.url}  (account {ACCOUNT}: {', '.join(REGIONS)}; ap-east-1 not enabled)")
            say(f"  redis-server  {redis.url}")
            say(f"  Slack API     {slack.api_url}  (a stand-in that records every call)")
            say(f"  the bot       {stack.url}/slack/events  (Procfile: web, worker, clock)")
            say("  approvers     @alice, @bob; prompts and alerts go to #oncall-alerts\n")
            talk = Conversation(stack, slack)
            say("1. An audit\n")
            talk.command("U0ALICE", "")
            talk.until("FAIL:")
            say("2. A fix: requested by alice, refused when alice approves it herself, approved by bob\n")
            rid = request_id(talk.command("U0ALICE", "remediate cloudtrail.trail_logging app-audit stopped during "
                                                     "Tuesday's incident and never restarted"))  # fmt: skip
            talk.until("Approval needed")
            talk.click("U0ALICE", "Approve", rid)
            talk.until("another approver")
            talk.click("U0BOB", "Approve", rid)
            talk.until("*Re-check*")
            say("3. A backout for 6 seconds (the seed's plan: management events off while a flood is tuned)\n")
            bid = request_id(talk.command("U0ALICE", "backout management 0.1 data-event flood while we tune it"))
            talk.until("Approval needed")
            talk.click("U0BOB", "Approve", bid)
            talk.until("backout active until")
            say("   … the deadline passes; nobody does anything …\n")
            talk.until("restored at its deadline")
            say(
                "4. Tampering: someone outside trail-audit stops the management trail; EventBridge pushes the call\n"
                "   to the events queue within seconds (the poller, every 5 s, is the backstop and adds nothing)\n"
            )
            say(f"── mallory, with stolen keys: aws cloudtrail stop-logging --name {MANAGEMENT}\n")
            FakeAccount().client("cloudtrail").stop_logging(Name=MANAGEMENT)
            bus.put(FakeAccount(), bus.call("StopLogging", "mallory", "203.0.113.66", {"name": MANAGEMENT}))
            talk.until("UNAPPROVED change")
            talk.click("U0BOB", "Restore", alert_id(slack))
            talk.until("Approval needed")
            talk.click("U0ALICE", "Approve", restore_id(slack))
            talk.until("Recovered")
            lifecycle(talk, slack)
            say("5. A waiver: alice accepts app-audit's missing log file validation for 30 days; bob approves\n")
            wid = request_id(talk.command("U0ALICE", "waive cloudtrail.trail_log_file_validation app-audit 30 "
                                                     "replaced by the organization trail in Q1"))  # fmt: skip
            talk.until("Approval needed: waiver.accept")
            talk.click("U0BOB", "Approve", wid)
            talk.until("in force")
            talk.command("U0ALICE", "audit us-east-1")
            talk.until("*Waived*")
            say("6. The App Home: alice opens trail-audit's Home tab (views.publish, drawn by the worker)\n")
            home_tab(stack, slack)
            say("7. The audit log\n")
            talk.command("U0BOB", "log 12")
        finally:
            stack.stop()
            redis.stop()
    say("Every message above came from the real bot and worker processes through the Slack Web API stand-in.")
    say("Open a link to see the message as Slack draws it; `trail-audit audit` runs the same audit in a terminal.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
