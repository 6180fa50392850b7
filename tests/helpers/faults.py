"""Faults injected inside botocore's retry loop, answered in each service's own wire protocol.

A `before-send` handler that returns a response stands in for the network: botocore parses it as it
would a real one, and its retry logic sees a real throttling or access-denied answer.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse

# hyphenized service id (as in event names) -> (IAM prefix, protocol)
SERVICES = {
    "cloudtrail": ("cloudtrail", "json"),
    "config-service": ("config", "json"),
    "cloudwatch-logs": ("logs", "json"),
    "cloudwatch": ("cloudwatch", "cbor"),
    "sns": ("sns", "query"),
    "sts": ("sts", "query"),
    "ec2": ("ec2", "ec2"),
    "s3": ("s3", "rest-xml"),
}
THROTTLE = {
    "json": "ThrottlingException",
    "cbor": "ThrottlingException",
    "query": "Throttling",
    "ec2": "RequestLimitExceeded",
    "rest-xml": "SlowDown",
}
DENIED = {
    "json": "AccessDeniedException",
    "cbor": "AccessDenied",
    "query": "AccessDenied",
    "ec2": "UnauthorizedOperation",
    "rest-xml": "AccessDenied",
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    n = len(data)
    head = bytes([0x60 + n]) if n < 24 else bytes([0x78, n]) if n < 256 else bytes([0x79]) + n.to_bytes(2, "big")
    return head + data


def _cbor_map(values: dict[str, str]) -> bytes:
    out = bytes([0xA0 + len(values)])
    for key, value in values.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def error_response(url: str, protocol: str, code: str, message: str) -> AWSResponse:
    """An AWS error answer, as the protocol writes it."""
    status = (
        503 if code in {"SlowDown", "RequestLimitExceeded"} else 403 if "Denied" in code or "Unauth" in code else 400
    )
    headers: dict[str, str] = {"x-amzn-requestid": "fault-0000"}
    if protocol == "json":
        headers["content-type"] = "application/x-amz-json-1.1"
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == "cbor":
        headers.update({"content-type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        body = _cbor_map({"__type": code, "message": message})
    elif protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>fault-0000</RequestId></ErrorResponse>"
        ).encode()
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>fault-0000</RequestID></Response>"
        ).encode()
    else:
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return AWSResponse(url, status, headers, _Raw(body))


class Faults:
    """Deny chosen operations, and throttle a share of all attempts (seeded, so runs repeat)."""

    def __init__(
        self, deny: set[str] | None = None, throttle: float = 0.0, seed: int = 7, deny_if: str | None = None
    ) -> None:
        self.deny = deny or set()  # IAM-style names: "cloudtrail:GetTrailStatus"
        self.deny_if = deny_if  # deny only the requests whose body holds this text (one role of many, say)
        self.throttle = throttle
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()

    def install(self, session: Any) -> Any:
        """Register on a botocore session (every client it makes sends through this); returns the session."""
        session.register("before-send", self._before_send)
        return session

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service_id, operation = event_name.split(".", 2)
        prefix, protocol = SERVICES.get(service_id, (service_id, "json"))
        content_type = str(request.headers.get("Content-Type", b""))
        if "cbor" in content_type:
            protocol = "cbor"
        elif "json" in content_type:
            protocol = "json"
        name = f"{prefix}:{operation}"
        with self.lock:
            self.attempts[name] += 1
            throttled = self.throttle and self.rng.random() < self.throttle
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if name in self.deny and (self.deny_if is None or self.deny_if.encode() in body):
            return error_response(request.url, protocol, DENIED[protocol], f"not authorized to perform {name}")
        if throttled:
            with self.lock:
                self.injected[name] += 1
            return error_response(request.url, protocol, THROTTLE[protocol], "Rate exceeded")
        return None
