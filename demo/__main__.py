"""`make demo`: the whole flow, offline, as a channel would see it.

It starts a fake AWS account (a moto server seeded with a realistic mix of problems), a redis-server, the
Procfile's processes (the bot, a worker, the cron scheduler) and a local stand-in for the Slack Web API; then
sends `/trail-audit` signed exactly as Slack signs it, and prints the conversation as it reads in the channel,
each message with a Block Kit Builder link that draws it as Slack would.
"""

from __future__ import annotations

import json
import os
import sys
import time

from demo.fake_account import demo_account
from demo.servers import aws_env, moto_server, start_redis
from demo.signing import post, slash_body
from demo.slack_standin import Call, SlackStandIn
from demo.stack import Stack
from demo.transcript import message

REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-east-1"]
SECRET = "demo-signing-secret"
CHANNEL = "C0SECOPS"


def say(text: str = "") -> None:
    """Print a line of the transcript now."""
    print(text, flush=True)


def show(call: Call) -> None:
    """A recorded Web API call as a transcript entry."""
    verb = {"chat.postMessage": "posts", "chat.update": "updates its message", "response_url": "answers"}
    where = "in the thread" if call.params.get("thread_ts") else f"in #{call.params.get('channel', 'the channel')}"
    say(message("trail-audit", f"{verb.get(call.method, call.method)} {where}", call.params.get("blocks") or [],
                call.params.get("text", "")))  # fmt: skip
    say()


def run_command(stack: Stack, slack: SlackStandIn, text: str, user: str, until: str, timeout: float = 60) -> None:
    """Send a signed command from `user`, print the ephemeral answer and every message until `until` appears."""
    say(f"── @{user} types: /trail-audit {text}".rstrip())
    seen = len(slack.calls)
    status, answer = post(stack.url + "/slack/events", slash_body(text, channel=CHANNEL, user=user), SECRET)
    doc = json.loads(answer) if answer.startswith("{") else {"text": answer}
    say(message("trail-audit", f"answers only @{user} (HTTP {status})", doc.get("blocks") or [], doc.get("text", "")))
    say()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = [c for c in slack.calls[seen:] if c.method in ("chat.postMessage", "chat.update", "response_url")]
        if any(until in c.params.get("text", "") for c in calls):
            time.sleep(0.3)  # thread replies follow the report
            for call in [c for c in slack.calls[seen:] if c.method in ("chat.postMessage", "chat.update")]:
                show(call)
            return
        time.sleep(0.05)
    raise SystemExit(f"demo: no message containing {until!r} within {timeout:.0f}s")


def main() -> int:
    """Run the demo."""
    say("trail-audit demo: a fake AWS account, Redis, the bot, a worker and a Slack stand-in, all local.\n")
    with moto_server() as moto, SlackStandIn() as slack:
        os.environ.update(aws_env(moto.url))
        demo_account(REGIONS[:4])
        redis = start_redis()
        stack = Stack(moto.url, redis.url, slack.api_url, SECRET, {"TRAIL_AUDIT_REGIONS": ",".join(REGIONS)})
        try:
            stack.start()
            say(f"  fake AWS      {moto.url}  (account 123456789012: {', '.join(REGIONS)}; ap-east-1 not enabled)")
            say(f"  redis-server  {redis.url}")
            say(f"  Slack API     {slack.api_url}  (a stand-in that records every call)")
            say(f"  the bot       {stack.url}/slack/events  (Procfile: web, worker, clock)\n")
            run_command(stack, slack, "", "U0ALICE", until="FAIL:")
        finally:
            stack.stop()
            redis.stop()
    say("Every message above came from the real bot and worker processes through the Slack Web API stand-in.")
    say("Open a link to see the message as Slack draws it; `trail-audit audit` runs the same audit in a terminal.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
