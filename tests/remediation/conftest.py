"""Shared by the remediation tests: a clean Redis, moto and the Slack stand-in, with the settings a worker reads
from its environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from demo.fake_account import HOME
from demo.servers import Moto
from demo.slack_standin import SlackStandIn
from workers.core.settings import Settings


@pytest.fixture
def env(aws: Moto, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Redis, Settings, SlackStandIn]]:
    with SlackStandIn() as slack:
        for key, value in {"REDIS_URL": redis_url, "SLACK_API_URL": slack.api_url, "SLACK_BOT_TOKEN": "xoxb-t",
                           "TRAIL_AUDIT_ALERT_CHANNEL": "C0ALERTS", "TRAIL_AUDIT_APPROVERS": "U0ALICE,U0BOB",
                           "TRAIL_AUDIT_REGIONS": HOME}.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        conn = Redis.from_url(redis_url)
        conn.flushdb()
        yield conn, Settings(_env_file=None), slack  # type: ignore[call-arg]
