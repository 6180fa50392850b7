"""An HTTP proxy that adds a fixed delay to every request before passing it to a moto server.

Run it as its own process (`python -m bench.latency_proxy TARGET DELAY`, or `spawn`), so that its work does
not compete with the measured process for the interpreter lock: the network is not in our process.

It stands in for the network distance to AWS: each API call costs at least `delay` seconds, as it would
from a worker to a far region. Threaded, keep-alive, every method. With `quiet_history`, CloudTrail's
`LookupEvents` (which moto lacks: it answers 500, and every attempt is retried) gets the answer CloudTrail
gives for an account with no write event in the window: `{"Events": []}`.

Given several moto servers (targets joined by commas), it spreads the accounts over them, as AWS serves
accounts in parallel where one moto process serves every call on one core: `sts:AssumeRole` goes to the
server of the role's account (`account % servers`), the access key it answers is remembered as that server's,
and every later request goes to the server of the key in its `Authorization` header (the first server for
keys it never saw: the caller's own).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default listen backlog (5) drops bursts of connections: 1 s SYN retries


class _Keys:
    """Which moto server each account, and each access key it answered, belongs to."""

    ROLE = re.compile(rb"RoleArn=arn%3Aaws%3Aiam%3A%3A(\d{12})%3A")
    KEY = re.compile(rb"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>")

    def __init__(self, count: int) -> None:
        self.count, self.of_key, self.lock = count, dict[str, int](), threading.Lock()

    def shard_of(self, authorization: str, body: bytes | None) -> int:
        """The server a request goes to."""
        if self.count == 1:
            return 0
        role = self.ROLE.search(body or b"") if b"Action=AssumeRole" in (body or b"") else None
        if role:
            return int(role[1]) % self.count
        key = authorization.split("Credential=", 1)[-1].split("/", 1)[0] if "Credential=" in authorization else ""
        with self.lock:
            return self.of_key.get(key, 0)

    def learn(self, shard: int, body: bytes | None, answer: bytes) -> None:
        """Remember the access key an AssumeRole answered as its server's."""
        if self.count > 1 and b"Action=AssumeRole" in (body or b""):
            found = self.KEY.search(answer)
            if found:
                with self.lock:
                    self.of_key[found[1].decode()] = shard


class LatencyProxy:
    """`with LatencyProxy(target, 0.1) as url:` — requests to `url` reach `target` 100 ms later."""

    def __init__(self, target: str, delay: float, quiet_history: bool = False) -> None:
        servers = [((u.hostname or "127.0.0.1"), u.port or 80) for u in map(urlsplit, target.split(","))]
        pause, keys = delay, _Keys(len(servers))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(pause)
                if quiet_history and self.headers.get("X-Amz-Target", "").endswith(".LookupEvents"):
                    self._answer(b'{"Events": []}')
                    return
                shard = keys.shard_of(self.headers.get("Authorization") or "", body)
                conn = http.client.HTTPConnection(*servers[shard], timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                keys.learn(shard, body, data)
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def _answer(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def spawn(target: str, delay: float, quiet_history: bool = False) -> Iterator[str]:
    """Run a LatencyProxy in a child process; yields its URL."""
    quiet = ["--quiet-history"] if quiet_history else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.latency_proxy", target, str(delay), *quiet], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    proxy = LatencyProxy(sys.argv[1], float(sys.argv[2]), "--quiet-history" in sys.argv[3:])
    print(proxy.url, flush=True)
    proxy.server.serve_forever()
