"""A local stand-in for the Slack Web API: records every call and answers as Slack does.

`chat.postMessage` answers `ok`, `channel` and an increasing `ts`, or `not_in_channel` for channels the bot
was not invited to; `chat.update` and `auth.test` answer `ok`; a command's `response_url` is served at
`/response/<id>`. Every call is kept in `calls`, in order. `scripted` makes a method answer a 429 with
`Retry-After`, or a Slack error such as `invalid_blocks`, before answering normally again.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Call:
    """One recorded Web API call."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class SlackStandIn:
    """`with SlackStandIn() as slack:` then point SLACK_API_URL at `slack.api_url`."""

    def __init__(self, outside: set[str] | None = None) -> None:
        self.calls: list[Call] = []  # the calls Slack took (answered ok or with a Slack error)
        self.refused: list[Call] = []  # the calls answered 429 or 5xx (nothing was posted)
        self.outside = outside or set()  # channels the bot is not in
        self.socket_url: str | None = None  # apps.connections.open answers this (a SocketModeStandIn's url)
        # method -> answers to give first, in order: {"status": 429, "retry_after": 1}, {"status": 500} or
        # {"error": "invalid_blocks"}
        self.scripted: dict[str, list[dict[str, Any]]] = {}
        self.down_until = 0.0  # until then (time.monotonic()), every call is answered `down_status`
        self.down_status = 500
        self.delay: dict[str, float] = {}  # method -> seconds to wait before answering (a slow Slack)
        self.channel_rate: float | None = None  # posts a second per channel beyond which Slack answers 429
        # users.info: every user is a full member of workspace T1 unless said otherwise here (user id -> fields,
        # e.g. {"is_restricted": True} for a guest, {"team_id": "T2"} for someone from another workspace)
        self.users: dict[str, dict[str, Any] | None] = {}  # None: users.info answers user_not_found
        self.groups: dict[str, list[str]] = {}  # usergroups.users.list: group id -> member ids
        # OAuth: `grant` makes a code that oauth.v2.access exchanges once for a bot token of a workspace (or an
        # organization); auth.test then answers for that token (any other token: workspace T1)
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.client: tuple[str, str] | None = None  # the app's client id and secret oauth.v2.access accepts
        self._last_post: dict[str, float] = {}
        self._lock = threading.Lock()
        self._ts = 1764240000.000100
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path.startswith("/upload/"):  # a file's bytes, to the URL files.getUploadURLExternal gave
                    stand_in.answer("file_upload", {"file_id": self.path.rsplit("/", 1)[-1], "content": raw})
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"OK")
                    return
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(raw).items()}
                    for key in ("blocks", "attachments"):
                        if isinstance(params.get(key), str):
                            params[key] = json.loads(params[key])
                method = self.path.rsplit("/", 1)[-1] if self.path.startswith("/api/") else "response_url"
                if method == "response_url":
                    params["response_url"] = self.path
                authorization = self.headers.get("Authorization") or ""
                if authorization.startswith("Basic "):  # oauth.v2.access: the app's client id and secret
                    pair = base64.b64decode(authorization.removeprefix("Basic ")).decode()
                    params["client_id"], _, params["client_secret"] = pair.partition(":")
                params["_token"] = authorization.removeprefix("Bearer ")
                time.sleep(stand_in.delay.get(method, 0.0))
                body = stand_in.answer(method, params)
                data = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
                if isinstance(body, dict) and body.get("_status") == 429:
                    self.send_response(429)
                    self.send_header("Retry-After", str(body["retry_after"]))
                    data = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                elif isinstance(body, dict) and int(body.get("_status", 200)) >= 500:
                    self.send_response(int(body["_status"]))
                    data = b"<html><body>Service Unavailable</body></html>"
                    body = "down"
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.request_queue_size = 256  # a burst of calls must not wait for SYN retries
        self.server.server_bind()
        self.server.server_activate()
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"

    def outage(self, seconds: float, status: int = 500) -> None:
        """Answer every call with `status` (5xx, or 429 with Retry-After) for the next `seconds`."""
        self.down_status, self.down_until = status, time.monotonic() + seconds

    def reset(self) -> None:
        """Forget every call and fault, for the next test on a shared stack."""
        with self._lock:
            self.calls.clear()
            self.refused.clear()
            self.scripted.clear()
            self.delay.clear()
            self.down_until, self.channel_rate = 0.0, None

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any] | str:
        """Record the call and answer it as Slack would."""
        with self._lock:
            self.calls.append(Call(method, params))
            if time.monotonic() < self.down_until:
                self.refused.append(Call(method, params))
                self.calls.pop()
                return {"_status": self.down_status, "retry_after": 1}
            script = self.scripted.get(method)
            if script:
                planned = script.pop(0)
                if planned.get("status"):
                    self.refused.append(self.calls.pop())
                    return {"_status": planned["status"], "retry_after": planned.get("retry_after", 1)}
                return {"ok": False, "error": planned["error"]}
            channel = str(params.get("channel", ""))
            if self.channel_rate and method == "chat.postMessage":
                now = time.monotonic()
                if now - self._last_post.get(channel, -1e9) < 1.0 / self.channel_rate:
                    self.refused.append(self.calls.pop())
                    return {"_status": 429, "retry_after": 1}
                self._last_post[channel] = now
            if method == "response_url":
                return "ok"
            if method == "chat.postMessage":
                channel = str(params.get("channel", ""))
                if channel in self.outside:
                    return {"ok": False, "error": "not_in_channel"}
                self._ts += 0.0001
                params["_ts"] = f"{self._ts:.6f}"  # the ts it answered, for tests that follow updates
                return {"ok": True, "channel": channel, "ts": params["_ts"], "message": params}
            if method == "chat.update":
                return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
            if method == "apps.connections.open":
                if not self.socket_url:
                    return {"ok": False, "error": "invalid_auth"}
                return {"ok": True, "url": self.socket_url}
            if method == "auth.test":
                known = self.tokens.get(str(params.get("token") or params.get("_token") or ""))
                return {"ok": True, "user_id": "UBOT", "team_id": "T1", "bot_id": "B1"} | (known or {})
            if method == "oauth.v2.access":
                return self._exchange(params)
            if method == "users.info":
                user = str(params.get("user", ""))
                if self.users.get(user) is None and user in self.users:
                    return {"ok": False, "error": "user_not_found"}
                found = {"id": user, "team_id": "T1", "is_restricted": False, "is_ultra_restricted": False}
                return {"ok": True, "user": found | (self.users.get(user) or {})}
            if method == "files.getUploadURLExternal":
                self._ts += 0.0001
                file_id = f"F{int(self._ts * 10000) % 10**9:09d}"
                return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
            if method == "file_upload":
                return "OK"
            if method == "files.completeUploadExternal":
                files = json.loads(params["files"]) if isinstance(params.get("files"), str) else params.get("files")
                return {"ok": True, "files": files or []}
            if method == "views.publish":  # Slack refuses a Home view beyond its limits
                view = json.loads(params["view"]) if isinstance(params.get("view"), str) else params.get("view") or {}
                if view.get("type") != "home" or len(view.get("blocks", [])) > 100:
                    return {"ok": False, "error": "invalid_arguments"}
                return {"ok": True, "view": {"id": "V0HOME", **view}}
            if method in ("functions.completeSuccess", "functions.completeError"):  # only with the step's token
                if not str(params.get("_token", "")).startswith("xwfp-") or not params.get("function_execution_id"):
                    return {"ok": False, "error": "invalid_auth"}
                return {"ok": True}
            if method == "usergroups.users.list":
                return {"ok": True, "users": self.groups.get(str(params.get("usergroup", "")), [])}
            return {"ok": True}

    def grant(self, code: str, team: str | None, enterprise: str | None = None, org_wide: bool = False) -> str:
        """Make an OAuth code for an install in a workspace (or, `org_wide`, in an organization); returns the
        bot token oauth.v2.access will give for it."""
        owner = enterprise if org_wide else team
        token = f"xoxb-{owner}-{code}"
        self.tokens[token] = {"team_id": None if org_wide else team, "enterprise_id": enterprise,
                              "bot_id": f"B{owner}", "user_id": f"UBOT{owner}",
                              "url": f"https://{(owner or '').lower()}.enterprise.slack.com/"}  # fmt: skip
        self.codes[code] = {
            "ok": True, "access_token": token, "token_type": "bot", "scope": "commands,chat:write",
            "bot_user_id": f"UBOT{owner}", "app_id": "A0TRAIL", "authed_user": {"id": "U0ADMIN"},
            "team": None if org_wide else {"id": team, "name": f"workspace {team}"},
            "enterprise": {"id": enterprise, "name": f"org {enterprise}"} if enterprise else None,
            "is_enterprise_install": org_wide,
        }  # fmt: skip
        return token

    def _exchange(self, params: dict[str, Any]) -> dict[str, Any]:
        """oauth.v2.access: the app's client id and secret, and a code used once."""
        if self.client is None or params.get("client_id") != self.client[0]:
            return {"ok": False, "error": "invalid_client_id"}
        if params.get("client_secret") != self.client[1]:
            return {"ok": False, "error": "bad_client_secret"}
        answer = self.codes.pop(str(params.get("code") or ""), None)
        return answer or {"ok": False, "error": "invalid_code"}

    def of(self, method: str) -> list[Call]:
        """The calls of one method, in order."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def response_url(self, name: str = "cmd") -> str:
        """A response_url on this stand-in."""
        return f"{self.url}/response/{name}"

    def __enter__(self) -> SlackStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
