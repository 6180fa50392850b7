"""Opaque ids: what a button, a request or an alert is known by (state lives on the server side)."""

from __future__ import annotations

import secrets


def new_id() -> str:
    """An opaque, unguessable id (16 hex characters)."""
    return secrets.token_hex(8)
