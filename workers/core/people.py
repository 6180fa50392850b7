"""Who is named in a setting: a Slack user id, or a member of a named user group (ids starting with S)."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def is_named(user: str, names: Iterable[str], group_members: Callable[[str], set[str]]) -> bool:
    """Whether `user` is one of `names` or a member of a user group among them (`group_members` asks Slack)."""
    listed = list(names)
    if user in listed:
        return True
    return any(user in group_members(group) for group in listed if group.startswith("S"))
