"""Shared fixtures: one moto server for the session, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest

from demo.redis_servers import Servers
from demo.servers import Moto, aws_env, moto_server, start_redis
from tests.helpers.faults import Faults
from workers.aws import accounts
from workers.core.settings import Settings
from workers.resources import alarm


@pytest.fixture(autouse=True)
def _patterns_judged_anew() -> None:
    """Each test judges its filter patterns itself (the process keeps judgements for an hour)."""
    alarm.forget_judgements()


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """A moto server process for the whole session."""
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of its own for a test module (append-only, on a free port)."""
    server = start_redis()
    yield server.url
    server.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    """Redis as production runs it (TLS, an ACL user, replicas, Sentinel), started by the test; all stopped and
    their directory removed after it."""
    made = Servers()
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def aws(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> Moto:
    """An empty fake AWS, reached the way real AWS is: through AWS_ENDPOINT_URL."""
    moto.reset()
    for key in ("TRAIL_AUDIT_REGIONS", "TRAIL_AUDIT_ROLE_ARNS", "TRAIL_AUDIT_EXTERNAL_ID", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in aws_env(moto.url).items():
        monkeypatch.setenv(key, value)
    boto3.DEFAULT_SESSION = None
    accounts.reset_base_session()
    return moto


@pytest.fixture
def settings(aws: Moto) -> Settings:
    """Settings read from the test environment (no .env file)."""
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Faults]]:
    """Install a `Faults` on every session the audit creates."""

    def install(**kwargs: object) -> Faults:
        injector = Faults(**kwargs)  # type: ignore[arg-type]
        original = accounts.new_session
        monkeypatch.setattr(accounts, "new_session", lambda **kw: injector.install(original(**kw)))
        accounts.reset_base_session()
        return injector

    yield install
    accounts.reset_base_session()


# The longest tests first, so that the parallel workers (`make test` runs pytest-xdist) end together.
FIRST = {"test_e2e_faults.py": 0, "test_demo.py": 0, "test_e2e_approvals.py": 1, "test_e2e.py": 1,
         "test_e2e_monitor.py": 1, "test_e2e_events.py": 1}  # fmt: skip


SHARED = ("shared", "web")  # module fixtures that run processes: their tests go to one pytest-xdist worker


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the collected tests: long end-to-end ones first, the quick ones fill in behind them. Tests that
    share a module's running stack are one group (`--dist loadgroup`), so that the stack starts once."""
    items.sort(key=lambda item: (FIRST.get(item.path.name, 2), -int("slack_down" in item.name)))
    for item in items:
        for name in SHARED:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(f"{item.path.stem}-{name}"))
