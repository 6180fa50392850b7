"""The one Redis connection factory every process uses (web, worker, clock, events consumer, CLI).

Redis as it is run in production: `REDIS_URL` may be `rediss://` (TLS; the server's certificate is checked
against `REDIS_TLS_CA_FILE`, hostname included) and carry a password or an ACL user
(`rediss://user:password@host:6380/0`). With `REDIS_SENTINELS` set, the primary is asked of Sentinel
(`REDIS_SENTINEL_MASTER`), and a failover is followed on the next command. The client carries how many
replicas an important write waits for (`REDIS_WAIT_REPLICAS`, see `durability`).
"""

from __future__ import annotations

import ssl
import sys
import threading
from typing import Any, cast

from redis import Redis
from redis.connection import parse_url
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError
from redis.sentinel import Sentinel

from workers.core.settings import Settings

TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 5.0, "health_check_interval": 10}


class Client(Redis):
    """A Redis client that knows how many replicas an acknowledged transition waits for, and how long."""

    wait_replicas: int = 0
    wait_ms: int = 0


def connection(settings: Settings) -> Client:
    """The process's Redis client for these settings, made once: its pool keeps connections open between uses
    (a TLS handshake costs milliseconds of CPU), and a forked work horse gets fresh ones (redis-py resets a pool
    in a new process). It fails fast when Redis is down, so a slash command can still be answered in time."""
    key = (settings.redis_url, str(settings.redis_tls_ca_file or ""), ",".join(settings.redis_sentinels),
           settings.redis_sentinel_master, settings.redis_wait_replicas, settings.redis_wait_ms)  # fmt: skip
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(key)
        if found is None:
            found = _CLIENTS[key] = _new(settings)
        return found


def _new(settings: Settings) -> Client:
    if settings.redis_sentinels:
        client = _through_sentinel(settings)
    else:
        client = cast(Client, Client.from_url(settings.redis_url, **TIMEOUTS, **_tls(settings)))
    client.wait_replicas, client.wait_ms = settings.redis_wait_replicas, settings.redis_wait_ms
    return client


def _tls(settings: Settings) -> dict[str, Any]:
    """TLS options for a `rediss://` URL: the CA file and hostname checking (the system's CAs without a file)."""
    if not settings.redis_url.startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if settings.redis_tls_ca_file:
        options["ssl_ca_certs"] = settings.redis_tls_ca_file
    return options


def _through_sentinel(settings: Settings) -> Client:
    """The primary named `REDIS_SENTINEL_MASTER`, found through the sentinels; the URL gives the user, password,
    database and TLS of the primary itself."""
    url = parse_url(settings.redis_url)
    auth = {k: url[k] for k in ("username", "password") if url.get(k)}
    master: dict[str, Any] = {**TIMEOUTS, **auth, "db": int(url.get("db") or 0)}
    if settings.redis_url.startswith("rediss://"):
        master.update(ssl=True, **_tls(settings))
    hosts = [(host, int(port)) for host, port in (entry.rsplit(":", 1) for entry in settings.redis_sentinels)]
    sentinel = Sentinel(hosts, sentinel_kwargs={"socket_connect_timeout": 1.0, "socket_timeout": 2.0}, **master)
    client = sentinel.master_for(settings.redis_sentinel_master, redis_class=Client)
    assert isinstance(client, Client)
    return client


def check_at_start(settings: Settings) -> None:
    """Connect once at start: a certificate not trusted, a wrong password or ACL user ends the process with one
    clear line (exit status 2). Redis merely down is not an error here: every process waits for it."""
    try:
        connection(settings).ping()
    except (AuthenticationError, ResponseError) as exc:
        _refuse(f"Redis refused this process's credentials (the user and password in REDIS_URL): {exc}")
    except ConnectionError as exc:
        reason = exc.__cause__ or exc.__context__
        if isinstance(reason, ssl.SSLError) or "certificate" in str(exc).lower():
            ca = settings.redis_tls_ca_file or "(unset: the system's CAs)"
            _refuse(f"Redis TLS: the server's certificate is not trusted with REDIS_TLS_CA_FILE={ca}: {reason or exc}")


def _refuse(sentence: str) -> None:
    print(f"trail-audit: {sentence}", file=sys.stderr)
    raise SystemExit(2)


def ping(conn: Redis) -> None:
    """Fail now (a ConnectionError) when Redis cannot be reached."""
    conn.ping()


_CLIENTS: dict[tuple[object, ...], Client] = {}
_CLIENTS_LOCK = threading.Lock()


def kept(settings: Settings) -> Client:
    """The process's one client for these settings (what `connection` returns), for the jobs that run in the
    worker's own process."""
    return connection(settings)
