"""The web process: Bolt over WSGI under gunicorn (`gunicorn 'bot.web:create_wsgi()'`), plus /healthz."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.listeners import register
from bot.settings import bot_settings
from workers.core import logs
from workers.core.settings import Settings
from workers.slack.client import web_client

StartResponse = Callable[..., Any]


def create_app(settings: Settings) -> App:
    """The Bolt app: signatures verified, Web API calls through SLACK_API_URL, listeners registered."""
    assert settings.slack_bot_token and settings.slack_signing_secret
    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=web_client(settings),
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.middleware
    def _inject(context: BoltContext, next: Callable[[], None]) -> None:
        context["settings"] = settings
        next()

    register(app)
    return app


def create_wsgi() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application gunicorn serves: settings read once, here, at start."""
    logs.setup()
    handler = SlackRequestHandler(create_app(bot_settings()))

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if environ.get("PATH_INFO") != "/slack/events":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        return handler(environ, start_response)

    return application
