"""Real local servers for the demo, the tests and the benchmarks: a moto server and a redis-server on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: object, timeout: float = 20.0, what: str = "server") -> None:
    """Poll `check()` until it is truthy or the timeout passes."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception as exc:  # noqa: BLE001 - polling a server that is still starting
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up within {timeout}s ({last})")


@dataclass
class Moto:
    """A moto server process."""

    url: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        """Forget every resource (POST /moto-api/reset)."""
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=60)


@contextlib.contextmanager
def moto_server(module: str = "moto.server") -> Iterator[Moto]:
    """Start `moto.server` (or a module that runs it) on a free port; stop it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(f"{url}/moto-api/", timeout=1).status == 200, what="moto server")
        yield Moto(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # a loaded machine: it is going anyway
            proc.kill()
            proc.wait(10)


@dataclass
class Redis:
    """A redis-server process with its own data directory."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    directory: str
    owned: bool = True  # its data directory is removed when it stops (unless kept for a restart)

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server; its data directory goes with it, unless `keep_data` (a restart on the same files)."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.owned and not keep_data:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_redis(directory: str | None = None, port: int | None = None, owned: bool | None = None) -> Redis:
    """A redis-server on a free port with append-only persistence, in `directory` (a new temp dir, removed when
    the server stops; a given directory is removed only when `owned`)."""
    owned = directory is None if owned is None else owned
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make setup` (it installs the Debian package)")
    directory = directory or tempfile.mkdtemp(prefix="ta-redis-")
    port = port or free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            directory,
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    wait_for(ping, what="redis-server")
    return Redis(f"redis://127.0.0.1:{port}/0", port, proc, directory, owned)


def aws_env(url: str) -> dict[str, str]:
    """Environment that points boto3 at a moto server, with fake credentials."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRAIL_AUDIT_AWS_MAX_ATTEMPTS": "2",
    }


def clean_env() -> dict[str, str]:
    """The current environment without AWS or trail-audit settings that could leak into a test."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRAIL_AUDIT_", "SLACK_", "REDIS_URL"))}
