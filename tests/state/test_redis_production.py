"""Redis as production runs it, on real redis-server processes: TLS with a CA file and hostname checking, an ACL
user, a replica that an acknowledged transition waits for, and Sentinel following a failover."""

from __future__ import annotations

import subprocess
import sys

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from demo.redis_servers import ACL_PASSWORD, ACL_USER, Servers, make_certificates
from demo.servers import clean_env
from tests.helpers import ROOT
from tests.helpers.waiting import wait_until
from workers.core.settings import Settings
from workers.state import keys, machine
from workers.state.connection import connection
from workers.state.durability import NotReplicated

MASTER = "trail-audit"


def start(process: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Start `python -m workers.queue <process>` as the Procfile does and give it 20 s to fail."""
    try:
        return subprocess.run([sys.executable, "-m", "workers.queue", process], env={**clean_env(), **env}, cwd=ROOT,
                              capture_output=True, text=True, timeout=20)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{process} did not stop: {exc.stderr!r}") from None


def test_rediss_with_the_ca_file_and_an_acl_user(servers: Servers) -> None:
    port, ca = servers.tls()
    url = f"rediss://{ACL_USER}:{ACL_PASSWORD}@localhost:{port}/0"
    conn = connection(Settings(REDIS_URL=url, REDIS_TLS_CA_FILE=str(ca)))
    conn.set("ta:probe", "over TLS")
    assert conn.get("ta:probe") == b"over TLS"
    assert conn.acl_whoami() == ACL_USER


def test_the_servers_name_is_checked(servers: Servers) -> None:
    port, ca = servers.tls(names="DNS:redis.elsewhere.example")  # signed by the CA, for another name
    with pytest.raises(RedisConnectionError, match="Hostname mismatch"):
        connection(Settings(REDIS_URL=f"rediss://localhost:{port}/0", REDIS_TLS_CA_FILE=str(ca))).ping()


def test_a_wrong_ca_or_password_stops_each_process_at_start_with_one_clear_line(servers: Servers) -> None:
    port, _ = servers.tls()
    other = make_certificates(servers.directory, "other")  # a CA that did not sign the server's certificate
    url = f"rediss://{ACL_USER}:{ACL_PASSWORD}@localhost:{port}/0"
    for process in ("worker", "clock"):
        done = start(process, {"REDIS_URL": url, "REDIS_TLS_CA_FILE": str(other)})
        assert done.returncode == 2, done.stderr
        assert "Redis TLS: the server's certificate is not trusted with REDIS_TLS_CA_FILE=" in done.stderr
        assert "Traceback" not in done.stderr
    wrong = start("clock", {"REDIS_URL": url.replace(ACL_PASSWORD, "wrong-pass"),
                            "REDIS_TLS_CA_FILE": str(servers.directory / "ca.crt")})  # fmt: skip
    assert wrong.returncode == 2 and "Redis refused this process's credentials" in wrong.stderr
    assert "wrong-pass" not in wrong.stderr and "Traceback" not in wrong.stderr  # the password is never shown


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"REDIS_URL": "localhost:6379"}, "setting REDIS_URL: Value error, must start with redis://"),
        ({"REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}, "setting REDIS_TLS_CA_FILE: Path does not point to a file"),
        ({"REDIS_SENTINELS": "10.0.0.1"}, "setting REDIS_SENTINELS: Value error, '10.0.0.1' is not host:port"),
        ({"REDIS_WAIT_REPLICAS": "-1"}, "setting REDIS_WAIT_REPLICAS: Input should be greater than or equal to 0"),
    ],
)
def test_a_malformed_redis_setting_stops_the_process_at_start(env: dict[str, str], said: str) -> None:
    done = start("worker", env)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr


def test_an_acknowledged_transition_waits_for_a_replica_and_is_not_reported_done_without_one(servers: Servers) -> None:
    primary = servers.plain()
    replica = servers.replica_of(primary)
    url = f"redis://127.0.0.1:{primary}/0"
    conn = connection(Settings(REDIS_URL=url, REDIS_WAIT_REPLICAS=1, REDIS_WAIT_MS=300))
    machine.create_request(conn, "r-1", "{}")  # the replica has it: nothing raised
    assert Redis(port=replica).hget(keys.request("r-1"), "status") == b"planning"
    servers.pause(replica)  # cut off: it acknowledges nothing
    try:
        with pytest.raises(NotReplicated, match="0 of 1 Redis replicas acknowledged the write within 300 ms"):
            machine.move_request(conn, "r-1", machine.RequestStatus.PENDING)
        unwaiting = connection(Settings(REDIS_URL=url))  # REDIS_WAIT_REPLICAS=0 (the default): no wait
        machine.create_request(unwaiting, "r-2", "{}")
    finally:
        servers.resume(replica)
    wait_until(lambda: Redis(port=replica).hget(keys.request("r-2"), "status") == b"planning", 10)


def test_through_sentinel_every_client_follows_a_failover_and_keeps_what_was_replicated(servers: Servers) -> None:
    primary = servers.plain()
    replica = servers.replica_of(primary)
    sentinel = servers.sentinel(MASTER, primary)
    settings = Settings(REDIS_URL="redis://unused-with-sentinels/0", REDIS_SENTINELS=f"127.0.0.1:{sentinel}",
                        REDIS_SENTINEL_MASTER=MASTER, REDIS_WAIT_REPLICAS=1)  # fmt: skip
    conn = connection(settings)
    machine.create_request(conn, "before", "{}")  # waited for the replica
    assert conn.connection_pool.get_master_address() == ("127.0.0.1", primary)
    servers.kill(primary)
    after = connection(Settings(REDIS_URL=settings.redis_url, REDIS_SENTINELS=f"127.0.0.1:{sentinel}",
                                REDIS_SENTINEL_MASTER=MASTER))  # no replica is left to wait for  # fmt: skip

    def written() -> bool:
        try:
            machine.create_request(after, "after", "{}")
            return True
        except RedisConnectionError:
            return False

    wait_until(written, 30)
    assert after.connection_pool.get_master_address() == ("127.0.0.1", replica)  # promoted
    assert conn.hget(keys.request("before"), "status") == b"planning"  # the first client follows too
    assert Redis(port=replica).exists(keys.request("before"), keys.request("after")) == 2
