"""Untrusted text into Slack mrkdwn: the one escaping rule every message builder follows.

Anything that comes from outside (users' resources and reasons, AWS names, CloudTrail user agents and request
parameters, error messages) enters a message only through `escape` (free text) or `code` (an identifier, set
in a code span). Both turn `&`, `<` and `>` into entities, as Slack documents, so `<!channel>`, `<@U…>`,
`<#C…>` and `<https://…|…>` written by someone else are shown, never acted on. The only control sequences in
a message are the ones a builder writes on purpose: `mention` and `channel` for ids checked to be ids, and
`alert_mention` for the operator's TRAIL_AUDIT_ALERT_MENTION setting. Section text is sent `verbatim`, so
Slack does not turn a bare URL or a channel name into a link either.
"""

from __future__ import annotations

import re

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_USER = re.compile(r"[UW][A-Z0-9]{2,30}")
_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,30}")
_ALERT_MENTION = re.compile(r"<!subteam\^S[A-Z0-9]{2,30}(\|[^<>&|]{1,80})?>|<!here>|<!channel>|<@[UW][A-Z0-9]{2,30}>")


def escape(value: object) -> str:
    """Free text from outside, shown as written: `&`, `<` and `>` as entities."""
    return str(value).translate(_ENTITIES)


def code(value: object) -> str:
    """An identifier from outside in a code span; a backtick in it cannot end the span early."""
    text = escape(value).replace("`", "\u02cb")  # MODIFIER LETTER GRAVE ACCENT: looks alike, ends nothing
    return f"`{text}`" if text.strip() else "` `"


def mention(user: object) -> str:
    """`<@U…>` for a Slack user id; anything else is shown as text."""
    text = str(user)
    return f"<@{text}>" if _USER.fullmatch(text) else code(text)


def channel(channel_id: object) -> str:
    """`<#C…>` for a Slack channel id; anything else is shown as text."""
    text = str(channel_id)
    return f"<#{text}>" if _CHANNEL.fullmatch(text) else code(text)


def alert_mention(setting: object) -> str:
    """The operator's mention for tamper alerts (a user group, `<!here>`, `<!channel>` or a user), if valid."""
    text = str(setting or "").strip()
    return text if _ALERT_MENTION.fullmatch(text) else ""


def unescape(text: str) -> str:
    """Slack's own escaping undone (slash command text arrives with `&amp;`, `&lt;` and `&gt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
