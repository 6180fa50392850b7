"""A local stand-in for Slack's Socket Mode endpoint: a small WebSocket server (RFC 6455, text frames).

`SlackStandIn` answers `apps.connections.open` with this server's `ws://` URL. When the bot connects it
gets `hello`; `send()` delivers an envelope (a slash command, an interaction) the way Slack does, and
`ack(envelope_id)` waits for the bot's acknowledgement, with the response payload it carried.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class SocketModeStandIn:
    """`with SocketModeStandIn() as ws:`; `ws.url` is what `apps.connections.open` returns."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.server.getsockname()[1]}/link"
        self.acks: dict[str, dict[str, Any]] = {}
        self.connected = threading.Event()
        self._client: socket.socket | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> SocketModeStandIn:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        if self._client is not None:
            self._client.close()

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Deliver an envelope (`slash_commands`, `interactive`); returns its envelope_id."""
        envelope_id = uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True}
        self._frame(TEXT, json.dumps(envelope).encode())
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The bot's acknowledgement of an envelope (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.02)
        raise TimeoutError(f"no ack for envelope {envelope_id}")

    def _accept(self) -> None:
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(4096)
        headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
        key = {k.lower(): v for k, v in headers.items()}["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        client.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        self._client = client
        self._frame(TEXT, json.dumps({"type": "hello", "num_connections": 1}).encode())
        self.connected.set()
        self._read(client)

    def _read(self, client: socket.socket) -> None:
        try:
            while True:
                head = self._exactly(client, 2)
                opcode, length = head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._exactly(client, 2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._exactly(client, 8))[0]
                mask = self._exactly(client, 4) if head[1] & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._exactly(client, length)))
                if opcode == PING:
                    self._frame(PONG, data)
                elif opcode == CLOSE:
                    self._frame(CLOSE, data[:2])
                    return
                elif opcode == TEXT:
                    doc = json.loads(data)
                    with self._lock:
                        self.acks[doc["envelope_id"]] = doc.get("payload") or {}
        except (OSError, ConnectionError):
            return

    @staticmethod
    def _exactly(client: socket.socket, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = client.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    def _frame(self, opcode: int, data: bytes) -> None:
        assert self._client is not None
        n = len(data)
        if n < 126:
            head = struct.pack(">BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
        with self._lock:
            self._client.sendall(head + data)
