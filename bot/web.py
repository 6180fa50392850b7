"""The web process: Bolt over WSGI under gunicorn (`gunicorn 'bot.web:create_wsgi()'`), plus /healthz."""

from __future__ import annotations

import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import gate, oauth, prometheus
from bot.access import Access
from bot.listeners import register
from bot.web_settings import bot_settings
from workers.core import logs
from workers.core.settings import Settings
from workers.slack.client import web_client

StartResponse = Callable[..., Any]
OAUTH_PATHS = ("/slack/install", "/slack/oauth_redirect")
log = logging.getLogger("trail_audit.bot")


def create_app(settings: Settings) -> App:
    """The Bolt app: signatures verified, Web API calls through SLACK_API_URL, who may do what checked
    (`bot.access`), listeners registered. With SLACK_CLIENT_ID, workspaces and organizations install it through
    OAuth and each request is authorised with its installation's token (`bot.oauth`)."""
    assert settings.slack_signing_secret and (settings.slack_bot_token or settings.installed_by_oauth)
    installed = settings.installed_by_oauth
    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=web_client(settings),
        token_verification_enabled=False,
        process_before_response=True,
        oauth_settings=oauth.oauth_settings(settings) if installed else None,
        authorize=oauth.InstalledAuthorize(settings) if installed else None,  # type: ignore[arg-type]  # Bolt takes it
        user_facing_authorize_error_message=oauth.NOT_INSTALLED,
    )

    @app.middleware
    def _inject(context: BoltContext, next: Callable[[], None]) -> None:
        context["settings"] = settings
        next()

    app.middleware(Access(settings).guard)
    register(app)
    return app


FAILED = json.dumps(
    {"response_type": "ephemeral", "text": ":x: trail-audit could not handle that; nothing was done. Try again."}
).encode()


def create_wsgi() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application gunicorn serves: settings read once, here, at start."""
    logs.setup()
    settings = bot_settings()
    assert settings.slack_signing_secret
    secret = settings.slack_signing_secret.get_secret_value()
    handler = SlackRequestHandler(create_app(settings))

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz" and method == "GET":
            return _plain(start_response, "200 OK", "ok")
        if path == "/metrics" and method == "GET":
            return _metrics(settings, environ, start_response)
        if path in OAUTH_PATHS and settings.installed_by_oauth and method == "GET":
            return _never_5xx(handler, environ, start_response)  # Bolt's install page and Slack's redirect back
        if path != "/slack/events":
            return _plain(start_response, "404 Not Found", "not found")
        if method != "POST":
            return _plain(start_response, "405 Method Not Allowed", "POST only")
        size = gate.length(environ.get("CONTENT_LENGTH"))
        if isinstance(size, gate.Refusal):
            return _refuse(start_response, size)
        body = environ["wsgi.input"].read(size)
        refusal = gate.check(
            secret,
            environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
            environ.get("HTTP_X_SLACK_SIGNATURE"),
            body,
            time.time(),
            environ.get("CONTENT_TYPE"),
        )
        if refusal is not None:
            return _refuse(start_response, refusal)
        environ["wsgi.input"] = io.BytesIO(body)
        return _never_5xx(handler, environ, start_response)

    return application


def _metrics(settings: Settings, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """The Prometheus exposition; with TRAIL_AUDIT_METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    given = str(environ.get("HTTP_AUTHORIZATION", ""))
    if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return _plain(start_response, "401 Unauthorized", "a bearer token is needed")
    body, content_type = prometheus.render(settings)
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _never_5xx(handler: SlackRequestHandler, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Bolt's answer; a failure inside it is logged and answered with a short ephemeral line, never a 5xx."""
    seen: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], *rest: Any) -> Callable[[bytes], object]:
        seen.append((status, headers))
        return lambda data: None

    try:
        body = list(handler(environ, capture))
    except Exception as exc:  # the request was Slack's: its sender is told, the failure is logged
        log.error("request failed", extra={"error": type(exc).__name__}, exc_info=True)
        seen, body = [], []
    if seen and not str(seen[0][0]).startswith("5"):
        start_response(*seen[0])
        return body
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(FAILED)))])
    return [FAILED]


def _refuse(start_response: StartResponse, refusal: gate.Refusal) -> list[bytes]:
    log.warning("request refused", extra={"status": refusal.status, "reason": refusal.reason})
    return _plain(start_response, f"{refusal.status} {HTTPStatus(refusal.status).phrase}", refusal.reason)


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    data = f"{text}\n".encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
