"""All settings in one typed object, read once at start from the environment and a `.env` file."""

from __future__ import annotations

import sys
from typing import Annotated, Any

from pydantic import AliasChoices, Field, FilePath, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from workers.core import cron

CommaList = Annotated[list[str], NoDecode]


def _alias(name: str) -> Any:
    return Field(None, validation_alias=AliasChoices(name, name.lower()))


class Settings(BaseSettings):
    """What the audit engine, the workers and the bot read from the environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = _alias("SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = _alias("SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = _alias("SLACK_APP_TOKEN")
    slack_client_id: str | None = _alias("SLACK_CLIENT_ID")  # set: installed through OAuth (/slack/install)
    slack_client_secret: SecretStr | None = _alias("SLACK_CLIENT_SECRET")
    slack_redirect_uri: str | None = _alias("SLACK_REDIRECT_URI")  # unset: the one the app's settings name
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL"))
    redis_url: str = Field("redis://localhost:6379/0", validation_alias=AliasChoices("REDIS_URL"))
    redis_tls_ca_file: FilePath | None = Field(None, validation_alias=AliasChoices("REDIS_TLS_CA_FILE"))
    redis_sentinels: CommaList = Field(default_factory=list, validation_alias=AliasChoices("REDIS_SENTINELS"))
    redis_sentinel_master: str = Field("trail-audit", validation_alias=AliasChoices("REDIS_SENTINEL_MASTER"))
    redis_wait_replicas: int = Field(
        0, ge=0, le=10, validation_alias=AliasChoices("REDIS_WAIT_REPLICAS")
    )  # replicas an acknowledged transition waits for before anything is told or done outside (0: no wait)
    redis_wait_ms: int = Field(500, ge=1, le=60_000, validation_alias=AliasChoices("REDIS_WAIT_MS"))
    queue_metric_namespace: str | None = Field(
        None, validation_alias=AliasChoices("TRAIL_AUDIT_QUEUE_METRIC_NAMESPACE")
    )  # the CloudWatch namespace the clock puts the queue's depth in every minute (unset: not published)
    report_schedule: str | None = Field(
        None, validation_alias=AliasChoices("TRAIL_AUDIT_REPORT_SCHEDULE")
    )  # when the clock queues a posture report of every account (cron, UTC; `workers/core/cron.py`); unset: never
    report_channel: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_REPORT_CHANNEL"))
    clock_lease_seconds: float = Field(
        15.0, gt=0, le=600, validation_alias=AliasChoices("TRAIL_AUDIT_CLOCK_LEASE_SECONDS")
    )  # how long a clock that stopped renewing keeps the schedule before another clock takes it over
    alert_channel: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_ALERT_CHANNEL"))
    approvers: CommaList = Field(default_factory=list, validation_alias=AliasChoices("TRAIL_AUDIT_APPROVERS"))
    regions: CommaList = Field(default_factory=list, validation_alias=AliasChoices("TRAIL_AUDIT_REGIONS"))
    role_arns: CommaList = Field(default_factory=list, validation_alias=AliasChoices("TRAIL_AUDIT_ROLE_ARNS"))
    external_id: SecretStr | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_EXTERNAL_ID"))
    channel_routes: CommaList = Field(
        default_factory=list, validation_alias=AliasChoices("TRAIL_AUDIT_CHANNEL_ROUTES")
    )  # "account-or-OU-id=channel-id,...": where an account's alerts and prompts go (else the alert channel)
    org_role_name: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_ORG_ROLE_NAME"))
    accounts_exclude: CommaList = Field(
        default_factory=list, validation_alias=AliasChoices("TRAIL_AUDIT_ACCOUNTS_EXCLUDE")
    )  # account ids and/or OU ids left out of the organization's accounts
    account_cache: int = Field(
        10_000, ge=1, validation_alias=AliasChoices("TRAIL_AUDIT_ACCOUNT_CACHE")
    )  # accounts whose credentials a process keeps (about 1 KiB each), least recently used first out
    home_region: str = Field(
        "us-east-1", validation_alias=AliasChoices("TRAIL_AUDIT_HOME_REGION", "AWS_DEFAULT_REGION", "AWS_REGION")
    )
    events_hours: int = Field(24, ge=1, le=24 * 90, validation_alias=AliasChoices("TRAIL_AUDIT_EVENTS_HOURS"))
    max_workers: int = Field(32, ge=1, le=256, validation_alias=AliasChoices("TRAIL_AUDIT_MAX_WORKERS"))
    aws_max_attempts: int = Field(8, ge=1, le=20, validation_alias=AliasChoices("TRAIL_AUDIT_AWS_MAX_ATTEMPTS"))
    aws_timeout: float = Field(10.0, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_AWS_TIMEOUT"))

    trail_bucket: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_TRAIL_BUCKET"))
    log_retention_days: int = Field(
        365, ge=1, le=100 * 365, validation_alias=AliasChoices("TRAIL_AUDIT_LOG_RETENTION_DAYS")
    )  # a lifecycle rule deleting a trail's logs sooner fails cloudtrail.trail_log_retention
    config_role_arn: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_CONFIG_ROLE_ARN"))
    alarm_topic_arn: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_ALARM_TOPIC_ARN"))
    approval_minutes: int = Field(30, ge=1, le=24 * 60, validation_alias=AliasChoices("TRAIL_AUDIT_APPROVAL_MINUTES"))
    backout_max_minutes: int = Field(
        240, ge=1, le=7 * 24 * 60, validation_alias=AliasChoices("TRAIL_AUDIT_BACKOUT_MAX_MINUTES")
    )

    metrics_token: SecretStr | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_METRICS_TOKEN"))
    waiver_max_days: int = Field(90, ge=1, le=366, validation_alias=AliasChoices("TRAIL_AUDIT_WAIVER_MAX_DAYS"))
    securityhub_export: bool = Field(False, validation_alias=AliasChoices("TRAIL_AUDIT_SECURITYHUB_EXPORT"))

    monitor_seconds: int = Field(60, ge=5, le=3600, validation_alias=AliasChoices("TRAIL_AUDIT_MONITOR_SECONDS"))
    monitor_full_cycles: int = Field(
        5, ge=1, le=100, validation_alias=AliasChoices("TRAIL_AUDIT_MONITOR_FULL_CYCLES")
    )  # a region's Config recording groups and channels are read whole at least every this many cycles
    lookup_cycles: int = Field(
        3, ge=1, le=60, validation_alias=AliasChoices("TRAIL_AUDIT_LOOKUP_CYCLES")
    )  # with the pushed path off, a quiet region's event history is read every this many cycles
    pushed_poll_cycles: int = Field(
        2, ge=1, le=60, validation_alias=AliasChoices("TRAIL_AUDIT_PUSHED_POLL_CYCLES")
    )  # with the pushed path on and not said broken, a quiet region is looked at every this many cycles
    monitor_threads: int = Field(
        4, ge=1, le=64, validation_alias=AliasChoices("TRAIL_AUDIT_MONITOR_THREADS")
    )  # regions of one account read at once by a watch job (more threads cost more CPU for the same calls)
    alert_mention: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_ALERT_MENTION"))
    alert_repost_minutes: float = Field(
        15, gt=0, le=24 * 60, validation_alias=AliasChoices("TRAIL_AUDIT_ALERT_REPOST_MINUTES")
    )

    outbox_retry_seconds: float = Field(
        7200, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_OUTBOX_RETRY_SECONDS")
    )  # how long a Slack message is retried before it is given up (and shown in status)
    outbox_max_backoff: float = Field(300, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_OUTBOX_MAX_BACKOFF"))
    slack_channel_rate: float = Field(1.0, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_SLACK_CHANNEL_RATE"))
    sweep_seconds: int = Field(5, ge=1, le=60, validation_alias=AliasChoices("TRAIL_AUDIT_SWEEP_SECONDS"))
    stuck_after_seconds: float = Field(
        60, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_STUCK_AFTER_SECONDS")
    )  # an approved request not executing after this long is queued again
    watchdog_stale_seconds: float = Field(
        20, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_WATCHDOG_STALE_SECONDS")
    )  # a worker silent this long is dead and its job failed
    reenable_retry_seconds: float = Field(
        60, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_REENABLE_RETRY_SECONDS")
    )  # a re-enable that failed is tried again after this long
    restore_lease_seconds: float = Field(
        50, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_RESTORE_LEASE_SECONDS")
    )  # a queued re-enable that has not restored within this long is fired again
    lookup_max_pages: int = Field(20, ge=1, le=1000, validation_alias=AliasChoices("TRAIL_AUDIT_LOOKUP_MAX_PAGES"))

    events_queue_url: str | None = Field(None, validation_alias=AliasChoices("TRAIL_AUDIT_EVENTS_QUEUE_URL"))
    events_wait_seconds: int = Field(
        20, ge=0, le=20, validation_alias=AliasChoices("TRAIL_AUDIT_EVENTS_WAIT_SECONDS")
    )  # the SQS long poll (20 s: SQS's longest, the fewest calls)
    events_burst_seconds: float = Field(
        60, ge=0, validation_alias=AliasChoices("TRAIL_AUDIT_EVENTS_BURST_SECONDS")
    )  # pushed alerts of one account and region within this long share one message
    events_grace_seconds: float = Field(
        300, gt=0, validation_alias=AliasChoices("TRAIL_AUDIT_EVENTS_GRACE_SECONDS")
    )  # a change the poller alerted that no pushed event announced within this long: the path is broken

    team_id: str | None = Field(
        None, validation_alias=AliasChoices("TRAIL_AUDIT_TEAM_ID")
    )  # the home workspace (unset: auth.test's); with OAuth, the workspace or organization id whose installation
    # posts where no request came from (the alert and report channels; unset: the only installation)
    channels: CommaList = Field(default_factory=list, validation_alias=AliasChoices("TRAIL_AUDIT_CHANNELS"))
    operators: CommaList = Field(default_factory=list, validation_alias=AliasChoices("TRAIL_AUDIT_OPERATORS"))
    user_requests_per_minute: int = Field(
        5, ge=1, validation_alias=AliasChoices("TRAIL_AUDIT_USER_REQUESTS_PER_MINUTE")
    )  # audits and change requests one user may start a minute (decisions are never limited)
    channel_requests_per_minute: int = Field(
        20, ge=1, validation_alias=AliasChoices("TRAIL_AUDIT_CHANNEL_REQUESTS_PER_MINUTE")
    )

    @property
    def installed_by_oauth(self) -> bool:
        """Whether workspaces install the app through OAuth (SLACK_CLIENT_ID), each with its own bot token."""
        return bool(self.slack_client_id)

    def routes(self) -> dict[str, str]:
        """TRAIL_AUDIT_CHANNEL_ROUTES as account or OU id -> channel id."""
        pairs = (entry.split("=", 1) for entry in self.channel_routes if "=" in entry)
        return {key.strip(): channel.strip() for key, channel in pairs if key.strip() and channel.strip()}

    @field_validator(
        "approvers",
        "regions",
        "role_arns",
        "channels",
        "operators",
        "accounts_exclude",
        "channel_routes",
        "redis_sentinels",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// (TLS) or unix://")
        return value

    @field_validator("report_schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            cron.parse(value)  # a CronError (a ValueError) says which part is wrong
            return value.strip()
        return None

    @field_validator("redis_sentinels")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for entry in value:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{entry!r} is not host:port (REDIS_SENTINELS=host:port,host:port,...)")
        return value


_ADOPTED: Settings | None = None


def adopt(settings: Settings) -> None:
    """Make `settings` the process's own: a long-lived process (the worker) reads them once at start, and the
    jobs it runs in its own process (`workers.queue.paths.IN_PROCESS`) use them instead of reading anew."""
    global _ADOPTED
    _ADOPTED = settings


def current() -> Settings:
    """The process's adopted settings, or (a job in a work horse, a test) the environment's, read now."""
    return _ADOPTED if _ADOPTED is not None else Settings()


def load() -> Settings:
    """The settings at a process's start: a missing or malformed one ends it with one clear line (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"trail-audit: setting {first['loc'][0] if first['loc'] else '?'}: {first['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
