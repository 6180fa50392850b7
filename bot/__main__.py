"""`python -m bot`: the web process the Procfile starts.

Settings are read once, here; a missing Slack secret stops the process with one clear line. With
`SLACK_APP_TOKEN` set the bot connects to Slack over Socket Mode (no public URL needed) and serves only
`GET /healthz`; otherwise it hands over to gunicorn serving `POST /slack/events` and `GET /healthz`.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.web_settings import bot_settings
from workers.core import logs
from workers.state.connection import check_at_start

log = logging.getLogger("trail_audit.bot")


def gunicorn_argv(port: str) -> list[str]:
    """gunicorn as production runs it: 2 processes x 8 threads, settings checked before forking; any number of
    web processes may run on one host."""
    return [
        "gunicorn",
        "--bind",
        f"0.0.0.0:{port}",
        "--workers",
        os.environ.get("WEB_CONCURRENCY", "2"),
        "--threads",
        "8",
        "--preload",
        "--access-logfile",
        "-",
        "--no-control-socket",  # gunicorn's runtime control socket is one fixed path a host: two webs would share it
        "bot.web:create_wsgi()",
    ]


def metrics_dir() -> str:
    """Where gunicorn's processes keep their counters for `GET /metrics` (prometheus-client's multiprocess
    mode): PROMETHEUS_MULTIPROC_DIR, or a fresh directory; emptied at start (counts restart with the process)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="trail-audit-metrics-")
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def serve_healthz(port: int) -> ThreadingHTTPServer:
    """`GET /healthz` on a thread, for Socket Mode (where Slack's requests do not come over HTTP)."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/healthz"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok\n" if ok else b"not found\n")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("0.0.0.0", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    """Start in Socket Mode or under gunicorn, after the settings check."""
    logs.setup()
    settings = bot_settings()
    check_at_start(settings)  # a certificate not trusted or a wrong Redis password: one clear line, exit 2
    port = os.environ.get("PORT", "3000")
    if settings.slack_app_token is None or not settings.slack_app_token.get_secret_value():
        metrics_dir()
        sys.stdout.flush()
        os.execvp("gunicorn", gunicorn_argv(port))
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.web import create_app

    serve_healthz(int(port))
    log.info("starting in Socket Mode", extra={"port": port})
    SocketModeHandler(create_app(settings), settings.slack_app_token.get_secret_value()).start()


if __name__ == "__main__":
    main()
