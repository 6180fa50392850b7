"""The whole bot as production runs it: every Procfile entry as its own process, on local stand-ins.

Used by `make demo`, the end-to-end tests and the benchmarks. Processes get their own session, so a test can
kill one (with its RQ work horse) the way a crashing machine would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from demo.servers import aws_env, clean_env, free_port, wait_for
from workers.core.settings import Settings
from workers.state.connection import Client, connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    """The Procfile's entries: name -> command."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): cmd.strip() for name, cmd in (line.split(":", 1) for line in lines if ":" in line)}


class Stack:
    """`Stack(aws_url, redis_url, slack_api_url, secret).start()`; `stop()` ends every process."""

    def __init__(
        self, aws_url: str, redis_url: str, slack_api_url: str, secret: str, extra: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **clean_env(), **aws_env(aws_url), "PATH": f"{BIN}:{os.environ['PATH']}", "PORT": str(self.port),
            "REDIS_URL": redis_url, "SLACK_API_URL": slack_api_url, "SLACK_BOT_TOKEN": "xoxb-local-token",
            "SLACK_SIGNING_SECRET": secret, "WEB_CONCURRENCY": "1", **(extra or {}),  # one web process: enough here
        }  # fmt: skip
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.files = tempfile.mkdtemp(prefix="ta-stack-")  # the web's metrics files; removed by stop()
        self.env["PROMETHEUS_MULTIPROC_DIR"] = self.files

    def start(self, *names: str) -> Stack:
        """Start Procfile entries (all when none named; `worker#2` is another worker) and wait for /healthz."""
        entries = procfile()
        os.makedirs(self.files, exist_ok=True)
        if not names and not self.env.get("TRAIL_AUDIT_EVENTS_QUEUE_URL"):
            entries.pop("events", None)  # with no queue it only idles: not started where nothing uses it
        for name in names or tuple(entries):
            entry = name.split("#")[0]  # "worker#2": a second process of the worker entry
            log = None if os.environ.get("TA_STACK_LOGS") else subprocess.DEVNULL  # TA_STACK_LOGS=1 shows them
            self.procs[name] = subprocess.Popen(
                ["bash", "-c", f"exec {entries[entry]}"], env=self.env, cwd=ROOT, start_new_session=True,
                stdout=log, stderr=log,
            )  # fmt: skip
        if "web" in (names or entries):
            wait_for(lambda: urllib.request.urlopen(f"{self.url}/healthz", timeout=1).status == 200, 90, "web")
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a process and everything in its session (an RQ worker's work horse too)."""
        proc = self.procs.pop(name)
        subprocess.run(["pkill", f"-{int(sig)}", "-s", str(proc.pid)], check=False)
        proc.wait(15)

    def landed(self, ts: str, timeout: float = 15) -> None:
        """Wait until the bot has recorded that one of its messages landed at `ts` (a person can only click a
        message once Slack has shown it; the bot records its ts as Slack answers the post)."""
        conn = self.redis()

        def seen() -> bool:
            for key in conn.scan_iter("ta:msg:*", count=500):
                if not key.endswith(b":lock") and conn.hget(key, "ts") == ts.encode():
                    return True
            return False

        wait_for(seen, timeout, f"the message at {ts}")

    def redis(self) -> Client:
        """A client for this stack's Redis, made as its processes make theirs (TLS, ACL user, Sentinel)."""
        names = ("REDIS_URL", "REDIS_TLS_CA_FILE", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER")
        return connection(Settings(_env_file=None, **{n: self.env[n] for n in names if n in self.env}))

    def restart(self, name: str) -> None:
        """Stop one process and start it again with the current `env`."""
        self._end(name)
        self.start(name)

    def stop(self) -> None:
        """Stop every process (TERM, then KILL), and remove the files they kept."""
        for name in list(self.procs):
            self._end(name)
        shutil.rmtree(self.files, ignore_errors=True)

    def _end(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.procs.pop(name, None)
