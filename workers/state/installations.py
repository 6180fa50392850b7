"""Slack installations made through OAuth: which bot token answers for which workspace or organization.

An installation is owned by a workspace (`team:T…`) or, when an Enterprise Grid organization installs the app
once for all its workspaces, by the organization (`org:E…`). A request is authorised by the installation of its
workspace, else by its organization's; the web process notes which installation each channel and user came
through, so that a worker posts with the token that can reach them. Bot tokens are kept here, in Redis, and
never logged (OPERATIONS.md: use TLS and an ACL user). The OAuth `state` of an install in progress is kept ten
minutes and can be consumed once.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from redis import Redis

from workers.state import keys
from workers.state.durability import replicated

STATE_TTL = 600  # seconds between /slack/install and Slack's redirect back


def owner(enterprise: str | None, team: str | None, org_wide: bool) -> str | None:
    """The owner key of an installation: `org:E…` for an organization-wide one, else `team:T…`."""
    if org_wide:
        return f"org:{enterprise}" if enterprise else None
    return f"team:{team}" if team else None


def save(conn: Redis, record: dict[str, Any]) -> str:
    """Keep an installation (a new one, or a reinstall that replaces the token); returns its owner key."""
    key = owner(record.get("enterprise_id"), record.get("team_id"), bool(record.get("is_enterprise_install")))
    if key is None or not record.get("bot_token"):
        raise ValueError("an installation needs a bot token and its workspace (or its organization)")
    pipe = conn.pipeline(transaction=True)
    pipe.set(keys.installation(key), json.dumps(record, sort_keys=True))
    pipe.sadd(keys.INSTALLATIONS, key)
    pipe.execute()
    replicated(conn)
    return key


def load(conn: Redis, key: str) -> dict[str, Any] | None:
    """One installation by its owner key, or None."""
    raw = conn.get(keys.installation(key))
    return json.loads(raw) if raw else None


def find(conn: Redis, enterprise: str | None, team: str | None) -> dict[str, Any] | None:
    """The installation that answers for a request: its workspace's, else its organization's."""
    for key in (owner(None, team, False), owner(enterprise, None, True)):
        found = load(conn, key) if key else None
        if found is not None:
            return found | {"owner": key}
    return None


def forget(conn: Redis, enterprise: str | None, team: str | None, org_wide: bool) -> bool:
    """Drop an installation (the app was uninstalled or its token revoked); whether there was one."""
    key = owner(enterprise, team, org_wide)
    if key is None:
        return False
    pipe = conn.pipeline(transaction=True)
    pipe.delete(keys.installation(key))
    pipe.srem(keys.INSTALLATIONS, key)
    dropped = bool(pipe.execute()[0])
    replicated(conn)
    return dropped


def owners(conn: Redis) -> list[str]:
    """The owner key of every installation, sorted."""
    return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in conn.smembers(keys.INSTALLATIONS))


def note_origin(conn: Redis, key: str, channel: str | None, user: str | None) -> None:
    """Remember the installation a request came through, for the channel and the user it came from."""
    pipe = conn.pipeline(transaction=False)
    for kind, slack_id in (("channel", channel), ("user", user)):
        if slack_id:
            pipe.set(keys.installation_of(kind, slack_id), key, ex=keys.ORIGIN_TTL)
    pipe.execute()


def bot_token(conn: Redis, home: str | None, channel: str | None = None, user: str | None = None) -> str | None:
    """The bot token to reach a channel or a user: the installation they were last seen through, else the home
    one (`home`: a workspace or organization id), else the only installation there is; None when none fits."""
    for kind, slack_id in (("channel", channel), ("user", user)):
        seen = conn.get(keys.installation_of(kind, slack_id)) if slack_id else None
        record = load(conn, seen.decode() if isinstance(seen, bytes) else str(seen)) if seen else None
        if record is not None:
            return str(record["bot_token"])
    every = owners(conn)
    if home:
        every = [k for k in every if k in (f"team:{home}", f"org:{home}")]
    record = load(conn, every[0]) if len(every) == 1 else None
    return str(record["bot_token"]) if record else None


def issue_state(conn: Redis) -> str:
    """A new OAuth state, kept ten minutes."""
    state = secrets.token_urlsafe(24)
    conn.set(keys.oauth_state(state), "1", ex=STATE_TTL)
    return state


def consume_state(conn: Redis, state: str) -> bool:
    """Whether `state` was issued and not yet used (it cannot be used again)."""
    return bool(state) and conn.getdel(keys.oauth_state(state)) is not None
